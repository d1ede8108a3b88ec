"""Owns bounded provider HTTP: a wall-clock deadline per request and per run, a response-body cap
and a per-run circuit breaker, shared by every provider client (Alpaca news and trading, SEC
EDGAR, the LEAN runner).

Why: httpx and requests timeouts bound each socket operation, not a request. A server that
drips one byte every few seconds never trips a 10 s read timeout, and kept a news fetch alive
156 s against a 60 s budget. Here every socket operation of a request (connect, TLS handshake,
each write and read) is given at most the time left to the request's deadline,
``min(start + request_seconds, the run's deadline)``, and fails once it has passed, so a request
ends at its deadline whatever the server does (DNS resolution is the one step outside it:
the system resolver has no timeout to give). Bodies are streamed and refused past a byte
cap: a declared Content-Length over the cap is refused before reading, and the decoded bytes are
counted while reading, so a compressed bomb is stopped too.

``ProviderGuard`` is one run's limits for one provider: the run's deadline, each request's
deadline, and a circuit breaker that refuses further calls after ``max_consecutive_failures``
failures in a row (transport errors, timeouts, oversize bodies and 5xx/429 answers count;
callers add failures for unusable bodies and record successes). An open circuit stays open for
the rest of the run: the next run starts with a closed one.

``fetch`` is the httpx path; ``BoundedRequestsAdapter`` mounts the same engine under a
``requests.Session`` (alpaca-py sends through one), raising requests' exception types.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
import math
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

#: The absolute time.monotonic() by which the current request must be done (None: no deadline).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("intel_http_deadline",
                                                                        default=None)
MIB = 1024 * 1024


# ---- errors -------------------------------------------------------------------------------

class ProviderError(Exception):
    """A provider call that did not produce an answer; ``kind`` names why."""

    kind = "transport"


class ProviderUnreachable(ProviderError):
    """The connection failed or broke (refused, reset, DNS, TLS)."""

    kind = "transport"


class ProviderTimeout(ProviderError):
    """The request did not complete within its wall-clock deadline."""

    kind = "timeout"


class RunBudgetExhausted(ProviderError):
    """The run's time budget for this provider is spent: no further request is sent."""

    kind = "budget"


class ResponseTooLarge(ProviderError):
    """The answer's body is larger than the provider's cap (nothing of it is kept)."""

    kind = "too_large"


class CircuitOpen(ProviderError):
    """The provider failed too many times in a row in this run: it is not called again."""

    kind = "circuit_open"


# ---- one run's limits ----------------------------------------------------------------------

