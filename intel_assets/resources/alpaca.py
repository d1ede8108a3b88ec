"""Owns the Alpaca resource (news via alpaca-py, every request bounded by a wall-clock deadline,
a per-run time budget, a body cap and a per-run circuit breaker; symbols are fetched in batches,
one paginated query per batch) and the news aggregation config resource."""

import math
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from json import JSONDecodeError
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical.news import NewsClient
from alpaca.data.requests import NewsRequest
from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from intel_assets.bounded_http import (
    MIB,
    BoundedRequestsAdapter,
    ProviderError,
    ProviderGuard,
    failures_recorded_by_caller,
    mount_bounded,
)
from intel_assets.domain.retry import (
    TRANSIENT_STATUSES,
    RetriesExhausted,
    RetryPolicy,
    RetryStats,
    Transient,
    call_with_retries,
    parse_retry_after,
)
from intel_assets.run_limits import NEWS_RUN_SECONDS

BUDGET_EXHAUSTED = "time budget exhausted"
PROVIDER = "Alpaca news"
#: Alpaca's largest page for GET /v1beta1/news.
NEWS_PAGE_SIZE = 50
_MAX_MESSAGE = 300


class NewsFetchError(Exception):
    """One symbol's failed news fetch. `kind` is one of config, budget, timeout, http, malformed,
    encoding, transport, too_large, circuit_open, unexpected; the message never holds
    credentials."""

    def __init__(self, symbol: str, kind: str, message: str) -> None:
        super().__init__(message)
        self.symbol, self.kind = symbol, kind


class _NotUtf8(Exception):
    pass


