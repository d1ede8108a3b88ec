"""Owns a local Alpaca-compatible HTTP server (news from JSONL, fault injection) for demos and tests.

Serves `GET /v1beta1/news` in Alpaca's wire shape (`{"news": [...], "next_page_token": ...}`,
articles with id, headline, author, created_at, updated_at, summary, content, url, images,
symbols, source) and honours `symbols`, `start`, `end` (inclusive, RFC 3339 or YYYY-MM-DD;
default start = beginning of the server's current UTC day, end = the server's now), `limit`
(default 10, 1..50), `sort` (asc|desc by created_at, then id; default desc), `include_content`,
`exclude_contentless` and `page_token`: the token is base64("<created_at ns>|<id>") of the
page's last article and is null on the last page. Requests must carry APCA-API-KEY-ID and
APCA-API-SECRET-KEY headers (checked against expected values when the server is given them).
Articles created after the server's clock (`as_of`, default the real time) are never served.

Routes are a table of (method, path) -> handler: `server.add_route("POST", "/v2/orders", fn)`
adds an endpoint to the same server; a `{name}` path segment matches any one segment. Paper
trading (orders filled on replayed LEAN data, see alpaca_paper.py) is installed by `lean_dir=`;
the request, response and error types both use are alpaca_wire.py's, the HTTP plumbing http_stub.py's.
`server.faults` injects failures into every request (or only requests naming some symbols): an
HTTP status, a delay, a raw body, dropped article fields, non-UTF-8 bytes, or a body dripped
one byte every `drip_seconds` (headers first, so per-read timeouts never fire); `fail_first=N`
gives the status to the first N matching requests only (then they are served), `retry_after`
adds a Retry-After header to it. (Our news client turns alpaca-py's own 429/504 retry off.)

SAMPLE DATA: `sample_news.jsonl` beside this module is hand-written sample data, not real
news (every author is "intel_assets sample data", every url is on example.com). It covers
SPY, IBM, BAC and AIG on 2013-10-10/11 for the LEAN replay clock 2013-10-11T15:59:00-04:00;
the synthetic symbols SYN000..SYN007 have no articles, so their news block is `news_empty`.

    python -m intel_assets.devtools.alpaca_server --news FILE --port 8765 --as-of 2013-10-11T15:59:00-04:00
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timezone
from pathlib import Path
from typing import Any

from intel_assets.devtools.alpaca_wire import ApiError, ApiRequest, ApiResponse, Route, parse_time
from intel_assets.devtools.http_stub import RunningStub, StubHandler, StubServer

SAMPLE_NEWS_FILE = Path(__file__).with_name("sample_news.jsonl")
NEWS_PATH = "/v1beta1/news"
DEFAULT_NEWS_LIMIT, MAX_NEWS_LIMIT = 10, 50
WIRE_FIELDS = ("id", "headline", "author", "created_at", "updated_at", "summary", "content", "url",
               "images", "symbols", "source")
_CORRUPT = "\ue000"  # a private-use marker replaced by invalid UTF-8 bytes after encoding


@dataclass(frozen=True)
class Faults:
    """Failures injected into matching requests (all requests when symbols is None)."""

    status: int | None = None  # answer with this HTTP status (and `body` or an Alpaca error)
    delay_seconds: float = 0.0  # sleep before answering (interrupted by stop())
    body: bytes | None = None  # answer with these raw bytes (status 200 unless `status`)
    drop_fields: tuple[str, ...] = ()  # remove these keys from every returned item
    invalid_utf8: bool = False  # put non-UTF-8 bytes into every string of returned items
    drip_seconds: float = 0.0  # send the body one byte at a time, this long apart
    symbols: frozenset[str] | None = None
    fail_first: int = 0  # > 0: only the first N matching requests get `status`
    retry_after: str | None = None  # a Retry-After header sent with `status`

    def __post_init__(self) -> None:
        if self.status is not None and self.status < 400:
            raise ValueError("fault status must be >= 400")
        if self.fail_first < 0:
            raise ValueError("fail_first must be >= 0")
        if self.delay_seconds < 0 or self.drip_seconds < 0:
            raise ValueError("delay_seconds and drip_seconds must be >= 0")

    def applies_to(self, request: ApiRequest) -> bool:
        if self.symbols is None:
            return True
        named = (request.param("symbols") or request.param("symbol") or "").upper().split(",")
        return bool(self.symbols & {s.strip() for s in named})


@dataclass(frozen=True)
class StoredArticle:
    key: tuple[int, int]  # (created_at in ns since the epoch, id): the sort and page-token key
    created_at: datetime
    symbols: frozenset[str]
    wire: dict[str, Any]


@dataclass(frozen=True)
class RecordedRequest:
    """What the server saw (never header values: those carry credentials)."""

    method: str
    path: str
    query: Mapping[str, str]
    authenticated: bool


def _ns(dt: datetime) -> int:
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1_000


def page_token(key: tuple[int, int]) -> str:
    return base64.b64encode(f"{key[0]}|{key[1]}".encode()).decode()


def page_key(token: str) -> tuple[int, int]:
    try:
        ns, article_id = base64.b64decode(token, validate=True).decode().split("|")
        return int(ns), int(article_id)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid page_token") from None


def loaded_articles(paths: Iterable[str | Path]) -> list[StoredArticle]:
    """Articles from JSONL files (one Alpaca article object per line; blank lines skipped)."""
    articles: list[StoredArticle] = []
    for path in paths:
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                created = datetime.fromisoformat(raw["created_at"]).astimezone(timezone.utc)
                merged = {"author": "", "updated_at": raw["created_at"], "summary": "", "content": "",
                          "images": [], "symbols": [], **raw}
                missing = [f for f in WIRE_FIELDS if f not in merged]
                wire = {f: merged.get(f) for f in WIRE_FIELDS}  # Alpaca's keys only, in its order
                if missing or not isinstance(raw["id"], int):
                    raise ValueError(f"missing {missing} or id is not an integer")
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not an Alpaca news article: {exc}") from None
            symbols = frozenset(str(s).upper() for s in wire["symbols"])
            articles.append(StoredArticle((_ns(created), raw["id"]), created, symbols, wire))
    return articles


def news_handler(server: "AlpacaServer", request: ApiRequest) -> ApiResponse:
    """GET /v1beta1/news with Alpaca's filters and page_token pagination."""
    now = server.now()
    raw_symbols = request.param("symbols")
    symbols = None if raw_symbols is None else {s.strip().upper() for s in raw_symbols.split(",") if s.strip()}
    start = parse_time(request.param("start"), "start") if request.param("start") else \
        datetime.combine(now.date(), time(), timezone.utc)
    end = parse_time(request.param("end"), "end") if request.param("end") else now
    if end < start:
        raise ApiError(422, "end should not be before start")
    try:
        limit = int(request.param("limit") or DEFAULT_NEWS_LIMIT)
    except ValueError:
        raise ApiError(400, "invalid limit: not an integer") from None
    if not 1 <= limit <= MAX_NEWS_LIMIT:
        raise ApiError(400, f"invalid limit: must be between 1 and {MAX_NEWS_LIMIT}")
    sort = (request.param("sort") or "desc").lower()
    if sort not in ("asc", "desc"):
        raise ApiError(400, "invalid sort: use asc or desc")
    include_content = (request.param("include_content") or "").lower() == "true"
    contentless_out = (request.param("exclude_contentless") or "").lower() == "true"
    horizon = min(end, now)
    matches = sorted(
        (a for a in server.articles
         if start <= a.created_at <= horizon
         and (symbols is None or symbols & a.symbols)
         and not (contentless_out and not a.wire.get("content"))),
        key=lambda a: a.key, reverse=sort == "desc",
    )
    if request.param("page_token"):
        after = page_key(request.param("page_token"))  # type: ignore[arg-type]
        matches = [a for a in matches if (a.key > after if sort == "asc" else a.key < after)]
    page = matches[:limit]
    items = [{**a.wire, "content": a.wire["content"] if include_content else ""} for a in page]
    token = page_token(page[-1].key) if len(matches) > limit else None
    return ApiResponse(200, {"news": items, "next_page_token": token})


