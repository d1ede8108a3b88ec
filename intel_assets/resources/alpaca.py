"""Owns the Alpaca resource (news via alpaca-py with a per-request timeout and a per-run time budget)
and the news aggregation config resource."""

import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from json import JSONDecodeError
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical.news import NewsClient
from alpaca.data.requests import NewsRequest
from dagster import ConfigurableResource
from pydantic import Field
from requests.adapters import HTTPAdapter

from intel_assets.domain.news import DEFAULT_ALLOWED_SOURCES, NewsSettings

BUDGET_EXHAUSTED = "time budget exhausted"
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

    def fetch_news(self, symbols: Iterable[str], start: datetime, end: datetime,
                   limit_per_symbol: int = 50) -> dict[str, list[dict] | NewsFetchError]:
        """Each symbol's raw Alpaca articles in [start, end] (newest first, at most
        limit_per_symbol, pages followed by next_page_token), or its NewsFetchError.
        Never raises for a failed fetch: each symbol fails alone."""
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
        try:
            for symbol in wanted:
                if time.monotonic() >= deadline:
                    results[symbol] = self._fetch_error(symbol, _BudgetExhausted(), deadline)
                    continue
                request = NewsRequest(symbols=symbol, start=start, end=end, limit=limit_per_symbol,
                                      sort="desc")
                try:
                    raw = client.get_news(request)
                    articles = raw.get("news") if isinstance(raw, dict) else None
                    if not isinstance(articles, list):
                        raise TypeError(f"'news' is {type(articles).__name__}, not a list")
                    results[symbol] = articles
                except Exception as exc:  # noqa: BLE001 - mapped to this symbol's error
                    results[symbol] = self._fetch_error(symbol, exc, deadline)
        finally:
            client._session.close()
        return results


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
