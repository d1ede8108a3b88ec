"""Owns transaction-cost and parity arithmetic: slippage, shortfall, time to fill, drift, aggregates.

Conventions (every figure in basis points of the **arrival mid**, the mid of the latest quote at
or before the decision time):

* slippage: buy ``(fill - mid) / mid x 1e4``, sell ``(mid - fill) / mid x 1e4``; positive = cost.
* implementation shortfall (filled quantity): ``(signed price move x qty + fee) / (mid x qty)
  x 1e4`` = slippage + fee in bps of the arrival notional; unfilled orders have none (their
  opportunity cost shows as the fill rate, not as a number).
* parity differences are alpaca - lean: ``fill_price_diff_bps`` = alpaca slippage - lean
  slippage (> 0: alpaca filled worse); drift aggregates use its absolute value.
* p95 is the linear-interpolation percentile (numpy's default, Excel PERCENTILE.INC).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from intel_assets.contracts.orders import OrderIntent, OrderState
from intel_assets.contracts.parity import (
    SIDES,
    AdapterTca,
    Aggregate,
    ParityReport,
    ParityRow,
    ParitySummary,
    RejectedIntent,
    SymbolDrift,
    SymbolTca,
    TorghutExecutionRef,
    VenueOutcome,
)
from intel_assets.domain.fills import MarketSnapshot
from intel_assets.domain.stats import aggregate, percentile
from intel_assets.domain.torghut_tca import torghut_summary

BPS = 1e4


# --------------------------------------------------------------------------- formulas


def _sign(side: str) -> int:
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be 'buy' or 'sell', not {side!r}")
    return 1 if side == "buy" else -1


def slippage_bps(side: str, fill_price: float, arrival_mid: float) -> float:
    """Fill vs arrival mid in bps, positive when the trader paid (buy above / sell below mid)."""
    if arrival_mid <= 0:
        raise ValueError(f"arrival mid must be > 0, got {arrival_mid}")
    return _sign(side) * (fill_price - arrival_mid) / arrival_mid * BPS


def implementation_shortfall_bps(side: str, qty: float, fill_price: float, arrival_mid: float,
                                 fee: float) -> float:
    """Price move plus fee on the filled quantity, in bps of the arrival notional."""
    if qty <= 0:
        raise ValueError(f"filled quantity must be > 0, got {qty}")
    if arrival_mid <= 0:
        raise ValueError(f"arrival mid must be > 0, got {arrival_mid}")
    notional = arrival_mid * qty
    return (_sign(side) * (fill_price - arrival_mid) * qty + fee) / notional * BPS


def time_to_fill_seconds(decision_time: datetime, filled_at: datetime) -> float:
    """Seconds from the decision to the fill."""
    return (filled_at - decision_time).total_seconds()


# --------------------------------------------------------------------------- arrival mid


@dataclass(frozen=True)
class ArrivalQuote:
    """The quote a decision saw: mid of the latest quote bar that ended at or before it."""

    mid: float
    bid: float
    ask: float
    quoted_at: datetime


def arrival_quote(snapshots: Sequence[MarketSnapshot], decision_time: datetime,
                  ends: Sequence[datetime] | None = None) -> ArrivalQuote | None:
    """Latest two-sided quote at or before ``decision_time`` (a bar counts from its end).

    ``ends`` (the snapshots' end times, sorted) may be passed to avoid rebuilding it per call.
    """
    ends = [s.end for s in snapshots] if ends is None else ends
    i = bisect_right(ends, decision_time) - 1
    while i >= 0:
        quote = snapshots[i].quote
        if quote is not None and quote.bid is not None and quote.ask is not None:
            bid, ask = float(quote.bid.close), float(quote.ask.close)
            return ArrivalQuote((bid + ask) / 2, bid, ask, snapshots[i].end)
        i -= 1
    return None


# --------------------------------------------------------------------------- outcomes & rows


def outcome_from_state(intent: OrderIntent, state: OrderState, arrival_mid: float) -> VenueOutcome:
    """A venue's OrderState as a VenueOutcome with its TCA figures."""
    fill = state.fill
    duplicate = state.intent.intent_id if state.intent.intent_id != intent.intent_id else None
    if fill.status != "filled" or fill.avg_fill_price is None or fill.filled_at is None:
        return VenueOutcome(status=fill.status, order_status=state.status, fee=fill.fee,
                            reason=fill.reason, duplicate_of=duplicate)
    price, qty = fill.avg_fill_price, fill.filled_qty
    return VenueOutcome(
        status="filled", order_status=state.status, filled_qty=qty, avg_fill_price=price,
        fee=fill.fee, filled_at=fill.filled_at, reason=fill.reason,
        slippage_bps=slippage_bps(intent.side, price, arrival_mid),
        shortfall_bps=implementation_shortfall_bps(intent.side, qty, price, arrival_mid, fill.fee),
        time_to_fill_seconds=time_to_fill_seconds(intent.decision_time, fill.filled_at),
        duplicate_of=duplicate)


def parity_row(decision_id: str, intent: OrderIntent, arrival: ArrivalQuote,
               alpaca: VenueOutcome, lean: VenueOutcome,
               torghut_execution: TorghutExecutionRef | None = None) -> ParityRow:
    """One intent's outcomes at both venues and their differences (alpaca - lean)."""
    both = alpaca.answered and lean.answered
    both_filled = alpaca.status == "filled" and lean.status == "filled"
    price_diff = None
    if both_filled and alpaca.slippage_bps is not None and lean.slippage_bps is not None:
        price_diff = alpaca.slippage_bps - lean.slippage_bps
    return ParityRow(
        decision_id=decision_id, intent_id=intent.intent_id,
        client_order_id=intent.client_order_id or "", symbol=intent.symbol, side=intent.side,
        order_type=intent.type, qty=intent.qty, limit_price=intent.limit_price,
        stop_price=intent.stop_price, time_in_force=intent.time_in_force,
        decision_time=intent.decision_time, arrival_mid=arrival.mid,
        arrival_quote_at=arrival.quoted_at, alpaca=alpaca, lean=lean,
        status_agree=(alpaca.status == lean.status) if both else None,
        filled_qty_diff=(alpaca.filled_qty - lean.filled_qty) if both else None,
        fill_price_diff_bps=price_diff,
        fee_diff=(alpaca.fee - lean.fee) if both else None,
        torghut_execution=torghut_execution)


# --------------------------------------------------------------------------- aggregates


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else 100.0 * part / whole


def adapter_tca(side: str, rows: Sequence[ParityRow]) -> AdapterTca:
    """One venue slot's TCA over the rows: fill rate, slippage, shortfall, time to fill."""
    outcomes = [(r.symbol, r.outcome(side)) for r in rows]
    unavailable = [o for _, o in outcomes if o.status == "unavailable"]
    answered = [o for _, o in outcomes if o.answered]
    filled = [o for o in answered if o.status == "filled"]
    by_symbol: dict[str, list[VenueOutcome]] = defaultdict(list)
    for symbol, outcome in outcomes:
        by_symbol[symbol].append(outcome)
    per_symbol = {
        symbol: SymbolTca(
            intents=len(items), filled=sum(o.status == "filled" for o in items),
            slippage_bps=aggregate(o.slippage_bps for o in items),
            shortfall_bps=aggregate(o.shortfall_bps for o in items))
        for symbol, items in sorted(by_symbol.items())}
    return AdapterTca(
        adapter=side, state="unavailable" if unavailable else "ok",
        unavailable_reason=unavailable[0].reason if unavailable else None,
        intents=len(rows), answered=len(answered), filled=len(filled),
        fill_rate=None if not answered else len(filled) / len(answered),
        fees_total=sum(o.fee for o in answered),
        slippage_bps=aggregate(o.slippage_bps for o in filled),
        shortfall_bps=aggregate(o.shortfall_bps for o in filled),
        time_to_fill_seconds=aggregate(o.time_to_fill_seconds for o in filled),
        duplicate_submissions=sum(o.duplicate_of is not None for _, o in outcomes),
        reused_outcomes=sum(o.reused for _, o in outcomes),
        per_symbol=per_symbol,
        torghut=torghut_summary(o for _, o in outcomes))


def _drift(rows: Sequence[ParityRow]) -> tuple[int, float | None, Aggregate]:
    compared = [r for r in rows if r.status_agree is not None]
    return (len(compared), _pct(sum(bool(r.status_agree) for r in compared), len(compared)),
            aggregate(None if r.fill_price_diff_bps is None else abs(r.fill_price_diff_bps)
                      for r in compared))


def parity_summary(rows: Sequence[ParityRow], rejected: Sequence[RejectedIntent],
                   tca: Mapping[str, AdapterTca]) -> ParitySummary:
    """Headline parity figures; duplicates = venue-side duplicates + duplicate decisions."""
    compared, agreement, drift = _drift(rows)
    by_symbol: dict[str, list[ParityRow]] = defaultdict(list)
    for row in rows:
        by_symbol[row.symbol].append(row)
    per_symbol = {}
    for symbol, items in sorted(by_symbol.items()):
        n, pct, agg = _drift(items)
        per_symbol[symbol] = SymbolDrift(compared=n, status_agreement_pct=pct,
                                         fill_price_drift_bps=agg)
    duplicates = (sum(t.duplicate_submissions for t in tca.values())
                  + sum(r.code == "duplicate_client_order_id" for r in rejected))
    submitted = [r.torghut_execution for r in rows if r.torghut_execution is not None]
    return ParitySummary(
        decisions=len(rows) + len(rejected), valid_intents=len(rows),
        rejected_intents=len(rejected), compared_intents=compared,
        status_agreement_pct=agreement, fill_price_drift_bps=drift,
        filled_qty_diff_abs_total=sum(abs(r.filled_qty_diff or 0.0) for r in rows),
        fee_diff_total=sum(r.fee_diff or 0.0 for r in rows),
        duplicate_submissions=duplicates,
        unavailable_sides=[side for side in SIDES if tca[side].state == "unavailable"],
        per_symbol=per_symbol,
        rejected_by_code=dict(sorted(Counter(r.code for r in rejected).items())),
        torghut_executions=len(submitted),
        torghut_decision_to_submit_seconds=aggregate(e.decision_to_submit_seconds
                                                     for e in submitted))


def build_parity_report(day: date, generated_at: datetime, venues: Mapping[str, str],
                        rows: Sequence[ParityRow],
                        rejected: Sequence[RejectedIntent]) -> ParityReport:
    """The day's ParityReport: rows, rejections, per-venue TCA and the summary."""
    tca = {side: adapter_tca(side, rows) for side in SIDES}
    return ParityReport(day=day, generated_at=generated_at, venues=dict(venues), rows=list(rows),
                        rejected=list(rejected), tca=tca,
                        summary=parity_summary(rows, rejected, tca))



# --------------------------------------------------------------------------- flat figures


#: Decimal places per figure kind, by name suffix (values are rounded for people; the stored
#: report keeps full precision).
_DIGITS = (("_bps", 2), ("_pct", 2), ("_seconds", 1), ("_ms", 1), ("_ratio", 4),
           ("_fill_rate", 4), ("_total", 2))


def rounded(name: str, value: float | None) -> float | None:
    """``value`` rounded for the figure ``name`` (bps and % to 0.01, seconds and ms to 0.1,
    ratios to 4 places, totals to cents; counts stay whole); None stays None."""
    if value is None:
        return None
    for suffix, digits in _DIGITS:
        if name.endswith(suffix) or f"{suffix}_" in name:
            return round(float(value), digits) + 0.0  # + 0.0: no -0.0
    return round(float(value), 4) + 0.0


def _stats(figures: dict, prefix: str, agg: Aggregate, stats=("mean", "p95", "max")) -> None:
    for stat in stats:
        figures[f"{prefix}_{stat}"] = getattr(agg, stat)


def tca_figures(report: ParityReport) -> dict[str, float | None]:
    """The report's numbers under stable flat names, rounded for people (what Dagster plots per
    trading day and the demo prints). Every name is present every day (None when not
    measurable), except the per-symbol names, which exist for the symbols traded that day."""
    figures: dict[str, float | None] = {}
    for side in SIDES:
        tca = report.tca[side]
        figures[f"{side}_available"] = 1.0 if tca.state == "ok" else 0.0
        figures[f"{side}_fill_rate"] = tca.fill_rate
        figures[f"{side}_fees_total"] = tca.fees_total
        for metric in ("slippage_bps", "shortfall_bps", "time_to_fill_seconds"):
            _stats(figures, f"{side}_{metric}", getattr(tca, metric))
        t = tca.torghut
        figures[f"{side}_torghut_fills"] = float(t.fills)
        _stats(figures, f"{side}_torghut_slippage_bps", t.slippage_bps)
        figures[f"{side}_shortfall_notional_total"] = t.shortfall_notional_total
        _stats(figures, f"{side}_realized_shortfall_bps", t.realized_shortfall_bps, ("mean",))
        _stats(figures, f"{side}_expected_shortfall_bps_p50", t.expected_shortfall_bps_p50,
               ("mean",))
        _stats(figures, f"{side}_divergence_bps", t.divergence_bps)
        figures[f"{side}_churn_qty_total"] = t.churn_qty_total
        _stats(figures, f"{side}_churn_ratio", t.churn_ratio, ("mean",))
        _stats(figures, f"{side}_submit_latency_ms", t.submit_latency_ms)
    summary = report.summary
    figures.update({
        "decisions": float(summary.decisions), "valid_intents": float(summary.valid_intents),
        "rejected_intents": float(summary.rejected_intents),
        "torghut_rejected": float(summary.rejected_by_code.get("torghut_rejected", 0)),
        "compared_intents": float(summary.compared_intents),
        "status_agreement_pct": summary.status_agreement_pct,
        "filled_qty_diff_abs_total": summary.filled_qty_diff_abs_total,
        "fee_diff_total": summary.fee_diff_total,
        "duplicate_submissions": float(summary.duplicate_submissions),
        "torghut_executions": float(summary.torghut_executions),
    })
    _stats(figures, "fill_price_drift_bps", summary.fill_price_drift_bps)
    _stats(figures, "torghut_decision_to_submit_seconds",
           summary.torghut_decision_to_submit_seconds)
    for symbol, drift in summary.per_symbol.items():
        figures[f"{symbol}_status_agreement_pct"] = drift.status_agreement_pct
        figures[f"{symbol}_fill_price_drift_bps_mean"] = drift.fill_price_drift_bps.mean
        for side in SIDES:
            per = report.tca[side].per_symbol.get(symbol)
            figures[f"{symbol}_{side}_slippage_bps_mean"] = per.slippage_bps.mean if per else None
    return {name: rounded(name, value) for name, value in figures.items()}


__all__ = ["ArrivalQuote", "adapter_tca", "aggregate", "arrival_quote", "build_parity_report",
           "implementation_shortfall_bps", "outcome_from_state", "parity_row", "parity_summary",
           "percentile", "rounded", "slippage_bps", "tca_figures", "time_to_fill_seconds"]
