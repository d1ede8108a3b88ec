"""Owns the plumbing the local HTTP stand-ins (alpaca_server.py, edgar_server.py) share: a free port,
a quiet request handler that answers with bytes (optionally dripped), and a threaded server run
in the background with `.url` and an idempotent `.stop()`.

What a stand-in answers (paths, status codes, bodies, its own headers) stays in its module;
this one only writes the answer: the status line, the stand-in's headers, Content-Type and
Content-Length (or, for a body of undeclared length, ``Connection: close``), then the body.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

JSON = "application/json"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (bound to port 0, then released)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class StubServer(ThreadingHTTPServer):
    """A threaded HTTP server for a stand-in: `.url`, `.stopping` (set by `.stop()`, so
    injected delays and drips end at once), `.start()` on a daemon thread."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (e.g. at its deadline, mid-drip) is not a server error."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

    def start(self, name: str) -> threading.Thread:
        """Serve on a daemon thread called ``name`` and return at once."""
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                       name=f"{name}-{self.server_address[1]}", daemon=True)
        self.thread.start()
        return self.thread

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread (a second call does nothing)."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        if self.thread is not None:
            self.shutdown()
        self.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


class StubHandler(BaseHTTPRequestHandler):
    """A quiet handler (no access log: tests read the stand-in's request records) with one way
    to answer, `send_body`; `split_path()` gives the path and its last-value-wins query."""

    server: StubServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def split_path(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_body(self, status: int, body: bytes = b"", headers: Mapping[str, str] = {}, *,
                  content_type: str = JSON, declared_length: bool = True,
                  drip_seconds: float = 0.0) -> None:
        """Answer ``status`` with ``headers``, then Content-Type and Content-Length (neither on
        a 304; ``declared_length=False``: ``Connection: close`` instead, the body ends when
        the connection does), then ``body`` (none on a 304 or to HEAD), ``drip_seconds`` > 0:
        one byte at a time, this long apart, until `stop()`. A client that gives up ends it."""
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if status != HTTPStatus.NOT_MODIFIED:
                self.send_header("Content-Type", content_type)
                if declared_length:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
            self.end_headers()
            if status == HTTPStatus.NOT_MODIFIED or self.command == "HEAD":
                return
            if not drip_seconds:
                self.wfile.write(body)
            for i in range(len(body) if drip_seconds else 0):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                if self.server.stopping.wait(drip_seconds):
                    self.close_connection = True
                    break
        except OSError:  # the client gave up (e.g. its timeout) while a fault delayed us
            self.close_connection = True


class RunningStub:
    """A started stand-in: `.server`, `.url`, `.stop()`; usable as a context manager."""

    def __init__(self, server: StubServer, name: str) -> None:
        self.server = server
        self.thread = server.start(name)

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> RunningStub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
