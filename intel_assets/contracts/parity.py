"""Owns the parity evidence shapes: VenueOutcome, ParityRow, AdapterTca and the ParityReport.

One report per trading day (New York): every valid Torghut intent replayed through both venue
slots (``alpaca`` = incumbent, ``lean`` = candidate) with per-venue TCA, per-intent parity and
the rejected decisions with their reasons. Each venue outcome is the order's final state for its
day (read at the replay horizon, after the close; see execution/parity_replay.py), not the
venue's answer to the submit. Sign conventions: slippage and shortfall are in basis
points of the arrival mid, positive = a cost to the trader; every ``*_diff`` is alpaca - lean.
Each filled outcome also carries its TCA in Torghut's terms (``TorghutTca``: the fields of
Torghut's execution_tca_metrics, proompteng/lab 255d330fe services/torghut/app/trading/tca.py).
Fields added after the first release have defaults, so stored reports stay readable.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

#: The two venue slots of every report: the incumbent first, the candidate second.
SIDES = ("alpaca", "lean")

VenueStatus = Literal["filled", "unfilled", "canceled", "rejected", "unavailable", "error"]
SideState = Literal["ok", "unavailable"]
#: Outcomes that say what the venue did (comparable); the others say it could not be asked.
ANSWERED = ("filled", "unfilled", "canceled", "rejected")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TorghutTca(_Model):
    """One fill's TCA as Torghut's execution_tca_metrics has it (arrival price resolved as Torghut
    does: params.arrival_price, params.reference_price, params.price, decision arrival_price /
    reference_price, the order's limit price; ours adds the arrival quote mid last)."""

    arrival_price: float | None = None
    arrival_source: str | None = Field(default=None, description="where arrival_price came from")
    signed_qty: float = 0.0
    slippage_bps: float | None = Field(default=None, description="direction x (fill - arrival) / "
                                       "arrival x 1e4; + = cost")
    shortfall_notional: float | None = Field(default=None, description="direction x (fill - "
                                             "arrival) x filled qty, in USD")
    realized_shortfall_bps: float | None = None
    expected_shortfall_bps_p50: float | None = None
    expected_shortfall_bps_p95: float | None = None
    divergence_bps: float | None = Field(default=None, description="realized - expected p50")
    simulator_version: str | None = None
    churn_qty: float = 0.0
    churn_ratio: float | None = None


class TorghutExecutionRef(_Model):
    """What Torghut's own executions row says about the decision (when Torghut submitted it)."""

    alpaca_order_id: str
    status: str
    filled_qty: float = 0.0
    avg_fill_price: float | None = None
    actual_adapter: str | None = None
    submitted_at: AwareDatetime
    decision_to_submit_seconds: float = Field(description="submitted_at - event_ts")


class VenueOutcome(_Model):
    """What one venue did with one intent, or why it could not be asked (unavailable/error)."""

    status: VenueStatus
    order_status: str | None = Field(default=None, description="the venue's order status")
    filled_qty: float = 0.0
    avg_fill_price: float | None = None
    fee: float = 0.0
    filled_at: AwareDatetime | None = None
    reason: str | None = None
    slippage_bps: float | None = Field(default=None, description="vs arrival mid, + = cost")
    shortfall_bps: float | None = Field(default=None, description="slippage + fee, bps of "
                                                                  "arrival notional")
    time_to_fill_seconds: float | None = None
    duplicate_of: str | None = Field(default=None, description="intent_id of another intent "
                                     "whose order the venue returned for this one")
    reused: bool = Field(default=False, description="kept from the day's previous report "
                                                    "(the venue had already answered)")
    submit_latency_ms: float | None = Field(
        default=None, description="wall time from handing the intent to the venue to its answer "
        "(the replay submits at the decision time on the venue's clock, so this is the "
        "decision-to-submit latency the venue adds)")
    torghut: TorghutTca | None = Field(default=None, description="this fill's TCA in Torghut's "
                                       "terms (filled outcomes only)")
    final: bool = Field(default=False, description="the order's state at the end of its life: "
                        "read at the replay horizon (the New York midnight after the decision's "
                        "day), or filled/canceled/rejected; only final outcomes are reused by a "
                        "rerun")
    observed_at: AwareDatetime | None = Field(
        default=None, description="the venue clock when the state was read (the replay "
        "horizon); None for a venue on a live clock")

    @property
    def answered(self) -> bool:
        """True when the venue said what it did (not unavailable, not an error)."""
        return self.status in ANSWERED


class ParityRow(_Model):
    """One valid intent, its arrival mid and both venues' outcomes, with their differences."""

    decision_id: str
    intent_id: str
    client_order_id: str
    symbol: str
    side: Literal["buy", "sell"]
    order_type: str
    qty: float
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: str
    decision_time: AwareDatetime
    arrival_mid: float
    arrival_quote_at: AwareDatetime = Field(description="end of the quote bar the mid is from")
    alpaca: VenueOutcome
    lean: VenueOutcome
    status_agree: bool | None = Field(default=None, description="None when a side did not answer")
    filled_qty_diff: float | None = None
    fill_price_diff_bps: float | None = Field(
        default=None, description="alpaca slippage - lean slippage (both filled); + = alpaca "
                                  "filled worse for the trader")
    fee_diff: float | None = None
    torghut_execution: TorghutExecutionRef | None = Field(
        default=None, description="Torghut's own execution of this decision, when it submitted it")

    def outcome(self, side: str) -> VenueOutcome:
        """The outcome in venue slot ``side`` ("alpaca" or "lean")."""
        return self.alpaca if side == "alpaca" else self.lean


class RejectedIntent(_Model):
    """A Torghut decision that was not replayed, and why (never a crash)."""

    decision_id: str
    symbol: str | None = None
    code: str
    reason: str


class Aggregate(_Model):
    """count/mean/p95/max of a metric (None when there is nothing to aggregate)."""

    count: int = 0
    mean: float | None = None
    p95: float | None = None
    max: float | None = None


class SymbolTca(_Model):
    """One venue's TCA on one symbol."""

    intents: int
    filled: int
    slippage_bps: Aggregate
    shortfall_bps: Aggregate


class TorghutTcaSummary(_Model):
    """One venue's fills summarized in Torghut's TCA terms (aggregates over filled outcomes)."""

    fills: int = 0
    slippage_bps: Aggregate = Aggregate()
    shortfall_notional_total: float = 0.0
    realized_shortfall_bps: Aggregate = Aggregate()
    expected_shortfall_bps_p50: Aggregate = Aggregate()
    divergence_bps: Aggregate = Aggregate()
    simulator_versions: list[str] = Field(default_factory=list)
    churn_qty_total: float = 0.0
    churn_ratio: Aggregate = Aggregate()
    submit_latency_ms: Aggregate = Aggregate()


class AdapterTca(_Model):
    """One venue's transaction-cost analysis over a day's intents."""

    adapter: str
    state: SideState
    unavailable_reason: str | None = None
    intents: int
    answered: int
    filled: int
    fill_rate: float | None = None
    fees_total: float = 0.0
    slippage_bps: Aggregate
    shortfall_bps: Aggregate
    time_to_fill_seconds: Aggregate
    duplicate_submissions: int = 0
    reused_outcomes: int = 0
    per_symbol: dict[str, SymbolTca] = Field(default_factory=dict)
    torghut: TorghutTcaSummary = TorghutTcaSummary()


class SymbolDrift(_Model):
    """Parity between the venues on one symbol."""

    compared: int
    status_agreement_pct: float | None = None
    fill_price_drift_bps: Aggregate


class ParitySummary(_Model):
    """The day's headline parity figures (drift = |alpaca - lean| fill price, bps of mid)."""

    decisions: int
    valid_intents: int
    rejected_intents: int
    compared_intents: int = Field(description="intents both venues answered")
    status_agreement_pct: float | None = None
    fill_price_drift_bps: Aggregate
    filled_qty_diff_abs_total: float = 0.0
    fee_diff_total: float = 0.0
    duplicate_submissions: int = 0
    unavailable_sides: list[str] = Field(default_factory=list)
    per_symbol: dict[str, SymbolDrift] = Field(default_factory=dict)
    rejected_by_code: dict[str, int] = Field(default_factory=dict)
    torghut_executions: int = Field(default=0, description="valid intents Torghut submitted")
    torghut_decision_to_submit_seconds: Aggregate = Aggregate()


class ParityReport(_Model):
    """The parity evidence of one trading day: rows, rejections, TCA per venue, summary."""

    day: date
    generated_at: AwareDatetime
    venues: dict[str, str] = Field(description="slot -> what answered in it (kind and URL)")
    rows: list[ParityRow]
    rejected: list[RejectedIntent]
    tca: dict[str, AdapterTca]
    summary: ParitySummary

    def evidence_problems(self) -> list[str]:
        """Why this report is not complete evidence (empty when it is)."""
        problems = [f"{side} side unavailable: {self.tca[side].unavailable_reason}"
                    for side in self.summary.unavailable_sides]
        for side in SIDES:
            errors = [r for r in self.rows if r.outcome(side).status == "error"]
            if errors:
                problems.append(f"{side} side errored on {len(errors)} intent(s), first "
                                f"{errors[0].intent_id}: {errors[0].outcome(side).reason}")
        return problems


__all__ = ["ANSWERED", "SIDES", "AdapterTca", "Aggregate", "ParityReport", "ParityRow",
           "ParitySummary", "RejectedIntent", "SideState", "SymbolDrift", "SymbolTca",
           "TorghutExecutionRef", "TorghutTca", "TorghutTcaSummary", "VenueOutcome",
           "VenueStatus"]
