"""Owns the LEAN-week backtest configs (lean_backtests.py's config) that restate the fixed order
lists of LEAN regression algorithms (QuantConnect/Lean 24863901 ``Algorithm.CSharp/
TimeInForceAlgorithm.cs`` and ``MarketOrderStaleDataFillRegressionAlgorithm.cs``) over the LEAN
sample's week 2013-10-07..11, with adjusted prices and LEAN's fill and fee models; their LEAN
statistics are ``lean_regressions.REGRESSIONS[name].published``. Shared by the upstream tests and
the lean_backtest_evidence asset test.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

WEEK = [date(2013, 10, 7) + timedelta(days=i) for i in range(5)]


def _ny(day: date, hh: int, mm: int, ss: int = 0) -> str:
    return f"{day.isoformat()}T{hh:02d}:{mm:02d}:{ss:02d}-04:00"


def _limit(price: int, tif: str, **extra: Any) -> dict[str, Any]:
    return {"at": _ny(WEEK[0], 9, 31), "symbol": "SPY", "side": "buy", "qty": 10,
            "order_type": "limit", "limit_price": price, "time_in_force": tif, **extra}


LEAN_WEEK = {  # our config (lean_backtests.py): the week, adjusted prices, LEAN's models
    "time-in-force": [_limit(100, "gtc"), _limit(160, "gtc"), _limit(140, "day"),
                      _limit(180, "day"),
                      _limit(100, "gtd", extra_params={"expire_date": "2013-10-10"}),
                      _limit(160, "gtd", extra_params={"expire_date": "2013-10-10"})],
    "market-order-stale-data-fill": [
        {"at": _ny(d, hh, mm, ss), "symbol": "SPY", "side": "buy", "qty": 1,
         "order_type": "market", "time_in_force": "day"}
        for d in WEEK for hh, mm, ss in ((9, 30, 1), (12, 0, 0))],
}


def week_config(name: str) -> dict[str, Any]:
    """The backtest config of LEAN_WEEK[name]: $100,000, the week, SPY, LEAN's models."""
    return {"cash": 100000, "start": "2013-10-07", "end": "2013-10-11",
            "normalization": "adjusted", "symbols": ["SPY"], "fill_model": "lean_equity",
            "fee_model": "interactive_brokers", "intents": LEAN_WEEK[name]}


__all__ = ["LEAN_WEEK", "WEEK", "week_config"]
