"""Owns a misbehaving HTTP server on 127.0.0.1 for the provider-bound tests: it answers every
request by dripping its status line and headers, dripping a declared body, streaming an endless
chunked body, or declaring a body larger than it sends, and counts the bytes it sent."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

MODES = ("drip_headers", "drip_body", "endless", "huge_declared", "hang")


@dataclass
class SlowServer:
    mode: str
    interval: float = 0.5  # seconds between dripped bytes
    sent: int = 0  # body bytes written (all connections)
    connections: int = 0
    _sock: socket.socket = field(default_factory=socket.socket, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _count(self, n: int) -> None:
        with self._lock:
            self.sent += n

    def _answer(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)  # the request (small, one read is enough for these clients)
            if self.mode == "hang":
                self._stop.wait(60)
            elif self.mode == "drip_headers":
                for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 4096:
                    conn.sendall(bytes([byte]))
                    if self._stop.wait(self.interval):
                        return
            elif self.mode == "drip_body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 100000\r\n\r\n")
                for _ in range(100_000):
                    conn.sendall(b" ")
                    self._count(1)
                    if self._stop.wait(self.interval):
                        return
            elif self.mode == "endless":  # chunked, no length: only counting can stop it
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
                chunk = b" " * 65536
                frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
                while not self._stop.is_set():
                    conn.sendall(frame)
                    self._count(len(chunk))
            elif self.mode == "huge_declared":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 104857600\r\n\r\n")
                conn.sendall(b"[" + b" " * 65535)
                self._count(65536)
                self._stop.wait(30)
        except OSError:  # the client hung up: what these tests want
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()

    def __enter__(self) -> "SlowServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def elapsed(fn) -> tuple[float, BaseException | None]:
    """(seconds fn took, the exception it raised or None)."""
    started = time.monotonic()
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - returned to the test
        return time.monotonic() - started, exc
    return time.monotonic() - started, None
