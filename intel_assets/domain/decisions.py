"""Owns turning Torghut's trade_decisions rows into OrderIntents (or rejections with reasons)
against the LEAN market tape, and the trading day a decision belongs to.

A row is read as Torghut writes it (proompteng/lab 255d330fe services/torghut/app/models/
entities.py, app/trading/models.py, app/trading/execution.py): ``decision_json`` is a
StrategyDecision dumped with ``model_dump(mode="json")`` (``action``, ``qty`` as a string,
``order_type``, ``time_in_force``, ``limit_price``/``stop_price`` strings or null, ``event_ts``,
``params``), and the order Torghut sends carries ``client_order_id = decision_hash``. The
replayed intent is that order: side = action, decision time = ``event_ts`` (a naive timestamp
is UTC, as Torghut's ingest reads it), client_order_id = the row's decision_hash.

Decisions Torghut itself refused (status ``rejected``, reasons in ``decision_json.risk_reasons``)
never reached a venue: they are reported as rejected with Torghut's reasons
(``torghut_rejected``), not replayed. A decision's day is the New York date of its event_ts, or
of ``created_at`` when that is unreadable (so a broken row is still reported on some day).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from intel_assets.contracts.decisions import (
    word,
    DecisionRow,
    decimal_value,
    parse_event_ts,
    schema_problem,
    REJECTED_STATUS,
    RISK_REASONS_FIELD,
)
from intel_assets.contracts.orders import DEFAULT_ORDER_BOUNDS, OrderBounds, OrderIntent
from intel_assets.contracts.parity import RejectedIntent
from intel_assets.contracts.symbols import normalize_symbol
from intel_assets.domain.fills import MarketSnapshot
from intel_assets.domain.lean_data import lean_minute_snapshots
from intel_assets.domain.market_data import NEW_YORK, LeanDataError
from intel_assets.domain.tca import ArrivalQuote, arrival_quote


@dataclass(frozen=True)
class TorghutExecution:
    """What Torghut's executions table says happened to a decision's order."""

    alpaca_order_id: str
    client_order_id: str | None
    status: str
    submitted_qty: float
    filled_qty: float
    avg_fill_price: float | None
    actual_adapter: str | None
    raw_order: Any
    created_at: datetime

    @property
    def submitted_at(self) -> datetime:
        """When the broker took the order: raw_order.submitted_at, else the row's created_at."""
        raw = self.raw_order if isinstance(self.raw_order, dict) else {}
        return parse_event_ts(raw.get("submitted_at")) or self.created_at


@dataclass(frozen=True)
class ValidIntent:
    """A decision that can be replayed: its OrderIntent, the quote it was decided on, the row."""

    decision_id: str
    intent: OrderIntent
    arrival: ArrivalQuote
    row: DecisionRow | None = None

    @property
    def params(self) -> dict[str, Any]:
        """decision_json.params (Torghut's free-form decision parameters), {} when absent."""
        payload = self.row.decision_json if self.row is not None else None
        params = payload.get("params") if isinstance(payload, dict) else None
        return params if isinstance(params, dict) else {}


def decision_day(row: DecisionRow) -> date:
    """The New York trading day a decision is reported on."""
    payload = row.decision_json if isinstance(row.decision_json, dict) else {}
    moment = parse_event_ts(payload.get("event_ts")) or row.created_at
    return moment.astimezone(NEW_YORK).date()


@dataclass
class MarketTape:
    """Raw-price LEAN minute snapshots per symbol, loaded on first use (what the runner fills on)."""

    lean_dir: Path
    _cache: dict[str, tuple[list[MarketSnapshot], list[datetime], list[datetime]]] = field(
        default_factory=dict, repr=False)

    @cached_property
    def symbols(self) -> list[str]:
        """Symbols with LEAN minute data (the ones both venues can fill)."""
        root = Path(self.lean_dir) / "equity" / "usa" / "minute"
        return sorted(p.name.upper() for p in root.iterdir()) if root.is_dir() else []

    def snapshots(self, symbol: str) -> list[MarketSnapshot]:
        """Every regular-session minute snapshot of ``symbol``, raw prices, time-ordered."""
        return self._load(symbol)[0]

    def _load(self, symbol: str) -> tuple[list[MarketSnapshot], list[datetime], list[datetime]]:
        if symbol not in self._cache:
            snaps = lean_minute_snapshots(Path(self.lean_dir), symbol, normalization="raw")
            self._cache[symbol] = (snaps, [s.start for s in snaps], [s.end for s in snaps])
        return self._cache[symbol]

    def days(self, symbol: str) -> list[date]:
        """The New York days ``symbol`` has session bars on."""
        starts = self._load(symbol)[1]
        return sorted({s.astimezone(NEW_YORK).date() for s in starts})

    def has_bar_on_decision_day(self, symbol: str, moment: datetime) -> bool:
        """True when a session bar starts at/after ``moment`` on the same New York day."""
        snaps, starts, _ = self._load(symbol)
        i = bisect_left(starts, moment)  # the first snapshot starting at or after moment
        return i < len(snaps) and (snaps[i].start.astimezone(NEW_YORK).date()
                                   == moment.astimezone(NEW_YORK).date())

    def arrival(self, symbol: str, moment: datetime) -> ArrivalQuote | None:
        """The arrival quote of a decision on ``symbol`` at ``moment`` (None: no quote yet)."""
        snaps, _, ends = self._load(symbol)
        return arrival_quote(snaps, moment, ends)


