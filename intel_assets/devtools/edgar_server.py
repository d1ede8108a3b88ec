"""Owns a local SEC-EDGAR-compatible HTTP server (JSON files at SEC paths, ETag/304, request log) for demos and tests.

Serves `/files/company_tickers.json`, `/api/xbrl/companyfacts/CIK##########.json` and
`/submissions/CIK##########.json` from a folder or a mapping, with ETag and Last-Modified
headers, 304 answers to If-None-Match / If-Modified-Since, 404 for unknown paths and (like SEC)
403 for requests without a User-Agent containing a contact email. Every request is recorded
(path, status, monotonic time, headers) so tests can assert caching and rate limits.
`server.inject(path, ...)` adds faults to one path (or every path): a delay before answering, an
HTTP status (to the first `fail_first` requests only, if given; with a `retry_after` header),
a body dripped one byte every `drip_seconds` after the headers, or a body sent without
Content-Length (the client learns its size only by reading it).

A folder is mapped by file name: `company_tickers.json` -> /files/company_tickers.json,
`companyfacts_CIK<10 digits>[_anything].json` -> /api/xbrl/companyfacts/CIK<10 digits>.json,
`submissions_CIK<10 digits>[_anything].json` -> /submissions/CIK<10 digits>.json; any other
file keeps its relative path. So both `sample_edgar/` beside this module (SAMPLE DATA: IBM,
BAC, AIG 2011-2013 plus SPY in the ticker map, labelled "(intel_assets sample data)") and the
real `../shared/data/edgar/` files can be served as they are.

    python -m intel_assets.devtools.edgar_server [FOLDER] --port 8766
    # then INTEL_EDGAR_BASE_URL=http://127.0.0.1:8766
    #      INTEL_EDGAR_TICKERS_URL=http://127.0.0.1:8766/files/company_tickers.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any

from intel_assets.devtools.http_stub import RunningStub, StubHandler, StubServer

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_edgar"
_NAME_RULES = (
    (re.compile(r"^company_tickers\.json$"), "/files/company_tickers.json"),
    (re.compile(r"^companyfacts_CIK(\d{10})(_[^/]*)?\.json$"), "/api/xbrl/companyfacts/CIK{0}.json"),
    (re.compile(r"^submissions_CIK(\d{10})(_[^/]*)?\.json$"), "/submissions/CIK{0}.json"),
)
_CONTACT = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


@dataclass(frozen=True)
class RequestRecord:
    path: str
    status: int
    at: float  # time.monotonic() when the request arrived
    user_agent: str | None
    if_none_match: str | None


@dataclass(frozen=True)
class Fault:
    """What goes wrong for matching requests."""

    delay_seconds: float = 0.0
    status: int | None = None
    drip_seconds: float = 0.0
    undeclared_length: bool = False
    fail_first: int = 0  # > 0: only the first N matching requests get `status`, then served
    retry_after: str | None = None  # a Retry-After header sent with `status`

    def __post_init__(self) -> None:
        if self.delay_seconds < 0 or self.drip_seconds < 0:
            raise ValueError("delay_seconds and drip_seconds must be >= 0")
        if self.fail_first < 0:
            raise ValueError("fail_first must be >= 0")


@dataclass
class _Doc:
    body: bytes
    etag: str
    last_modified: float


def sec_path(name: str) -> str:
    """The SEC URL path a file name is served at (see the module doc)."""
    for rule, template in _NAME_RULES:
        match = rule.match(Path(name).name)
        if match:
            return template.format(*match.groups())
    return "/" + name.lstrip("/")


def _as_bytes(content: Any) -> bytes:
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode()
    if isinstance(content, Path):
        return content.read_bytes()
    return json.dumps(content).encode()


def _doc(body: bytes, mtime: float | None = None) -> _Doc:
    return _Doc(body, '"' + hashlib.sha1(body).hexdigest() + '"', float(int(mtime or time.time())))


def load_documents(source: str | Path | Mapping[str, Any]) -> dict[str, _Doc]:
    """URL path -> document, from a folder (by file name) or a {path: bytes|str|Path|JSON} map."""
    if isinstance(source, Mapping):
        return {("/" + p.lstrip("/")): _doc(_as_bytes(c)) for p, c in source.items()}
    folder = Path(source)
    if not folder.is_dir():
        raise FileNotFoundError(f"EDGAR server folder {folder} does not exist")
    return {sec_path(str(f.relative_to(folder))): _doc(f.read_bytes(), f.stat().st_mtime)
            for f in sorted(folder.rglob("*")) if f.is_file()}


class EdgarServer(StubServer):
    """The HTTP server: the documents by path, the request log and the faults by path."""

    def __init__(self, address: tuple[str, int], docs: dict[str, _Doc], require_user_agent: bool) -> None:
        super().__init__(address, _Handler)
        self.docs, self.require_user_agent = docs, require_user_agent
        self.requests: list[RequestRecord] = []
        self.lock = threading.Lock()
        self.faults: dict[str | None, Fault] = {}  # path (None = all) -> fault
        self.fault_hits: dict[str | None, int] = {}  # path -> requests given its fault status


class _Handler(StubHandler):  # HTTP/1.0 (the default): every connection closes after one answer
    server_version = "intel-assets-edgar/1.0"
    server: EdgarServer

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        at = time.monotonic()
        path = self.path.split("?", 1)[0]
        agent, inm = self.headers.get("User-Agent"), self.headers.get("If-None-Match")
        server = self.server
        with server.lock:
            doc = server.docs.get(path)
            key = path if path in server.faults else None
            fault = server.faults.get(key) or Fault()
            failing = fault.status is not None and (
                not fault.fail_first or server.fault_hits.get(key, 0) < fault.fail_first)
            if failing:
                server.fault_hits[key] = server.fault_hits.get(key, 0) + 1
        if fault.delay_seconds:
            server.stopping.wait(fault.delay_seconds)
        if failing:
            assert fault.status is not None
            status, body = fault.status, b'{"error": "injected fault"}'
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        elif server.require_user_agent and not (agent and _CONTACT.search(agent)):
            status, headers = 403, {}
            body = b'{"error": "undeclared automated tool: set a User-Agent with a contact email"}'
        elif doc is None:
            status, body, headers = 404, b'{"error": "not found"}', {}
        else:
            headers = {"ETag": doc.etag, "Last-Modified": formatdate(doc.last_modified, usegmt=True),
                       "Cache-Control": "no-cache"}
            status, body = 200, doc.body
            if inm is not None:
                if doc.etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*":
                    status = 304
            elif self.headers.get("If-Modified-Since"):
                try:
                    since = parsedate_to_datetime(self.headers["If-Modified-Since"]).timestamp()
                    status = 304 if doc.last_modified <= since else 200
                except (TypeError, ValueError):
                    pass
        with server.lock:
            server.requests.append(RequestRecord(path, status, at, agent, inm))
        self.send_body(status, body, headers, declared_length=not fault.undeclared_length,
                       drip_seconds=fault.drip_seconds)

    do_HEAD = do_GET


class RunningServer(RunningStub):
    """A started server: `.url`, `.tickers_url`, `.requests`, `.set()`, `.stop()`; a context manager."""

    server: EdgarServer

    @property
    def tickers_url(self) -> str:
        return f"{self.url}/files/company_tickers.json"

    @property
    def paths(self) -> list[str]:
        return sorted(self.server.docs)

    @property
    def requests(self) -> list[RequestRecord]:
        with self.server.lock:
            return list(self.server.requests)

    def count(self, path: str | None = None, status: int | None = None) -> int:
        return sum(1 for r in self.requests
                   if (path is None or r.path == path) and (status is None or r.status == status))

    def reset(self) -> None:
        with self.server.lock:
            self.server.requests.clear()

    def set(self, path: str, content: Any) -> None:
        """Replace (or add) the document at `path`; its ETag changes with its bytes."""
        with self.server.lock:
            self.server.docs["/" + path.lstrip("/")] = _doc(_as_bytes(content), time.time() + 1)

    def inject(self, path: str | None = None, **fault: Any) -> Fault:
        """Fault every request to `path` (None: every path): inject(path, drip_seconds=1)."""
        made = Fault(**fault)
        with self.server.lock:
            key = "/" + path.lstrip("/") if path else None
            self.server.faults[key] = made
            self.server.fault_hits.pop(key, None)
        return made

    def clear_faults(self) -> None:
        with self.server.lock:
            self.server.faults.clear()
            self.server.fault_hits.clear()


def start_edgar_server(source: str | Path | Mapping[str, Any] = SAMPLE_DIR, host: str = "127.0.0.1",
                       port: int = 0, require_user_agent: bool = True) -> RunningServer:
    """Serve a folder or mapping at SEC paths on host:port (0 = a free port) in a thread."""
    return RunningServer(EdgarServer((host, port), load_documents(source), require_user_agent),
                         "edgar-server")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve EDGAR JSON files at SEC paths on 127.0.0.1.")
    parser.add_argument("folder", nargs="?", default=str(SAMPLE_DIR),
                        help="folder of company_tickers.json / companyfacts_CIK*.json / submissions_CIK*.json")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)
    server = start_edgar_server(args.folder, args.host, args.port)
    print(f"EDGAR server on {server.url} serving {len(server.paths)} documents from {args.folder}")
    print(f"  INTEL_EDGAR_BASE_URL={server.url}\n  INTEL_EDGAR_TICKERS_URL={server.tickers_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
