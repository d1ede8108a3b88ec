"""TCA and parity arithmetic against hand computation: signs, shortfall with fees, p95, drift,
and TCA in Torghut's terms (arrival price, shortfall notional, divergence, churn, rounding)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pytest

from intel_assets.contracts.orders import Fill, OrderIntent, OrderState
from intel_assets.contracts.parity import RejectedIntent, VenueOutcome
from intel_assets.domain.fills import MarketSnapshot, PriceBar, QuoteBar, TradeBar
from intel_assets.domain.strategy import sma_seeded_ema
from intel_assets.domain.tca import (
    ArrivalQuote,
    aggregate,
    arrival_quote,
    build_parity_report,
    implementation_shortfall_bps,
    outcome_from_state,
    parity_row,
    percentile,
    slippage_bps,
    tca_figures,
    time_to_fill_seconds,
)
from intel_assets.domain.torghut_tca import (
    QUOTE_MID,
    arrival_price,
    churn,
    simulator_expectations,
    venue_fill_tca,
)

T0 = datetime(2013, 10, 8, 14, 0, tzinfo=timezone.utc)  # 10:00 New York


def _intent(side="buy", qty=100.0, intent_id="d1", symbol="SPY", **kw) -> OrderIntent:
    return OrderIntent(intent_id=intent_id, strategy_id="s", symbol=symbol, side=side, qty=qty,
                       decision_time=T0, **kw)


def _state(intent: OrderIntent, price: float | None, fee: float = 0.0,
           seconds: int = 60) -> OrderState:
    """A filled order at ``price`` (``seconds`` after the decision), or a resting one (None)."""
    cid = intent.client_order_id or ""
    if price is None:
        fill = Fill(client_order_id=cid, status="unfilled", filled_qty=0, reason="not reached")
        return OrderState(client_order_id=cid, status="open", intent=intent, fill=fill)
    fill = Fill(client_order_id=cid, status="filled", filled_qty=intent.qty, avg_fill_price=price,
                fee=fee, filled_at=T0 + timedelta(seconds=seconds))
    return OrderState(client_order_id=cid, status="filled", intent=intent, fill=fill)


def test_slippage_sign_convention_positive_is_a_cost():
    assert slippage_bps("buy", 100.10, 100.0) == pytest.approx(10.0)   # paid above mid
    assert slippage_bps("sell", 99.90, 100.0) == pytest.approx(10.0)   # sold below mid
    assert slippage_bps("buy", 99.95, 100.0) == pytest.approx(-5.0)    # price improvement
    assert slippage_bps("sell", 100.05, 100.0) == pytest.approx(-5.0)
    with pytest.raises(ValueError, match="side"):
        slippage_bps("short", 1.0, 1.0)


def test_shortfall_adds_fees_in_bps_of_arrival_notional():
    # buy 100 @ 100.05 vs mid 100, fee $1: (0.05*100 + 1) / (100*100) * 1e4 = 6 bps
    assert implementation_shortfall_bps("buy", 100, 100.05, 100.0, 1.0) == pytest.approx(6.0)
    # sell 200 @ 49.99 vs mid 50, fee $1: (0.01*200 + 1) / (50*200) * 1e4 = 3 bps
    assert implementation_shortfall_bps("sell", 200, 49.99, 50.0, 1.0) == pytest.approx(3.0)
    # zero fee: shortfall == slippage
    assert implementation_shortfall_bps("buy", 7, 10.2, 10.0, 0.0) == pytest.approx(
        slippage_bps("buy", 10.2, 10.0))


def test_time_to_fill_and_percentile_by_hand():
    assert time_to_fill_seconds(T0, T0 + timedelta(minutes=1, seconds=30)) == 90.0
    # p95 of 1..5: rank 0.95*4 = 3.8 -> 4 + 0.8*(5-4) = 4.8 (linear, numpy's default)
    assert percentile([5, 1, 3, 2, 4], 95) == pytest.approx(4.8)
    values = [0.3, 7.5, -2.0, 11.0, 4.25, 4.25, 9.0]
    assert percentile(values, 95) == pytest.approx(float(np.percentile(values, 95)))
    assert percentile([3.0], 95) == 3.0
    assert percentile([], 95) is None
    agg = aggregate([1.0, None, 3.0, 2.0])
    assert (agg.count, agg.mean, agg.max) == (3, 2.0, 3.0)
    assert agg.p95 == pytest.approx(2.9)  # rank 1.9 -> 2 + 0.9*(3-2)
    assert aggregate([None]).mean is None


def _snap(start: datetime, bid: str | None, ask: str | None, close: str = "100") -> MarketSnapshot:
    def bar(value: str | None) -> PriceBar | None:
        return None if value is None else PriceBar(*(Decimal(value),) * 4)
    quote = None if bid is None and ask is None else QuoteBar(bar(bid), bar(ask))
    trade = TradeBar(*(Decimal(close),) * 4)
    return MarketSnapshot("SPY", start, start + timedelta(minutes=1), trade, quote)


def test_arrival_mid_is_the_latest_quote_that_ended_at_or_before_the_decision():
    snaps = [_snap(T0 - timedelta(minutes=3), "99.00", "99.10"),
             _snap(T0 - timedelta(minutes=2), "99.50", None),      # one-sided: skipped
             _snap(T0 - timedelta(minutes=1), "100.00", "100.20"),  # ends exactly at T0
             _snap(T0, "101.00", "101.20")]                         # in progress at T0: unseen
    at = arrival_quote(snaps, T0)
    assert at == ArrivalQuote(100.10, 100.00, 100.20, T0)
    earlier = arrival_quote(snaps, T0 - timedelta(seconds=30))     # mid-bar decision
    assert earlier.mid == pytest.approx(99.05) and earlier.quoted_at == T0 - timedelta(minutes=2)
    assert arrival_quote(snaps, T0 - timedelta(minutes=5)) is None


def test_parity_row_differences_are_alpaca_minus_lean():
    intent = _intent("buy", 100)
    arrival = ArrivalQuote(100.0, 99.95, 100.05, T0)
    alpaca = outcome_from_state(intent, _state(intent, 100.10), 100.0)
    lean = outcome_from_state(intent, _state(intent, 100.05, fee=1.0, seconds=120), 100.0)
    assert alpaca.slippage_bps == pytest.approx(10.0) and lean.slippage_bps == pytest.approx(5.0)
    assert lean.shortfall_bps == pytest.approx(6.0) and lean.time_to_fill_seconds == 120
    row = parity_row("d1", intent, arrival, alpaca, lean)
    assert row.status_agree is True
    assert row.fill_price_diff_bps == pytest.approx(5.0)   # alpaca filled 5 bps worse
    assert row.fee_diff == pytest.approx(-1.0) and row.filled_qty_diff == 0
    down = VenueOutcome(status="unavailable", reason="runner down")
    half = parity_row("d1", intent, arrival, alpaca, down)
    assert half.status_agree is None and half.fill_price_diff_bps is None and half.fee_diff is None


def test_report_aggregates_per_venue_per_symbol_and_counts_duplicates():
    arrival = ArrivalQuote(100.0, 99.9, 100.1, T0)
    rows = []
    # SPY buy: alpaca 100.10 (+10), lean 100.05 (+5); SPY sell: alpaca 99.80 (+20), lean 99.90 (+10)
    for iid, side, a_px, l_px in (("a", "buy", 100.10, 100.05), ("b", "sell", 99.80, 99.90)):
        it = _intent(side, intent_id=iid)
        rows.append(parity_row(iid, it, arrival, outcome_from_state(it, _state(it, a_px), 100.0),
                               outcome_from_state(it, _state(it, l_px, fee=1.0), 100.0)))
    # IBM limit: alpaca fills at 100.00 (0 bps), lean does not fill -> status disagreement
    it = _intent("buy", intent_id="c", symbol="IBM", type="limit", limit_price=100.0)
    rows.append(parity_row("c", it, arrival, outcome_from_state(it, _state(it, 100.0), 100.0),
                           outcome_from_state(it, _state(it, None), 100.0)))
    rejected = [RejectedIntent(decision_id="x", symbol="SPY", code="duplicate_client_order_id",
                               reason="dup"),
                RejectedIntent(decision_id="y", symbol="ZZZ", code="unknown_symbol", reason="?")]
    report = build_parity_report(T0.date(), T0, {"alpaca": "A", "lean": "L"}, rows, rejected)
    alpaca, lean = report.tca["alpaca"], report.tca["lean"]
    assert (alpaca.filled, lean.filled, alpaca.intents) == (3, 2, 3)
    assert lean.fill_rate == pytest.approx(2 / 3) and lean.fees_total == 2.0
    assert alpaca.slippage_bps.mean == pytest.approx(10.0)          # (10 + 20 + 0) / 3
    assert alpaca.slippage_bps.max == pytest.approx(20.0)
    assert lean.shortfall_bps.mean == pytest.approx((6.0 + 11.0) / 2)  # fee $1 = 1 bps each
    assert alpaca.per_symbol["IBM"].filled == 1 and lean.per_symbol["IBM"].filled == 0
    s = report.summary
    assert (s.decisions, s.valid_intents, s.rejected_intents, s.compared_intents) == (5, 3, 2, 3)
    assert s.status_agreement_pct == pytest.approx(200 / 3)
    assert s.fill_price_drift_bps.count == 2 and s.fill_price_drift_bps.max == pytest.approx(10.0)
    assert s.fill_price_drift_bps.mean == pytest.approx(7.5)         # |5| and |10|
    assert s.filled_qty_diff_abs_total == 100 and s.fee_diff_total == pytest.approx(-2.0)
    assert s.duplicate_submissions == 1 and s.unavailable_sides == []
    assert s.per_symbol["IBM"].status_agreement_pct == 0.0
    figures = tca_figures(report)
    assert figures["lean_slippage_bps_mean"] == pytest.approx(7.5)
    assert figures["fill_price_drift_bps_p95"] == pytest.approx(9.75)  # 5 + 0.95*(10-5)
    assert figures["duplicate_submissions"] == 1.0
    assert figures["SPY_alpaca_slippage_bps_mean"] == pytest.approx(15.0)
    assert report.evidence_problems() == []


def test_an_unavailable_side_makes_the_evidence_incomplete():
    it = _intent()
    arrival = ArrivalQuote(100.0, 99.9, 100.1, T0)
    down = VenueOutcome(status="unavailable", reason="LEAN runner at http://x is unreachable")
    row = parity_row("d1", it, arrival, outcome_from_state(it, _state(it, 100.1), 100.0), down)
    report = build_parity_report(T0.date(), T0, {"alpaca": "A", "lean": "L"}, [row], [])
    assert report.summary.unavailable_sides == ["lean"]
    assert report.tca["lean"].state == "unavailable" and report.tca["alpaca"].state == "ok"
    assert report.summary.status_agreement_pct is None
    assert report.evidence_problems() == [
        "lean side unavailable: LEAN runner at http://x is unreachable"]


def test_outcome_flags_a_venue_returning_another_intents_order():
    mine, theirs = _intent(intent_id="mine"), _intent(intent_id="theirs", client_order_id="c-1")
    state = _state(theirs, 100.1)
    assert outcome_from_state(mine, state, 100.0).duplicate_of == "theirs"
    assert outcome_from_state(theirs, state, 100.0).duplicate_of is None


def test_sma_seeded_ema_by_hand():
    # EMA(3): seed = mean(1,2,3) = 2; alpha = 0.5: 0.5*4 + 0.5*2 = 3; 0.5*8 + 0.5*3 = 5.5
    assert sma_seeded_ema([1, 2, 3, 4, 8], 3) == [None, None, 2.0, 3.0, 5.5]
    assert sma_seeded_ema([1, 2], 3) == [None, None]


# ---- TCA in Torghut's terms -------------------------------------------------------------------

def _advice_json(arrival=None, p50=None, **params) -> dict:
    advice = {} if p50 is None else {"execution_advice": {
        "expected_shortfall_bps_p50": p50, "expected_shortfall_bps_p95": "9.5",
        "simulator_version": "sim-7"}}
    if arrival is not None:
        params["arrival_price"] = arrival
    return {"action": "buy", "params": {**params, **advice}}


def test_arrival_price_is_resolved_in_torghuts_order():
    """Reproduces proompteng/lab 255d330fe services/torghut/app/trading/tca.py
    (_resolve_arrival_price: params first, then the decision, then the order's limit price)."""
    assert arrival_price(_advice_json(arrival="101", reference_price="102", price="103"),
                         None, 100.0) == (101.0, "params.arrival_price")
    assert arrival_price(_advice_json(reference_price="102", price="103"), None, 100.0) == (
        102.0, "params.reference_price")
    assert arrival_price(_advice_json(price="0", arrival_price_note="x"), None, 100.0) == (
        100.0, QUOTE_MID), "a non-positive price is skipped"
    assert arrival_price({"reference_price": "99.5", "params": {}}, None, 100.0) == (
        99.5, "decision.reference_price")
    assert arrival_price({"params": {}}, 98.0, 100.0) == (98.0, "limit_price")
    assert arrival_price(None, None, None) == (None, None)


def test_torghut_fill_tca_by_hand_with_churn():
    """Reproduces proompteng/lab 255d330fe services/torghut/app/trading/tca.py
    (upsert_execution_tca_metric: slippage_bps, shortfall_notional, divergence, _derive_churn)."""
    buy = _intent("buy", 100, intent_id="b")
    sell = _intent("sell", 100, intent_id="s")
    bought = outcome_from_state(buy, _state(buy, 100.10), 100.0)
    sold = outcome_from_state(sell, _state(sell, 99.95), 100.0)
    out = venue_fill_tca([(buy, _advice_json(arrival="100.00", p50="3"), "paper", 100.0, bought),
                          (sell, {"params": {}}, "paper", 100.0, sold)])
    b, s = out["b"].torghut, out["s"].torghut
    # buy 100 @ 100.10 vs arrival 100: +(0.10)/100*1e4 = 10 bps; 0.10*100 = 10 USD; 10 - 3 = 7
    assert b.slippage_bps == pytest.approx(10.0) and b.shortfall_notional == pytest.approx(10.0)
    assert b.realized_shortfall_bps == b.slippage_bps and b.divergence_bps == pytest.approx(7.0)
    assert (b.expected_shortfall_bps_p95, b.simulator_version) == (9.5, "sim-7")
    assert (b.signed_qty, b.churn_qty, b.churn_ratio) == (100.0, 0.0, 0.0), "flat before: none"
    # sell 100 @ 99.95 vs mid 100 (no price in params): -(99.95-100)/100*1e4 = 5 bps, 5 USD
    assert s.arrival_source == QUOTE_MID and s.slippage_bps == pytest.approx(5.0)
    assert s.shortfall_notional == pytest.approx(5.0) and s.divergence_bps is None
    assert (s.signed_qty, s.churn_qty, s.churn_ratio) == (-100.0, 100.0, 1.0), "closes the buy"
    assert churn(150, -100, 100) == (100, 1.0) and churn(50, -100, 100) == (50, 0.5)
    assert churn(100, 100, 100) == (0.0, 0.0) and churn(0, 0, 0) == (0.0, None)
    unfilled = outcome_from_state(buy, _state(buy, None), 100.0)
    assert venue_fill_tca([(buy, {}, "paper", 100.0, unfilled)])["b"].torghut is None
    assert simulator_expectations({"params": {"execution_advice": {
        "expected_shortfall_bps_p50": "n/a", "simulator_version": " "}}}) == (None, None, None)


def test_tca_figures_are_rounded_for_people_under_stable_names():
    arrival = ArrivalQuote(100.0, 99.9, 100.1, T0)
    it = _intent("buy", 100, intent_id="a")
    alpaca = outcome_from_state(it, _state(it, 100.123456), 100.0)
    lean = outcome_from_state(it, _state(it, 100.05, fee=1.0), 100.0)
    tca = venue_fill_tca([(it, _advice_json(p50="1.23456"), "paper", 100.0, alpaca)])["a"]
    row = parity_row("a", it, arrival, tca.model_copy(update={"submit_latency_ms": 3.14159}), lean)
    report = build_parity_report(T0.date(), T0, {"alpaca": "A", "lean": "L"}, [row], [])
    figures = tca_figures(report)
    assert figures["alpaca_slippage_bps_mean"] == 12.35          # 12.3456 bps
    assert figures["alpaca_divergence_bps_mean"] == 11.11        # 12.3456 - 1.23456
    assert figures["alpaca_submit_latency_ms_mean"] == 3.1
    assert figures["alpaca_shortfall_notional_total"] == 12.35   # USD, to the cent
    empty = tca_figures(build_parity_report(T0.date(), T0, {"alpaca": "A", "lean": "L"}, [], []))
    assert set(figures) - set(empty) == {"SPY_status_agreement_pct",
                                         "SPY_fill_price_drift_bps_mean",
                                         "SPY_alpaca_slippage_bps_mean",
                                         "SPY_lean_slippage_bps_mean"}, \
        "every other name is there every day, None when nothing was measured"
    assert empty["lean_divergence_bps_p95"] is None and empty["decisions"] == 0.0