def _require_utf8(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """requests would decode a non-UTF-8 JSON body leniently (U+FFFD); refuse it instead."""
    try:
        response.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _NotUtf8(f"the response body is not valid UTF-8 (bad byte at offset {exc.start})") from None
    return response


class AlpacaResource(ConfigurableResource):
    """Alpaca market-data access (news). Credentials come from env vars and are never logged."""

    api_key_id: str | None = Field(default=None, repr=False, description="APCA-API-KEY-ID (env var).")
    api_secret_key: str | None = Field(default=None, repr=False,
                                       description="APCA-API-SECRET-KEY (env var).")
    data_url: str | None = Field(
        default=None,
        description="Data API base URL (alpaca-py url_override), e.g. http://127.0.0.1:8765 for "
        "the local server; None = the live API https://data.alpaca.markets.",
    )
    request_timeout_seconds: float = Field(
        default=10.0, gt=0, allow_inf_nan=False,
        description="Wall-clock bound per HTTP request (connect to last body byte), not per "
        "socket read: a server dripping bytes is cut at this deadline.")
    max_seconds_per_run: float = Field(
        default=NEWS_RUN_SECONDS, gt=0, allow_inf_nan=False,
        description="Wall-clock bound on the whole fetch per run (every request included); "
        "symbols not fetched by then get an error 'time budget exhausted'.",
    )
    max_body_bytes: int = Field(
        default=8 * MIB, ge=1024,
        description="Largest response body read (streamed; the request fails past it). A page "
        "of 50 articles without content is ~100 KB.")
    max_consecutive_failures: int = Field(
        default=3, ge=1,
        description="Circuit breaker: after this many failed requests in a row (timeouts, "
        "transport errors, 5xx, oversize or unusable bodies) the run stops calling Alpaca; "
        "the remaining batches get a 'circuit_open' error.")
    symbols_per_request: int = Field(
        default=50, ge=1,
        description="Symbols per news query (Alpaca's comma-separated `symbols`); articles are "
        "split back to symbols by each article's `symbols` list. 1 = one query per symbol.",
    )
    retry_attempts: int = Field(
        default=3, ge=1,
        description="Attempts per page (first included) on a transient failure: 429 (its "
        "Retry-After honoured), 500/502/503/504, a timeout or a broken connection; never "
        "another 4xx. 1 = no retries.")
    retry_base_seconds: float = Field(
        default=0.5, ge=0, allow_inf_nan=False,
        description="First back-off wait; doubled per retry, jittered down by up to half.")
    retry_cap_seconds: float = Field(
        default=4.0, ge=0, allow_inf_nan=False, description="Largest back-off wait.")
    retry_max_seconds: float = Field(
        default=15.0, ge=0, allow_inf_nan=False,
        description="Total time for one page's attempts and waits (within max_seconds_per_run).")
    max_pages_per_batch: int = Field(
        default=10, ge=1,
        description="Bound on pages (of 50 articles) per batch; at least ceil(limit_per_symbol / "
        "50) are always allowed. A batch stopped by it gives each symbol short of its cap the "
        "newest articles seen (older ones are missed; logged as a warning).",
    )

    def _redacted(self, text: str) -> str:
        for secret in (self.api_secret_key, self.api_key_id):
            if secret:
                text = text.replace(secret, "***")
        return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."

    def guard(self) -> ProviderGuard:
        """A fresh per-run guard: the run's deadline starts now."""
        return ProviderGuard(PROVIDER, request_seconds=self.request_timeout_seconds,
                             run_seconds=self.max_seconds_per_run,
                             max_consecutive_failures=self.max_consecutive_failures)

    def _news_client(self, guard: ProviderGuard) -> NewsClient:
        client = NewsClient(api_key=self.api_key_id, secret_key=self.api_secret_key, raw_data=True,
                            url_override=self.data_url.rstrip("/") if self.data_url else None)
        session = getattr(client, "_session", None)
        if not isinstance(session, requests.Session):  # alpaca-py internals changed: fail loudly
            raise RuntimeError("alpaca-py NewsClient has no requests session to apply timeouts to")
        # alpaca-py 0.44 sends through a plain requests.Session without any timeout (it has no
        # timeout option): every request goes through the bounded engine instead
        mount_bounded(session, BoundedRequestsAdapter(guard, self.max_body_bytes))
        # alpaca-py's own retry (RESTClient._retry: 429/504 only, a fixed 3 s sleep, no jitter,
        # no Retry-After, no timeouts or resets) is off: fetch_news retries with its policy
        if not hasattr(client, "_retry"):
            raise RuntimeError("alpaca-py RESTClient has no _retry setting to turn off")
        client._retry = 0
        session.hooks["response"].append(_require_utf8)
        return client

    def _fetch_error(self, symbol: str, exc: BaseException) -> NewsFetchError:
        if isinstance(exc, RetriesExhausted):
            error = self._fetch_error(symbol, exc.cause)
            return NewsFetchError(symbol, error.kind, f"{error} (after {exc.tally()})")
        if isinstance(exc, ProviderError) and exc.kind == "budget":
            return NewsFetchError(symbol, "budget",
                                  f"{BUDGET_EXHAUSTED} (max_seconds_per_run={self.max_seconds_per_run:g} s)")
        if isinstance(exc, ProviderError):
            kind, text = exc.kind, str(exc)
        elif isinstance(exc, requests.Timeout):
            kind, text = "timeout", f"no response within {self.request_timeout_seconds:g} s"
        elif isinstance(exc, APIError):
            kind, text = "http", f"HTTP {exc.status_code}: {str(exc).strip()}"
        elif isinstance(exc, _NotUtf8):
            kind, text = "encoding", str(exc)
        elif isinstance(exc, (JSONDecodeError, requests.exceptions.JSONDecodeError)):
            kind, text = "malformed", f"the response is not JSON ({exc})"
        elif isinstance(exc, requests.ConnectionError):
            kind, text = "transport", f"cannot reach the Alpaca data API: {exc}"
        elif isinstance(exc, (ValueError, TypeError, KeyError, AttributeError)):
            kind, text = "malformed", f"unexpected response shape ({type(exc).__name__}: {exc})"
        else:
            kind, text = "unexpected", f"{type(exc).__name__}: {exc}"
        return NewsFetchError(symbol, kind, self._redacted(text))

    def _batch_error(self, batch: Sequence[str], exc: BaseException) -> dict[str, NewsFetchError]:
        """One failed request's error, given to every symbol of its batch (classified once, so
        a timeout near the deadline cannot be 'timeout' for one symbol and 'budget' for the next)."""
        error = self._fetch_error(batch[0], exc)
        return {s: NewsFetchError(s, error.kind, str(error)) for s in batch}

    def _fetch_batch(self, client: NewsClient, batch: Sequence[str], start: datetime, end: datetime,
                     limit_per_symbol: int, guard: ProviderGuard, policy: RetryPolicy,
                     stats: RetryStats, sleep: Callable[[float], None],
                     ) -> tuple[dict[str, list[dict]], list[str]]:
        """One query for `batch` (newest first), pages followed by next_page_token until every
        symbol has limit_per_symbol articles, the pages run out or the page bound is hit.
        Returns each symbol's articles and the symbols left short by the page bound.
        Raises on any failed or malformed page (the caller fails the whole batch); a page's
        transient failure (429, 5xx, timeout, broken connection) is retried first."""
        found: dict[str, list[dict]] = {s: [] for s in batch}
        owners: dict[str, list[str]] = {}
        for symbol in batch:
            owners.setdefault(symbol.strip().upper(), []).append(symbol)
        single = len(batch) == 1
        max_pages = max(self.max_pages_per_batch, math.ceil(limit_per_symbol / NEWS_PAGE_SIZE))
        token: str | None = None
        for _ in range(max_pages):
            # one symbol: every article counts, so ask only for what is missing (as alpaca-py's
            # own pagination does); several: full pages, as articles of symbols already at
            # their cap still fill the page
            size = min(NEWS_PAGE_SIZE, limit_per_symbol - len(found[batch[0]])) if single \
                else NEWS_PAGE_SIZE
            request = NewsRequest(symbols=",".join(batch), start=start, end=end, limit=size,
                                  sort="desc", page_token=token)
            fields = request.to_request_fields()
            with failures_recorded_by_caller():  # the batch's failure is recorded once, below
                articles, token = _news_page(call_with_retries(
                    lambda: client.get("/news", fields), policy, _transient,
                    remaining=guard.remaining, stats=stats, sleep=sleep))
            for article in articles:
                for symbol in batch if single else _article_owners(article, owners):
                    if len(found[symbol]) < limit_per_symbol:
                        found[symbol].append(article)
            if token is None or all(len(found[s]) >= limit_per_symbol for s in batch):
                return found, []
        return found, [s for s in batch if len(found[s]) < limit_per_symbol]

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.retry_attempts, base_seconds=self.retry_base_seconds,
                           cap_seconds=self.retry_cap_seconds,
                           max_elapsed_seconds=self.retry_max_seconds)

    def fetch_news(self, symbols: Iterable[str], start: datetime, end: datetime,
                   limit_per_symbol: int = 50, *, retry_stats: RetryStats | None = None,
                   sleep: Callable[[float], None] = time.sleep,
                   ) -> dict[str, list[dict] | NewsFetchError]:
        """Each symbol's raw Alpaca articles in [start, end] (newest first, at most
        limit_per_symbol), or its NewsFetchError. Never raises for a failed fetch.

        Symbols are queried `symbols_per_request` at a time (in the given order): one query per
        batch, its pages followed by next_page_token, each returned article given to every
        requested symbol in its `symbols` list (case-insensitive; an article naming two of
        them goes to both; a one-symbol query gives every article to its symbol, as before).
        limit_per_symbol is a per-symbol cap applied while paging: a symbol keeps its newest
        limit_per_symbol articles and later ones are not added to it; paging stops when every
        symbol of the batch has its cap, the pages run out, or after max_pages_per_batch pages
        (then a symbol short of its cap has every article newer than the last one seen).
        A failed request (timeout, HTTP error, non-JSON or non-UTF-8 body, wrong shape, an
        article without a `symbols` list in a multi-symbol query) fails its whole batch: each
        of its symbols gets the same NewsFetchError; other batches are unaffected. Batches not
        started within max_seconds_per_run get 'time budget exhausted'.

        Every request ends by its wall-clock deadline (request_timeout_seconds, cut to what is
        left of max_seconds_per_run), whatever the server sends; bodies over max_body_bytes fail
        their batch ('too_large'); after max_consecutive_failures failed batches in a row the
        remaining batches are not requested ('circuit_open'). A transient failure of a page
        (429 with its Retry-After, 5xx, timeout, broken connection) is retried with jittered
        exponential back-off (retry_attempts, within retry_max_seconds and the run's budget);
        a batch fails only when its retries do (the reason names the attempts), and counts
        once for the circuit breaker. ``retry_stats`` collects attempts and waits; ``sleep``
        waits between attempts (tests inject one)."""
        if limit_per_symbol < 1:
            raise ValueError("limit_per_symbol must be at least 1")
        wanted = list(dict.fromkeys(symbols))
        if not (self.api_key_id and self.api_secret_key):
            message = ("Alpaca credentials are not configured: set ALPACA_API_KEY_ID and "
                       "ALPACA_API_SECRET_KEY")
            return {s: NewsFetchError(s, "config", message) for s in wanted}
        guard = self.guard()
        client = self._news_client(guard)
        policy, stats = self.retry_policy(), retry_stats if retry_stats is not None else RetryStats()
        results: dict[str, list[dict] | NewsFetchError] = {}
        short: list[str] = []
        step = self.symbols_per_request
        try:
            for batch in (wanted[i:i + step] for i in range(0, len(wanted), step)):
                try:
                    guard.check()  # budget spent or circuit open: this batch is not requested
                    found, cut = self._fetch_batch(client, batch, start, end, limit_per_symbol,
                                                   guard, policy, stats, sleep)
                except Exception as exc:  # noqa: BLE001 - mapped to this batch's symbols' errors
                    if not (isinstance(exc, ProviderError) and exc.kind in ("budget",
                                                                            "circuit_open")):
                        guard.record_failure(f"{type(exc).__name__}: {exc}")
                    results.update(self._batch_error(batch, exc))
                    continue
                guard.record_success()
                results.update(found)
                short.extend(cut)
        finally:
            client._session.close()
        if short:
            get_dagster_logger().warning(
                f"news: the page bound (max_pages_per_batch={self.max_pages_per_batch}) left "
                f"{len(short)} symbol(s) short of {limit_per_symbol} articles; they miss older "
                f"articles of the window: {', '.join(short[:10])}{' ...' if len(short) > 10 else ''}")
        return {s: results[s] for s in wanted}


