"""Owns test builders of Torghut's trade_decisions rows as Torghut writes them (a StrategyDecision
dumped with model_dump(mode="json") in decision_json; proompteng/lab 255d330fe
services/torghut/app/trading/models.py and execution.py), including shapes Torghut never writes
on purpose, to prove they are rejected with reasons."""

from __future__ import annotations

import hashlib
import uuid

from intel_assets.domain.strategy import STRATEGY_ID


def decision_json(symbol: str = "SPY", **fields) -> dict:
    """A StrategyDecision dump (strings for decimals); ``fields`` override or add keys."""
    payload = {"strategy_id": STRATEGY_ID, "symbol": symbol, "event_ts": "2013-10-08T14:30:00Z",
               "timeframe": "1Min", "action": "buy", "qty": "10", "order_type": "market",
               "time_in_force": "day", "limit_price": None, "stop_price": None,
               "rationale": "test", "params": {}}
    payload.update(fields)
    return payload


def decision_row(symbol: str, payload, **extra) -> dict:
    """A trade_decisions row for ``payload``; decision_hash defaults to a digest of the row id
    (Torghut's is a sha256 too; tests that need Torghut's exact digest compute it)."""
    row_id = str(uuid.uuid4())
    row = {"id": row_id, "strategy_id": STRATEGY_ID, "alpaca_account_label": "paper",
           "symbol": symbol, "timeframe": "1Min", "decision_json": payload,
           "decision_hash": hashlib.sha256(row_id.encode()).hexdigest(), "status": "planned"}
    row.update(extra)
    return row


__all__ = ["decision_json", "decision_row"]
