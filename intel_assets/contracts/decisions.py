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
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


__all__ = ["ACTIONS", "Action", "DecisionOrderType", "DecisionTimeInForce", "ORDER_TYPES",
           "REJECTED_STATUS", "RISK_REASONS_FIELD", "StrategyDecision", "TIMES_IN_FORCE",
           "decision_hash"]
