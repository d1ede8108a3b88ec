"""Tests the Alpaca news path end to end over real HTTP: alpaca-py NewsClient -> local server.

No mocks: AlpacaResource drives the real alpaca-py client against intel_assets.devtools'
Alpaca-compatible server on 127.0.0.1; faults are injected server-side.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from intel_assets.contracts.bundle import DomainState
from intel_assets.devtools.alpaca_server import SAMPLE_NEWS_FILE, Faults, start_alpaca_server
from intel_assets.domain.news import block_for_fetch
from intel_assets.resources.alpaca import AlpacaResource, NewsFetchError

AS_OF = datetime.fromisoformat("2013-10-11T15:59:00-04:00").astimezone(timezone.utc)
SINCE = AS_OF - timedelta(hours=24)
KEY, SECRET = "PKTESTKEYID0001", "s3cr3t-NEVER-SHOW-ME"
AUTH = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}


@pytest.fixture
def server():
    with start_alpaca_server([SAMPLE_NEWS_FILE], as_of=AS_OF, api_key_id=KEY, api_secret_key=SECRET) as running:
        yield running


def alpaca(server, **overrides) -> AlpacaResource:
    return AlpacaResource(**{"api_key_id": KEY, "api_secret_key": SECRET, "data_url": server.url,
                             "request_timeout_seconds": 2.0, **overrides})


def test_news_client_follows_next_page_token_across_pages(tmp_path):
    stamp = lambda m: (AS_OF - timedelta(minutes=m)).isoformat().replace("+00:00", "Z")  # noqa: E731
    lines = [{"id": 100 + m, "headline": f"Article {m}", "author": "t", "created_at": stamp(m),
              "updated_at": stamp(m), "summary": "", "content": "", "url": f"https://example.com/{m}",
              "images": [], "symbols": ["PAG"], "source": "benzinga"} for m in range(120)]
    lines.append({**lines[0], "id": 999, "symbols": ["OTH"]})
    path = tmp_path / "news.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with start_alpaca_server([path], as_of=AS_OF) as running:
        fetched = alpaca(running).fetch_news(["PAG"], SINCE, AS_OF, limit_per_symbol=110)["PAG"]
        calls = running.requests
        everything = alpaca(running).fetch_news(["PAG"], SINCE, AS_OF, limit_per_symbol=500)["PAG"]
        last_calls = running.requests[len(calls):]
    assert isinstance(fetched, list) and len(fetched) == 110
    assert [a["id"] for a in fetched] == list(range(100, 210))  # newest first, no gaps or repeats
    assert [c.query["limit"] for c in calls] == ["50", "50", "10"]
    assert "page_token" not in calls[0].query and all(c.query.get("page_token") for c in calls[1:])
    ns, last_id = base64.b64decode(calls[1].query["page_token"]).decode().split("|")
    assert int(last_id) == 149 and int(ns) > 0  # the token names the previous page's last article
    assert len(everything) == 120 and len(last_calls) == 3  # 50 + 50 + 20, then a null token ends it


def test_server_filters_sorts_and_paginates_like_alpaca(server):
    url = f"{server.url}/v1beta1/news"
    with httpx.Client(headers=AUTH) as http:
        page = http.get(url, params={"symbols": "SPY", "start": "2013-10-10", "sort": "asc", "limit": 2}).json()
        rest = http.get(url, params={"symbols": "SPY", "start": "2013-10-10", "sort": "asc", "limit": 50,
                                     "page_token": page["next_page_token"]}).json()
        content = http.get(url, params={"symbols": "SPY", "start": "2013-10-11T19:56:00Z",
                                        "include_content": "true"}).json()
        default = http.get(url, params={"symbols": "SPY,IBM"}).json()
        errors = [http.get(url, params=p).status_code for p in
                  ({"limit": 51}, {"page_token": "bm9wZQ=="}, {"start": "yesterday"}, {"sort": "up"})]
        unauthorized = httpx.get(url).status_code
        missing = http.get(f"{server.url}/v2/orders").status_code
    assert [a["id"] for a in page["news"]] == [9000004, 9000003] and page["next_page_token"]
    assert [a["id"] for a in rest["news"]] == [9000002, 9000012, 9000001]  # 9000005 is after the clock
    assert rest["next_page_token"] is None
    assert set(page["news"][0]) == {"id", "headline", "author", "created_at", "updated_at", "summary",
                                    "content", "url", "images", "symbols", "source"}
    assert page["news"][0]["content"] == "" and content["news"][0]["content"].startswith("<p>")
    assert content["news"][0]["images"][0]["size"] == "thumb"
    # default start = beginning of the server's day (2013-10-11), default limit 10, newest first
    assert [a["id"] for a in default["news"]] == [9000001, 9000007, 9000006, 9000012, 9000008, 9000002]
    assert errors == [400, 400, 400, 400] and unauthorized == 401 and missing == 404


def test_fetch_returns_sample_articles_and_sends_credentials(server):
    fetched = alpaca(server).fetch_news(["SPY", "AIG", "SYN000"], SINCE, AS_OF)
    assert [a["id"] for a in fetched["SPY"]] == [9000001, 9000012, 9000002, 9000003]
    assert len(fetched["AIG"]) == 4 and fetched["SYN000"] == []
    assert all(r.authenticated for r in server.requests)
    empty = block_for_fetch(fetched["SYN000"], previous=None, now=AS_OF, budget_seconds=300)
    assert empty.state is DomainState.OK and empty.risk_flags == ["news_empty"]


FAULTS = {
    "http_500": (dict(status=500), "http"),
    "http_502": (dict(status=502), "http"),
    "malformed_json": (dict(body=b"not json"), "malformed"),
    "wrong_shape": (dict(body=b'{"articles": []}'), "malformed"),
    "non_utf8": (dict(invalid_utf8=True), "encoding"),
    "timeout": (dict(delay_seconds=3.0), "timeout"),
    "missing_fields": (dict(drop_fields=("created_at", "url")), None),  # fetched; rejected by validation
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_makes_that_symbols_block_an_error(server, name):
    faults, kind = FAULTS[name]
    server.inject_faults(symbols={"IBM"}, **faults)
    started = time.monotonic()
    fetched = alpaca(server, request_timeout_seconds=0.3).fetch_news(["IBM", "SPY"], SINCE, AS_OF)
    assert time.monotonic() - started < 2.0  # the timeout bounds the wait, no alpaca-py retries
    ibm = block_for_fetch(fetched["IBM"], previous=None, now=AS_OF, budget_seconds=300)
    spy = block_for_fetch(fetched["SPY"], previous=None, now=AS_OF, budget_seconds=300)
    assert ibm.state is DomainState.ERROR and ibm.risk_flags == ["news_error"] and ibm.quality_score == 0
    assert spy.state is DomainState.OK and spy.source_count == 4  # the fault is IBM's alone
    if kind is None:
        assert "all 4 articles failed validation" in ibm.payload["reason"]
    else:
        assert isinstance(fetched["IBM"], NewsFetchError) and fetched["IBM"].kind == kind


def test_a_failed_fetch_within_budget_reuses_the_last_good_block(server):
    earlier = AS_OF - timedelta(seconds=60)
    first = alpaca(server).fetch_news(["BAC"], SINCE, earlier)["BAC"]
    good = block_for_fetch(first, previous=None, now=earlier, budget_seconds=300).to_wire()
    server.inject_faults(status=503)
    failed = alpaca(server).fetch_news(["BAC"], SINCE, AS_OF)["BAC"]
    reused = block_for_fetch(failed, previous=good, now=AS_OF, budget_seconds=300)
    assert isinstance(failed, NewsFetchError)
    assert reused.state is DomainState.OK and reused.freshness_seconds == 60
    assert {"news_stale", "news_fetch_failed"} <= set(reused.risk_flags)
    assert reused.payload["articleCount"] == good["payload"]["articleCount"] == 3
    assert reused.payload["fetchError"].startswith("news fetch failed: HTTP 503")
    late = block_for_fetch(failed, previous=good, now=AS_OF + timedelta(seconds=300), budget_seconds=300)
    assert late.state is DomainState.ERROR and late.risk_flags == ["news_error"]


def test_credentials_never_appear_in_messages_or_repr(server):
    echo = json.dumps({"message": f"bad request from key {KEY} secret {SECRET}"}).encode()
    server.inject_faults(status=500, body=echo)  # as if a proxy echoed the request headers
    leaked = alpaca(server).fetch_news(["SPY"], SINCE, AS_OF)["SPY"]
    server.clear_faults()
    wrong = alpaca(server, api_secret_key="wrong-" + SECRET).fetch_news(["SPY"], SINCE, AS_OF)["SPY"]
    unset = AlpacaResource(data_url=server.url).fetch_news(["SPY", "IBM"], SINCE, AS_OF)
    assert isinstance(leaked, NewsFetchError) and "***" in str(leaked)
    assert isinstance(wrong, NewsFetchError) and "HTTP 401" in str(wrong)
    assert unset["IBM"].kind == "config" and "ALPACA_API_SECRET_KEY" in str(unset["IBM"])
    block = block_for_fetch(leaked, previous=None, now=AS_OF, budget_seconds=300)
    texts = [str(leaked), str(wrong), str(unset["SPY"]), json.dumps(block.to_wire()),
             repr(alpaca(server)), str(alpaca(server))]
    assert not any(SECRET in t or KEY in t for t in texts)


def test_the_run_time_budget_bounds_the_whole_fetch(server):
    server.inject_faults(delay_seconds=5.0)
    resource = alpaca(server, request_timeout_seconds=5.0, max_seconds_per_run=0.5)
    started = time.monotonic()
    fetched = resource.fetch_news(["SPY", "IBM", "BAC", "AIG"], SINCE, AS_OF)
    assert time.monotonic() - started < 1.5
    assert all(isinstance(r, NewsFetchError) and r.kind == "budget" for r in fetched.values())
    assert all(str(r).startswith("time budget exhausted") for r in fetched.values())
    assert len(server.requests) == 1  # later symbols were not even requested
    block = block_for_fetch(fetched["AIG"], previous=None, now=AS_OF, budget_seconds=300)
    assert block.payload["reason"].startswith("news fetch failed: time budget exhausted")


def test_faults_refuse_statuses_that_alpaca_py_retries_with_sleeps():
    for status in (429, 504):
        with pytest.raises(ValueError, match="3 s sleeps"):
            Faults(status=status)
