"""Owns SEC EDGAR access: a polite, bounded HTTP client (User-Agent, <= 10 req/s, ETag cache,
wall-clock deadlines, body cap, circuit breaker) and its Dagster resource.

SEC's fair-access rules: every request must carry a descriptive User-Agent with a contact
email, and a client may send at most 10 requests per second. EdgarClient enforces both (it
refuses to start without such a User-Agent and spaces requests at least 1/rate seconds apart,
across threads). Documents are cached on disk (body + ETag/Last-Modified) and re-validated with
If-None-Match / If-Modified-Since; a 304 answer is served from the cache. Every failure is an
EdgarError with a plain message: unknown ticker, HTTP status, unreachable host, malformed JSON.

Bounds (one client = one run; the resource builds one per run): every request ends within
``timeout_seconds`` of wall clock whatever the server sends (intel_assets.bounded_http), the
client stops sending after ``max_seconds_per_run``, bodies over ``max_body_bytes`` are refused
while streaming, and after ``max_consecutive_failures`` failed requests in a row (unreachable,
timeout, 5xx/429/403, oversize or malformed) it sends nothing more in the run
(EdgarUnavailableError). A transient failure (429 with its Retry-After, 500/502/503/504, a
timeout, a broken connection) is retried first (``retry_policy``, domain/retry.py: 3 attempts,
jittered exponential back-off, 20 s per document, within the run budget); a call whose retries
fail counts once for the breaker and its error names the attempts; ``retry_stats`` counts them.
The ticker map is fetched once per client: a failure is remembered and
answered for every later symbol. Only documents of the expected shape (ticker map,
companyfacts, submissions) are written to the disk cache, and a cached body is re-validated
when read.
"""


import hashlib
import json
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from collections.abc import Callable


from intel_assets.bounded_http import (
    MIB,
    BoundedResponse,
    ProviderError,
    ProviderGuard,
    bounded_client,
    failures_recorded_by_caller,
    fetch,
)
from intel_assets.domain.retry import (
    RetriesExhausted,
    RetryPolicy,
    RetryStats,
    Transient,
    call_with_retries,
    parse_retry_after,
)
from intel_assets.run_limits import EDGAR_RUN_SECONDS

DEFAULT_BASE_URL = "https://data.sec.gov"
DEFAULT_TICKERS_URL = "https://www.sec.gov/files/company_tickers.json"
SEC_MAX_REQUESTS_PER_SECOND = 10.0
#: Largest EDGAR body read. Real companyfacts run to a few MB (the shared SNOW file is 2.6 MB;
#: the largest filers' are a few tens of MB); a body past this is refused, not parsed or cached.
DEFAULT_MAX_BODY_BYTES = 64 * MIB
#: Per-run wall-clock budget (900 s): SEC allows 10 requests/s, and a symbol costs up to 3
#: documents (ticker map once, companyfacts, submissions), so 500 symbols need >= 150 s of rate
#: limit alone; the refresh jobs' max runtimes include it (intel_assets/run_limits.py).
DEFAULT_MAX_SECONDS_PER_RUN = EDGAR_RUN_SECONDS
PROVIDER = "SEC EDGAR"
#: 3 attempts, 0.5 s then 1 s (jittered) apart, at most 20 s per document: a few transient
#: 503s or resets cost a symbol a second or two instead of its fundamentals block.
DEFAULT_RETRY_POLICY = RetryPolicy(attempts=3, base_seconds=0.5, cap_seconds=8.0,
                                   max_elapsed_seconds=20.0)
_USER_AGENT_RULE = re.compile(r"^\s*\S.*\s+[^@\s]+@[^@\s]+\.[A-Za-z]{2,}\s*$")


class EdgarError(RuntimeError):
    """Any EDGAR failure; the message says what went wrong in plain words."""


class EdgarConfigError(EdgarError):
    """The client is configured in a way SEC would refuse (e.g. no contact User-Agent)."""


class EdgarUnknownTickerError(EdgarError):
    """The ticker is not in SEC's company_tickers.json."""


class EdgarNotFoundError(EdgarError):
    """EDGAR answered 404: no such document (e.g. an ETF has no XBRL companyfacts)."""


class EdgarHTTPError(EdgarError):
    """EDGAR answered with an unexpected HTTP status (or could not be reached: status None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class EdgarMalformedError(EdgarError):
    """EDGAR answered 200 with a body that is not the JSON document expected."""


class EdgarUnavailableError(EdgarHTTPError):
    """The client sends no more requests in this run: its time budget is spent or its circuit
    breaker opened after repeated failures."""


class _TransientStatus(Exception):
    """A 429/5xx answer, raised inside the retry loop."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.retry_after = status, retry_after


