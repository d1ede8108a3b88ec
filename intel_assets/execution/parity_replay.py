"""Owns the parity replay: a day's Torghut decisions submitted through both venue slots
(ExecutionAdapters), turned into a ParityReport. No Dagster here: the asset and the demo share it.

Per venue the valid intents go in decision-time order (so a paper server's replay clock only
moves forward; ``before_submit`` runs first if given). The outcome recorded is each order's
**final state for its day**, not the venue's answer to the submit (LEAN evaluates a limit or
stop order first on the next bar, Alpaca paper at once on the current quote: their submit
answers describe two different moments). Once all of the day's intents are submitted, the
venue's ``finish`` brings it to the **horizon**, the New York midnight after the decisions' day:
every day order has filled or expired at its session's close by then, and a gtc (or gtd) order
is judged at the same instant, the end of its decision's session (still open then = ``unfilled``;
the replay then cancels it, so it can neither fill during a later day's replay nor pin the
venue's clock). Then each order is read (``adapter.status``) and that state is the outcome
(``final``, ``observed_at`` = the horizon); time to fill runs from the decision to the fill. A
venue without a clock to move (a live one) is read after the submits and its open orders are
not ``final``: a rerun asks again. A rerun keeps the final outcomes a venue already gave (see
``reusable_outcomes``).

A venue that is down (at a submit, at the move to the horizon or at a read) is marked
``unavailable`` from its first failure on (no timeout per remaining intent); a refusal of the
submit is a ``rejected`` outcome with the venue's reason; anything unexpected is ``error``.

Each outcome records the submit's wall latency; each fill gets its TCA in Torghut's terms
(domain/torghut_tca.py); each row names Torghut's own execution of the decision when Torghut
submitted it (``torghut_executions``, read from its executions table), with its
decision-to-submit latency.

**Batched replays.** When the venue's adapter offers ``replay`` (execution/adapter.py
ReplayingAdapter: the LEAN runner's order-replay backtest, two requests a day; the local Alpaca
paper server, one request per order plus a few reads) and no ``before_submit`` hook is set, the
whole day goes through it: same placements at the decision times, same horizon, same reads, so
the same outcomes (tests/test_parity_batch.py replays a day both ways). A venue that cannot
(a live clock, a runner without order replays) answers None and is replayed one intent at a
time as above, as is a Venue with ``batch=False``; per-order HTTP stays what live use runs on.
A batched outcome's ``submit_latency_ms`` is the venue's time for it: its own request on the
paper venue, the batch's time shared evenly among its intents on the LEAN runner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
import time
from datetime import date, datetime, time as dtime, timedelta, timezone

import httpx

from intel_assets.contracts.orders import OrderIntent, OrderState
from intel_assets.contracts.parity import (
    SIDES,
    ParityReport,
    ParityRow,
    TorghutExecutionRef,
    VenueOutcome,
)
from intel_assets.contracts.decisions import DecisionRow
from intel_assets.domain.decisions import (
    MarketTape,
    TorghutExecution,
    ValidIntent,
    validate_decisions,
)
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.domain.tca import build_parity_report, outcome_from_state, parity_row
from intel_assets.domain.torghut_tca import venue_fill_tca
from intel_assets.execution.adapter import ExecutionAdapter, ReplayAnswer
from intel_assets.contracts.execution_errors import OrderRequestError, RunnerUnavailableError


class UnavailableAdapter:
    """Stands in for a venue that could not be set up: every call is RunnerUnavailableError."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def _down(self, *args: object, **kwargs: object) -> OrderState:
        raise RunnerUnavailableError(self.reason)

    submit = cancel = replace = status = _down


def day_end(day: date) -> datetime:
    """New York midnight after ``day``: every day order of that session has expired by then."""
    return datetime.combine(day + timedelta(days=1), dtime(), tzinfo=NEW_YORK)


def replay_horizon(day: date, intents: Iterable[ValidIntent]) -> datetime:
    """The instant a day's outcomes are read at: the New York midnight after ``day`` or after
    the latest decision's New York day, whichever is later."""
    days = [day] + [v.intent.decision_time.astimezone(NEW_YORK).date() for v in intents]
    return day_end(max(days))


@dataclass
class Venue:
    """One venue slot: an adapter, what it is (for the report) and optional clock hooks.

    ``finish(horizon)`` brings the venue's clock to ``horizon`` and returns True, or returns
    False when the venue runs on a live clock (its orders are then read as they are); None
    means the same as a live clock. ``batch`` False replays one intent at a time even when
    the adapter can replay a day at once (module docstring)."""

    adapter: ExecutionAdapter
    description: str
    before_submit: Callable[[OrderIntent], None] | None = None
    finish: Callable[[datetime], bool] | None = None
    batch: bool = True

    def close(self) -> None:
        """Close the adapter's connections, if it has any."""
        close = getattr(self.adapter, "close", None)
        if callable(close):
            close()


