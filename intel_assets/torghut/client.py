"""Owns Torghut's market-context client: the envelope, strict parsing, a circuit breaker, ETag reuse.

It calls ``TRADING_MARKET_CONTEXT_URL`` (the full endpoint) as Torghut does (proompteng/lab
255d330fe services/torghut/app/trading/market_context.py, MarketContextClient.fetch):
``GET <url>?symbol=S[&asOf=<UTC ISO-8601>]``; a non-2xx status, a body that is not a JSON
object, ``ok`` not true or ``context`` not an object is a failed fetch; ``context`` is parsed by
Torghut's own strict schema (intel_assets.torghut.schema). Like Torghut it sends one attempt per
fetch by default (``max_retries=0``).

`MarketContextClient.fetch(symbol)` never raises for a network or contract problem; it answers
a `MarketContextResult` whose outcome is

* ``ok``: a bundle that validates against the strict wire model (fresh 200 or 304 reuse);
* ``unavailable``: timeout, connection refused, 5xx (after retries), 404 or another 4xx,
  ``ok: false``, the breaker open, or an invalid symbol (no request sent);
* ``schema_invalid``: a 200 whose body is not JSON, not the envelope, or whose context does not
  validate (``detail`` holds the first validation error) or is the bundle of another symbol.
Torghut's policy treats both failures alike (``market_context_fetch_error``); the outcome and
``reason`` say which it was.

Circuit breaker: it counts *fetches*, not attempts. A fetch fails when every attempt ended in a
timeout, a transport error or a 5xx; after `breaker_failures` consecutive failed fetches the
breaker opens and fetches answer ``unavailable/breaker_open`` without a request. Once
`breaker_reset_seconds` have passed (by the injected `clock`) it is half-open: the next fetch is
the single trial (one attempt, no retries; concurrent fetches are refused meanwhile). A trial
that reaches the server (any 2xx/304/4xx answer) closes the breaker; a failed one re-opens it
for another reset period. Answers that prove the server is up (4xx, schema-invalid bodies) reset
the failure count: they are not availability problems.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable, Literal
from urllib.parse import urlencode

import httpx
from pydantic import ValidationError

from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol
from intel_assets.torghut.metrics import CONTEXT_FETCHES
from intel_assets.torghut.schema import TorghutMarketContextBundle

log = logging.getLogger(__name__)
MARKET_CONTEXT_PATH = "/api/torghut/market-context"
Outcome = Literal["ok", "unavailable", "schema_invalid", "disabled"]
BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True)
class MarketContextResult:
    """What one fetch produced; `bundle` is set only when outcome is ok."""

    symbol: str
    outcome: Outcome
    bundle: TorghutMarketContextBundle | None = None
    reason: str | None = None  # timeout, connect_error, http_5xx, not_found, breaker_open, ...
    detail: str | None = None  # human-readable; for schema_invalid the first validation error
    status_code: int | None = None  # the last HTTP status seen, if any
    attempts: int = 0  # HTTP requests this fetch sent
    from_cache: bool = False  # ok through a 304: the cached bundle was reused
    etag: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @classmethod
    def disabled(cls, symbol: str) -> "MarketContextResult":
        """The result used when TRADING_MARKET_CONTEXT_ENABLED is off: no fetch happened."""
        return cls(symbol=symbol, outcome="disabled", reason="disabled",
                   detail="market context disabled by TRADING_MARKET_CONTEXT_ENABLED")


@dataclass
class ClientStats:
    """Running totals of one client (for tests and debugging)."""

    fetches: int = 0
    requests: int = 0  # HTTP requests sent, retries included
    retries: int = 0
    not_modified: int = 0  # 304 answers (cached bundle reused)
    short_circuited: int = 0  # fetches refused by the open breaker


class CircuitBreaker:
    """closed -> open after `failures` consecutive failed fetches -> half-open after
    `reset_seconds` (one trial) -> closed on success, open again on failure. Thread-safe."""

    def __init__(self, failures: int, reset_seconds: float, clock: Callable[[], float]) -> None:
        if failures < 1 or reset_seconds <= 0:
            raise ValueError("breaker_failures must be >= 1 and breaker_reset_seconds > 0")
        self.failures, self.reset_seconds, self._clock = failures, reset_seconds, clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._trial_in_flight or self._clock() - self._opened_at >= self.reset_seconds:
                return "half_open"
            return "open"

    def acquire(self) -> Literal["closed", "trial"] | None:
        """Permission for one fetch: 'closed' (normal), 'trial' (half-open probe) or None (refused)."""
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._trial_in_flight or self._clock() - self._opened_at < self.reset_seconds:
                return None
            self._trial_in_flight = True
            return "trial"

    def seconds_until_trial(self) -> float:
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.reset_seconds - (self._clock() - self._opened_at))

    def record_success(self) -> None:
        with self._lock:
            self._consecutive, self._opened_at, self._trial_in_flight = 0, None, False

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._trial_in_flight or self._consecutive >= self.failures:
                self._opened_at = self._clock()
            self._trial_in_flight = False


@dataclass(frozen=True)
class _Transient:
    """A retryable attempt failure: timeout, transport error or 5xx."""

    reason: str
    detail: str
    status_code: int | None = None


def first_validation_error(exc: ValidationError) -> str:
    """'loc.path: message' of the first error, plus how many more there are."""
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "<root>"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def endpoint_url(base_or_endpoint: str) -> str:
    """The market-context endpoint: a URL ending in /api/torghut/market-context is used as is
    (TRADING_MARKET_CONTEXT_URL); a bare server URL gets that path appended."""
    url = base_or_endpoint.strip()
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"market-context URL {url!r} must start with http:// or https://, e.g. "
                         f"http://127.0.0.1:8080{MARKET_CONTEXT_PATH}")
    head, sep, query = url.partition("?")
    if not head.rstrip("/").endswith(MARKET_CONTEXT_PATH):
        head = head.rstrip("/") + MARKET_CONTEXT_PATH
    return head + sep + query


class MarketContextClient:
    """GETs <TRADING_MARKET_CONTEXT_URL>?symbol=X[&asOf=T] from the intel_assets serving API."""

    def __init__(self, url: str, timeout_seconds: float = 3.0, max_retries: int = 0,
                 backoff_seconds: float = 0.05, breaker_failures: int = 5,
                 breaker_reset_seconds: float = 30, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if timeout_seconds <= 0 or max_retries < 0 or backoff_seconds < 0:
            raise ValueError("timeout_seconds must be > 0, max_retries and backoff_seconds >= 0")
        self.url = endpoint_url(url)
        self.max_retries, self.backoff_seconds, self._sleep = max_retries, backoff_seconds, sleep
        self.breaker = CircuitBreaker(breaker_failures, breaker_reset_seconds, clock)
        self.stats = ClientStats()
        self._cache: dict[str, tuple[str, TorghutMarketContextBundle]] = {}
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_seconds),
                                  headers={"Accept": "application/json"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "MarketContextClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)

    def fetch(self, symbol: str, as_of: datetime | None = None) -> MarketContextResult:
        """The latest bundle for `symbol` (or the one as of `as_of`, e.g. the decision's event
        time), or why there is none (never raises for either)."""
        self._count(fetches=1)
        result = self._fetch(symbol, as_of)
        CONTEXT_FETCHES.labels(outcome=result.outcome).inc()
        if result.outcome == "schema_invalid":
            log.warning("market context for %s violates the wire contract: %s", result.symbol, result.detail)
        elif result.outcome == "unavailable":
            log.info("market context for %s unavailable (%s): %s", result.symbol, result.reason, result.detail)
        return result

    def _fetch(self, raw_symbol: str, as_of: datetime | None) -> MarketContextResult:
        try:
            symbol = normalize_symbol(raw_symbol)
        except InvalidSymbolError as exc:
            return MarketContextResult(str(raw_symbol), "unavailable", reason="invalid_symbol", detail=str(exc))
        permit = self.breaker.acquire()
        if permit is None:
            self._count(short_circuited=1)
            return MarketContextResult(
                symbol, "unavailable", reason="breaker_open",
                detail=f"circuit breaker open after {self.breaker.failures} consecutive failed fetches; "
                       f"next trial in {self.breaker.seconds_until_trial():.1f} s")
        attempts = 1 if permit == "trial" else self.max_retries + 1
        failure: _Transient | None = None
        for attempt in range(attempts):
            if attempt:
                self._count(retries=1)
                self._sleep(self.backoff_seconds * 2 ** (attempt - 1))
            answer = self._attempt(symbol, as_of)
            if isinstance(answer, MarketContextResult):
                self.breaker.record_success()  # the server answered: it is up
                return replace(answer, attempts=attempt + 1)
            failure = answer
        assert failure is not None
        self.breaker.record_failure()
        return MarketContextResult(symbol, "unavailable", reason=failure.reason, detail=failure.detail,
                                   status_code=failure.status_code, attempts=attempts)

    def _attempt(self, symbol: str, as_of: datetime | None) -> MarketContextResult | _Transient:
        key = symbol if as_of is None else f"{symbol}@{as_of.isoformat()}"
        cached = self._cache.get(key)
        headers = {"If-None-Match": cached[0]} if cached else {}
        params = {"symbol": symbol}
        if as_of is not None:
            if as_of.tzinfo is None:
                raise ValueError("as_of must be timezone-aware")
            params["asOf"] = as_of.astimezone(timezone.utc).isoformat()
        self._count(requests=1)
        try:
            joiner = "&" if "?" in self.url else "?"
            resp = self._http.get(f"{self.url}{joiner}{urlencode(params)}", headers=headers)
        except httpx.TimeoutException as exc:
            return _Transient("timeout", f"{type(exc).__name__}: no answer within the timeout")
        except httpx.ConnectError as exc:
            return _Transient("connect_error", f"cannot connect: {exc}")
        except httpx.HTTPError as exc:  # other transport failures (reset, protocol error, ...)
            return _Transient("transport_error", f"{type(exc).__name__}: {exc}")
        status = resp.status_code
        if status >= 500:
            return _Transient("http_5xx", f"HTTP {status}: {_error_text(resp)}", status)
        if status == 304:
            self._count(not_modified=1)
            if cached is None:
                return MarketContextResult(symbol, "unavailable", reason="unexpected_304", status_code=304,
                                           detail="304 Not Modified without a cached bundle")
            return MarketContextResult(symbol, "ok", bundle=cached[1], status_code=304, from_cache=True,
                                       etag=cached[0])
        if status == 404:
            return MarketContextResult(symbol, "unavailable", reason="not_found", status_code=404,
                                       detail=_error_text(resp))
        if status != 200:
            reason = "http_4xx" if 400 <= status < 500 else "unexpected_status"
            return MarketContextResult(symbol, "unavailable", reason=reason, status_code=status,
                                       detail=f"HTTP {status}: {_error_text(resp)}")
        return self._parse(symbol, key, resp)

    def _parse(self, symbol: str, key: str, resp: httpx.Response) -> MarketContextResult:
        self._cache.pop(key, None)
        try:
            data: Any = resp.json()
        except ValueError as exc:
            return MarketContextResult(symbol, "schema_invalid", reason="invalid_json", status_code=200,
                                       detail=f"body is not JSON: {exc}")
        if not isinstance(data, dict):
            return MarketContextResult(symbol, "schema_invalid", reason="invalid_payload",
                                       status_code=200, detail="body is not a JSON object")
        if data.get("ok") is not True:
            return MarketContextResult(symbol, "unavailable", reason="not_ok", status_code=200,
                                       detail=str(data.get("message") or "market_context_request_failed"))
        context = data.get("context")
        if not isinstance(context, dict):
            return MarketContextResult(symbol, "schema_invalid", reason="missing_context",
                                       status_code=200, detail="ok is true but context is not an object")
        try:
            bundle = TorghutMarketContextBundle.model_validate(context)
        except ValidationError as exc:
            return MarketContextResult(symbol, "schema_invalid", reason="validation_error", status_code=200,
                                       detail=first_validation_error(exc))
        if bundle.symbol != symbol:
            return MarketContextResult(symbol, "schema_invalid", reason="symbol_mismatch", status_code=200,
                                       detail=f"asked for {symbol}, got the bundle of {bundle.symbol}")
        etag = resp.headers.get("etag")
        if etag:
            self._cache[key] = (etag, bundle)
        return MarketContextResult(symbol, "ok", bundle=bundle, status_code=200, etag=etag)


def _error_text(resp: httpx.Response) -> str:
    """The serving API's JSON error detail when there is one, else the start of the body."""
    try:
        body = resp.json()
        if isinstance(body, dict) and ("message" in body or "error" in body):
            return f"{body.get('error', '')}: {body.get('message', '')}".strip(": ")
    except ValueError:
        pass
    return resp.text[:200]
