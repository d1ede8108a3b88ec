"""Owns a small ClickHouse-HTTP-compatible server backed by chdb, for tests and local runs.

No ClickHouse server package runs on these machines (Debian ships 18.16, which
clickhouse-connect refuses), so this endpoint puts the ClickHouse 26.x engine that chdb embeds
behind ClickHouse's HTTP interface, closely enough that the real clickhouse-connect HTTP client
(the production path, intel_assets/stores/warehouse.py) runs unchanged against it, over
http or https (uvicorn's TLS, any certificate given). Every statement is executed by the engine
itself: what it answers (results, Native bytes, errors) is ClickHouse's, not a re-implementation.

What it implements, as clickhouse-server does:

* ``POST /`` and ``GET /``: the statement is the ``query`` parameter, then a line feed, then
  the request body (either may be empty), so ``INSERT ... FORMAT Native`` with the data after it
  in the body works (clickhouse-connect's inserts); ``GET`` runs with ``readonly = 2`` unless the
  user is already read-only. ``GET /`` without a query and ``GET /ping`` answer ``Ok.``.
* ``database``, ``default_format`` (else TabSeparated; a ``FORMAT`` clause wins), bound
  parameters ``param_<name>`` (``{name:Type}``; same text encoding as the server), ``query_id``
  (echoed in ``X-ClickHouse-Query-Id``, else generated), ``session_id`` / ``session_timeout`` /
  ``session_check``: ``SET`` and ``USE`` persist within a session (replayed before each of its
  statements). Every other parameter is a setting, applied with ``SET`` for that request only;
  an unknown one fails as the server fails (Code 115 UNKNOWN_SETTING). ``wait_end_of_query``,
  ``buffer_size``, ``quota_key``, ``client_protocol_version`` and ``role`` are accepted and have
  no effect (every answer is buffered whole: ``wait_end_of_query = 1`` is what it always does).
* Users: HTTP basic auth, ``X-ClickHouse-User`` / ``X-ClickHouse-Key`` headers, or ``user`` /
  ``password`` parameters; each user has a password and a settings profile (e.g.
  ``readonly = 1``, as deploy/clickhouse/intel-assets-readonly.sql gives ``intel_assets``)
  applied before anything the request sets, so a read-only user cannot change settings or
  write. A wrong password or unknown user: Code 516 AUTHENTICATION_FAILED, HTTP 403.
* Compression: a compressed request body (``Content-Encoding`` gzip, deflate, lz4 frame, zstd,
  br when their modules are installed) is decompressed; the answer is compressed only when the
  effective ``enable_http_compression`` is 1 and ``Accept-Encoding`` names a method it has
  (first listed wins), else sent as is. The default is 0, as on clickhouse-server (chdb's own
  default is 1); every other setting default is chdb's.
* Headers: ``X-ClickHouse-Summary`` (read/written rows and bytes, elapsed_ns, result_bytes:
  what chdb measures), ``X-ClickHouse-Timezone`` (the engine's ``timezone()``),
  ``X-ClickHouse-Server-Display-Name``, ``X-ClickHouse-Query-Id``, and ``X-ClickHouse-Format``
  (with a matching ``Content-Type``) for statements that produce a result set.
* Errors as the server reports them: the engine's ``Code: N. DB::Exception: ... (NAME)`` text
  with `` (version V)``, ``X-ClickHouse-Exception-Code: N``, and the HTTP status ClickHouse's
  exceptionCodeToHTTPStatus gives that error (400 syntax/parse, 403 auth/access, 404 unknown
  table/database/setting..., 501 not implemented, 503 unavailable; 500 otherwise).

What it does not implement (a request needing it gets an honest error or no effect, never a
fake answer): access control (no GRANT/ROLE: chdb has no user directory; users and profiles are
the endpoint's, so grants are checked only by syntax in the tests), ClickHouse's own compressed
framing (``compress=1`` / ``decompress=1``: Code 48 NOT_IMPLEMENTED), progress headers and
streamed answers (``send_progress_in_http_headers`` is accepted, nothing is sent before the
end), external data (multipart tables), temporary tables across a session's requests, query
cancellation, ``/replicas_status``, ``/play`` and other handlers, quotas, and concurrency: one
statement runs at a time. ``result_rows`` and ``total_rows_to_read`` are not in the summary
(chdb does not report them). chdb admits one data path per process: run the endpoint in the
process that holds the embedded engine (tests) or on its own (the command below, which takes
the same file lock the embedded warehouse takes).

    python -m intel_assets.devtools.clickhouse_http --path /abs/chdb/data --port 8123 \\
        [--certfile server.crt --keyfile server.key] [--user intel_assets:PASSWORD:readonly]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hmac
import json
import re
import socket
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DISPLAY_NAME = "intel-assets-chdb-http"
#: Request parameters that are not settings (ClickHouse's HTTP handler reads them itself).
TRANSPORT_PARAMS = frozenset({
    "query", "database", "default_format", "session_id", "session_timeout", "session_check",
    "query_id", "quota_key", "wait_end_of_query", "buffer_size", "compress", "decompress",
    "user", "password", "role", "client_protocol_version", "stacktrace",
})
#: Settings the endpoint gives every request before the user's profile: clickhouse-server's
#: default where chdb's differs and the HTTP path depends on it.
SERVER_DEFAULTS = {"enable_http_compression": "0"}
# ClickHouse's exceptionCodeToHTTPStatus (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp),
# restated by error name; any other error is 500.
_STATUS_BY_ERROR = {
    **dict.fromkeys(("REQUIRED_PASSWORD",), 401),
    **dict.fromkeys(("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED",
                     "SET_NON_GRANTED_ROLE", "ACCESS_DENIED"), 403),
    **dict.fromkeys((
        "BAD_ARGUMENTS", "CANNOT_COMPILE_REGEXP", "CANNOT_PARSE_TEXT",
        "CANNOT_PARSE_ESCAPE_SEQUENCE", "CANNOT_PARSE_QUOTED_STRING", "CANNOT_PARSE_DATE",
        "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER", "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
        "CANNOT_PARSE_IPV4", "CANNOT_PARSE_IPV6", "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
        "CANNOT_PARSE_UUID", "DUPLICATE_COLUMN", "ILLEGAL_COLUMN", "UNKNOWN_ELEMENT_IN_AST",
        "UNKNOWN_TYPE_OF_AST_NODE", "THERE_IS_NO_COLUMN", "TOO_DEEP_AST", "TOO_BIG_AST",
        "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR", "INCORRECT_DATA", "TYPE_MISMATCH",
        "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"), 400),
    **dict.fromkeys((
        "UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE",
        "UNKNOWN_STORAGE", "UNKNOWN_DATABASE", "UNKNOWN_SETTING", "UNKNOWN_DIRECTION_OF_SORTING",
        "UNKNOWN_AGGREGATE_FUNCTION", "UNKNOWN_FORMAT", "UNKNOWN_DATABASE_ENGINE",
        "UNKNOWN_TYPE_OF_QUERY", "UNKNOWN_ROLE"), 404),
    "QUERY_IS_TOO_LARGE": 413, "NOT_IMPLEMENTED": 501, "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503, "HTTP_LENGTH_REQUIRED": 411, "TIMEOUT_EXCEEDED": 408,
    "CANNOT_SCHEDULE_TASK": 503, "UNSUPPORTED_MEDIA_TYPE": 415,
}
# Error codes the endpoint raises itself (ClickHouse's numbers for these names).
_OWN_ERRORS = {"NOT_IMPLEMENTED": 48, "SYNTAX_ERROR": 62, "UNKNOWN_COMPRESSION_METHOD": 432,
               "SESSION_NOT_FOUND": 372, "AUTHENTICATION_FAILED": 516, "BAD_ARGUMENTS": 36}
_CODE = re.compile(r"Code:\s*(\d+)\.")
_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)\s*$")
_COMMENT = re.compile(rb"\s*(?:--[^\n]*(?:\n|$)|/\*.*?\*/)", re.DOTALL)
_FIRST_WORD = re.compile(rb"[\s(]*([A-Za-z]+)")
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$", re.IGNORECASE)
_INSERT_HEAD = re.compile(rb"(\s*INSERT\s.*?\sFORMAT\s+([A-Za-z0-9_]+))[ \t]*(?:\r?\n)?",
                          re.IGNORECASE | re.DOTALL)
_SETTINGS_CLAUSE = re.compile(rb"\sSETTINGS\s", re.IGNORECASE)
_USE = re.compile(r"^\s*USE\s+(`[^`]+`|\"[^\"]+\"|[A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$", re.IGNORECASE)
#: Statements whose answer is a result set (X-ClickHouse-Format is sent for them).
_RESULT_KINDS = frozenset({"SELECT", "WITH", "SHOW", "DESC", "DESCRIBE", "EXISTS", "EXPLAIN",
                           "CHECK", "VALUES"})
_CONTENT_TYPES = (
    (("Native", "RowBinary", "RowBinaryWithNames", "RowBinaryWithNamesAndTypes", "Parquet",
      "Arrow", "ArrowStream", "ORC"), "application/octet-stream"),
    (("TabSeparated", "TabSeparatedRaw", "TabSeparatedWithNames", "TabSeparatedWithNamesAndTypes",
      "TSV", "TSVRaw", "TSVWithNames", "TSVWithNamesAndTypes"), "text/tab-separated-values; charset=UTF-8"),
    (("JSON", "JSONCompact", "JSONEachRow", "JSONCompactEachRow", "JSONStrings"),
     "application/json; charset=UTF-8"),
    (("CSV", "CSVWithNames", "CSVWithNamesAndTypes"), "text/csv; charset=UTF-8"),
)


@dataclass(frozen=True)
class HttpUser:
    """An endpoint user: its password and its settings profile (applied before the request's)."""

    password: str = ""
    settings: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Session:
    statements: list[bytes] = field(default_factory=list)  # SET statements, replayed in order
    database: str | None = None
    timeout: float = 60.0
    last_used: float = field(default_factory=time.monotonic)


class EndpointError(Exception):
    """An error the endpoint reports itself, shaped like the engine's."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"Code: {_OWN_ERRORS[name]}. DB::Exception: {message}. ({name})")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _kind(sql: bytes) -> str:
    """The statement's first keyword (comments and leading parentheses skipped), upper-cased."""
    pos = 0
    while True:
        m = _COMMENT.match(sql, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
    m = _FIRST_WORD.match(sql, pos)
    return m.group(1).decode().upper() if m else ""


def _content_type(fmt: str) -> str:
    for names, value in _CONTENT_TYPES:
        if fmt in names:
            return value
    return "text/plain; charset=UTF-8"


def _decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "lz4":
        import lz4.frame

        out, rest = [], body
        while rest:  # clickhouse-connect sends one lz4 frame per block
            decompressor = lz4.frame.LZ4FrameDecompressor()
            out.append(decompressor.decompress(rest))
            rest = decompressor.unused_data
        return b"".join(out)
    if encoding == "zstd":
        return _zstd().decompress(body)
    if encoding == "br":
        import brotli

        return brotli.decompress(body)
    raise EndpointError("UNKNOWN_COMPRESSION_METHOD", f"Unknown HTTP compression method {encoding!r}")


def _zstd():
    try:
        from compression import zstd  # Python 3.14
    except ImportError:
        from backports import zstd
    return zstd


def _compressor(accept: str):
    """(name, compress function) for the first Accept-Encoding method available here, or None."""
    for item in accept.split(","):
        name = item.split(";")[0].strip().lower()
        if name == "gzip":
            return name, gzip.compress
        if name == "deflate":
            return name, zlib.compress
        try:
            if name == "lz4":
                import lz4.frame

                return name, lz4.frame.compress
            if name == "zstd":
                return name, _zstd().compress
            if name == "br":
                import brotli

                return name, brotli.compress
        except ImportError:
            continue
    return None


def _quote_setting(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ChdbHttpEndpoint:
    """ClickHouse's HTTP interface over the chdb engine at ``path`` (see the module docstring).

    ``users`` maps user names to HttpUser (default: ``default`` with no password and no
    profile). ``app`` is the ASGI application; ``handle(...)`` answers one request directly."""

    def __init__(self, path: str, users: Mapping[str, HttpUser] | None = None,
                 display_name: str = DEFAULT_DISPLAY_NAME) -> None:
        import chdb

        self._chdb = chdb
        self.path = path
        self.users = dict(users) if users is not None else {"default": HttpUser()}
        self.display_name = display_name
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._anchor = chdb.connect(path)  # keeps the engine up between requests
        row = self._anchor.query("SELECT version(), timezone()", "TabSeparated").bytes()
        self.version, self.timezone = row.decode().rstrip("\n").split("\t")
        self.app = self._asgi_app()

    def close(self) -> None:
        with self._lock:
            if self._anchor is not None:
                self._anchor.close()
                self._anchor = None

    # ---- one request ----------------------------------------------------------------------
    def handle(self, method: str, params: list[tuple[str, str]], headers: Mapping[str, str],
               body: bytes) -> Answer:
        """Answer one request to ``/`` (``headers`` with lower-case names)."""
        query_id = next((v for k, v in params if k == "query_id"), "") or str(uuid.uuid4())
        base = {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Timezone": self.timezone,
                "X-ClickHouse-Server-Display-Name": self.display_name}
        try:
            with self._lock:
                return self._run(method, params, headers, body, base)
        except Exception as exc:  # noqa: BLE001 - every failure is answered as the server does
            text = str(exc).strip()
            if isinstance(exc, EndpointError) or _CODE.match(text):  # the engine's own error
                return self._error(text, base)
            return self._error(f"Code: 1001. DB::Exception: {type(exc).__name__}: {text}. "
                               "(STD_EXCEPTION)", base)  # e.g. a corrupt compressed body

    def _error(self, message: str, base: dict[str, str]) -> Answer:
        message = message.strip()
        code, name = _CODE.search(message), _NAME.search(message)
        code, name = (code.group(1) if code else "1001"), (name.group(1) if name else "")
        headers = {**base, "X-ClickHouse-Exception-Code": code,
                   "Content-Type": "text/plain; charset=UTF-8"}
        body = f"{message} (version {self.version})\n".encode()
        return Answer(_STATUS_BY_ERROR.get(name, 500), headers, body)

    def _authenticate(self, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[str, HttpUser]:
        user, password = "default", ""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise EndpointError("AUTHENTICATION_FAILED", "Malformed Basic authorization header") from None
        elif "x-clickhouse-user" in headers:
            user, password = headers["x-clickhouse-user"], headers.get("x-clickhouse-key", "")
        elif "user" in params:
            user, password = params["user"], params.get("password", "")
        known = self.users.get(user)
        if known is None or not hmac.compare_digest(known.password.encode(), password.encode()):
            raise EndpointError("AUTHENTICATION_FAILED", f"{user}: Authentication failed: password "
                                "is incorrect, or there is no user with such name")
        return user, known

    def _session(self, params: Mapping[str, str]) -> _Session | None:
        session_id = params.get("session_id")
        if not session_id:
            return None
        now = time.monotonic()
        for key in [k for k, s in self._sessions.items() if now - s.last_used > s.timeout]:
            del self._sessions[key]
        session = self._sessions.get(session_id)
        if session is None:
            if params.get("session_check") in ("1", "true"):
                raise EndpointError("SESSION_NOT_FOUND", f"Session {session_id} not found")
            session = self._sessions[session_id] = _Session()
        if params.get("session_timeout"):
            try:
                session.timeout = float(params["session_timeout"])
            except ValueError:
                raise EndpointError("BAD_ARGUMENTS", "Invalid session timeout: "
                                    f"{params['session_timeout']!r}") from None
        session.last_used = now
        return session

    def _run(self, method: str, pairs: list[tuple[str, str]], headers: Mapping[str, str],
             body: bytes, base: dict[str, str]) -> Answer:
        params = dict(pairs)
        _, profile = self._authenticate(params, headers)
        for flag in ("compress", "decompress"):
            if params.get(flag) in ("1", "true"):
                raise EndpointError("NOT_IMPLEMENTED", f"{flag}=1 (ClickHouse's compressed "
                                    "framing) is not implemented by this test endpoint; use "
                                    "HTTP compression (Content-Encoding) instead")
        body = _decompress(body, headers.get("content-encoding", ""))
        query = params.get("query", "")
        sql = (query.encode() + b"\n" if query else b"") + body
        if not sql.strip():
            if method == "GET":
                return Answer(200, {**base, "Content-Type": "text/html; charset=UTF-8"}, b"Ok.\n")
            raise EndpointError("SYNTAX_ERROR", "Empty query")
        session = self._session(params)
        handle = self._chdb.connect(self.path)
        try:
            settings = {**SERVER_DEFAULTS, **{k: v for k, v in profile.settings.items() if k != "readonly"}}
            if "readonly" in profile.settings:
                settings["readonly"] = profile.settings["readonly"]
            elif method == "GET":
                settings["readonly"] = "2"
            for name, value in settings.items():  # the user's profile: before anything else
                handle.query(f"SET {name} = {_quote_setting(str(value))}", "TabSeparated")
            for statement in (session.statements if session else ()):
                handle.query(statement, "TabSeparated")
            for name, value in pairs:
                if name not in TRANSPORT_PARAMS and not name.startswith("param_"):
                    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                        raise EndpointError("BAD_ARGUMENTS", f"Invalid setting name {name!r}")
                    handle.query(f"SET {name} = {_quote_setting(value)}", "TabSeparated")
            database = params.get("database") or (session.database if session else None)
            if database:
                handle.query(f"USE `{database.replace('`', '')}`", "TabSeparated")
            kind = _kind(sql)
            fmt = params.get("default_format") or "TabSeparated"
            text = None if kind == "INSERT" else sql.decode("utf-8", errors="replace")
            if text is not None and (m := _TRAILING_FORMAT.search(text)):
                fmt = m.group(1)
            bound = {k[len("param_"):]: v for k, v in pairs if k.startswith("param_")}
            result = self._execute(handle, sql, kind, fmt, bound)
            payload = result.bytes() or b""
            compress = handle.query("SELECT getSetting('enable_http_compression')",
                                    "TabSeparated").bytes().strip() in (b"1", b"true")
        finally:
            handle.close()
        if session is not None and kind == "SET":
            session.statements.append(sql)
        if session is not None and kind == "USE" and (m := _USE.match(text or "")):
            session.database = m.group(1).strip('`"')
        answer = dict(base)
        answer["X-ClickHouse-Summary"] = json.dumps({
            "read_rows": str(result.rows_read()), "read_bytes": str(result.bytes_read()),
            "written_rows": str(result.rows_written()), "written_bytes": str(result.bytes_written()),
            "result_bytes": str(len(payload)), "elapsed_ns": str(int(result.elapsed() * 1e9))})
        if kind in _RESULT_KINDS:
            answer["X-ClickHouse-Format"] = fmt
            answer["Content-Type"] = _content_type(fmt)
        else:
            answer["Content-Type"] = "text/plain; charset=UTF-8"
        chosen = _compressor(headers.get("accept-encoding", "")) if compress and payload else None
        if chosen is not None:
            answer["Content-Encoding"] = chosen[0]
            payload = chosen[1](payload)
        return Answer(200, answer, payload)

    @staticmethod
    def _execute(handle, sql: bytes, kind: str, fmt: str, bound: dict[str, str]):
        """Run one statement. ``INSERT ... FORMAT X`` followed by data is split as the server
        splits it (the statement, then the data as a stream): the engine parses only the
        statement (chdb would count inline data against max_query_size) and reads the data
        from a file, ``INSERT ... FROM INFILE``."""
        head = _INSERT_HEAD.match(sql[:1 << 16]) if kind == "INSERT" else None
        if head is None or not sql[head.end():]:
            return handle.query(sql, fmt, params=bound)
        statement = head.group(1)[:head.start(2) - head.start(1)].rstrip()
        statement = statement[:-len(b"FORMAT")].rstrip()
        with tempfile.NamedTemporaryFile(prefix="chdb-http-", suffix=".data") as data:
            data.write(sql[head.end():])
            data.flush()
            infile = b" FROM INFILE " + _quote_setting(data.name).encode() + b" "
            settings = _SETTINGS_CLAUSE.search(statement)
            cut = settings.start() if settings else len(statement)
            query = statement[:cut].rstrip() + infile + statement[cut:].lstrip()
            return handle.query(query.rstrip() + b" FORMAT " + head.group(2), fmt, params=bound)

    # ---- ASGI -----------------------------------------------------------------------------
    def _asgi_app(self):
        from starlette.applications import Starlette
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def root(request: Request) -> Response:
            body = await request.body()
            headers = {k.lower(): v for k, v in request.headers.items()}
            answer = await run_in_threadpool(self.handle, request.method,
                                             list(request.query_params.multi_items()), headers, body)
            media = answer.headers.pop("Content-Type", None)
            return Response(answer.body, status_code=answer.status, headers=answer.headers,
                            media_type=media)

        async def ping(request: Request) -> Response:
            return Response(b"Ok.\n", media_type="text/html; charset=UTF-8")

        return Starlette(routes=[Route("/", root, methods=["GET", "POST"]),
                                 Route("/ping", ping, methods=["GET", "HEAD"])])


@contextmanager
def serve_chdb_http(path: str, *, users: Mapping[str, HttpUser] | None = None,
                    certfile: str | None = None, keyfile: str | None = None,
                    host: str = "127.0.0.1", port: int = 0) -> Iterator[tuple[str, ChdbHttpEndpoint]]:
    """Serve the endpoint on host:port (0 = an ephemeral port) in a background thread, over
    https when ``certfile``/``keyfile`` are given; yield (base URL, endpoint)."""
    from intel_assets.devtools.asgi import asgi_in_background

    endpoint = ChdbHttpEndpoint(path, users=users)
    tls: dict[str, Any] = {"ssl_certfile": certfile, "ssl_keyfile": keyfile} if certfile else {}
    try:
        with asgi_in_background(endpoint.app, host=host, port=port, lifespan="off", **tls) as url:
            yield (url.replace("http://", "https://", 1) if certfile else url), endpoint
    finally:
        endpoint.close()


def _user(text: str) -> tuple[str, HttpUser]:
    name, _, rest = text.partition(":")
    password, _, flags = rest.partition(":")
    if not name or flags not in ("", "readonly"):
        raise argparse.ArgumentTypeError("write NAME:PASSWORD or NAME:PASSWORD:readonly")
    return name, HttpUser(password, {"readonly": "1"} if flags else {})


def main(argv: list[str] | None = None) -> int:
    import uvicorn
    from filelock import FileLock, Timeout

    parser = argparse.ArgumentParser(prog="python -m intel_assets.devtools.clickhouse_http",
                                     description="ClickHouse's HTTP interface over a chdb data path.")
    parser.add_argument("--path", required=True, help="chdb data folder (absolute)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--certfile", help="server certificate (PEM): serve https")
    parser.add_argument("--keyfile", help="its private key (PEM)")
    parser.add_argument("--user", action="append", type=_user, default=[],
                        help="NAME:PASSWORD[:readonly] (repeatable; default: user default, no password)")
    args = parser.parse_args(argv)
    if bool(args.certfile) != bool(args.keyfile):
        parser.error("--certfile and --keyfile go together")
    lock = FileLock(f"{args.path.rstrip('/')}.lock")  # the embedded warehouse's lock
    try:
        lock.acquire(timeout=5)
    except Timeout:
        print(f"error: {args.path} is held by another process (chdb allows one per data path)")
        return 2
    try:
        endpoint = ChdbHttpEndpoint(args.path, users=dict(args.user) or None)
        sock = socket.create_server((args.host, args.port))
        scheme = "https" if args.certfile else "http"
        print(f"serving ClickHouse HTTP on {scheme}://{args.host}:{sock.getsockname()[1]} "
              f"(chdb {endpoint.version}, {args.path})", flush=True)
        server = uvicorn.Server(uvicorn.Config(endpoint.app, log_level="warning", lifespan="off",
                                               ssl_certfile=args.certfile, ssl_keyfile=args.keyfile))
        server.run(sockets=[sock])
        endpoint.close()
    finally:
        lock.release()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