_DOWN = (RunnerUnavailableError, httpx.TransportError)
_CLOSED = ("filled", "canceled", "rejected")


def _refusal(venue: Venue, exc: OrderRequestError) -> str | None:
    """The venue-is-unusable reason of a refusal (credentials refused), else None."""
    return f"{venue.description}: {exc}" if exc.status_code in (401, 403) else None


def replay_venue(venue: Venue, intents: Iterable[ValidIntent],
                 horizon: datetime | None = None) -> dict[str, VenueOutcome]:
    """Submit each intent at one venue, bring it to ``horizon`` (its ``finish``), read each
    order's final state; outcome per intent_id. ``horizon`` None: the last decision's
    ``replay_horizon``."""
    items = list(intents)
    if horizon is None and items:
        horizon = replay_horizon(items[0].intent.decision_time.astimezone(NEW_YORK).date(), items)
    batched = _batched(venue, items, horizon)
    if batched is not None:
        return batched
    outcomes: dict[str, VenueOutcome] = {}
    placed: list[tuple[ValidIntent, float]] = []  # accepted orders and their submit latency
    down: str | None = None
    for item in items:
        intent = item.intent
        if down is not None:
            outcomes[intent.intent_id] = VenueOutcome(status="unavailable", reason=down)
            continue
        try:
            if venue.before_submit is not None:
                venue.before_submit(intent)
            started = time.perf_counter()
            venue.adapter.submit(intent)
            latency_ms = (time.perf_counter() - started) * 1000.0
        except _DOWN as exc:
            down = f"{venue.description}: {exc}"
            outcomes[intent.intent_id] = VenueOutcome(status="unavailable", reason=down)
        except OrderRequestError as exc:
            down = _refusal(venue, exc)
            outcomes[intent.intent_id] = VenueOutcome(
                status="unavailable", reason=down) if down else VenueOutcome(
                status="rejected", reason=exc.reason, final=True)
        except Exception as exc:  # noqa: BLE001 - one intent's surprise is reported, not fatal
            outcomes[intent.intent_id] = VenueOutcome(
                status="error", reason=f"{type(exc).__name__}: {exc}")
        else:
            placed.append((item, latency_ms))
    if down is not None:  # orders placed before the venue went down cannot be read either
        for item, _ in placed:
            outcomes[item.intent.intent_id] = VenueOutcome(status="unavailable", reason=down)
        return outcomes
    at_horizon, failed = False, None
    if placed and venue.finish is not None and horizon is not None:
        try:
            at_horizon = venue.finish(horizon)
        except _DOWN as exc:
            down = (f"{venue.description}: could not move its clock to {horizon.isoformat()} "
                    f"to read the orders' final state: {exc}")
        except Exception as exc:  # noqa: BLE001 - e.g. the clock refused: every read is moot
            failed = (f"could not bring {venue.description} to {horizon.isoformat()} to read "
                      f"the final state ({type(exc).__name__}: {exc})")
    still_open: list[str] = []
    for item, latency_ms in placed:
        intent = item.intent
        if down is not None or failed is not None:
            outcomes[intent.intent_id] = VenueOutcome(
                status="unavailable" if down else "error", reason=down or failed)
            continue
        try:
            state = venue.adapter.status(intent.client_order_id or "")
        except _DOWN as exc:
            down = f"{venue.description}: {exc}"
            outcomes[intent.intent_id] = VenueOutcome(status="unavailable", reason=down)
            continue
        except Exception as exc:  # noqa: BLE001 - accepted, then unreadable: the row shows it
            outcomes[intent.intent_id] = VenueOutcome(
                status="error", reason=f"the order was accepted but reading it failed: "
                f"{type(exc).__name__}: {exc}")
            continue
        outcome = outcome_from_state(intent, state, item.arrival.mid)
        final = at_horizon or outcome.status in _CLOSED
        outcomes[intent.intent_id] = outcome.model_copy(update={
            "submit_latency_ms": latency_ms, "final": final,
            "observed_at": horizon if at_horizon else None})
        if state.status == "open":
            still_open.append(intent.client_order_id or "")
    if at_horizon:  # gtc/gtd orders judged at the horizon: cancel them at the replay venue
        for cid in still_open:
            try:
                venue.adapter.cancel(cid)
            except Exception:  # noqa: BLE001 - the outcome is read; a pinned clock shows up
                pass           # as that venue's failure on its next replay
    return outcomes


