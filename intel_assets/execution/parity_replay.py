"""Owns the parity replay: a day's Torghut decisions submitted through both venue slots
(ExecutionAdapters), turned into a ParityReport. No Dagster here: the asset and the demo share it.

Per venue the valid intents go in decision-time order (so a paper server's replay clock only
moves forward); ``before_submit`` runs first if given, ``after_day`` once at the end. The
outcome recorded is the order as the venue answers the submit (same evaluation point on both
sides; open limit orders stay open, nothing is canceled); a rerun keeps the outcomes a venue
already gave (see ``replay_day``). A venue that is down is marked
``unavailable`` from its first failure on (no timeout per remaining intent); a refusal is a
``rejected`` outcome with the venue's reason; anything unexpected is ``error``.

Each outcome records the submit's wall latency; each fill gets its TCA in Torghut's terms
(domain/torghut_tca.py); each row names Torghut's own execution of the decision when Torghut
submitted it (``torghut_executions``, read from its executions table), with its
decision-to-submit latency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
import time
from datetime import date, datetime, timezone

import httpx

from intel_assets.contracts.orders import OrderIntent, OrderState
from intel_assets.contracts.parity import (
    SIDES,
    ParityReport,
    ParityRow,
    TorghutExecutionRef,
    VenueOutcome,
)
from intel_assets.domain.decisions import (
    DecisionRow,
    MarketTape,
    TorghutExecution,
    ValidIntent,
    validate_decisions,
)
from intel_assets.domain.tca import build_parity_report, outcome_from_state, parity_row
from intel_assets.domain.torghut_tca import venue_fill_tca
from intel_assets.execution.adapter import (
    ExecutionAdapter,
    OrderRequestError,
    RunnerUnavailableError,
)


class UnavailableAdapter:
    """Stands in for a venue that could not be set up: every call is RunnerUnavailableError."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def _down(self, *args: object, **kwargs: object) -> OrderState:
        raise RunnerUnavailableError(self.reason)

    submit = cancel = replace = status = _down


@dataclass
class Venue:
    """One venue slot: an adapter, what it is (for the report) and optional clock hooks."""

    adapter: ExecutionAdapter
    description: str
    before_submit: Callable[[OrderIntent], None] | None = None
    after_day: Callable[[date], None] | None = None

    def close(self) -> None:
        """Close the adapter's connections, if it has any."""
        close = getattr(self.adapter, "close", None)
        if callable(close):
            close()


def replay_venue(venue: Venue, intents: Iterable[ValidIntent]) -> dict[str, VenueOutcome]:
    """Submit each intent at one venue; outcome per intent_id."""
    outcomes: dict[str, VenueOutcome] = {}
    down: str | None = None
    for item in intents:
        intent = item.intent
        if down is not None:
            outcomes[intent.intent_id] = VenueOutcome(status="unavailable", reason=down)
            continue
        try:
            if venue.before_submit is not None:
                venue.before_submit(intent)
            started = time.perf_counter()
            state = venue.adapter.submit(intent)
            latency_ms = (time.perf_counter() - started) * 1000.0
        except (RunnerUnavailableError, httpx.TransportError) as exc:
            down = f"{venue.description}: {exc}"
            outcomes[intent.intent_id] = VenueOutcome(status="unavailable", reason=down)
        except OrderRequestError as exc:
            if exc.status_code in (401, 403):  # credentials refused: the venue cannot be used
                down = f"{venue.description}: {exc}"
                outcomes[intent.intent_id] = VenueOutcome(status="unavailable", reason=down)
            else:
                outcomes[intent.intent_id] = VenueOutcome(status="rejected", reason=exc.reason)
        except Exception as exc:  # noqa: BLE001 - one intent's surprise is reported, not fatal
            outcomes[intent.intent_id] = VenueOutcome(
                status="error", reason=f"{type(exc).__name__}: {exc}")
        else:
            outcomes[intent.intent_id] = outcome_from_state(
                intent, state, item.arrival.mid).model_copy(
                    update={"submit_latency_ms": latency_ms})
    return outcomes