def _reject(row: DecisionRow, code: str, reason: str, symbol: str | None = None) -> RejectedIntent:
    return RejectedIntent(decision_id=str(row.id), symbol=symbol, code=code, reason=reason)


def torghut_rejection(row: DecisionRow) -> list[str] | None:
    """Torghut's own reasons when it refused the decision (status rejected or risk_reasons
    recorded), else None. An empty list: marked rejected without a reason."""
    payload = row.decision_json if isinstance(row.decision_json, dict) else {}
    raw = payload.get(RISK_REASONS_FIELD)
    reasons = [str(r) for r in raw] if isinstance(raw, list) else []
    if row.status == REJECTED_STATUS or reasons:
        return reasons
    return None


def _price(payload: dict, key: str) -> float | None:
    """decision_json's ``key`` price as a float (null: no price)."""
    value = decimal_value(payload.get(key))
    return None if value is None else float(value)


def validate_decision(row: DecisionRow, tape: MarketTape,
                      bounds: OrderBounds = DEFAULT_ORDER_BOUNDS) -> ValidIntent | RejectedIntent:
    """The decision as a replayable intent, or its rejection with a code and a plain reason
    (an order beyond ``bounds`` is ``order_too_large``: one absurd decision never fails the
    day's replay)."""
    refused = torghut_rejection(row)
    if refused is not None:
        why = "; ".join(refused) if refused else "no risk_reasons recorded"
        return _reject(row, "torghut_rejected", f"Torghut rejected this decision (status "
                       f"{row.status}): {why}; it never reached a venue, so it is reported, not "
                       "replayed", row.symbol)
    problem = schema_problem(row)
    if problem is not None:
        return _reject(row, *problem)
    payload = row.decision_json
    symbol = normalize_symbol(row.symbol)
    too_big = bounds.problem(decimal_value(payload.get("qty")),
                             limit_price=decimal_value(payload.get("limit_price")),
                             stop_price=decimal_value(payload.get("stop_price")))
    if too_big is not None:
        return _reject(row, "order_too_large", too_big, symbol)
    if symbol not in tape.symbols:
        return _reject(row, "unknown_symbol", f"unknown symbol {symbol}: no LEAN minute data for "
                       f"it (known: {', '.join(tape.symbols)})", symbol)
    moment = parse_event_ts(payload.get("event_ts"))
    try:
        in_data = tape.has_bar_on_decision_day(symbol, moment)
        arrival = tape.arrival(symbol, moment) if in_data else None
    except LeanDataError as exc:
        return _reject(row, "bad_data", f"LEAN data for {symbol}: {exc}", symbol)
    if not in_data:
        days = ", ".join(d.isoformat() for d in tape.days(symbol))
        return _reject(row, "outside_data", f"event_ts {moment.isoformat()} is outside the "
                       f"data: no {symbol} session bar at or after it that day (data: {days})",
                       symbol)
    if arrival is None:
        return _reject(row, "no_arrival_quote", f"no two-sided {symbol} quote at or before "
                       f"{moment.isoformat()} to measure the arrival mid", symbol)
    try:
        intent = OrderIntent(
            intent_id=str(row.id), strategy_id=row.strategy_id, symbol=symbol,
            side=word(payload["action"]), qty=float(decimal_value(payload["qty"])),
            type=word(payload.get("order_type"), "market"),
            limit_price=_price(payload, "limit_price"),
            stop_price=_price(payload, "stop_price"),
            time_in_force=word(payload.get("time_in_force"), "day"), decision_time=moment,
            client_order_id=row.decision_hash or None)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        return _reject(row, "invalid_intent", f"{where + ': ' if where else ''}{message}", symbol)
    return ValidIntent(str(row.id), intent, arrival, row)


def validate_decisions(rows: list[DecisionRow], tape: MarketTape,
                       bounds: OrderBounds = DEFAULT_ORDER_BOUNDS
                       ) -> tuple[list[ValidIntent], list[RejectedIntent]]:
    """Valid intents in decision-time order, and rejections (incl. repeated client_order_ids)."""
    valid: list[ValidIntent] = []
    rejected: list[RejectedIntent] = []
    seen: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: (r.created_at, str(r.id))):
        result = validate_decision(row, tape, bounds)
        if isinstance(result, RejectedIntent):
            rejected.append(result)
            continue
        cid = result.intent.client_order_id or ""
        if cid in seen:
            rejected.append(_reject(row, "duplicate_client_order_id", (
                f"client_order_id {cid} was already used by decision {seen[cid]}: a second "
                "submission would duplicate that order; not replayed"), result.intent.symbol))
            continue
        seen[cid] = result.decision_id
        valid.append(result)
    valid.sort(key=lambda v: (v.intent.decision_time, v.decision_id))
    return valid, rejected


__all__ = ["DecisionRow", "MarketTape", "TorghutExecution", "ValidIntent", "decimal_value",
           "decision_day", "parse_event_ts", "schema_problem", "torghut_rejection",
           "validate_decision", "validate_decisions"]
