"""Owns turning Torghut trade_decisions rows into OrderIntents (or rejections with reasons)
against the LEAN market tape, and the trading day a decision belongs to.

``decision_json`` carries the intent: ``side``, ``qty``, ``type`` (alias ``order_type``),
``limit_price``, ``stop_price``, ``time_in_force`` (alias ``tif``), ``decision_time``
(ISO-8601 with offset) and optionally ``client_order_id``; other keys (rationale, scores...)
are ignored. A decision's day is the New York date of its decision time, or of ``created_at``
when the decision time is unreadable (so a broken row is still reported on some day).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from intel_assets.contracts.orders import OrderIntent
from intel_assets.contracts.parity import RejectedIntent
from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol
from intel_assets.domain.fills import MarketSnapshot
from intel_assets.domain.lean_data import first_snapshot_at_or_after, lean_minute_snapshots
from intel_assets.domain.market_data import NEW_YORK, LeanDataError
from intel_assets.domain.tca import ArrivalQuote, arrival_quote

_ALIASES = {"order_type": "type", "tif": "time_in_force"}


@dataclass(frozen=True)
class DecisionRow:
    """One row of Torghut's trade_decisions table."""

    id: str
    strategy_id: str
    symbol: str
    timeframe: str
    decision_json: Any
    status: str
    created_at: datetime
    executed_at: datetime | None = None


@dataclass(frozen=True)
class ValidIntent:
    """A decision that can be replayed: its OrderIntent and the quote it was decided on."""

    decision_id: str
    intent: OrderIntent
    arrival: ArrivalQuote


def parse_decision_time(value: Any) -> datetime | None:
    """An aware datetime from an ISO-8601 string with offset (Z allowed), else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def decision_day(row: DecisionRow) -> date:
    """The New York trading day a decision is reported on."""
    payload = row.decision_json if isinstance(row.decision_json, dict) else {}
    moment = parse_decision_time(payload.get("decision_time")) or row.created_at
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
        snaps, _, _ = self._load(symbol)
        i = first_snapshot_at_or_after(snaps, moment)
        return i < len(snaps) and (snaps[i].start.astimezone(NEW_YORK).date()
                                   == moment.astimezone(NEW_YORK).date())

    def arrival(self, symbol: str, moment: datetime) -> ArrivalQuote | None:
        """The arrival quote of a decision on ``symbol`` at ``moment`` (None: no quote yet)."""
        snaps, _, ends = self._load(symbol)
        return arrival_quote(snaps, moment, ends)


def _reject(row: DecisionRow, code: str, reason: str, symbol: str | None = None) -> RejectedIntent:
    return RejectedIntent(decision_id=str(row.id), symbol=symbol, code=code, reason=reason)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


ORDER_TYPES = ("market", "limit", "stop")
TIMES_IN_FORCE = ("day", "gtc", "ioc", "fok")


def _positive(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def intent_fields(payload: dict) -> dict[str, Any]:
    """decision_json with Torghut's aliases resolved and enum spellings lower-cased."""
    fields = {_ALIASES.get(k, k): v for k, v in payload.items()}
    for key in ("side", "type", "time_in_force"):  # Torghut may spell them in capitals
        if isinstance(fields.get(key), str):
            fields[key] = fields[key].strip().lower()
    return fields