def _same_order(row: ParityRow, intent: OrderIntent) -> bool:
    return (row.client_order_id, row.side, row.order_type, row.qty, row.limit_price,
            row.stop_price, row.decision_time) == (
        intent.client_order_id, intent.side, intent.type, intent.qty, intent.limit_price,
        intent.stop_price, intent.decision_time)


def reusable_outcomes(previous: ParityReport | None, venues: Mapping[str, Venue],
                      valid: Iterable[ValidIntent]) -> dict[str, dict[str, VenueOutcome]]:
    """Per slot, the answered outcomes of an earlier report for the same venue and intents."""
    reused: dict[str, dict[str, VenueOutcome]] = {side: {} for side in SIDES}
    if previous is None:
        return reused
    earlier = {row.intent_id: row for row in previous.rows}
    for side in SIDES:
        if previous.venues.get(side) != venues[side].description:
            continue
        for item in valid:
            row = earlier.get(item.intent.intent_id)
            if row is not None and row.outcome(side).answered and _same_order(row, item.intent):
                reused[side][item.intent.intent_id] = row.outcome(side).model_copy(
                    update={"reused": True})
    return reused


def torghut_execution_ref(item: ValidIntent, found: TorghutExecution | None
                          ) -> TorghutExecutionRef | None:
    """Torghut's own execution of the decision, with its decision-to-submit latency."""
    if found is None:
        return None
    submitted = found.submitted_at
    return TorghutExecutionRef(
        alpaca_order_id=found.alpaca_order_id, status=found.status, filled_qty=found.filled_qty,
        avg_fill_price=found.avg_fill_price, actual_adapter=found.actual_adapter,
        submitted_at=submitted,
        decision_to_submit_seconds=(submitted - item.intent.decision_time).total_seconds())


def with_torghut_tca(valid: Sequence[ValidIntent], outcomes: Mapping[str, VenueOutcome]
                     ) -> dict[str, VenueOutcome]:
    """One venue's outcomes with each fill's TCA in Torghut's terms (decision order)."""
    return venue_fill_tca([
        (v.intent, v.row.decision_json if v.row else None,
         v.row.alpaca_account_label if v.row else "paper", v.arrival.mid,
         outcomes[v.intent.intent_id]) for v in valid])


def replay_day(day: date, decisions: list[DecisionRow], tape: MarketTape,
               venues: Mapping[str, Venue], generated_at: datetime | None = None,
               previous: ParityReport | None = None,
               torghut_executions: Mapping[str, TorghutExecution] | None = None) -> ParityReport:
    """Validate the day's decisions, replay the valid ones at both venues, build the report.

    With ``previous`` (the day's evidence report), an intent a venue already answered keeps
    that outcome instead of being submitted again: the evidence is the order as first evaluated
    (a resubmit returns the order as it is now, e.g. a resting day order expired since).
    ``torghut_executions`` (decision id -> Torghut's execution) names what Torghut itself did.
    """
    missing = [side for side in SIDES if side not in venues]
    if missing:
        raise ValueError(f"replay_day needs a venue for each slot {SIDES}; missing {missing}")
    valid, rejected = validate_decisions(decisions, tape)
    reused = reusable_outcomes(previous, venues, valid)
    outcomes: dict[str, dict[str, VenueOutcome]] = {}
    for side in SIDES:
        todo = [v for v in valid if v.intent.intent_id not in reused[side]]
        outcomes[side] = with_torghut_tca(valid, {**reused[side],
                                                  **replay_venue(venues[side], todo)})
        finish = venues[side].after_day
        if finish is not None and todo:
            try:
                finish(day)
            except Exception:  # noqa: BLE001 - the outcomes are recorded; a stuck clock shows
                pass           # up as that venue's failure on its next replay
    executions = torghut_executions or {}
    rows = [parity_row(v.decision_id, v.intent, v.arrival,
                       outcomes["alpaca"][v.intent.intent_id], outcomes["lean"][v.intent.intent_id],
                       torghut_execution_ref(v, executions.get(v.decision_id)))
            for v in valid]
    return build_parity_report(day, generated_at or datetime.now(timezone.utc),
                               {side: venues[side].description for side in SIDES}, rows, rejected)


__all__ = ["UnavailableAdapter", "Venue", "replay_day", "replay_venue", "reusable_outcomes",
           "torghut_execution_ref", "with_torghut_tca"]