def _map_items(payload: Any, fn: Callable[[dict], dict]) -> Any:
    """payload with fn applied to each object in its top-level lists (the returned items)."""
    if not isinstance(payload, dict):
        return payload
    return {k: [fn(i) if isinstance(i, dict) else i for i in v] if isinstance(v, list) else v
            for k, v in payload.items()}


class AlpacaServer(StubServer):
    """The HTTP server: a route table, the news store, the clock and the fault plan."""

    def __init__(self, address: tuple[str, int], articles: list[StoredArticle], *,
                 as_of: datetime | None = None, api_key_id: str | None = None,
                 api_secret_key: str | None = None) -> None:
        super().__init__(address, _Handler)
        self.articles = articles
        self.as_of = as_of
        self.expected_credentials = (api_key_id, api_secret_key)
        self.faults = Faults()
        self.fault_hits = 0  # requests answered with the fault status (for fail_first)
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[RecordedRequest] = []
        self.paper_book: Any = None  # set by alpaca_paper.install_paper_trading
        self._lock = threading.Lock()
        self.add_route("GET", NEWS_PATH, news_handler)

    def add_route(self, method: str, path: str, handler: Route) -> None:
        self.routes[(method.upper(), path.rstrip("/"))] = handler

    def route(self, method: str, path: str) -> Route | None:
        """The handler for (method, path): an exact route, else one whose `{name}` segments match."""
        path = path.rstrip("/")
        return self.routes.get((method, path)) or next(
            (h for (m, p), h in self.routes.items() if m == method and _path_matches(p, path)), None)

    def now(self) -> datetime:
        return (self.as_of or datetime.now(timezone.utc)).astimezone(timezone.utc)

    def _authorized(self, request: ApiRequest) -> bool:
        key, secret = request.headers.get("apca-api-key-id"), request.headers.get("apca-api-secret-key")
        want_key, want_secret = self.expected_credentials
        return bool(key and secret) and (want_key is None or key == want_key) and \
            (want_secret is None or secret == want_secret)

    def dispatch(self, request: ApiRequest) -> tuple[int, bytes]:
        """(status, body bytes) for one request, with any injected faults applied."""
        return self.dispatch_with_headers(request)[:2]

    def dispatch_with_headers(self, request: ApiRequest) -> tuple[int, bytes, dict[str, str]]:
        """(status, body bytes, extra headers) for one request, faults applied."""
        authorized = self._authorized(request)
        faults = self.faults if self.faults.applies_to(request) else Faults()
        with self._lock:
            self.requests.append(RecordedRequest(request.method, request.path, dict(request.query), authorized))
            failing = faults.status is not None and (
                not faults.fail_first or self.fault_hits < faults.fail_first)
            if failing:
                self.fault_hits += 1
        if faults.delay_seconds:
            self.stopping.wait(faults.delay_seconds)
        if failing:
            assert faults.status is not None
            headers = {"Retry-After": faults.retry_after} if faults.retry_after else {}
            return faults.status, faults.body or _json({"code": faults.status * 100_000,
                                                        "message": "injected fault"}), headers
        if faults.body is not None and faults.status is None:
            return 200, faults.body, {}
        handler = self.route(request.method, request.path)
        try:
            if handler is None:
                known = any(_path_matches(path, request.path.rstrip("/")) for _, path in self.routes)
                raise ApiError(405 if known else 404, "method not allowed" if known else "endpoint not found")
            if not authorized:
                raise ApiError(401, "request is not authorized", code=40110000)
            response = handler(self, request)
        except ApiError as exc:
            response = exc.response()
        if response.raw is not None:
            return response.status, response.raw, {}
        payload = _map_items(response.payload, lambda item: {
            f: _CORRUPT + v if faults.invalid_utf8 and isinstance(v, str) else v
            for f, v in item.items() if f not in faults.drop_fields})
        return response.status, _json(payload).replace(_CORRUPT.encode(), b"\xff\xfe"), {}


