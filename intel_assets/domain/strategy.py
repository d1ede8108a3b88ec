"""Owns the demo strategy that seeds Torghut decisions: a deterministic EMA(5)/EMA(20) cross on
LEAN minute closes, long-only, producing a handful of market and limit intents per day, written
in Torghut's shapes (a strategies row, and trade_decisions rows whose decision_json is a
StrategyDecision dump with its decision_hash).

Rules (per symbol, one New York session, raw trade closes): both EMAs are SMA-seeded (the
first value is the mean of the first ``n`` closes, then ``alpha = 2 / (n + 1)``). A decision is
taken at the **end** of the bar whose close makes the cross (its ``event_ts``), between 09:50
and 15:30: fast crossing above slow while flat -> buy ``qty`` (entries alternate market / day
limit at that close), fast crossing below slow while long -> market sell; at most
``max_round_trips`` entries a day. Ids are UUIDv5 of (strategy, symbol, event_ts, action), so
reseeding the same day inserts nothing new.

``params`` carry what the strategy saw, in the keys Torghut's TCA reads: ``price`` (the close),
``arrival_price`` (the mid of the latest quote at the decision) and ``execution_advice`` with the
expected shortfall of a simple spread simulator (SPREAD_SIMULATOR): a market order is expected to
pay half the quoted spread, so p50/p95 are the median/95th percentile of half-spread bps over the
quote bars of the 30 minutes up to the decision; a limit order is expected to fill at its limit,
``(limit - mid) / mid x 1e4`` (sign: + = cost) for both.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Protocol

from intel_assets.contracts.decisions import StrategyDecision, decision_hash
from intel_assets.domain.fills import MarketSnapshot
from intel_assets.domain.lean_data import lean_minute_snapshots
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.domain.stats import percentile
from intel_assets.domain.tca import arrival_quote

STRATEGY_NAME = "ema-cross-5-20"
_NAMESPACE = uuid.UUID("6f1c3b52-0d4e-4c8a-9b1f-2a7d5e0c9a11")  # fixed: ids must never change
#: The demo strategy's strategies.id (Torghut keys strategies by uuid).
STRATEGY_ID = str(uuid.uuid5(_NAMESPACE, f"strategy|{STRATEGY_NAME}"))
DEMO_SYMBOLS = ("SPY", "IBM", "BAC", "AIG")
ACCOUNT_LABEL = "paper"
SPREAD_SIMULATOR = "intel_assets.spread-sim.v1"
SPREAD_WINDOW = timedelta(minutes=30)


def strategy_row(symbols: Iterable[str] = DEMO_SYMBOLS) -> dict[str, Any]:
    """The demo strategy's strategies row (Torghut's columns)."""
    return {"id": STRATEGY_ID, "name": STRATEGY_NAME, "description": "intel_assets demo: "
            "EMA(5)/EMA(20) cross on LEAN minute closes, long-only, 100 shares",
            "base_timeframe": "1Min", "universe_type": "static",
            "universe_symbols": list(symbols)}


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


def decision_id(strategy_id: str, symbol: str, event_ts_iso: str, action: str) -> str:
    """The deterministic decision id (UUIDv5) that makes seeding idempotent."""
    return str(uuid.uuid5(_NAMESPACE, f"{strategy_id}|{symbol}|{event_ts_iso}|{action}"))


def _cents(value: float) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _half_spread_bps(snap: MarketSnapshot) -> float | None:
    quote = snap.quote
    if quote is None or quote.bid is None or quote.ask is None:
        return None
    bid, ask = float(quote.bid.close), float(quote.ask.close)
    mid = (bid + ask) / 2
    return None if mid <= 0 else (ask - bid) / 2 / mid * 1e4


def expected_shortfall(bars: Sequence[MarketSnapshot], i: int, limit: float | None,
                       side: str, mid: float) -> dict[str, str]:
    """The spread simulator's execution_advice for a decision at the end of bars[i]."""
    if limit is not None:
        cost = (1 if side == "buy" else -1) * (limit - mid) / mid * 1e4
        p50 = p95 = cost
    else:
        start = bars[i].end - SPREAD_WINDOW
        halves = [h for b in bars[:i + 1] if b.end > start
                  if (h := _half_spread_bps(b)) is not None]
        p50, p95 = percentile(halves, 50), percentile(halves, 95)
    return {"urgency_tier": "normal", "simulator_version": SPREAD_SIMULATOR,
            "expected_shortfall_bps_p50": f"{p50:.4f}", "expected_shortfall_bps_p95": f"{p95:.4f}",
            "event_ts": bars[i].end.isoformat()}


