"""Transient provider failures are retried with back-off (issue 13, section 1: "retries with
back-off for transient provider failures (EDGAR included)"). Measured before: one 503, 429,
timeout or reset from SEC EDGAR or Alpaca news turned a symbol's fundamentals or news block
into an error at once. Real clients over real HTTP: our EdgarClient against the local EDGAR
server and alpaca-py's NewsClient (through AlpacaResource) against the local Alpaca server,
which fail their first N answers. Waits go to an injected sleep: tests assert on attempt
counts and the recorded waits, never on wall time.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from intel_assets.devtools.alpaca_server import SAMPLE_NEWS_FILE, start_alpaca_server
from intel_assets.devtools.edgar_server import start_edgar_server
from intel_assets.domain.retry import (
    RetriesExhausted,
    RetryPolicy,
    RetryStats,
    Transient,
    call_with_retries,
    parse_retry_after,
)
from intel_assets.providers.edgar import EdgarClient, EdgarHTTPError, EdgarNotFoundError
from intel_assets.resources.alpaca import AlpacaResource, NewsFetchError

UA = "intel_assets tests tests@example.com"
FACTS = "/api/xbrl/companyfacts/CIK0000000001.json"
DOCS = {"/files/company_tickers.json": {"0": {"cik_str": 1, "ticker": "C0", "title": "C0"}},
        FACTS: {"cik": 1, "entityName": "C0", "facts": {}}}
AS_OF = datetime.fromisoformat("2013-10-11T15:59:00-04:00").astimezone(timezone.utc)
SINCE = AS_OF - timedelta(hours=24)
KEY, SECRET = "PKTESTKEYID0001", "s3cr3t-NEVER-SHOW-ME"


class FakeSleep:
    """Records each wait and advances a clock by it (no real waiting)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def edgar(server, tmp_path, sleep, **kwargs) -> EdgarClient:
    return EdgarClient(UA, base_url=server.url, tickers_url=server.tickers_url,
                       cache_dir=tmp_path / "cache", sleep=sleep, **kwargs)


# ---- the policy (pure) -----------------------------------------------------------------------