def _batched(venue: Venue, items: list[ValidIntent],
             horizon: datetime | None) -> dict[str, VenueOutcome] | None:
    """The venue's outcomes through its adapter's ``replay`` (module docstring), or None when
    it has none or declines (then replay_venue goes one intent at a time)."""
    replay = getattr(venue.adapter, "replay", None)
    usable = venue.batch and venue.before_submit is None and callable(replay)
    if not (usable and items and horizon is not None):
        return None
    try:
        answers: list[ReplayAnswer] | None = replay([v.intent for v in items], horizon)
    except _DOWN as exc:
        down = f"{venue.description}: {exc}"
        return {v.intent.intent_id: VenueOutcome(status="unavailable", reason=down)
                for v in items}
    except Exception as exc:  # noqa: BLE001 - e.g. the clock refused: every read is moot
        failed = (f"could not replay the day at {venue.description} to "
                  f"{horizon.isoformat()} ({type(exc).__name__}: {exc})")
        return {v.intent.intent_id: VenueOutcome(status="error", reason=failed) for v in items}
    if answers is None:
        return None
    if len(answers) != len(items):
        failed = (f"{venue.description} answered {len(answers)} of {len(items)} intents of the "
                  "replay")
        return {v.intent.intent_id: VenueOutcome(status="error", reason=failed) for v in items}
    unusable = next((_refusal(venue, a.error) for a in answers
                     if isinstance(a.error, OrderRequestError) and _refusal(venue, a.error)), None)
    if unusable is not None:  # credentials refused: the venue cannot be asked at all
        return {v.intent.intent_id: VenueOutcome(status="unavailable", reason=unusable)
                for v in items}
    outcomes: dict[str, VenueOutcome] = {}
    for item, answer in zip(items, answers):
        intent, error = item.intent, answer.error
        if isinstance(error, OrderRequestError):
            outcomes[intent.intent_id] = VenueOutcome(status="rejected", reason=error.reason,
                                                      final=True)
        elif error is not None or answer.state is None:
            outcomes[intent.intent_id] = VenueOutcome(
                status="error", reason=f"{type(error).__name__}: {error}" if error is not None
                else "the venue's replay gave no state for it")
        else:
            outcome = outcome_from_state(intent, answer.state, item.arrival.mid)
            outcomes[intent.intent_id] = outcome.model_copy(update={
                "submit_latency_ms": answer.latency_ms, "final": True, "observed_at": horizon})
    return outcomes


def _same_order(row: ParityRow, intent: OrderIntent) -> bool:
    return (row.client_order_id, row.side, row.order_type, row.qty, row.limit_price,
            row.stop_price, row.decision_time) == (
        intent.client_order_id, intent.side, intent.type, intent.qty, intent.limit_price,
        intent.stop_price, intent.decision_time)


def reusable_outcomes(previous: ParityReport | None, venues: Mapping[str, Venue],
                      valid: Iterable[ValidIntent]) -> dict[str, dict[str, VenueOutcome]]:
    """Per slot, the final answered outcomes of an earlier report for the same venue and
    intents (an outcome stored before final states were read, or of a live venue's order still
    open, is asked again)."""
    reused: dict[str, dict[str, VenueOutcome]] = {side: {} for side in SIDES}
    if previous is None:
        return reused
    earlier = {row.intent_id: row for row in previous.rows}
    for side in SIDES:
        if previous.venues.get(side) != venues[side].description:
            continue
        for item in valid:
            row = earlier.get(item.intent.intent_id)
            if row is not None and row.outcome(side).answered and row.outcome(side).final \
                    and _same_order(row, item.intent):
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

    With ``previous`` (the day's evidence report), an intent a venue already gave a final
    outcome keeps it instead of being submitted again (never a second order at the venue).
    Outcomes are read at ``replay_horizon`` (module docstring). ``torghut_executions``
    (decision id -> Torghut's execution) names what Torghut itself did.
    """
    missing = [side for side in SIDES if side not in venues]
    if missing:
        raise ValueError(f"replay_day needs a venue for each slot {SIDES}; missing {missing}")
    valid, rejected = validate_decisions(decisions, tape)
    reused = reusable_outcomes(previous, venues, valid)
    horizon = replay_horizon(day, valid)
    outcomes: dict[str, dict[str, VenueOutcome]] = {}
    for side in SIDES:
        todo = [v for v in valid if v.intent.intent_id not in reused[side]]
        outcomes[side] = with_torghut_tca(valid, {**reused[side],
                                                  **replay_venue(venues[side], todo, horizon)})
    executions = torghut_executions or {}
    rows = [parity_row(v.decision_id, v.intent, v.arrival,
                       outcomes["alpaca"][v.intent.intent_id], outcomes["lean"][v.intent.intent_id],
                       torghut_execution_ref(v, executions.get(v.decision_id)))
            for v in valid]
    return build_parity_report(day, generated_at or datetime.now(timezone.utc),
                               {side: venues[side].description for side in SIDES}, rows, rejected)


__all__ = ["UnavailableAdapter", "Venue", "day_end", "replay_day", "replay_horizon",
           "replay_venue", "reusable_outcomes", "torghut_execution_ref", "with_torghut_tca"]
