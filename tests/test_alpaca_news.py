"""Tests the Alpaca news path end to end over real HTTP: alpaca-py NewsClient -> local server.

No mocks: AlpacaResource drives the real alpaca-py client against intel_assets.devtools'
Alpaca-compatible server on 127.0.0.1; faults are injected server-side.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from intel_assets.contracts.bundle import DomainState
from intel_assets.devtools.alpaca_server import (
    NEWS_PATH,
    SAMPLE_NEWS_FILE,
    ApiResponse,
    Faults,
    news_handler,
    start_alpaca_server,
)
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
    # one attempt per page (retries are tested in test_provider_retries.py)
    return AlpacaResource(**{"api_key_id": KEY, "api_secret_key": SECRET, "data_url": server.url,
                             "request_timeout_seconds": 2.0, "retry_attempts": 1, **overrides})


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


CITED = {"IBM": 4, "BAC": 3, "SPY": 4, "AIG": 3}  # AIG has a fourth article from an unlisted source


@pytest.mark.parametrize("per_request", [1, 2])
@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_errors_only_the_symbols_of_its_request(server, name, per_request):
    faults, kind = FAULTS[name]
    server.inject_faults(symbols={"IBM"}, **faults)
    started = time.monotonic()
    # 1 s: well above a loaded 2-core machine's answer time, well below the 3 s delay fault
    fetched = alpaca(server, request_timeout_seconds=1.0, symbols_per_request=per_request).fetch_news(
        ["IBM", "BAC", "SPY", "AIG"], SINCE, AS_OF)
    assert time.monotonic() - started < 2.9  # the timeout bounds the wait, no alpaca-py retries
    assert len(server.requests) == 4 // per_request  # batches ["IBM", "BAC"], ["SPY", "AIG"]
    failed = ["IBM", "BAC"][:per_request]  # IBM's request: IBM alone, or its whole batch
    blocks = {s: block_for_fetch(fetched[s], previous=None, now=AS_OF, budget_seconds=300) for s in fetched}
    for symbol in failed:
        block = blocks[symbol]
        assert block.state is DomainState.ERROR and block.risk_flags == ["news_error"] and block.quality_score == 0
        if kind is None:
            assert f"all {3 if symbol == 'BAC' else 4} articles failed validation" in block.payload["reason"]
        else:
            assert isinstance(fetched[symbol], NewsFetchError) and fetched[symbol].kind == kind
            assert fetched[symbol].symbol == symbol and str(fetched[symbol]) == str(fetched["IBM"])
    for symbol in {"IBM", "BAC", "SPY", "AIG"} - set(failed):  # other requests are unaffected
        assert blocks[symbol].state is DomainState.OK and blocks[symbol].source_count == CITED[symbol]


def test_a_batch_is_one_request_split_by_each_articles_symbols(server):
    symbols = ["SPY", "IBM", "BAC", "AIG", "SYN000"]
    one_each = alpaca(server, symbols_per_request=1).fetch_news(symbols, SINCE, AS_OF)
    assert len(server.requests) == 5
    batched = alpaca(server, symbols_per_request=3).fetch_news(symbols, SINCE, AS_OF)
    calls = server.requests[5:]
    default = alpaca(server).fetch_news(symbols, SINCE, AS_OF)
    assert [c.query["symbols"] for c in calls] == ["SPY,IBM,BAC", "AIG,SYN000"]  # 2 requests, not 5
    assert [c.query["symbols"] for c in server.requests[7:]] == ["SPY,IBM,BAC,AIG,SYN000"]  # default 50
    assert batched == default == one_each and list(batched) == symbols
    # 9000012 names BAC and SPY: one copy of it reaches each, in newest-first order
    assert [a["id"] for a in batched["SPY"]] == [9000001, 9000012, 9000002, 9000003]
    assert [a["id"] for a in batched["BAC"]] == [9000010, 9000012, 9000011]
    assert batched["SYN000"] == [] and len(batched["IBM"]) == len(batched["AIG"]) == 4
    assert all(set(a["symbols"]) & {s} for s in symbols for a in batched[s])


def _mixed_news(tmp_path):
    """160 articles a minute apart cycling A / B / A+B / OTH, one naming OTH and lower-case b,
    then 5 old C articles: A 80, B 81, C 5 articles; 126 match [A, B, C] (3 pages of 50)."""
    stamp = lambda m: (AS_OF - timedelta(minutes=m)).isoformat().replace("+00:00", "Z")  # noqa: E731
    tags = {m: [["A"], ["B"], ["A", "B"], ["OTH"]][m % 4] for m in range(160)}
    tags.update({170: ["OTH", "b"], **{m: ["C"] for m in range(200, 205)}})
    lines = [{"id": 1000 + m, "headline": f"Article {m}", "author": "t", "created_at": stamp(m),
              "updated_at": stamp(m), "summary": "", "content": "", "url": f"https://example.com/{m}",
              "images": [], "symbols": t, "source": "benzinga"} for m, t in tags.items()]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def test_batch_pagination_caps_each_symbol_like_one_request_per_symbol(tmp_path, caplog):
    with start_alpaca_server([_mixed_news(tmp_path)], as_of=AS_OF) as running:
        def fetch(symbols, limit, **overrides):
            before = len(running.requests)
            got = alpaca(running, **overrides).fetch_news(symbols, SINCE, AS_OF, limit_per_symbol=limit)
            return got, running.requests[before:]

        everything, calls = fetch(["A", "B", "C"], 500)
        single, single_calls = fetch(["A", "B", "C"], 500, symbols_per_request=1)
        capped, capped_calls = fetch(["A", "B", "C"], 20)
        capped_single, _ = fetch(["A", "B", "C"], 20, symbols_per_request=1)
        early, early_calls = fetch(["A", "B"], 20)
        with caplog.at_level(logging.WARNING):
            bounded, bounded_calls = fetch(["A", "B", "C"], 50, max_pages_per_batch=1)
    ids = {s: [a["id"] for a in articles] for s, articles in everything.items()}
    assert len(ids["A"]) == 80 and len(ids["B"]) == 81 and ids["C"] == list(range(1200, 1205))
    assert 1002 in ids["A"] and 1002 in ids["B"] and 1170 in ids["B"]  # A+B article; OTH+b article
    assert not {1003, 1007} & (set(ids["A"]) | set(ids["B"]))  # OTH-only articles go nowhere
    assert all(i == sorted(i) for i in ids.values())  # newest first, no repeats
    assert everything == single and len(calls) == 3 and len(single_calls) == 5
    assert [c.query["limit"] for c in calls] == ["50", "50", "50"]
    assert "page_token" not in calls[0].query and all(c.query.get("page_token") for c in calls[1:])
    assert {c.query["symbols"] for c in calls} == {"A,B,C"}
    # the cap is per symbol: the newest 20 of each, the same as one request per symbol
    assert capped == capped_single and [len(capped[s]) for s in "ABC"] == [20, 20, 5]
    assert [a["id"] for a in capped["A"]] == ids["A"][:20]
    assert len(capped_calls) == 3  # C is short of 20: paging goes on until the pages run out
    assert len(early_calls) == 1 and early == {s: capped[s] for s in "AB"}  # every cap met on page 1
    # the page bound stops the batch: each symbol keeps the newest articles seen, C is missed
    assert len(bounded_calls) == 1 and bounded["C"] == []
    assert all(bounded[s] == everything[s][:len(bounded[s])] and bounded[s] for s in "AB")
    assert "max_pages_per_batch=1) left 3 symbol(s) short of 50 articles" in caplog.text


def test_a_failure_on_a_later_page_fails_the_whole_batch(tmp_path):
    def second_pages_fail(server, request):
        if request.param("page_token"):
            return ApiResponse(502, {"code": 50200000, "message": "upstream failed"})
        return news_handler(server, request)

    with start_alpaca_server([_mixed_news(tmp_path), SAMPLE_NEWS_FILE], as_of=AS_OF) as running:
        running.server.add_route("GET", NEWS_PATH, second_pages_fail)
        fetched = alpaca(running, symbols_per_request=2).fetch_news(["A", "B", "SPY", "BAC"], SINCE, AS_OF,
                                                                    limit_per_symbol=500)
        calls = [(c.query["symbols"], "page_token" in c.query) for c in running.requests]
    assert calls == [("A,B", False), ("A,B", True), ("SPY,BAC", False)]
    assert all(isinstance(fetched[s], NewsFetchError) and fetched[s].kind == "http" for s in "AB")
    assert "HTTP 502" in str(fetched["A"])  # no partial list from page 1
    assert [a["id"] for a in fetched["SPY"]] == [9000001, 9000012, 9000002, 9000003]
    assert len(fetched["BAC"]) == 3


def test_articles_without_symbols_fail_a_multi_symbol_batch_only(server):
    server.inject_faults(symbols={"IBM"}, drop_fields=("symbols",))
    fetched = alpaca(server, symbols_per_request=2).fetch_news(["IBM", "BAC", "SPY", "AIG", "SYN000"],
                                                               SINCE, AS_OF)
    assert all(isinstance(fetched[s], NewsFetchError) and fetched[s].kind == "malformed" for s in ("IBM", "BAC"))
    assert "'symbols'" in str(fetched["IBM"])
    assert len(fetched["SPY"]) == 4 and len(fetched["AIG"]) == 4 and fetched["SYN000"] == []
    server.inject_faults(drop_fields=("symbols",))  # a one-symbol request needs no split (as before)
    alone = alpaca(server, symbols_per_request=1).fetch_news(["IBM"], SINCE, AS_OF)["IBM"]
    assert isinstance(alone, list) and len(alone) == 4


def test_a_failed_fetch_within_budget_reuses_the_last_good_block(server):
    earlier = AS_OF - timedelta(seconds=60)
    first = alpaca(server).fetch_news(["BAC"], SINCE, earlier)["BAC"]
    good = block_for_fetch(first, previous=None, now=earlier, budget_seconds=300).to_wire()
    server.inject_faults(status=503)
    failed = alpaca(server).fetch_news(["BAC"], SINCE, AS_OF)["BAC"]
    reused = block_for_fetch(failed, previous=good, now=AS_OF, budget_seconds=300)
    assert isinstance(failed, NewsFetchError)
    assert reused.state is DomainState.STALE and reused.freshness_seconds == 60  # reused: stale
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
    resource = alpaca(server, request_timeout_seconds=5.0, max_seconds_per_run=0.5, symbols_per_request=2)
    started = time.monotonic()
    fetched = resource.fetch_news(["SPY", "IBM", "BAC", "AIG"], SINCE, AS_OF)
    assert time.monotonic() - started < 1.5
    assert all(isinstance(r, NewsFetchError) and r.kind == "budget" for r in fetched.values())
    assert all(str(r).startswith("time budget exhausted") for r in fetched.values())
    assert len(server.requests) == 1  # the second batch was not even requested
    block = block_for_fetch(fetched["AIG"], previous=None, now=AS_OF, budget_seconds=300)
    assert block.payload["reason"].startswith("news fetch failed: time budget exhausted")


def test_faults_refuse_a_status_that_is_not_an_error():
    """429 and 504 are allowed now that alpaca-py's own retry is off (our client retries)."""
    assert Faults(status=429).status == 429 and Faults(status=504).status == 504
    with pytest.raises(ValueError, match=">= 400"):
        Faults(status=200)
