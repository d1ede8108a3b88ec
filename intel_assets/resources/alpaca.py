"""Owns the Alpaca resource (news via alpaca-py with a per-request timeout and a per-run time budget;
symbols are fetched in batches, one paginated query per batch) and the news aggregation config
resource."""

import math
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from json import JSONDecodeError
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical.news import NewsClient
from alpaca.data.requests import NewsRequest
from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field
from requests.adapters import HTTPAdapter

from intel_assets.domain.news import DEFAULT_ALLOWED_SOURCES, NewsSettings

BUDGET_EXHAUSTED = "time budget exhausted"
#: Alpaca's largest page for GET /v1beta1/news.
NEWS_PAGE_SIZE = 50
_MAX_MESSAGE = 300


class NewsFetchError(Exception):
    """One symbol's failed news fetch. `kind` is one of config, budget, timeout, http, malformed,
    encoding, transport, unexpected; the message never holds credentials."""

    def __init__(self, symbol: str, kind: str, message: str) -> None:
        super().__init__(message)
        self.symbol, self.kind = symbol, kind


class _BudgetExhausted(Exception):
    pass


class _NotUtf8(Exception):
    pass


class _DeadlineAdapter(HTTPAdapter):
    """Gives every request timeout = min(request timeout, time left in the run's budget).

    alpaca-py 0.44's RESTClient sends through a plain requests.Session with no timeout (it has
    no timeout option), so the timeout is applied where requests sends: the transport adapter.
    """

    def __init__(self, timeout: float, deadline: float) -> None:
        super().__init__()
        self.request_timeout, self.deadline = timeout, deadline

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _BudgetExhausted()
        kwargs["timeout"] = min(self.request_timeout, remaining)
        return super().send(request, **kwargs)


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
    request_timeout_seconds: float = Field(default=10.0, gt=0, description="Per HTTP request.")
    max_seconds_per_run: float = Field(
        default=60.0, gt=0,
        description="Bound on total fetch time per call; symbols not fetched by then get an "
        "error 'time budget exhausted'.",
    )
    symbols_per_request: int = Field(
        default=50, ge=1,
        description="Symbols per news query (Alpaca's comma-separated `symbols`); articles are "
        "split back to symbols by each article's `symbols` list. 1 = one query per symbol.",
    )
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

    def _news_client(self, deadline: float) -> NewsClient:
        client = NewsClient(api_key=self.api_key_id, secret_key=self.api_secret_key, raw_data=True,
                            url_override=self.data_url.rstrip("/") if self.data_url else None)
        session = getattr(client, "_session", None)
        if not isinstance(session, requests.Session):  # alpaca-py internals changed: fail loudly
            raise RuntimeError("alpaca-py NewsClient has no requests session to apply timeouts to")
        adapter = _DeadlineAdapter(self.request_timeout_seconds, deadline)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.hooks["response"].append(_require_utf8)
        return client

    def _fetch_error(self, symbol: str, exc: BaseException, deadline: float) -> NewsFetchError:
        if isinstance(exc, _BudgetExhausted) or (
            isinstance(exc, requests.Timeout) and time.monotonic() >= deadline
        ):
            return NewsFetchError(symbol, "budget",
                                  f"{BUDGET_EXHAUSTED} (max_seconds_per_run={self.max_seconds_per_run:g} s)")
        if isinstance(exc, requests.Timeout):
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

    def _batch_error(self, batch: Sequence[str], exc: BaseException,
                     deadline: float) -> dict[str, NewsFetchError]:
        """One failed request's error, given to every symbol of its batch (classified once, so
        a timeout near the deadline cannot be 'timeout' for one symbol and 'budget' for the next)."""
        error = self._fetch_error(batch[0], exc, deadline)
        return {s: NewsFetchError(s, error.kind, str(error)) for s in batch}

    def _fetch_batch(self, client: NewsClient, batch: Sequence[str], start: datetime, end: datetime,
                     limit_per_symbol: int) -> tuple[dict[str, list[dict]], list[str]]:
        """One query for `batch` (newest first), pages followed by next_page_token until every
        symbol has limit_per_symbol articles, the pages run out or the page bound is hit.
        Returns each symbol's articles and the symbols left short by the page bound.
        Raises on any failed or malformed page (the caller fails the whole batch)."""
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
            articles, token = _news_page(client.get("/news", request.to_request_fields()))
            for article in articles:
                for symbol in batch if single else _article_owners(article, owners):
                    if len(found[symbol]) < limit_per_symbol:
                        found[symbol].append(article)
            if token is None or all(len(found[s]) >= limit_per_symbol for s in batch):
                return found, []
        return found, [s for s in batch if len(found[s]) < limit_per_symbol]

    def fetch_news(self, symbols: Iterable[str], start: datetime, end: datetime,
                   limit_per_symbol: int = 50) -> dict[str, list[dict] | NewsFetchError]:
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
        started within max_seconds_per_run get 'time budget exhausted'."""
        if limit_per_symbol < 1:
            raise ValueError("limit_per_symbol must be at least 1")
        wanted = list(dict.fromkeys(symbols))
        if not (self.api_key_id and self.api_secret_key):
            message = ("Alpaca credentials are not configured: set ALPACA_API_KEY_ID and "
                       "ALPACA_API_SECRET_KEY")
            return {s: NewsFetchError(s, "config", message) for s in wanted}
        deadline = time.monotonic() + self.max_seconds_per_run
        client = self._news_client(deadline)
        results: dict[str, list[dict] | NewsFetchError] = {}
        short: list[str] = []
        step = self.symbols_per_request
        try:
            for batch in (wanted[i:i + step] for i in range(0, len(wanted), step)):
                if time.monotonic() >= deadline:
                    results.update(self._batch_error(batch, _BudgetExhausted(), deadline))
                    continue
                try:
                    found, cut = self._fetch_batch(client, batch, start, end, limit_per_symbol)
                except Exception as exc:  # noqa: BLE001 - mapped to this batch's symbols' errors
                    results.update(self._batch_error(batch, exc, deadline))
                    continue
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


class NewsConfigResource(ConfigurableResource):
    """How the news asset reads and aggregates articles (window, decay, sources, neutral band)."""

    window_hours: float = Field(default=24.0, gt=0, description="Articles from the last N hours.")
    half_life_hours: float = Field(default=6.0, gt=0, description="Recency decay half-life.")
    neutral_band: float = Field(default=0.1, ge=0, lt=1, description="|score| <= band is neutral.")
    allowed_sources: list[str] = Field(
        default=list(DEFAULT_ALLOWED_SOURCES),
        description="Sources scored and cited (case-insensitive); others are only counted.",
    )
    limit_per_symbol: int = Field(default=50, ge=1, le=1000)
    top_headlines: int = Field(default=5, ge=0, le=20)
    expected_sources: int = Field(default=3, ge=1, description="Cited articles for full coverage.")

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.window_hours)

    def settings(self) -> NewsSettings:
        return NewsSettings(
            half_life_hours=self.half_life_hours, neutral_band=self.neutral_band,
            allowed_sources=tuple(self.allowed_sources), top_headlines=self.top_headlines,
            expected_sources=self.expected_sources,
        )