def _path_matches(pattern: str, path: str) -> bool:
    want, got = pattern.split("/"), path.split("/")
    return len(want) == len(got) and all(w == g or (w[:1] == "{" and g) for w, g in zip(want, got))


def _json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _Handler(StubHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: avoid 40 ms delayed-ACK stalls
    timeout = 10  # close idle keep-alive connections
    server: AlpacaServer

    def _serve(self) -> None:
        path, query = self.split_path()
        request = ApiRequest(method=self.command, path=path, query=query,
                             headers={k.lower(): v for k, v in self.headers.items()},
                             body=self.read_body())
        status, body, headers = self.server.dispatch_with_headers(request)
        faults = self.server.faults
        self.send_body(status, body, headers, content_type="application/json; charset=utf-8",
                       drip_seconds=faults.drip_seconds if faults.applies_to(request) else 0.0)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class RunningServer(RunningStub):
    """A started server: `.url` for alpaca-py's url_override, `.stop()`, usable as a context manager."""

    server: AlpacaServer

    @property
    def faults(self) -> Faults:
        return self.server.faults

    def inject_faults(self, **kwargs: Any) -> Faults:
        """Replace the fault plan: inject_faults(status=500, symbols={"IBM"}) etc."""
        if kwargs.get("symbols") is not None:
            kwargs["symbols"] = frozenset(s.upper() for s in kwargs["symbols"])
        kwargs["drop_fields"] = tuple(kwargs.get("drop_fields", ()))
        self.server.faults = Faults(**kwargs)
        self.server.fault_hits = 0
        return self.server.faults

    def clear_faults(self) -> None:
        self.server.faults = Faults()

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self.server.requests)


