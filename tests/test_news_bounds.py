"""News cannot outlast its budget (issue 12, findings 2 and 3): alpaca-py's real NewsClient
against the local Alpaca-compatible server with drip, 500 and oversize faults on 127.0.0.1.
Times are bounds with generous margins, not speed targets.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from intel_assets.devtools.alpaca_server import SAMPLE_NEWS_FILE, start_alpaca_server
from intel_assets.resources.alpaca import AlpacaResource, NewsFetchError

MARGIN = 2.0  # seconds of slack on every wall-clock bound (loaded 2-core CI machines)
AS_OF = datetime.fromisoformat("2013-10-11T15:59:00-04:00").astimezone(timezone.utc)
SINCE = AS_OF - timedelta(hours=24)
KEY, SECRET = "PKTESTKEYID0001", "s3cr3t-NEVER-SHOW-ME"

# ---- news (alpaca-py NewsClient against the local Alpaca server) --------------------------

@pytest.fixture
def news_server():
    with start_alpaca_server([SAMPLE_NEWS_FILE], as_of=AS_OF, api_key_id=KEY,
                             api_secret_key=SECRET) as running:
        yield running


def news(server, **overrides) -> AlpacaResource:
    # one attempt per page: these tests bound single requests and count them; retries of
    # transient failures are tested in test_provider_retries.py
    return AlpacaResource(**{"api_key_id": KEY, "api_secret_key": SECRET, "data_url": server.url,
                             "retry_attempts": 1, **overrides})


def test_a_dripping_news_server_is_cut_at_the_request_deadline(news_server):
    news_server.inject_faults(drip_seconds=0.2, symbols={"IBM"})  # IBM's page: ~7 KB at 5 B/s
    resource = news(news_server, request_timeout_seconds=1.5, symbols_per_request=1)
    started = time.monotonic()
    fetched = resource.fetch_news(["IBM", "BAC"], SINCE, AS_OF)
    assert time.monotonic() - started <= 1.5 + MARGIN
    assert isinstance(fetched["IBM"], NewsFetchError) and fetched["IBM"].kind == "timeout"
    assert "within 1.5 s (wall clock)" in str(fetched["IBM"])
    assert isinstance(fetched["BAC"], list) and fetched["BAC"]  # the next batch is unaffected


def test_a_dripping_news_server_cannot_outlast_the_run_budget(news_server):
    """The issue's case at small scale: every request drips (0.2 s per byte, under the 2 s
    per-read timeout), 8 batches; the whole fetch stops at max_seconds_per_run."""
    news_server.inject_faults(drip_seconds=0.2)
    resource = news(news_server, request_timeout_seconds=2.0, max_seconds_per_run=3.0,
                    symbols_per_request=1, max_consecutive_failures=100)
    symbols = ["SPY", "IBM", "BAC", "AIG", "SYN000", "SYN001", "SYN002", "SYN003"]
    started = time.monotonic()
    fetched = resource.fetch_news(symbols, SINCE, AS_OF)
    assert time.monotonic() - started <= 3.0 + MARGIN
    kinds = [fetched[s].kind for s in symbols]
    assert kinds[0] == "timeout" and set(kinds[1:]) == {"budget"}, kinds
    assert len(news_server.requests) == 2  # the first timed out at 2 s, the second hit the budget


def test_news_circuit_breaker_stops_calling_after_three_failed_batches(news_server):
    news_server.inject_faults(status=500)
    symbols = ["SPY", "IBM", "BAC", "AIG", "SYN000", "SYN001"]
    result = news(news_server, symbols_per_request=1).fetch_news(symbols, SINCE, AS_OF)
    assert [result[s].kind for s in symbols] == ["http"] * 3 + ["circuit_open"] * 3
    assert len(news_server.requests) == 3
    assert "not called again in this run after 3 consecutive failures" in str(result["AIG"])


def test_an_oversize_news_body_fails_its_batch_only(news_server):
    news_server.inject_faults(body=b'{"news": [' + b" " * (2 << 20) + b"]}", symbols={"IBM"})
    result = news(news_server, symbols_per_request=1, max_body_bytes=1 << 20).fetch_news(
        ["IBM", "BAC"], SINCE, AS_OF)
    assert result["IBM"].kind == "too_large" and "1,048,576-byte cap" in str(result["IBM"])
    assert isinstance(result["BAC"], list) and result["BAC"]
