"""Owns the rollout metrics read from Torghut's rows: rejections, guardrail, executions, parity.

Also the trading-day windows every gate criterion uses and the approval-token hash.

* **trading day**: a Monday-Friday day that is not an exchange holiday (a full-day closure; an
  early close is a trading day). The holidays come from a calendar the caller passes (the
  rollout_gate asset reads LEAN's market-hours database, ``Equity-usa-[*]`` ``holidays``);
  without one only weekends are skipped, so a holiday inside a window is a day without evidence.

Definitions (what the gate compares):

* **schema/validation rejection**: a trade_decisions row whose ``decision_json`` breaks the
  intent schema parity replays with (domain/decisions.py, the rules that need no market data):
  not an object (``malformed_decision``), bad or mismatched symbol (``invalid_symbol``,
  ``symbol_mismatch``), ``side`` not buy/sell (``invalid_side``), ``qty`` not a number > 0
  (``invalid_qty``), ``type`` not market/limit/stop (``invalid_order_type``), a limit/stop
  order without its price (``missing_limit_price``, ``missing_stop_price``),
  ``time_in_force`` not day/gtc/ioc/fok (``invalid_time_in_force``), ``decision_time`` not
  ISO-8601 with an offset (``invalid_decision_time``); or a row Torghut itself refused at that
  stage: ``status = 'rejected'`` and ``decision_json.rejection_stage`` in (schema, validation)
  (``torghut_schema``, ``torghut_validation``). Rate = rejections / decisions of the day(s).
* **guardrail record**: ``decision_json.market_context_guardrail`` =
  ``{reason, fail_mode, llm_review, action, rejected_by}`` as GuardrailOutcome has them
  (torghut/decision_record.py writes it). *Consulted* = a record whose ``rejected_by`` is not
  ``deterministic`` (the guardrail only looks at context after the risk check approved);
  *degraded* = consulted with a ``reason`` (Torghut's ``market_context_*`` reasons) other than
  ``market_context_disabled`` (a deliberate kill switch, counted in ``by_reason`` only).
  Degraded share = degraded / consulted.
* **executions** (Torghut's executions joined to their decision's day): fill rate = rows with
  status ``filled`` / rows; qty fill rate = sum(filled_qty) / sum(submitted_qty); rejected share
  by status = % of rows in each status other than ``filled``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from intel_assets.contracts.gates import (
    ExecutionMetrics,
    GuardrailMetrics,
    ParityDay,
    RejectionMetrics,
)
from intel_assets.contracts.guardrail import GUARDRAIL_FIELD
from intel_assets.contracts.parity import SIDES, ParityReport
from intel_assets.contracts.decisions import DecisionRow, schema_problem

REJECTION_STAGE_FIELD = "rejection_stage"
SCHEMA_STAGES = ("schema", "validation")
CONTEXT_DISABLED = "market_context_disabled"
FILLED = "filled"


@dataclass(frozen=True)
class ExecutionRow:
    """One row of Torghut's executions table with the day of its decision."""

    decision_id: str
    day: date
    status: str
    submitted_qty: float
    filled_qty: float


def pct(part: float, whole: float) -> float | None:
    """part / whole in percent (None when whole is 0)."""
    return None if not whole else part / whole * 100.0