def start_alpaca_server(news_files: Iterable[str | Path] = (SAMPLE_NEWS_FILE,), host: str = "127.0.0.1",
                        port: int = 0, *, as_of: datetime | None = None, api_key_id: str | None = None,
                        api_secret_key: str | None = None,
                        lean_dir: str | Path | None = None) -> RunningServer:
    """Start serving in a background thread (port 0 = any free port) and return at once;
    with `lean_dir` (a LEAN Data folder) it also serves paper trading on replayed quotes."""
    if as_of is not None and as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware, e.g. 2013-10-11T15:59:00-04:00")
    server = AlpacaServer((host, port), loaded_articles(news_files), as_of=as_of,
                          api_key_id=api_key_id, api_secret_key=api_secret_key)
    if lean_dir is not None:  # imported here: it loads pandas, the news server needs none
        from intel_assets.devtools.alpaca_paper import install_paper_trading
        install_paper_trading(server, lean_dir)
    return RunningServer(server, "alpaca-server")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Alpaca-compatible server (news) for demos.")
    parser.add_argument("--news", action="append", type=Path,
                        help=f"JSONL news file (repeatable; default {SAMPLE_NEWS_FILE.name}, sample data)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--as-of", type=datetime.fromisoformat, default=None,
                        help="the server's clock (ISO-8601 with offset); default the real time")
    parser.add_argument("--lean-dir", type=Path, help="LEAN Data folder: also serve paper trading")
    args = parser.parse_args(argv)
    if args.as_of is not None and args.as_of.tzinfo is None:
        parser.error("--as-of needs a UTC offset, e.g. 2013-10-11T15:59:00-04:00")
    running = start_alpaca_server(args.news or [SAMPLE_NEWS_FILE], args.host, args.port, as_of=args.as_of,
                                  lean_dir=args.lean_dir)
    print(f"Alpaca-compatible server on {running.url} ({len(running.server.articles)} articles"
          f"{', clock ' + args.as_of.isoformat() if args.as_of else ''}); Ctrl-C stops it", flush=True)
    try:
        running.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


if __name__ == "__main__":
    main()
