"""Owns a deterministic load of Torghut decisions for parity at scale (benchmark P4 and the
batched-vs-per-order replay test): ``count`` trade_decisions rows in Torghut's shapes spread
over the LEAN days and symbols given, every one replayable (a session bar at or after it, a
two-sided quote before it).

Not a strategy: a seeded mix meant to exercise every path both venues have. Per decision a
random symbol and second of the session (09:31:00-15:58:59 New York, so a bar starts after
it), buy or sell 1-300 shares; order types 50 % market, 35 % limit (limit within +-20 bps of
the arrival mid, so some are marketable at once and some rest), 15 % stop (10-40 bps beyond
the mid, some trigger); times in force 75 % day, 15 % gtc, 10 % ioc. Ids and decision_hash
are derived from the seed, so the same arguments always give the same rows.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from intel_assets.contracts.decisions import StrategyDecision, decision_hash
from intel_assets.contracts.decisions import DecisionRow
from intel_assets.domain.decisions import MarketTape
from intel_assets.domain.market_data import NEW_YORK

LOAD_STRATEGY_ID = str(uuid.uuid5(uuid.UUID("0b5f0f4e-9d7c-4a53-8a4e-3f0d2a1c7b66"),
                                  "strategy|parity-load"))
#: The shared LEAN week and the symbols with data on every day of it.
LOAD_DAYS = tuple(date(2013, 10, d) for d in range(7, 12))
LOAD_SYMBOLS = ("SPY", "IBM", "BAC", "AIG")
_SESSION = (time(9, 31), time(15, 58, 59))
_CENT = Decimal("0.01")


def _cents(value: float) -> Decimal:
    return Decimal(str(value)).quantize(_CENT, rounding=ROUND_HALF_UP)


def load_decisions(lean_dir: Path | str, count: int, *, days: Sequence[date] = LOAD_DAYS,
                   symbols: Sequence[str] = LOAD_SYMBOLS, seed: int = 11,
                   tape: MarketTape | None = None) -> list[DecisionRow]:
    """``count`` decisions spread evenly over ``days`` (rows of one day in event_ts order)."""
    if count < 0:
        raise ValueError("count must be >= 0")
    tape = tape or MarketTape(Path(lean_dir))
    rng = random.Random(seed)
    start, end = (datetime.combine(days[0], t) for t in _SESSION)
    span = int((end - start).total_seconds())
    rows: list[DecisionRow] = []
    for n in range(count):
        day = days[n * len(days) // max(count, 1)]
        moment = (datetime.combine(day, _SESSION[0], NEW_YORK)
                  + timedelta(seconds=rng.randrange(span + 1)))
        symbol = rng.choice(list(symbols))
        arrival = tape.arrival(symbol, moment)
        if arrival is None:  # the first seconds of a session without a quote yet: move on
            moment += timedelta(minutes=2)
            arrival = tape.arrival(symbol, moment)
            assert arrival is not None, f"no {symbol} quote near {moment}"
        side = rng.choice(("buy", "sell"))
        kind = rng.choices(("market", "limit", "stop"), (50, 35, 15))[0]
        tif = rng.choices(("day", "gtc", "ioc"), (75, 15, 10))[0]
        limit = stop = None
        sign = 1 if side == "buy" else -1
        if kind == "limit":
            limit = _cents(arrival.mid * (1 + sign * rng.uniform(-20, 20) / 10_000))
        elif kind == "stop":
            stop = _cents(arrival.mid * (1 + sign * rng.uniform(10, 40) / 10_000))
        decision = StrategyDecision(
            strategy_id=LOAD_STRATEGY_ID, symbol=symbol, event_ts=moment, timeframe="1Min",
            action=side, qty=Decimal(rng.randint(1, 300)), order_type=kind, time_in_force=tif,
            limit_price=limit, stop_price=stop, rationale="parity load (synthetic)",
            params={"arrival_price": f"{arrival.mid:.4f}", "load_seq": n})
        row_id = str(uuid.uuid5(uuid.UUID(LOAD_STRATEGY_ID), f"{seed}|{n}"))
        rows.append(DecisionRow(
            id=row_id, strategy_id=LOAD_STRATEGY_ID, symbol=symbol, timeframe="1Min",
            decision_json=decision.decision_json(), status="planned", created_at=moment,
            decision_hash=decision_hash(decision)))
    rows.sort(key=lambda r: (r.created_at, r.id))
    return rows


def by_day(rows: Iterable[DecisionRow]) -> dict[date, list[DecisionRow]]:
    """The rows per New York day of their decision time, days in order."""
    out: dict[date, list[DecisionRow]] = {}
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        out.setdefault(row.created_at.astimezone(NEW_YORK).date(), []).append(row)
    return out


__all__ = ["LOAD_DAYS", "LOAD_STRATEGY_ID", "LOAD_SYMBOLS", "by_day", "load_decisions"]
