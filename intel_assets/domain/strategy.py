"""Owns the demo strategy that seeds Torghut decisions: a deterministic EMA(5)/EMA(20) cross on
LEAN minute closes, long-only, producing a handful of market and limit intents per day.

Rules (per symbol, one New York session, raw trade closes): both EMAs are SMA-seeded (the
first value is the mean of the first ``n`` closes, then ``alpha = 2 / (n + 1)``). A decision is
taken at the **end** of the bar whose close makes the cross, between 09:50 and 15:30: fast
crossing above slow while flat -> buy ``qty`` (entries alternate market / day limit at that
close), fast crossing below slow while long -> market sell; at most ``max_round_trips``
entries a day. Ids are UUIDv5 of (strategy, symbol, decision time, side), so reseeding the same
day inserts nothing new.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Protocol

from intel_assets.domain.fills import MarketSnapshot
from intel_assets.domain.lean_data import lean_minute_snapshots
from intel_assets.domain.market_data import NEW_YORK

STRATEGY_ID = "ema-cross-5-20"
DEMO_SYMBOLS = ("SPY", "IBM", "BAC", "AIG")
_NAMESPACE = uuid.UUID("6f1c3b52-0d4e-4c8a-9b1f-2a7d5e0c9a11")  # fixed: ids must never change


def sma_seeded_ema(values: Sequence[float], n: int) -> list[float | None]:
    """EMA(n) of values; None before index n-1, whose value is the SMA of the first n."""
    if n < 1:
        raise ValueError(f"EMA period must be >= 1, got {n}")
    out: list[float | None] = [None] * len(values)
    if len(values) < n:
        return out
    alpha = 2 / (n + 1)
    current = sum(values[:n]) / n
    out[n - 1] = current
    for i in range(n, len(values)):
        current = alpha * values[i] + (1 - alpha) * current
        out[i] = current
    return out


def decision_id(strategy_id: str, symbol: str, decision_time_iso: str, side: str) -> str:
    """The deterministic decision id (UUIDv5) that makes seeding idempotent."""
    return str(uuid.uuid5(_NAMESPACE, f"{strategy_id}|{symbol}|{decision_time_iso}|{side}"))


def _cents(value: float) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def ema_cross_intents(snapshots: Sequence[MarketSnapshot], day: date, *, qty: float = 100,
                      fast: int = 5, slow: int = 20, max_round_trips: int = 2,
                      window: tuple[time, time] = (time(9, 50), time(15, 30)),
                      strategy_id: str = STRATEGY_ID) -> list[dict[str, Any]]:
    """The strategy's decisions on ``day`` as trade_decisions row dicts (decision_json inside)."""
    bars = [s for s in snapshots
            if s.trade is not None and s.start.astimezone(NEW_YORK).date() == day]
    closes = [float(s.trade.close) for s in bars]  # type: ignore[union-attr]
    fast_ema, slow_ema = sma_seeded_ema(closes, fast), sma_seeded_ema(closes, slow)
    rows: list[dict[str, Any]] = []
    long, entries = False, 0
    for i in range(1, len(bars)):
        f0, s0, f1, s1 = fast_ema[i - 1], slow_ema[i - 1], fast_ema[i], slow_ema[i]
        if None in (f0, s0, f1, s1):
            continue
        decided = bars[i].end
        if not window[0] <= decided.astimezone(NEW_YORK).time() <= window[1]:
            continue
        up, down = f0 <= s0 and f1 > s1, f0 >= s0 and f1 < s1  # type: ignore[operator]
        if up and not long and entries < max_round_trips:
            side, limit = "buy", (_cents(closes[i]) if entries % 2 == 1 else None)
            long, entries = True, entries + 1
        elif down and long:
            side, limit, long = "sell", None, False
        else:
            continue
        symbol = bars[i].symbol.upper()
        stamp = decided.isoformat()
        payload: dict[str, Any] = {
            "symbol": symbol, "side": side, "qty": qty,
            "type": "limit" if limit is not None else "market", "time_in_force": "day",
            "decision_time": stamp,
            "rationale": f"EMA({fast}) {f1:.4f} crossed {'above' if up else 'below'} "
                         f"EMA({slow}) {s1:.4f} at close {closes[i]}",
        }
        if limit is not None:
            payload["limit_price"] = limit
        rows.append({"id": decision_id(strategy_id, symbol, stamp, side),
                     "strategy_id": strategy_id, "symbol": symbol, "timeframe": "1Min",
                     "decision_json": payload, "status": "planned"})
    return rows


def strategy_decisions(lean_dir: Path, day: date,
                       symbols: Iterable[str] = DEMO_SYMBOLS) -> list[dict[str, Any]]:
    """The strategy's decisions for every symbol on ``day``, in decision-time order."""
    rows: list[dict[str, Any]] = []
    for symbol in symbols:
        snaps = lean_minute_snapshots(Path(lean_dir), symbol, days=[day], normalization="raw")
        rows.extend(ema_cross_intents(snaps, day))
    return sorted(rows, key=lambda r: (r["decision_json"]["decision_time"], r["symbol"]))


class DecisionWriter(Protocol):
    def insert_decisions(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert rows (skipping ids already present); the number inserted."""


def seed_trade_decisions(db: DecisionWriter, lean_dir: Path, day: date,
                         symbols: Iterable[str] = DEMO_SYMBOLS) -> int:
    """Write the strategy's decisions for ``day`` into Torghut's table; idempotent by id."""
    return db.insert_decisions(strategy_decisions(lean_dir, day, symbols))


__all__ = ["DEMO_SYMBOLS", "STRATEGY_ID", "DecisionWriter", "decision_id", "ema_cross_intents",
           "seed_trade_decisions", "sma_seeded_ema", "strategy_decisions"]