def _transient(exc: BaseException) -> Transient | None:
    """What EDGAR's retry loop retries: 429/5xx answers, timeouts, broken connections."""
    if isinstance(exc, _TransientStatus):
        return Transient(f"HTTP {exc.status}", exc.retry_after)
    if isinstance(exc, ProviderError) and exc.kind in ("timeout", "transport"):
        return Transient(type(exc).__name__)
    return None


def check_user_agent(user_agent: str | None) -> str:
    """The User-Agent if it names someone and a contact email; else EdgarConfigError."""
    if not user_agent or not _USER_AGENT_RULE.match(user_agent):
        raise EdgarConfigError(
            f"SEC requires a descriptive User-Agent with a contact email, e.g. "
            f"'Acme Research ops@acme.example'; got {user_agent!r}. Set INTEL_EDGAR_USER_AGENT "
            f"(EdgarResource.user_agent) to '<your name or company> <contact email>'."
        )
    return user_agent.strip()


def cik10(cik: int | str) -> str:
    """The 10-digit zero-padded CIK EDGAR uses in file names."""
    return f"{int(cik):010d}"


class RateLimiter:
    """At most `rate` acquisitions per second, spaced >= 1/rate apart; safe across threads."""

    def __init__(self, rate: float) -> None:
        if not 0 < rate <= SEC_MAX_REQUESTS_PER_SECOND:
            raise EdgarConfigError(
                f"EDGAR request rate must be > 0 and <= {SEC_MAX_REQUESTS_PER_SECOND:g}/s "
                f"(SEC fair-access limit); got {rate}"
            )
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:  # reserve a slot, then sleep outside the lock
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