class ProviderGuard:
    """One run's wall-clock limits and circuit breaker for one provider (thread-safe).

    ``run_seconds`` None means no run budget (each request still has its deadline);
    ``max_consecutive_failures`` None disables the breaker. ``clock`` is time.monotonic.
    """

    def __init__(self, provider: str, *, request_seconds: float, run_seconds: float | None,
                 max_consecutive_failures: int | None = 3,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not (request_seconds > 0 and math.isfinite(request_seconds)):
            raise ValueError(f"{provider}: request_seconds must be a finite number > 0, got "
                             f"{request_seconds!r}")
        if run_seconds is not None and not (run_seconds > 0 and math.isfinite(run_seconds)):
            raise ValueError(f"{provider}: run_seconds must be a finite number > 0 or None, got "
                             f"{run_seconds!r}")
        if max_consecutive_failures is not None and max_consecutive_failures < 1:
            raise ValueError(f"{provider}: max_consecutive_failures must be >= 1 or None")
        self.provider = provider
        self.request_seconds, self.run_seconds = float(request_seconds), run_seconds
        self.max_consecutive_failures = max_consecutive_failures
        self._clock = clock
        self.started = clock()
        self.run_deadline = math.inf if run_seconds is None else self.started + run_seconds
        self.consecutive_failures = 0
        self.last_failure: str | None = None
        self._open = False
        self._lock = threading.Lock()

    def remaining(self) -> float:
        """Seconds left in the run's budget (inf without one)."""
        return self.run_deadline - self._clock()

    @property
    def is_open(self) -> bool:
        return self._open

    def check(self) -> None:
        """Raise CircuitOpen / RunBudgetExhausted when no call may be made now."""
        if self._open:
            raise CircuitOpen(
                f"{self.provider}: not called again in this run after "
                f"{self.consecutive_failures} consecutive failures (last: {self.last_failure})")
        if self._clock() >= self.run_deadline:
            raise RunBudgetExhausted(
                f"{self.provider}: run time budget exhausted ({self.run_seconds:g} s per run)")

    def request_deadline(self) -> float:
        """The absolute monotonic deadline of a request starting now (after ``check``)."""
        self.check()
        return min(self._clock() + self.request_seconds, self.run_deadline)

    def record_success(self) -> None:
        with self._lock:
            if not self._open:
                self.consecutive_failures = 0

    def record_failure(self, reason: str) -> None:
        with self._lock:
            self.consecutive_failures += 1
            self.last_failure = reason[:300]
            if self.max_consecutive_failures is not None and \
                    self.consecutive_failures >= self.max_consecutive_failures:
                self._open = True

    def timeout_error(self, deadline: float, what: str) -> ProviderError:
        """The error for a request that ran out of time at ``deadline``."""
        if deadline >= self.run_deadline:
            return RunBudgetExhausted(
                f"{self.provider}: run time budget exhausted during {what} "
                f"({self.run_seconds:g} s per run)")
        return ProviderTimeout(f"{self.provider}: no complete answer to {what} within "
                               f"{self.request_seconds:g} s (wall clock)")


# ---- the deadline-aware network backend ------------------------------------------------------

def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` cut to the time left before the current request's deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the request's wall-clock deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # sendall: since Python 3.5 the socket timeout bounds the whole call
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        # the handshake is many reads, each with the socket timeout: a watchdog ends a dripped one
        sock = self._inner.get_extra_info("socket")
        watchdog = None
        if bounded is not None and isinstance(sock, socket.socket):
            watchdog = threading.Timer(bounded, _shutdown, args=(sock,))
            watchdog.daemon = True
            watchdog.start()
        try:  # a handshake cut by the watchdog surfaces as ConnectError; fetch names it a timeout
            return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))
        finally:
            if watchdog is not None:
                watchdog.cancel()

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(
            host, port, _bounded(timeout, httpcore.ConnectTimeout), local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(
            path, _bounded(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport whose every socket operation respects the current request's deadline
    (set by ``fetch``); outside ``fetch`` it behaves as httpx.HTTPTransport."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pool = getattr(self, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:  # httpx/httpcore internals changed: fail loudly, never silently unbounded
            raise RuntimeError("httpx.HTTPTransport has no httpcore network backend to bound; "
                               "intel_assets.bounded_http needs updating for this httpx version")
        pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]


def bounded_client(timeout: float, *, connect_timeout: float = 5.0, verify: Any = True,
                   **kwargs: Any) -> httpx.Client:
    """An httpx.Client on DeadlineTransport; ``timeout`` is its per-operation timeout (fetch
    adds the wall-clock deadline). Other keywords go to httpx.Client."""
    return httpx.Client(transport=DeadlineTransport(verify=verify),
                        timeout=httpx.Timeout(timeout, connect=min(timeout, connect_timeout)),
                        **kwargs)


# ---- fetch -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class BoundedResponse:
    """A complete answer read within its deadline and cap."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    url: str
    reason_phrase: str = ""
    elapsed_seconds: float = 0.0
    extensions: dict = field(default_factory=dict, repr=False)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _is_provider_failure(status: int) -> bool:
    return status >= 500 or status == 429


#: True while a caller retries: each attempt's failure is then the caller's to record (once per
#: call, after its retries), so retried attempts do not trip the circuit breaker on their own.
_CALLER_RECORDS: contextvars.ContextVar[bool] = contextvars.ContextVar("intel_http_caller_records",
                                                                       default=False)


@contextlib.contextmanager
def failures_recorded_by_caller() -> Iterator[None]:
    """Within it, ``fetch`` records no failures on the guard (the caller, retrying, records
    one per call when it gives up); successes are recorded as before."""
    token = _CALLER_RECORDS.set(True)
    try:
        yield
    finally:
        _CALLER_RECORDS.reset(token)


def _record_failure(guard: ProviderGuard, reason: str) -> None:
    if not _CALLER_RECORDS.get():
        guard.record_failure(reason)


def fetch(client: httpx.Client, method: str, url: str, *, guard: ProviderGuard,
          max_body_bytes: int, record_success: bool = False, **kwargs: Any) -> BoundedResponse:
    """One request through ``client`` within ``guard``'s deadlines and ``max_body_bytes``.

    Raises CircuitOpen / RunBudgetExhausted before sending when the guard refuses;
    ProviderTimeout (or RunBudgetExhausted when the run's deadline was the one hit),
    ProviderUnreachable or ResponseTooLarge after. Those and 5xx/429 answers are recorded as
    failures on the guard; ``record_success`` also records any other answer as a success
    (otherwise the caller judges the body and records it).
    """
    what = f"{method} {httpx.URL(url).copy_with(query=None)}"
    deadline = guard.request_deadline()
    token = _DEADLINE.set(deadline)
    started = time.monotonic()
    try:
        with client.stream(method, url, **kwargs) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_body_bytes:
                raise ResponseTooLarge(
                    f"{guard.provider}: the answer to {what} declares {int(declared):,} bytes, "
                    f"over the {max_body_bytes:,}-byte cap")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_body_bytes:
                    raise ResponseTooLarge(f"{guard.provider}: the answer to {what} exceeds the "
                                           f"{max_body_bytes:,}-byte cap (stopped reading)")
                chunks.append(chunk)
            answer = BoundedResponse(response.status_code, response.headers, b"".join(chunks),
                                     str(response.url), response.reason_phrase,
                                     time.monotonic() - started)
    except ResponseTooLarge as exc:
        _record_failure(guard, str(exc))
        raise
    except httpx.TimeoutException as exc:
        error: ProviderError = guard.timeout_error(deadline, what) \
            if time.monotonic() >= deadline - 0.05 else \
            ProviderTimeout(f"{guard.provider}: no answer to {what} within "
                            f"{guard.request_seconds:g} s ({type(exc).__name__})")
        _record_failure(guard, str(error))
        raise error from exc
    except httpx.TransportError as exc:
        if time.monotonic() >= deadline - 0.05:  # e.g. a TLS handshake cut by the watchdog
            error = guard.timeout_error(deadline, what)
        else:
            error = ProviderUnreachable(f"{guard.provider}: cannot reach {what} "
                                        f"({type(exc).__name__}: {exc})")
        _record_failure(guard, str(error))
        raise error from exc
    finally:
        _DEADLINE.reset(token)
    if _is_provider_failure(answer.status_code):
        _record_failure(guard, f"HTTP {answer.status_code} for {what}")
    elif record_success:
        guard.record_success()
    return answer


# ---- the same engine under requests (alpaca-py) ----------------------------------------------

class RequestsProviderTimeout(ProviderTimeout, requests.exceptions.Timeout):
    pass


class RequestsRunBudgetExhausted(RunBudgetExhausted, requests.exceptions.Timeout):
    pass


class RequestsProviderUnreachable(ProviderUnreachable, requests.exceptions.ConnectionError):
    pass


class RequestsCircuitOpen(CircuitOpen, requests.exceptions.ConnectionError):
    pass


class RequestsResponseTooLarge(ResponseTooLarge, requests.exceptions.RequestException):
    pass


_AS_REQUESTS: dict[type[ProviderError], type[ProviderError]] = {
    RunBudgetExhausted: RequestsRunBudgetExhausted,
    ProviderTimeout: RequestsProviderTimeout,
    ProviderUnreachable: RequestsProviderUnreachable,
    CircuitOpen: RequestsCircuitOpen,
    ResponseTooLarge: RequestsResponseTooLarge,
}


class BoundedRequestsAdapter(BaseAdapter):
    """A requests transport adapter that sends through ``fetch`` (for clients built on a
    requests.Session, such as alpaca-py's). Errors are raised as requests' exception types
    that are also ProviderErrors (a deadline is a requests.Timeout, an open circuit a
    requests.ConnectionError, ...). Redirects are not followed here (requests' Session
    does that when asked)."""

    def __init__(self, guard: ProviderGuard, max_body_bytes: int, *,
                 record_success: bool = False) -> None:
        super().__init__()
        self.guard, self.max_body_bytes, self.record_success = guard, max_body_bytes, record_success
        self._client = bounded_client(guard.request_seconds, follow_redirects=False)

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        if body is not None and not isinstance(body, bytes):
            body = b"".join(body)  # an iterable body (never sent by alpaca-py)
        try:
            answer = fetch(self._client, request.method or "GET", request.url or "",
                           guard=self.guard, max_body_bytes=self.max_body_bytes,
                           record_success=self.record_success,
                           headers=dict(request.headers), content=body)
        except ProviderError as exc:
            for base, as_requests in _AS_REQUESTS.items():
                if isinstance(exc, base):
                    raise as_requests(str(exc), request=request) from exc
            raise
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(answer.headers.items())
        response._content = answer.content
        response._content_consumed = True
        response.raw = io.BytesIO(answer.content)
        response.encoding = get_encoding_from_headers(response.headers)
        response.reason = answer.reason_phrase
        response.url = request.url or ""
        response.request = request
        response.connection = self
        return response

    def close(self) -> None:
        self._client.close()


def mount_bounded(session: requests.Session, adapter: BoundedRequestsAdapter) -> None:
    """Send every http(s) request of ``session`` through ``adapter``."""
    session.mount("http://", adapter)
    session.mount("https://", adapter)


__all__ = [
    "MIB", "BoundedRequestsAdapter", "BoundedResponse", "CircuitOpen", "DeadlineTransport",
    "ProviderError", "ProviderGuard", "ProviderTimeout", "ProviderUnreachable",
    "ResponseTooLarge", "RunBudgetExhausted", "bounded_client", "failures_recorded_by_caller",
    "fetch", "mount_bounded",
]
