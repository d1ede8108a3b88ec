"""The market clock (domain.market_clock) and technicals/regime judged by it outside the session
(issue 13, section 1: "after the close every symbol is stale at quality 0.01")."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path


from intel_assets.domain.bundle import bundle_seen_at, merge_bundle
from intel_assets.domain.market_clock import clock_for, exchange_clock, lean_clock
from intel_assets.domain.quality import MARKET_CLOSED_FLAG, observed_block, with_clock

UTC = timezone.utc
XNYS = exchange_clock("XNYS")
BUDGETS = {"technicals": 60, "regime": 60, "news": 300, "fundamentals": 86_400}


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_xnys_regular_session_and_extended_hours():
    """The clock the fix rests on: a normal Wednesday, 2026-12-02 (09:30-16:00 New York)."""
    pre = XNYS.session(_utc("2026-12-02T08:00:00-05:00"))
    assert (pre.is_open, pre.extended) == (False, True)
    assert pre.last_close == _utc("2026-12-01T16:00:00-05:00")
    assert pre.next_open == _utc("2026-12-02T09:30:00-05:00")
    mid = XNYS.session(_utc("2026-12-02T12:00:00-05:00"))
    assert (mid.is_open, mid.extended) == (True, False)
    assert mid.next_open == _utc("2026-12-03T09:30:00-05:00")  # when open: the next day's
    at_close = XNYS.session(_utc("2026-12-02T16:00:00-05:00"))
    assert (at_close.is_open, at_close.extended) == (False, True)
    assert at_close.last_close == _utc("2026-12-02T16:00:00-05:00")
    night = XNYS.session(_utc("2026-12-02T21:00:00-05:00"))
    assert (night.is_open, night.extended) == (False, False)
    assert XNYS.session_seconds_between(_utc("2026-12-01T12:00:00-05:00"),
                                        _utc("2026-12-02T10:30:00-05:00")) == 4 * 3600 + 3600


def test_xnys_early_close_and_holiday():
    """Early closes and holidays: 2026-11-27 closes 13:00, 2026-12-25 has no session."""
    after = XNYS.session(_utc("2026-11-27T13:30:00-05:00"))
    assert (after.is_open, after.extended) == (False, True)
    assert after.last_close == _utc("2026-11-27T13:00:00-05:00")
    assert after.next_open == _utc("2026-11-30T09:30:00-05:00")
    assert XNYS.session_seconds_between(_utc("2026-11-27T00:00:00-05:00"),
                                        _utc("2026-11-28T00:00:00-05:00")) == 3.5 * 3600
    christmas = XNYS.session(_utc("2026-12-25T11:00:00-05:00"))
    assert (christmas.is_open, christmas.extended) == (False, False)
    assert christmas.last_close == _utc("2026-12-24T13:00:00-05:00")  # Christmas Eve early close
    assert christmas.next_open == _utc("2026-12-28T09:30:00-05:00")
    assert XNYS.session_seconds_between(_utc("2026-12-24T13:00:00-05:00"),
                                        _utc("2026-12-28T09:30:00-05:00")) == 0


def test_lean_clock_agrees_with_exchange_calendar(lean_dir: Path):
    """The replay clock (LEAN's market-hours database) says what the live one says, on the LEAN
    demo's own days and on 2026's early close and holiday."""
    lean = lean_clock(lean_dir / "market-hours" / "market-hours-database.json")
    instants = [f"{day}T{t}-05:00" for day in ("2026-12-02", "2026-11-27", "2026-12-25")
                for t in ("03:00", "08:00", "09:30", "12:59", "13:00", "15:59", "16:00", "20:30")]
    instants += [f"2013-10-{d}T{t}-04:00" for d in ("10", "11", "12")
                 for t in ("09:29", "09:30", "15:59", "16:00", "19:59")]
    for text in instants:
        assert lean.session(_utc(text)) == XNYS.session(_utc(text)), text
    start, end = _utc("2013-10-04T00:00:00-04:00"), _utc("2013-10-15T00:00:00-04:00")
    assert lean.session_seconds_between(start, end) == XNYS.session_seconds_between(start, end) \
        == 7 * 6.5 * 3600
    assert clock_for(_utc("2013-10-11T15:59:00-04:00"), lean_dir).session(start) \
        == lean.session(start)


def _technicals(now: datetime, as_of: datetime, clock=None):
    return observed_block(domain="technicals", now=now, as_of=as_of, budget_seconds=60,
                          payload={"lastPrice": 101.5}, core_values=[1.0, 2.0, 3.0],
                          sources=2, expected_sources=2, clock=clock)


CLOSE = _utc("2026-12-02T16:00:00-05:00")  # window_end of the session's last minute bar


def test_after_close_block_is_ok_market_closed_at_full_session_quality():
    """Reproduces "after the close every symbol is stale at quality 0.01": a block built at
    16:50 from the 16:00 bar was stale at 0.01 by wall age; by the market clock it is ok,
    flagged market_closed, keeps the quality it had at the close, and says so in its payload."""
    built = CLOSE + timedelta(minutes=50)
    before = _technicals(built, CLOSE)
    assert (before.state.value, before.quality_score) == ("stale", 0.01)  # the measured problem
    block = _technicals(built, CLOSE, XNYS)
    assert block.state.value == "ok"
    assert block.risk_flags == [MARKET_CLOSED_FLAG]
    assert block.quality_score == _technicals(CLOSE, CLOSE).quality_score == 1.0
    assert block.freshness_seconds == 3000  # still the true wall-clock age
    assert block.payload["session"] == {
        "marketClosed": True, "lastClose": CLOSE.isoformat(),
        "nextOpen": _utc("2026-12-03T09:30:00-05:00").isoformat(), "sessionAgeSeconds": 0}
    assert block.payload["lastPrice"] == 101.5
    # a bar that stopped 5 minutes before the close is not the session's last bar: stale
    early = _technicals(built, CLOSE - timedelta(minutes=5), XNYS)
    assert early.state.value == "stale" and MARKET_CLOSED_FLAG not in early.risk_flags
    # news and fundamentals are not judged by the market clock
    news = observed_block(domain="news", now=built, as_of=CLOSE, budget_seconds=300,
                          payload={}, core_values=[1.0], sources=1, expected_sources=1,
                          clock=XNYS)
    assert news.state.value == "stale" and MARKET_CLOSED_FLAG not in news.risk_flags


def test_market_closed_block_remeasured_next_morning_and_after_the_open():
    """The serving re-measure of the same block: before the next open it stays ok at its
    closing quality (wall age 17 h); after the open without new bars it goes stale."""
    block = _technicals(CLOSE + timedelta(minutes=50), CLOSE, XNYS)
    morning = with_clock(block, _utc("2026-12-03T09:00:00-05:00"), XNYS)
    assert morning.state.value == "ok" and morning.risk_flags == [MARKET_CLOSED_FLAG]
    assert morning.quality_score == 1.0
    assert morning.freshness_seconds == 17 * 3600
    opened = with_clock(block, _utc("2026-12-03T09:35:00-05:00"), XNYS)
    assert opened.state.value == "stale"
    assert opened.risk_flags == ["technicals_stale"]
    assert "session" not in opened.payload
    assert opened.quality_score == round(0.5 * 60 / opened.freshness_seconds, 4)
    # re-measured at the instant it was built, without a clock, it is the block as published
    assert with_clock(block, CLOSE + timedelta(minutes=50)) == block


def test_served_bundle_after_close_keeps_required_domains_ok():
    """The serving path (bundle_seen_at with the market clock): technicals and regime stay ok
    overnight, so the bundle's quality is not the 0.01 of wall-age decay."""
    built = CLOSE + timedelta(minutes=1)
    blocks = {"technicals": _technicals(built, CLOSE, XNYS),
              "regime": observed_block(domain="regime", now=built, as_of=CLOSE,
                                       budget_seconds=60, payload={}, core_values=["up"],
                                       sources=2, expected_sources=2, clock=XNYS)}
    bundle = merge_bundle("SPY", built, blocks, BUDGETS)
    night = _utc("2026-12-02T23:00:00-05:00")
    served = bundle_seen_at(bundle, night, clock=XNYS)
    assert served.domains.technicals.state.value == "ok"
    assert served.domains.regime.state.value == "ok"
    assert served.domains.technicals.quality_score == 1.0
    assert served.freshness_seconds == 7 * 3600  # honest wall-clock age
    wall = bundle_seen_at(bundle, night)  # without the clock: what it was before
    assert wall.domains.technicals.state.value == "stale"
    assert wall.domains.technicals.quality_score < 0.01
