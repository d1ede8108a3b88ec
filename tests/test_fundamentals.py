"""Fundamentals from SEC EDGAR: real shared documents over real HTTP (local server), the client's rules."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone

import pytest
from helpers import EDGAR_DIR

from intel_assets.assets.fundamentals import fundamentals_for_symbol
from intel_assets.contracts.bundle import DomainBlock
from intel_assets.devtools.edgar_server import start_edgar_server
from intel_assets.domain.fundamentals import (
    filings_from_submissions,
    SEC_DOWNLOADS,
    fundamentals_block,
    fundamentals_payload,
    next_expected_filing,
    period_facts,
)
from intel_assets.providers.edgar import EdgarClient, EdgarConfigError
from intel_assets.resources.edgar import EdgarResource

UA = "intel_assets tests tests@example.com"
SNOW, LPA, TSLA = 1640147, 1997711, 1318605
DAY = 86_400.0


def _at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T12:00:00+00:00")


@pytest.fixture(scope="module")
def shared_server():
    if not (EDGAR_DIR / "company_tickers.json").is_file():
        pytest.skip(f"shared EDGAR data not found at {EDGAR_DIR} (set INTEL_EDGAR_DATA_DIR to the "
                    "folder with company_tickers.json and the companyfacts/submissions files)")
    with start_edgar_server(EDGAR_DIR) as server:
        yield server


@pytest.fixture
def client(shared_server, tmp_path):
    with EdgarClient(UA, base_url=shared_server.url, tickers_url=shared_server.tickers_url,
                     cache_dir=tmp_path / "cache") as c:
        yield c


@pytest.fixture(scope="module")
def snow(shared_server) -> dict:
    with EdgarClient(UA, base_url=shared_server.url, tickers_url=shared_server.tickers_url) as c:
        assert c.cik_for("SNOW") == SNOW
        return c.companyfacts(SNOW)


# How the Snowflake figures were checked by hand (python -c one-liners printing start, end, val,
# accn, filed of us-gaap RevenueFromContractWithCustomerExcludingAssessedTax / NetIncomeLoss /
# GrossProfit / EarningsPerShareDiluted in companyfacts_CIK0001640147_SNOW.json). Snowflake has
# no us-gaap:Revenues, so the second concept in the order is used. Quarters of fiscal 2025/26:
#   Q1 FY26 2025-02-01..2025-04-30  1,042,074,000  10-Q 0001640147-25-000110 filed 2025-05-30
#   Q4 FY25 (not filed discretely) = FY 2024-02-01..2025-01-31 3,626,396,000 (10-K 0001640147-25-000052)
#           - 9M 2024-02-01..2024-10-31 2,639,626,000 (10-Q 0001640147-24-000250) = 986,770,000
#   Q3 FY25 2024-08-01..2024-10-31    942,094,000  (10-Q 0001640147-24-000250)
#   Q2 FY25 2024-05-01..2024-07-31    868,823,000  (10-Q 0001640147-24-000207)
#   TTM = 1,042,074,000 + 986,770,000 + 942,094,000 + 868,823,000 = 3,839,761,000
#   prior TTM (to 2024-04-30) = 828,709,000 + (2,806,489,000 - 2,031,790,000) + 734,173,000
#                               + 674,018,000 = 3,011,599,000 -> growth 3,839,761/3,011,599 - 1 = 0.2750
#   Net income: -430,092,000 + (-1,285,640,000 + 958,166,000) - 324,279,000 - 316,899,000 = -1,398,744,000
#   Gross profit: 693,288,000 + (2,411,723,000 - 1,758,137,000) + 621,200,000 + 580,745,000
#                 = 2,548,819,000 -> margin 2,548,819/3,839,761 = 0.6638
#   Diluted EPS: -1.29 + (-3.86 + 2.88) - 0.98 - 0.95 = -4.20
#   Balances at 2025-04-30 (10-Q 0001640147-25-000110): StockholdersEquity 2,408,000,000,
#   CashAndCashEquivalentsAtCarryingValue 2,243,083,000, ConvertibleDebtNoncurrent 2,273,600,000.
def test_snowflake_ttm_matches_hand_computed_figures(snow):
    payload, citations, flags = fundamentals_payload(snow, None, _at("2025-07-01"), provenance=SEC_DOWNLOADS)
    assert payload["conceptsUsed"]["revenue"] == "us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax"
    assert payload["periodEnd"] == "2025-04-30" and payload["periodicity"] == "quarterly"
    assert payload["ttmRevenue"] == 3_839_761_000
    assert payload["ttmNetIncome"] == -1_398_744_000
    assert payload["revenueGrowthYoY"] == pytest.approx(3_839_761_000 / 3_011_599_000 - 1, abs=1e-4)
    assert payload["quarterRevenueGrowthYoY"] == pytest.approx(1_042_074_000 / 828_709_000 - 1, abs=1e-4)
    assert payload["grossMargin"] == pytest.approx(2_548_819_000 / 3_839_761_000, abs=1e-4)
    assert payload["netMargin"] == pytest.approx(-1_398_744_000 / 3_839_761_000, abs=1e-4)
    assert payload["ttmEpsDiluted"] == pytest.approx(-4.20)
    assert payload["derivedQuarters"] == ["2025-01-31"]  # Q4 FY25 = FY - 9M
    assert (payload["equity"], payload["cash"], payload["debt"]) == (2_408_000_000, 2_243_083_000, 2_273_600_000)
    assert payload["conceptsUsed"]["debt"] == "us-gaap:ConvertibleDebtNoncurrent"
    assert payload["latestFiling"] == {"form": "10-Q", "accession": "0001640147-25-000110",
                                       "filed": "2025-05-30", "periodEnd": "2025-04-30"}
    assert payload["missing"] == [] and "fundamentals_partial" not in flags
    urls = [c.url for c in citations]
    assert "https://www.sec.gov/Archives/edgar/data/1640147/000164014725000110/0001640147-25-000110-index.htm" in urls
    assert {c.source for c in citations} == {"SEC EDGAR 10-Q", "SEC EDGAR 10-K"}
    first = citations[0]  # newest first: filed 2025-05-30, 00:00 New York (EDT) = 04:00 UTC
    assert first.published_at == datetime(2025, 5, 30, 4, 0, tzinfo=timezone.utc)


def test_point_in_time_excludes_a_filing_made_after_the_as_of(snow):
    # The Q1 FY26 10-Q was filed 2025-05-30; a day earlier TTM is the FY25 10-K's 3,626,396,000.
    before, _, _ = fundamentals_payload(snow, None, _at("2025-05-29"), provenance=SEC_DOWNLOADS)
    after, _, _ = fundamentals_payload(snow, None, _at("2025-07-01"), provenance=SEC_DOWNLOADS)
    assert before["ttmRevenue"] == 3_626_396_000 and before["periodEnd"] == "2025-01-31"
    assert before["latestFiling"]["accession"] == "0001640147-25-000052"
    assert after["previousFiling"]["accession"] == "0001640147-25-000052"
    assert after["deltas"]["ttmRevenue"] == 3_839_761_000 - 3_626_396_000  # vs the previous filing
    # On the filing day itself the filing counts (filed <= as-of date, New York calendar).
    same_day, _, _ = fundamentals_payload(snow, None, datetime.fromisoformat("2025-05-30T23:00:00-04:00"),
                                          provenance=SEC_DOWNLOADS)
    assert same_day["ttmRevenue"] == 3_839_761_000


def test_repeated_periods_are_deduplicated_keeping_the_latest_filing(snow):
    # Q1 FY25 revenue (2024-02-01..2024-04-30, 828,709,000) is in 0001640147-24-000135 (filed
    # 2024-05-31) and again as a comparative in 0001640147-25-000110 (filed 2025-05-30).
    concept = "RevenueFromContractWithCustomerExcludingAssessedTax"
    now = period_facts(snow, "us-gaap", concept, date(2025, 7, 1))
    q1 = [f for f in now if (f.start, f.end) == (date(2024, 2, 1), date(2024, 4, 30))]
    assert len(q1) == 1 and q1[0].accn == "0001640147-25-000110" and q1[0].val == 828_709_000
    earlier = period_facts(snow, "us-gaap", concept, date(2025, 1, 1))
    assert [f.accn for f in earlier if f.end == date(2024, 4, 30)] == ["0001640147-24-000135"]
    assert len({(f.start, f.end) for f in now}) == len(now)


def test_lpa_restated_eps_follows_the_as_of(shared_server):
    # LPA (20-F, IFRS) diluted EPS for 2023: 0.019 in 0001493152-24-016772 (filed 2024-04-26),
    # restated to 0.11 in 0001997711-25-000030 (filed 2025-04-02).
    with EdgarClient(UA, base_url=shared_server.url, tickers_url=shared_server.tickers_url) as c:
        lpa = c.companyfacts(c.cik_for("LPA"))
    eps = {d: [f.val for f in period_facts(lpa, "ifrs-full", "DilutedEarningsLossPerShare", d)
               if f.end == date(2023, 12, 31)] for d in (date(2024, 12, 31), date(2025, 6, 1))}
    assert eps == {date(2024, 12, 31): [0.019], date(2025, 6, 1): [0.11]}


def test_lpa_foreign_annual_filer_is_partial_not_an_error(client):
    # Over HTTP like the asset: LPA has companyfacts but the shared folder has no submissions
    # for it (404), and IFRS filings without a gross profit line.
    block = fundamentals_for_symbol(client, "LPA", _at("2025-06-01"), DAY)
    wire = DomainBlock.model_validate(block.to_wire())
    assert wire.state.value == "ok"
    assert {"fundamentals_partial", "fundamentals_no_submissions"} <= set(wire.risk_flags)
    p = wire.payload
    assert p["missing"] == ["grossMargin"] and p["periodicity"] == "annual"
    # FY2024 ifrs-full:Revenue 43,862,372 vs FY2023 39,436,343 (both in 0001997711-25-000030).
    assert p["ttmRevenue"] == 43_862_372 and p["conceptsUsed"]["revenue"] == "ifrs-full:Revenue"
    assert p["revenueGrowthYoY"] == pytest.approx(43_862_372 / 39_436_343 - 1, abs=1e-4)
    assert p["nextExpectedFiling"]["form"] == "20-F"
    assert wire.source_count == 1 and 0 < wire.quality_score < 1
    # served by a local server, not SEC's API: real filings, but counted rather than cited as SEC
    assert wire.citations == [] and p["uncitedFilings"] >= 1
    assert "fundamentals_unverified_source" in wire.risk_flags


def test_tesla_next_expected_filing_from_submissions(client):
    # Hand check in submissions_CIK0001318605_TSLA.json (filings.recent): 10-Q filed 2021-10-25
    # for 2021-09-30, 2022-04-25 for 2022-03-31, 2022-07-25 for 2022-06-30 -> lags 25, 25, 25;
    # 10-K filed 2020-02-13 / 2021-02-08 / 2022-02-07 for Dec 31 -> lags 44, 39, 38 (median 39).
    subs = client.submissions(TSLA)
    filings = filings_from_submissions(subs)
    fye, category = subs["fiscalYearEnd"], subs["category"]
    assert (fye, category) == ("1231", "Large accelerated filer")
    q3 = next_expected_filing(filings, date(2022, 8, 1), fye, category)
    assert (q3["form"], q3["periodEnd"], q3["expectedDate"]) == ("10-Q", "2022-09-30", "2022-10-25")
    fy = next_expected_filing(filings, date(2022, 11, 1), fye, category)
    assert (fy["form"], fy["periodEnd"], fy["expectedDate"]) == ("10-K", "2022-12-31", "2023-02-08")
    assert fy["overdue"] is False
    later = next_expected_filing(filings, date(2023, 6, 1), fye, category)
    assert later["overdue"] is True  # the shared document ends in 2022: nothing newer is known


def test_budget_is_cut_to_the_expected_next_filing(snow):
    # As of 2025-08-28 12:00 UTC the next 10-Q (period 2025-07-31) is expected 2025-08-29
    # (median lag 29 days): 00:00 New York = 04:00 UTC, i.e. 16 h = 57,600 s away.
    block = fundamentals_block(snow, None, _at("2025-08-28"), DAY, provenance=SEC_DOWNLOADS)
    assert block.payload["nextExpectedFiling"]["expectedDate"] == "2025-08-29"
    assert block.max_freshness_seconds == 57_600
    far = fundamentals_block(snow, None, _at("2025-07-01"), DAY, provenance=SEC_DOWNLOADS)
    assert far.max_freshness_seconds == 86_400


def test_malformed_documents_become_fundamentals_error(tmp_path):
    docs = {"/files/company_tickers.json": {"0": {"cik_str": 1, "ticker": "BAD", "title": "x"},
                                            "1": {"cik_str": 2, "ticker": "ODD", "title": "y"}},
            "/api/xbrl/companyfacts/CIK0000000001.json": b"{not json",
            "/api/xbrl/companyfacts/CIK0000000002.json": {"cik": 2, "facts": ["not", "taxonomies"]}}
    now = _at("2025-01-02")
    with start_edgar_server(docs) as server, EdgarClient(
            UA, base_url=server.url, tickers_url=server.tickers_url, cache_dir=tmp_path) as c:
        bad = fundamentals_for_symbol(c, "BAD", now, DAY)
        odd = fundamentals_for_symbol(c, "ODD", now, DAY)
        unknown = fundamentals_for_symbol(c, "ZZZZ", now, DAY)
        fundamentals_for_symbol(c, "BAD", now, DAY)
        bad_path = "/api/xbrl/companyfacts/CIK0000000001.json"
        assert server.count(bad_path, 200) == 2 and server.count(bad_path, 304) == 0  # never cached
    assert (bad.state.value, bad.risk_flags) == ("error", ["fundamentals_error"])
    assert "not valid JSON" in bad.payload["reason"]
    assert (odd.state.value, odd.risk_flags) == ("error", ["fundamentals_error"])
    assert "malformed SEC companyfacts" in odd.payload["reason"]
    assert (unknown.state.value, unknown.risk_flags) == ("missing", ["fundamentals_missing"])
    assert "not in SEC company_tickers.json" in unknown.payload["reason"]


def test_user_agent_without_contact_email_is_refused():
    for bad in ("", "python-httpx/0.28", "intel_assets", "someone@example.com"):
        with pytest.raises(EdgarConfigError) as info:
            EdgarClient(bad)
        message = str(info.value)
        assert "SEC requires a descriptive User-Agent with a contact email" in message
        assert "INTEL_EDGAR_USER_AGENT" in message
    with pytest.raises(EdgarConfigError, match="INTEL_EDGAR_USER_AGENT"):
        EdgarResource(user_agent="bot").client()
    with pytest.raises(EdgarConfigError, match="10"):
        EdgarClient(UA, max_requests_per_second=50)
    EdgarClient("Acme Research ops@acme.example").close()


def test_rate_limit_holds_across_threads_as_seen_by_the_server():
    docs = {"/files/company_tickers.json": {"0": {"cik_str": 1, "ticker": "A", "title": "a"}}}
    with start_edgar_server(docs) as server, EdgarClient(UA, base_url=server.url,
                                                         tickers_url=server.tickers_url) as c:
        barrier = threading.Barrier(5)

        def burst(_: int) -> None:
            barrier.wait()
            for _ in range(5):
                c.get_json(server.tickers_url)

        with ThreadPoolExecutor(5) as pool:
            list(pool.map(burst, range(5)))
        times = sorted(r.at for r in server.requests)
    assert len(times) == 25 and all(r.user_agent == UA for r in server.requests)
    assert times[-1] - times[0] >= 2.3  # 24 gaps of >= 0.1 s (a little slack for arrival jitter)
    rate = max(10 / (times[i + 10] - times[i]) for i in range(len(times) - 10))
    assert rate <= 10.5, f"max observed rate {rate:.2f} requests/s over 10 requests"


def test_conditional_requests_serve_the_cached_body_on_304(tmp_path):
    path = "/api/xbrl/companyfacts/CIK0000000042.json"
    doc = {"cik": 42, "entityName": "Cache Co", "facts": {}}
    with start_edgar_server({path: doc}) as server:
        kwargs = dict(base_url=server.url, tickers_url=server.tickers_url, cache_dir=tmp_path)
        with EdgarClient(UA, **kwargs) as first:
            assert first.companyfacts(42) == doc
            assert first.companyfacts(42) == doc
        with EdgarClient(UA, **kwargs) as second:  # a new process would reuse the disk cache too
            assert second.companyfacts(42) == doc
            assert second.stats == {"requests": 1, "notModified": 1}
            statuses = [(r.status, r.if_none_match is not None) for r in server.requests]
            assert statuses == [(200, False), (304, True), (304, True)]
            server.set(path, {**doc, "entityName": "Cache Co (restated)"})
            assert second.companyfacts(42)["entityName"] == "Cache Co (restated)"
            assert server.requests[-1].status == 200