class _DiskCache:
    """One body file and one metadata file (ETag, Last-Modified, URL) per URL; atomic writes."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise EdgarConfigError(f"cannot create the EDGAR cache folder {folder}: {exc}") from None

    def _paths(self, url: str) -> tuple[Path, Path]:
        key = hashlib.sha256(url.encode()).hexdigest()[:32]
        assert self.folder is not None
        return self.folder / f"{key}.body", self.folder / f"{key}.meta.json"

    def get(self, url: str) -> tuple[dict, bytes] | None:
        if self.folder is None:
            return None
        body_path, meta_path = self._paths(url)
        try:
            meta = json.loads(meta_path.read_text())
            body = body_path.read_bytes()
        except (OSError, ValueError):
            return None
        if meta.get("url") != url or meta.get("sha256") != hashlib.sha256(body).hexdigest():
            return None  # torn or foreign entry: fetch afresh
        return meta, body

    def drop(self, url: str) -> None:
        if self.folder is None:
            return
        for path in self._paths(url):
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def put(self, url: str, body: bytes, etag: str | None, last_modified: str | None) -> None:
        if self.folder is None:
            return
        body_path, meta_path = self._paths(url)
        meta = {"url": url, "etag": etag, "lastModified": last_modified,
                "sha256": hashlib.sha256(body).hexdigest(), "storedAt": time.time()}
        for path, data in ((body_path, body), (meta_path, json.dumps(meta).encode())):
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)


class EdgarClient:
    """EDGAR JSON documents over HTTP with SEC's User-Agent and rate rules and an ETag cache."""

    def __init__(
        self,
        user_agent: str,
        base_url: str = DEFAULT_BASE_URL,
        tickers_url: str = DEFAULT_TICKERS_URL,
        cache_dir: str | Path | None = None,
        timeout_seconds: float = 20.0,
        max_requests_per_second: float = SEC_MAX_REQUESTS_PER_SECOND,
        max_seconds_per_run: float | None = DEFAULT_MAX_SECONDS_PER_RUN,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_consecutive_failures: int | None = 3,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.user_agent = check_user_agent(user_agent)
        self.retry_policy, self._sleep, self._clock = retry_policy, sleep, clock
        self.retry_stats = RetryStats()  # attempts, retries and waits of this client (= run)
        self.base_url = base_url.rstrip("/")
        self.tickers_url = tickers_url
        self.limiter = RateLimiter(max_requests_per_second)
        if max_body_bytes < 1024:
            raise EdgarConfigError(f"EDGAR max_body_bytes must be >= 1024, got {max_body_bytes}")
        self.max_body_bytes = max_body_bytes
        try:
            self.guard = ProviderGuard(PROVIDER, request_seconds=timeout_seconds,
                                       run_seconds=max_seconds_per_run,
                                       max_consecutive_failures=max_consecutive_failures)
        except ValueError as exc:
            raise EdgarConfigError(str(exc)) from None
        self.cache = _DiskCache(Path(cache_dir).expanduser() if cache_dir else None)
        self.stats = {"requests": 0, "notModified": 0}
        self._stats_lock = threading.Lock()
        self._tickers: dict[str, int] | None = None
        self._tickers_error: EdgarError | None = None
        self._tickers_lock = threading.Lock()
        self._http = bounded_client(
            timeout_seconds,
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate",
                     "Accept": "application/json"},
            follow_redirects=True,
        )

    # ---- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "EdgarClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- documents --------------------------------------------------------------------------
    def get_json(self, url: str, shape: Callable[[str, Any], None] | None = None) -> Any:
        """GET a JSON document: conditional when cached, 304 -> cached body; EdgarError else.

        ``shape(url, document)`` raises EdgarMalformedError for a document of the wrong shape;
        only documents that parse and pass it are cached (a cached one is re-checked).
        """
        cached = self.cache.get(url)
        if cached is not None:
            try:
                self._checked(url, cached[1], shape)
            except EdgarMalformedError:  # e.g. cached before shapes were checked: fetch afresh
                self.cache.drop(url)
                cached = None
        headers: dict[str, str] = {}
        if cached is not None:
            meta = cached[0]
            if meta.get("etag"):
                headers["If-None-Match"] = meta["etag"]
            if meta.get("lastModified"):
                headers["If-Modified-Since"] = meta["lastModified"]
        try:
            with failures_recorded_by_caller():  # one breaker failure per call, after its retries
                response = call_with_retries(
                    lambda: self._attempt(url, headers), self.retry_policy, _transient,
                    remaining=self.guard.remaining, stats=self.retry_stats, sleep=self._sleep,
                    clock=self._clock)
        except RetriesExhausted as exc:
            cause = exc.cause
            self.guard.record_failure(f"{exc} for {url}")
            if isinstance(cause, _TransientStatus):
                raise EdgarHTTPError(f"EDGAR answered HTTP {cause.status} for {url} after "
                                     f"{exc.tally()}",
                                     cause.status) from None
            raise EdgarHTTPError(f"cannot reach EDGAR at {url} after {exc.tally()}: {cause}"
                                 ) from None
        except ProviderError as exc:
            if exc.kind in ("budget", "circuit_open"):
                raise EdgarUnavailableError(f"EDGAR not called for {url}: {exc}") from None
            self.guard.record_failure(str(exc))
            if exc.kind == "too_large":
                raise EdgarMalformedError(f"EDGAR document {url} refused: {exc}") from None
            raise EdgarHTTPError(f"cannot reach EDGAR at {url}: {exc}") from None
        if response.status_code == 304 and cached is not None:
            self.guard.record_success()
            return self._checked(url, cached[1], shape)
        if response.status_code == 404:
            self.guard.record_success()  # a definite answer: EDGAR works, the document is absent
            raise EdgarNotFoundError(f"EDGAR has no document at {url} (HTTP 404)")
        if response.status_code == 403:
            self.guard.record_failure(f"HTTP 403 for {url}")
            raise EdgarHTTPError(
                f"EDGAR refused {url} (HTTP 403): SEC blocks clients without a descriptive "
                f"User-Agent or above 10 requests/s; check INTEL_EDGAR_USER_AGENT", 403)
        if response.status_code != 200:  # a status not retried (5xx/429 are, above)
            self.guard.record_failure(f"HTTP {response.status_code} for {url}")
            raise EdgarHTTPError(f"EDGAR answered HTTP {response.status_code} for {url}",
                                 response.status_code)
        body = response.content
        try:
            document = self._checked(url, body, shape)  # never cache a body that is not the document
        except EdgarMalformedError as exc:
            self.guard.record_failure(str(exc))
            raise
        self.guard.record_success()
        self.cache.put(url, body, response.headers.get("ETag"), response.headers.get("Last-Modified"))
        return document

    def _attempt(self, url: str, headers: dict[str, str]) -> BoundedResponse:
        """One GET (after the guard's check and the rate limit); a 429/5xx answer is raised as
        _TransientStatus so the retry loop sees it."""
        self.guard.check()  # no rate-limit wait for a request that will not be sent
        self.limiter.acquire()
        response = fetch(self._http, "GET", url, guard=self.guard,
                         max_body_bytes=self.max_body_bytes, headers=headers)
        with self._stats_lock:
            self.stats["requests"] += 1
            if response.status_code == 304:
                self.stats["notModified"] += 1
        if self.retry_policy.is_transient_status(response.status_code):
            raise _TransientStatus(response.status_code,
                                   parse_retry_after(response.headers.get("Retry-After")))
        return response

    @classmethod
    def _checked(cls, url: str, body: bytes, shape: Callable[[str, Any], None] | None) -> Any:
        document = cls._parse(url, body)
        if shape is not None:
            shape(url, document)
        return document

    @staticmethod
    def _parse(url: str, body: bytes) -> Any:
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EdgarMalformedError(f"EDGAR document {url} is not valid JSON: {exc}") from None

    def tickers(self) -> dict[str, int]:
        """Ticker -> CIK from company_tickers.json, fetched once per client (= once per run): a
        failed fetch is remembered and raised again for every later symbol, not retried."""
        with self._tickers_lock:
            if self._tickers is None and self._tickers_error is None:
                try:
                    self._tickers = ticker_map(self.tickers_url,
                                               self.get_json(self.tickers_url, tickers_shape))
                except EdgarError as exc:
                    self._tickers_error = exc
            if self._tickers_error is not None:
                raise type(self._tickers_error)(
                    f"{self._tickers_error} (the ticker map is fetched once per run)")
            assert self._tickers is not None
            return self._tickers

    def cik_for(self, ticker: str) -> int:
        """The CIK of a ticker (BRK.B and BRK-B both work); EdgarUnknownTickerError if absent."""
        key = ticker.strip().upper().replace(".", "-").replace("/", "-")
        cik = self.tickers().get(key)
        if cik is None:
            raise EdgarUnknownTickerError(
                f"ticker {ticker!r} is not in SEC company_tickers.json ({self.tickers_url})")
        return cik

    def companyfacts(self, cik: int | str) -> dict:
        """The XBRL companyfacts document of a CIK (all reported facts, every filing)."""
        return self.get_json(f"{self.base_url}/api/xbrl/companyfacts/CIK{cik10(cik)}.json",
                             companyfacts_shape)

    def submissions(self, cik: int | str) -> dict:
        """The submissions document of a CIK (company profile and recent filings)."""
        return self.get_json(f"{self.base_url}/submissions/CIK{cik10(cik)}.json",
                             submissions_shape)