def test_backoff_is_exponential_capped_and_jittered_down():
    """The wait before each retry doubles up to the cap; jitter only shortens it."""
    policy = RetryPolicy(attempts=6, base_seconds=0.5, cap_seconds=3.0, jitter=0.5)
    assert [policy.backoff(n, 0.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff(2, 0.999) == pytest.approx(0.5, abs=0.01)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Fri, 11 Oct 2013 20:00:10 GMT",
                             datetime(2013, 10, 11, 20, tzinfo=timezone.utc)) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_a_wait_past_the_deadline_is_not_taken():
    """Total time is bounded: a Retry-After longer than the time left ends the call at once."""
    sleep, calls = FakeSleep(), []

    def attempt():
        calls.append(1)
        raise OSError("reset")

    with pytest.raises(RetriesExhausted) as caught:
        call_with_retries(attempt, RetryPolicy(attempts=5, max_elapsed_seconds=10.0),
                          lambda exc: Transient("reset", retry_after=60.0), sleep=sleep)
    assert len(calls) == 1 and sleep.waits == []
    assert "no time left for attempt 2" in str(caught.value)


# ---- SEC EDGAR ------------------------------------------------------------------------------

def test_edgar_recovers_after_two_503s(tmp_path):
    """Two 503s, then the document: one call, three requests, two recorded waits."""
    sleep = FakeSleep()
    with start_edgar_server(DOCS) as server:
        server.inject(FACTS, status=503, fail_first=2)
        with edgar(server, tmp_path, sleep) as client:
            assert client.companyfacts(1)["entityName"] == "C0"
            assert client.guard.consecutive_failures == 0
        assert [r.status for r in server.requests if r.path == FACTS] == [503, 503, 200]
    assert len(sleep.waits) == 2 and 0.25 <= sleep.waits[0] <= 0.5 and 0.5 <= sleep.waits[1] <= 1.0
    assert client.retry_stats.snapshot()["retries"] == 2


def test_edgar_gives_up_after_the_attempt_limit_with_a_reason_naming_it(tmp_path):
    """A 503 that persists: 3 attempts, then one error saying so; one breaker failure."""
    sleep = FakeSleep()
    with start_edgar_server(DOCS) as server:
        server.inject(FACTS, status=503)
        with edgar(server, tmp_path, sleep) as client:
            with pytest.raises(EdgarHTTPError) as caught:
                client.companyfacts(1)
            assert client.guard.consecutive_failures == 1  # the call, not each attempt
        assert server.count(FACTS) == 3
    assert caught.value.status == 503
    assert "HTTP 503" in str(caught.value) and "after 3 attempts over" in str(caught.value)
    assert len(sleep.waits) == 2


@pytest.mark.parametrize("status", [404, 403])
def test_edgar_never_retries_a_definite_4xx(tmp_path, status):
    sleep = FakeSleep()
    with start_edgar_server(DOCS) as server:
        server.inject(FACTS, status=status)
        with edgar(server, tmp_path, sleep) as client:
            with pytest.raises(EdgarNotFoundError if status == 404 else EdgarHTTPError):
                client.companyfacts(1)
        assert server.count(FACTS) == 1
    assert sleep.waits == []


def test_edgar_honours_retry_after_on_429(tmp_path):
    sleep = FakeSleep()
    with start_edgar_server(DOCS) as server:
        server.inject(FACTS, status=429, fail_first=1, retry_after="4")
        with edgar(server, tmp_path, sleep) as client:
            assert client.companyfacts(1)["cik"] == 1
        assert server.count(FACTS) == 2
    assert sleep.waits == [4.0]


# ---- Alpaca news through alpaca-py ------------------------------------------------------------

@pytest.fixture
def alpaca_server():
    with start_alpaca_server([SAMPLE_NEWS_FILE], as_of=AS_OF, api_key_id=KEY,
                             api_secret_key=SECRET) as running:
        yield running


def news(server, sleep, stats=None, **overrides):
    resource = AlpacaResource(**{"api_key_id": KEY, "api_secret_key": SECRET,
                                 "data_url": server.url, "request_timeout_seconds": 2.0,
                                 **overrides})
    return resource.fetch_news(["IBM"], SINCE, AS_OF, limit_per_symbol=5, sleep=sleep,
                               retry_stats=stats)["IBM"]


def test_alpaca_news_recovers_after_two_503s(alpaca_server):
    sleep, stats = FakeSleep(), RetryStats()
    alpaca_server.inject_faults(status=503, fail_first=2)
    articles = news(alpaca_server, sleep, stats)
    assert isinstance(articles, list) and articles, articles
    assert len(alpaca_server.requests) == 3 and len(sleep.waits) == 2
    assert stats.snapshot()["retries"] == 2 and stats.snapshot()["attempts"] == 3


def test_alpaca_news_gives_up_after_the_limit_with_a_reason_naming_it(alpaca_server):
    sleep = FakeSleep()
    alpaca_server.inject_faults(status=503)
    error = news(alpaca_server, sleep, retry_attempts=4)
    assert isinstance(error, NewsFetchError) and error.kind == "http"
    assert "HTTP 503" in str(error) and "after 4 attempts over" in str(error)
    assert len(alpaca_server.requests) == 4 and len(sleep.waits) == 3


@pytest.mark.parametrize("status", [404, 403, 400])
def test_alpaca_news_never_retries_a_definite_4xx(alpaca_server, status):
    sleep = FakeSleep()
    alpaca_server.inject_faults(status=status)
    error = news(alpaca_server, sleep)
    assert isinstance(error, NewsFetchError) and f"HTTP {status}" in str(error)
    assert len(alpaca_server.requests) == 1 and sleep.waits == []


def test_alpaca_news_honours_retry_after_and_alpaca_py_does_not_retry_twice(alpaca_server):
    """429 with Retry-After: 2 s is waited once by our loop; alpaca-py's own fixed 3 s retry
    is off (else the requests would multiply)."""
    sleep = FakeSleep()
    alpaca_server.inject_faults(status=429, fail_first=1, retry_after="2")
    articles = news(alpaca_server, sleep)
    assert isinstance(articles, list) and articles
    assert len(alpaca_server.requests) == 2 and sleep.waits == [2.0]


def test_alpaca_news_retries_a_timeout_within_the_page_deadline(alpaca_server):
    """A request that times out is retried; the total stays within retry_max_seconds (the
    recorded waits), whatever the server does."""
    sleep = FakeSleep()
    alpaca_server.inject_faults(delay_seconds=1.0)
    error = news(alpaca_server, sleep, request_timeout_seconds=0.3, retry_attempts=3,
                 max_consecutive_failures=10)
    assert isinstance(error, NewsFetchError) and error.kind == "timeout"
    assert "after 3 attempts" in str(error)
    assert len(sleep.waits) == 2 and sum(sleep.waits) <= 1.5