def ema_cross_intents(snapshots: Sequence[MarketSnapshot], day: date, *, qty: int = 100,
                      fast: int = 5, slow: int = 20, max_round_trips: int = 2,
                      window: tuple[time, time] = (time(9, 50), time(15, 30)),
                      strategy_id: str = STRATEGY_ID) -> list[dict[str, Any]]:
    """The strategy's decisions on ``day`` as trade_decisions rows in Torghut's shape."""
    bars = [s for s in snapshots
            if s.trade is not None and s.start.astimezone(NEW_YORK).date() == day]
    closes = [float(s.trade.close) for s in bars]  # type: ignore[union-attr]
    ends = [b.end for b in bars]
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
        arrival = arrival_quote(bars, decided, ends)
        if arrival is None:
            continue  # no quote to decide on: the strategy does not trade blind
        symbol = bars[i].symbol.upper()
        rationale = (f"EMA({fast}) {f1:.4f} crossed {'above' if up else 'below'} EMA({slow}) "
                     f"{s1:.4f} at close {closes[i]}")
        decision = StrategyDecision(
            strategy_id=strategy_id, symbol=symbol, event_ts=decided, timeframe="1Min",
            action=side, qty=Decimal(qty), order_type="limit" if limit is not None else "market",
            time_in_force="day", limit_price=None if limit is None else Decimal(str(limit)),
            rationale=rationale, params={
                "price": str(bars[i].trade.close),  # type: ignore[union-attr]
                "arrival_price": f"{arrival.mid:.4f}",
                "fast_ema": f"{f1:.4f}", "slow_ema": f"{s1:.4f}",
                "execution_advice": expected_shortfall(bars, i, limit, side, arrival.mid)})
        payload = decision.decision_json()
        rows.append({"id": decision_id(strategy_id, symbol, payload["event_ts"], side),
                     "strategy_id": strategy_id, "alpaca_account_label": ACCOUNT_LABEL,
                     "symbol": symbol, "timeframe": "1Min", "decision_json": payload,
                     "rationale": rationale, "decision_hash": decision_hash(decision),
                     "status": "planned"})
    return rows


def strategy_decisions(lean_dir: Path, day: date,
                       symbols: Iterable[str] = DEMO_SYMBOLS) -> list[dict[str, Any]]:
    """The strategy's decisions for every symbol on ``day``, in decision-time order."""
    rows: list[dict[str, Any]] = []
    for symbol in symbols:
        snaps = lean_minute_snapshots(Path(lean_dir), symbol, days=[day], normalization="raw")
        rows.extend(ema_cross_intents(snaps, day))
    return sorted(rows, key=lambda r: (r["decision_json"]["event_ts"], r["symbol"]))


class DecisionWriter(Protocol):
    def insert_strategy(self, row: dict[str, Any]) -> int:
        """Insert a strategies row (kept when its id is present)."""

    def insert_decisions(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert rows (skipping ids already present); the number inserted."""


def seed_trade_decisions(db: DecisionWriter, lean_dir: Path, day: date,
                         symbols: Iterable[str] = DEMO_SYMBOLS) -> int:
    """Write the strategy (strategies) and its decisions for ``day`` (trade_decisions) into a
    throwaway Torghut database; idempotent by id. Returns the decisions inserted."""
    db.insert_strategy(strategy_row(symbols))
    return db.insert_decisions(strategy_decisions(lean_dir, day, symbols))


__all__ = ["ACCOUNT_LABEL", "DEMO_SYMBOLS", "SPREAD_SIMULATOR", "STRATEGY_ID", "STRATEGY_NAME",
           "DecisionWriter", "decision_id", "ema_cross_intents", "expected_shortfall",
           "seed_trade_decisions", "sma_seeded_ema", "strategy_decisions", "strategy_row"]