# ---- document shapes (checked before anything is cached) --------------------------------------

def _malformed(url: str, kind: str, problem: str) -> EdgarMalformedError:
    return EdgarMalformedError(f"EDGAR document {url} is malformed SEC {kind}: {problem}")


def ticker_map(url: str, document: Any) -> dict[str, int]:
    """Ticker -> CIK of a company_tickers.json document; EdgarMalformedError if not that shape."""
    rows = document.values() if isinstance(document, dict) else None
    try:
        return {str(r["ticker"]).upper(): int(r["cik_str"]) for r in rows}  # type: ignore[union-attr]
    except (TypeError, KeyError, ValueError):
        raise EdgarMalformedError(
            f"{url} is not SEC's company_tickers.json shape "
            "({'0': {'cik_str': ..., 'ticker': ..., 'title': ...}, ...})") from None


def tickers_shape(url: str, document: Any) -> None:
    ticker_map(url, document)


def companyfacts_shape(url: str, document: Any) -> None:
    """{"cik": ..., "facts": {taxonomy: {concept: {...}}}} (an empty facts object is valid)."""
    if not isinstance(document, dict):
        raise _malformed(url, "companyfacts", f"a JSON {type(document).__name__}, not an object")
    facts = document.get("facts")
    if not isinstance(facts, dict):
        raise _malformed(url, "companyfacts", f"'facts' is {type(facts).__name__}, not an object "
                         "of taxonomies")
    bad = [k for k, v in facts.items() if not isinstance(v, dict)]
    if bad:
        raise _malformed(url, "companyfacts", f"taxonomy {bad[0]!r} is not an object of concepts")


def submissions_shape(url: str, document: Any) -> None:
    """{"cik": ..., "filings": {"recent": {...}, ...}}."""
    if not isinstance(document, dict):
        raise _malformed(url, "submissions", f"a JSON {type(document).__name__}, not an object")
    filings = document.get("filings")
    if not isinstance(filings, dict) or not isinstance(filings.get("recent"), dict):
        raise _malformed(url, "submissions", "no 'filings.recent' object")


