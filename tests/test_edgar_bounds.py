"""SEC EDGAR cannot outlast its budget or fill its cache with junk (issue 12, findings 2 and 3):
our EDGAR client against the local EDGAR server with drip, status, length faults on 127.0.0.1.
Times are bounds with generous margins, not speed targets.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from slow_http import elapsed

from intel_assets.assets.fundamentals import fundamentals_for_symbol
from intel_assets.devtools.edgar_server import start_edgar_server
from intel_assets.domain.retry import NO_RETRY
from intel_assets.providers.edgar import (
    EdgarClient,
    EdgarHTTPError,
    EdgarMalformedError,
    EdgarUnavailableError,
)

MARGIN = 2.0  # seconds of slack on every wall-clock bound (loaded 2-core CI machines)
UA = "intel_assets tests tests@example.com"

# ---- SEC EDGAR ------------------------------------------------------------------------------

def edgar_docs(n: int) -> dict:
    """A ticker map of n companies C0.. (CIK 1..n), each with companyfacts and submissions."""
    docs: dict = {"/files/company_tickers.json": {
        str(i): {"cik_str": i + 1, "ticker": f"C{i}", "title": f"Company {i}"} for i in range(n)}}
    for i in range(n):
        cik = f"{i + 1:010d}"
        docs[f"/api/xbrl/companyfacts/CIK{cik}.json"] = {"cik": i + 1, "entityName": f"C{i}",
                                                        "facts": {}}
        docs[f"/submissions/CIK{cik}.json"] = {"cik": str(i + 1), "filings": {"recent": {}}}
    return docs


NOW = datetime(2025, 1, 2, 12, tzinfo=timezone.utc)


def edgar(server, tmp_path, **kwargs) -> EdgarClient:
    # one attempt per request: these tests bound single requests and count them; retries of
    # transient failures are tested in test_provider_retries.py
    kwargs.setdefault("retry_policy", NO_RETRY)
    return EdgarClient(UA, base_url=server.url, tickers_url=server.tickers_url,
                       cache_dir=tmp_path / "cache", **kwargs)


def test_a_dripping_edgar_is_cut_per_request_and_per_run(tmp_path):
    with start_edgar_server(edgar_docs(6)) as server:
        server.inject(None, drip_seconds=0.2)  # every document, ticker map included
        with edgar(server, tmp_path, timeout_seconds=1.0, max_seconds_per_run=2.5,
                   max_consecutive_failures=100) as client:
            took, error = elapsed(lambda: client.cik_for("C0"))
            assert isinstance(error, EdgarHTTPError) and took <= 1.0 + MARGIN
            assert "within 1 s (wall clock)" in str(error)
        server.inject("/files/company_tickers.json")  # the map answers; the filings drip
        with edgar(server, tmp_path, timeout_seconds=1.0, max_seconds_per_run=2.5,
                   max_consecutive_failures=100) as client:
            started = time.monotonic()
            blocks = [fundamentals_for_symbol(client, f"C{i}", NOW, 86_400) for i in range(6)]
            took = time.monotonic() - started
    assert took <= 2.5 + MARGIN  # without a run budget: 6 symbols x 1 s, and 20 s each by default
    assert all(b.state.value == "error" for b in blocks)
    reasons = [b.payload["reason"] for b in blocks]
    assert "within 1 s (wall clock)" in reasons[0]
    assert all("run time budget exhausted" in r for r in reasons[-3:]), reasons


def test_the_ticker_map_is_fetched_once_per_run_even_when_it_fails(tmp_path):
    with start_edgar_server(edgar_docs(3)) as server:
        server.inject("/files/company_tickers.json", status=503)
        with edgar(server, tmp_path) as client:
            blocks = [fundamentals_for_symbol(client, s, NOW, 86_400)
                      for s in ("C0", "C1", "C2", "C0")]
        assert server.count("/files/company_tickers.json") == 1
        assert server.count() == 1  # and no filing was asked for without a CIK
        server.clear_faults()
        with edgar(server, tmp_path) as client:  # the next run asks again
            assert client.cik_for("C1") == 2
    assert [b.state.value for b in blocks] == ["error"] * 4
    assert "fetched once per run" in blocks[-1].payload["reason"]


def test_edgar_circuit_breaker_stops_the_run_after_three_failures(tmp_path):
    with start_edgar_server(edgar_docs(6)) as server:
        for i in range(6):
            server.inject(f"/api/xbrl/companyfacts/CIK{i + 1:010d}.json", status=500)
        with edgar(server, tmp_path) as client:
            blocks = [fundamentals_for_symbol(client, f"C{i}", NOW, 86_400) for i in range(6)]
        facts_requests = [r for r in server.requests if "companyfacts" in r.path]
    assert len(facts_requests) == 3
    reasons = [b.payload["reason"] for b in blocks]
    assert all("HTTP 500" in r for r in reasons[:3])
    assert all("not called again in this run after 3 consecutive failures" in r
               for r in reasons[3:]), reasons


def test_oversize_edgar_bodies_are_refused_and_never_cached(tmp_path):
    path = "/api/xbrl/companyfacts/CIK0000000001.json"
    docs = edgar_docs(1)
    big = {"cik": 1, "facts": {"us-gaap": {"Pad": {"label": "x" * (2 << 20)}}}}  # ~2 MB, valid shape
    docs[path] = big
    with start_edgar_server(docs) as server:
        for undeclared in (False, True):  # Content-Length over the cap; then no length at all
            server.inject(path, undeclared_length=undeclared)
            with edgar(server, tmp_path, max_body_bytes=1 << 20) as client:
                with pytest.raises(EdgarMalformedError, match="1,048,576-byte cap"):
                    client.companyfacts(1)
        with edgar(server, tmp_path) as client:  # the default cap (64 MiB) takes it
            assert client.companyfacts(1) == big
    cached = [p for p in (tmp_path / "cache").glob("*.body") if len(p.read_bytes()) > 1 << 20]
    assert len(cached) == 1  # only the read that was within its cap was cached


def test_documents_of_the_wrong_shape_are_never_cached(tmp_path):
    docs = edgar_docs(2)
    wrong = {"/api/xbrl/companyfacts/CIK0000000001.json": [1, 2, 3],
             "/api/xbrl/companyfacts/CIK0000000002.json": {"cik": 2, "facts": {"us-gaap": []}},
             "/submissions/CIK0000000001.json": {"cik": "1", "filings": []}}
    with start_edgar_server({**docs, **wrong}) as server:
        with edgar(server, tmp_path, max_consecutive_failures=None) as client:
            for call, arg in ((client.companyfacts, 1), (client.companyfacts, 2),
                              (client.submissions, 1)):
                with pytest.raises(EdgarMalformedError, match="malformed SEC"):
                    call(arg)
            assert client.cik_for("C1") == 2  # the ticker map has the right shape: cached
        bodies = [json.loads(p.read_bytes()) for p in (tmp_path / "cache").glob("*.body")]
        assert bodies == [docs["/files/company_tickers.json"]]
        # an entry cached before shapes were checked is dropped and fetched afresh
        url = f"{server.url}/api/xbrl/companyfacts/CIK0000000002.json"
        with edgar(server, tmp_path) as client:
            client.cache.put(url, b'{"cik": 2, "facts": {"us-gaap": []}}', '"stale"', None)
            server.set("/api/xbrl/companyfacts/CIK0000000002.json", docs[
                "/api/xbrl/companyfacts/CIK0000000002.json"])
            server.reset()
            assert client.companyfacts(2)["facts"] == {}
            assert server.requests[-1].if_none_match is None and server.requests[-1].status == 200


def test_a_run_budget_spent_edgar_sends_nothing(tmp_path):
    with start_edgar_server(edgar_docs(2)) as server:
        with edgar(server, tmp_path, max_seconds_per_run=0.5) as client:
            assert client.cik_for("C0") == 1
            time.sleep(0.6)
            server.reset()
            with pytest.raises(EdgarUnavailableError, match="run time budget exhausted"):
                client.companyfacts(1)
            assert server.requests == []