def trading_days(end: date, n: int, holidays: Collection[date] = frozenset()) -> list[date]:
    """The ``n`` trading days ending at ``end`` (inclusive), oldest first: Monday-Friday days not
    in ``holidays``. With no holidays (no calendar) only weekends are skipped."""
    days: list[date] = []
    day = end
    while len(days) < n:
        if day.weekday() < 5 and day not in holidays:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def token_sha256(token: str) -> str:
    """The hex sha256 of an approval token (what intel_rollout_signoffs stores)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def schema_rejection_code(row: DecisionRow) -> str | None:
    """The code of a schema/validation rejection (module docstring), or None for a valid intent."""
    payload = row.decision_json
    if isinstance(payload, dict) and row.status == "rejected" and \
            payload.get(REJECTION_STAGE_FIELD) in SCHEMA_STAGES:
        return f"torghut_{payload[REJECTION_STAGE_FIELD]}"
    problem = schema_problem(row)  # the same rules parity applies, without market data
    return None if problem is None else problem[0]


def rejection_metrics(rows: Iterable[DecisionRow]) -> RejectionMetrics:
    """Schema/validation rejections among ``rows``, by code, and the rows by Torghut status."""
    rows = list(rows)
    codes = Counter(code for code in map(schema_rejection_code, rows) if code is not None)
    rejected = sum(codes.values())
    return RejectionMetrics(decisions=len(rows), schema_rejections=rejected,
                            rate_pct=pct(rejected, len(rows)), by_code=dict(sorted(codes.items())),
                            by_status=dict(sorted(Counter(r.status for r in rows).items())))


def guardrail_record(row: DecisionRow) -> dict[str, Any] | None:
    """decision_json.market_context_guardrail when it is an object, else None."""
    payload = row.decision_json
    record = payload.get(GUARDRAIL_FIELD) if isinstance(payload, dict) else None
    return record if isinstance(record, dict) else None


def guardrail_metrics(rows: Iterable[DecisionRow]) -> GuardrailMetrics:
    """Guardrail outcomes of ``rows`` (module docstring: consulted, degraded, share)."""
    rows = list(rows)
    records = [r for r in map(guardrail_record, rows) if r is not None]
    consulted = [r for r in records if r.get("rejected_by") != "deterministic"]
    reasons = Counter(str(r["reason"]) for r in consulted if r.get("reason"))
    degraded = sum(n for reason, n in reasons.items() if reason != CONTEXT_DISABLED)
    return GuardrailMetrics(
        decisions=len(rows), observed=len(records), consulted=len(consulted), degraded=degraded,
        degraded_share_pct=pct(degraded, len(consulted)), by_reason=dict(sorted(reasons.items())),
        guardrail_rejections=sum(1 for r in records if r.get("rejected_by") == "guardrail"))


def execution_metrics(rows: Iterable[ExecutionRow]) -> ExecutionMetrics:
    """Fill rate (count and quantity) and the share of each non-filled status."""
    rows = list(rows)
    statuses = Counter(r.status for r in rows)
    submitted = sum(r.submitted_qty for r in rows)
    return ExecutionMetrics(
        executions=len(rows), filled=statuses.get(FILLED, 0),
        fill_rate_pct=pct(statuses.get(FILLED, 0), len(rows)),
        qty_fill_rate_pct=pct(sum(r.filled_qty for r in rows), submitted),
        by_status=dict(sorted(statuses.items())),
        rejected_share_pct_by_status={s: n / len(rows) * 100.0 for s, n in sorted(statuses.items())
                                      if s != FILLED})


def parity_day(report: ParityReport, run_id: str) -> ParityDay:
    """A day's parity evidence from its stored report (pooled across days by the gate)."""
    compared = [r for r in report.rows if r.status_agree is not None]
    return ParityDay(
        day=report.day, run_id=run_id, generated_at=report.generated_at,
        compared=len(compared), status_agreed=sum(1 for r in compared if r.status_agree),
        abs_drift_bps=[abs(r.fill_price_diff_bps) for r in report.rows
                       if r.fill_price_diff_bps is not None],
        duplicate_submissions=report.summary.duplicate_submissions,
        slippage_count={s: report.tca[s].slippage_bps.count for s in SIDES},
        slippage_mean_bps={s: report.tca[s].slippage_bps.mean for s in SIDES},
        evidence_problems=report.evidence_problems())


def pooled_mean(pairs: Sequence[tuple[int, float | None]]) -> float | None:
    """The mean of several (count, mean) groups, weighted by count (None when empty)."""
    total = sum(n for n, m in pairs if m is not None)
    if not total:
        return None
    return sum(n * m for n, m in pairs if m is not None) / total


__all__ = ["CONTEXT_DISABLED", "FILLED", "REJECTION_STAGE_FIELD",
           "SCHEMA_STAGES", "ExecutionRow", "execution_metrics",
           "guardrail_metrics", "guardrail_record", "parity_day", "pct", "pooled_mean",
           "rejection_metrics", "schema_rejection_code", "token_sha256", "trading_days"]