def schema_problem(row: DecisionRow) -> tuple[str, str, str | None] | None:
    """The first problem of a decision that needs no market data to see, as (code, plain
    reason, symbol), or None. Parity rejects these; the rollout gate counts them as
    schema/validation rejections."""
    payload = row.decision_json
    if not isinstance(payload, dict):
        return ("malformed_decision", f"decision_json is a {type(payload).__name__}, not an "
                "object with the intent fields", None)
    fields = intent_fields(payload)
    try:
        symbol = normalize_symbol(row.symbol)
    except InvalidSymbolError as exc:
        return "invalid_symbol", str(exc), None
    if fields.get("symbol") not in (None, "") and str(fields["symbol"]).upper() != symbol:
        return ("symbol_mismatch", f"decision_json.symbol {fields['symbol']!r} differs from the "
                f"row's symbol {symbol}", symbol)
    if _positive(fields.get("qty")) is None:
        return "invalid_qty", f"qty must be a number > 0, got {fields.get('qty')!r}", symbol
    if fields.get("side") not in ("buy", "sell"):
        return "invalid_side", f"side must be 'buy' or 'sell', got {fields.get('side')!r}", symbol
    order_type = fields.get("type", "market")
    if order_type not in ORDER_TYPES:
        return ("invalid_order_type", f"type must be one of {', '.join(ORDER_TYPES)}, got "
                f"{order_type!r}", symbol)
    if order_type == "limit" and _positive(fields.get("limit_price")) is None:
        return ("missing_limit_price", "a limit order needs a positive numeric limit_price "
                f"(got {fields.get('limit_price')!r})", symbol)
    if order_type == "stop" and _positive(fields.get("stop_price")) is None:
        return ("missing_stop_price", "a stop order needs a positive numeric stop_price "
                f"(got {fields.get('stop_price')!r})", symbol)
    if (fields.get("time_in_force") or "day") not in TIMES_IN_FORCE:
        return ("invalid_time_in_force", f"time_in_force must be one of "
                f"{', '.join(TIMES_IN_FORCE)}, got {fields.get('time_in_force')!r}", symbol)
    if parse_decision_time(fields.get("decision_time")) is None:
        return ("invalid_decision_time", "decision_time must be ISO-8601 with a UTC offset, got "
                f"{fields.get('decision_time')!r}", symbol)
    return None


def validate_decision(row: DecisionRow, tape: MarketTape) -> ValidIntent | RejectedIntent:
    """The decision as a replayable intent, or its rejection with a code and a plain reason."""
    problem = schema_problem(row)
    if problem is not None:
        return _reject(row, *problem)
    fields = intent_fields(row.decision_json)
    symbol = normalize_symbol(row.symbol)
    if symbol not in tape.symbols:
        return _reject(row, "unknown_symbol", f"unknown symbol {symbol}: no LEAN minute data for "
                       f"it (known: {', '.join(tape.symbols)})", symbol)
    qty = _number(fields.get("qty"))
    order_type = fields.get("type", "market")
    moment = parse_decision_time(fields.get("decision_time"))
    try:
        in_data = tape.has_bar_on_decision_day(symbol, moment)
        arrival = tape.arrival(symbol, moment) if in_data else None
    except LeanDataError as exc:
        return _reject(row, "bad_data", f"LEAN data for {symbol}: {exc}", symbol)
    if not in_data:
        days = ", ".join(d.isoformat() for d in tape.days(symbol))
        return _reject(row, "outside_data", f"decision time {moment.isoformat()} is outside the "
                       f"data: no {symbol} session bar at or after it that day (data: {days})",
                       symbol)
    if arrival is None:
        return _reject(row, "no_arrival_quote", f"no two-sided {symbol} quote at or before "
                       f"{moment.isoformat()} to measure the arrival mid", symbol)
    try:
        intent = OrderIntent(
            intent_id=str(row.id), strategy_id=row.strategy_id, symbol=symbol,
            side=fields["side"], qty=qty, type=order_type,
            limit_price=_number(fields.get("limit_price")),
            stop_price=_number(fields.get("stop_price")),
            time_in_force=fields.get("time_in_force") or "day", decision_time=moment,
            client_order_id=fields.get("client_order_id") or None)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        return _reject(row, "invalid_intent", f"{where + ': ' if where else ''}{message}", symbol)
    return ValidIntent(str(row.id), intent, arrival)


def validate_decisions(rows: list[DecisionRow], tape: MarketTape
                       ) -> tuple[list[ValidIntent], list[RejectedIntent]]:
    """Valid intents in decision-time order, and rejections (incl. repeated client_order_ids)."""
    valid: list[ValidIntent] = []
    rejected: list[RejectedIntent] = []
    seen: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: (r.created_at, str(r.id))):
        result = validate_decision(row, tape)
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


__all__ = ["DecisionRow", "MarketTape", "ValidIntent", "decision_day", "parse_decision_time",
           "validate_decision", "validate_decisions"]