def _transient(exc: BaseException) -> Transient | None:
    """What a news page's retry loop retries: 429/5xx answers, timeouts, broken connections
    (never an open circuit or a spent budget, nor another 4xx or an unusable body)."""
    if isinstance(exc, APIError):
        status = exc.status_code
        if status not in TRANSIENT_STATUSES:
            return None
        response = exc.response
        after = response.headers.get("Retry-After") if response is not None else None
        return Transient(f"HTTP {status}", parse_retry_after(after))
    if isinstance(exc, ProviderError):
        return Transient(exc.kind) if exc.kind in ("timeout", "transport") else None
    if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
        return Transient(type(exc).__name__)
    return None


def _news_page(raw: Any) -> tuple[list, str | None]:
    """(articles, next page token or None) of one raw GET /v1beta1/news response."""
    if not isinstance(raw, dict):
        raise TypeError(f"the response is {type(raw).__name__}, not a JSON object")
    articles, token = raw.get("news"), raw.get("next_page_token")
    if not isinstance(articles, list):
        raise TypeError(f"'news' is {type(articles).__name__}, not a list")
    if token is not None and not isinstance(token, str):
        raise TypeError(f"'next_page_token' is {type(token).__name__}, not a string")
    return articles, token or None


def _article_owners(article: Any, owners: dict[str, list[str]]) -> list[str]:
    """The requested symbols an article names in its `symbols` list (each once)."""
    tagged = article.get("symbols") if isinstance(article, dict) else None
    if not isinstance(tagged, list) or not all(isinstance(t, str) for t in tagged):
        raise TypeError(f"an article's 'symbols' is {type(tagged).__name__}, not a list of strings: "
                        "the page cannot be split to the requested symbols")
    return list(dict.fromkeys(s for t in tagged for s in owners.get(t.strip().upper(), ())))


