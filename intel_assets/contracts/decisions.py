"""Owns Torghut's decision record as it reaches us: StrategyDecision (the object Torghut dumps into
``trade_decisions.decision_json``) and ``decision_hash`` (the row's idempotency key, which Torghut
also sends to the broker as ``client_order_id``).

Restated from proompteng/lab 255d330fe services/torghut/app/trading/models.py (unchanged in shape
at its head): Torghut writes ``decision.model_dump(mode="json")``, so quantities and prices are
JSON strings (``"100"``, ``"168.92"``), ``event_ts`` an ISO-8601 string and ``params`` a free
object (``price``, ``execution_advice``, ...). Torghut's risk rejections add ``risk_reasons`` (a
list of strings) to the stored object and set the row's status to ``rejected``
(services/torghut/app/trading/execution.py, ``mark_rejected``).

``decision_hash`` here is the 255d330fe digest (params included; Torghut's head leaves params
out). We only compute it for decisions we seed into a throwaway database; for Torghut's own rows
we read the stored ``decision_hash`` column and never recompute it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol

Action = Literal["buy", "sell"]
DecisionOrderType = Literal["market", "limit", "stop", "stop_limit"]
DecisionTimeInForce = Literal["day", "gtc", "ioc", "fok"]

ACTIONS: tuple[str, ...] = ("buy", "sell")
ORDER_TYPES: tuple[str, ...] = ("market", "limit", "stop", "stop_limit")
TIMES_IN_FORCE: tuple[str, ...] = ("day", "gtc", "ioc", "fok")
#: Where Torghut records why it refused a decision (a list of strings).
RISK_REASONS_FIELD = "risk_reasons"
#: Torghut's trade_decisions.status of a decision it refused.
REJECTED_STATUS = "rejected"


class StrategyDecision(BaseModel):
    """One strategy decision in Torghut's field names; extra keys are kept, as Torghut keeps them."""

    model_config = ConfigDict(extra="allow")

    strategy_id: str
    symbol: str
    event_ts: datetime
    timeframe: str
    action: Action
    qty: Decimal
    order_type: DecisionOrderType = "market"
    time_in_force: DecisionTimeInForce = "day"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    rationale: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    def decision_json(self) -> dict[str, Any]:
        """The object Torghut stores in trade_decisions.decision_json for this decision."""
        return self.model_dump(mode="json")


def decision_hash(decision: StrategyDecision, account_label: str | None = None) -> str:
    """Torghut's idempotency digest of a decision (255d330fe): sha256 of the canonical JSON of
    its order fields and params (``account_label`` only when Torghut runs multi-account)."""
    fields = {
        "strategy_id": decision.strategy_id,
        "symbol": decision.symbol,
        "event_ts": decision.event_ts.isoformat(),
        "timeframe": decision.timeframe,
        "action": decision.action,
        "qty": str(decision.qty),
        "order_type": decision.order_type,
        "time_in_force": decision.time_in_force,
        "limit_price": None if decision.limit_price is None else str(decision.limit_price),
        "stop_price": None if decision.stop_price is None else str(decision.stop_price),
        "params": decision.params,
        "account_label": account_label,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()



# ---- the trade_decisions row and StrategyDecision's rules on it ---------------------------
@dataclass(frozen=True)
class DecisionRow:
    """One row of Torghut's trade_decisions table (uuids as text)."""

    id: str
    strategy_id: str
    symbol: str
    timeframe: str
    decision_json: Any
    status: str
    created_at: datetime
    executed_at: datetime | None = None
    alpaca_account_label: str = "paper"
    rationale: str | None = None
    decision_hash: str | None = None


def parse_event_ts(value: Any) -> datetime | None:
    """An aware datetime from Torghut's event_ts (ISO-8601; ``Z`` allowed; naive = UTC, as
    Torghut's ingest reads timestamps), else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def decimal_value(value: Any) -> Decimal | None:
    """A finite Decimal from Torghut's dumped number (a string, or a JSON number), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _positive(value: Any) -> Decimal | None:
    number = decimal_value(value)
    return number if number is not None and number > 0 else None


def word(value: Any, default: str | None = None) -> Any:
    """A decision_json word as Torghut compares it (stripped, lower case); ``default`` for null."""
    if value is None:
        return default
    return value.strip().lower() if isinstance(value, str) else value


def schema_problem(row: DecisionRow) -> tuple[str, str, str | None] | None:
    """The first problem of a decision that needs no market data to see, as (code, plain
    reason, symbol), or None. Parity rejects these; the rollout gate counts them as
    schema/validation rejections. The rules are StrategyDecision's."""
    payload = row.decision_json
    if not isinstance(payload, dict):
        return ("malformed_decision", f"decision_json is a {type(payload).__name__}, not a "
                "StrategyDecision object", None)
    try:
        symbol = normalize_symbol(row.symbol)
    except InvalidSymbolError as exc:
        return "invalid_symbol", str(exc), None
    if payload.get("symbol") not in (None, "") and str(payload["symbol"]).upper() != symbol:
        return ("symbol_mismatch", f"decision_json.symbol {payload['symbol']!r} differs from the "
                f"row's symbol {symbol}", symbol)
    if word(payload.get("action")) not in ACTIONS:
        return ("invalid_action", f"action must be 'buy' or 'sell', got "
                f"{payload.get('action')!r}", symbol)
    if _positive(payload.get("qty")) is None:
        return "invalid_qty", f"qty must be a number > 0, got {payload.get('qty')!r}", symbol
    order_type = word(payload.get("order_type"), "market")
    if order_type not in ORDER_TYPES:
        return ("invalid_order_type", f"order_type must be one of {', '.join(ORDER_TYPES)}, got "
                f"{payload.get('order_type')!r}", symbol)
    if order_type in ("limit", "stop_limit") and _positive(payload.get("limit_price")) is None:
        return ("missing_limit_price", f"a {order_type} order needs a positive limit_price "
                f"(got {payload.get('limit_price')!r})", symbol)
    if order_type in ("stop", "stop_limit") and _positive(payload.get("stop_price")) is None:
        return ("missing_stop_price", f"a {order_type} order needs a positive stop_price "
                f"(got {payload.get('stop_price')!r})", symbol)
    if word(payload.get("time_in_force"), "day") not in TIMES_IN_FORCE:
        return ("invalid_time_in_force", f"time_in_force must be one of "
                f"{', '.join(TIMES_IN_FORCE)}, got {payload.get('time_in_force')!r}", symbol)
    if parse_event_ts(payload.get("event_ts")) is None:
        return ("invalid_event_ts", "event_ts must be an ISO-8601 timestamp, got "
                f"{payload.get('event_ts')!r}", symbol)
    return None


__all__ = ["ACTIONS", "Action", "DecisionOrderType", "DecisionTimeInForce", "ORDER_TYPES",
           "REJECTED_STATUS", "RISK_REASONS_FIELD", "StrategyDecision", "TIMES_IN_FORCE",
           "DecisionRow", "decimal_value", "decision_hash", "parse_event_ts", "schema_problem", "word"]
