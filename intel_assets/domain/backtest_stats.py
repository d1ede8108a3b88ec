"""Owns LEAN-style backtest statistics: orders, fees, start/end equity, net profit, compounding
annual return, drawdown and portfolio turnover, in LEAN's report spelling (``lean_lines``).

Pure functions of a finished ``BacktestResult`` (equity curve, filled orders); no Dagster here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import groupby
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from intel_assets.domain.execution_models.market import ZERO

if TYPE_CHECKING:
    from intel_assets.domain.backtest import BacktestResult

_NEW_YORK = ZoneInfo("America/New_York")  # trading days are New-York dates


def _pct(value: float, places: int = 3) -> str:
    return f"{value * 100:.{places}f}%"


def max_drawdown(curve: list[tuple[datetime, Decimal]]) -> Decimal:
    """Largest peak-to-trough fall of the equity curve as a fraction of the peak."""
    peak, worst = None, ZERO
    for _, equity in curve:
        peak = equity if peak is None or equity > peak else peak
        if peak > 0:
            worst = max(worst, (peak - equity) / peak)
    return worst


def compounding_annual_return(start_equity: Decimal, end_equity: Decimal,
                              start: datetime, end: datetime) -> float:
    """LEAN's ``CompoundingAnnualPerformance``: (end/start)^(1/years) - 1, years = days / 365."""
    years = (end - start) / timedelta(days=365)
    if years <= 0 or start_equity <= 0:
        return 0.0
    return math.pow(float(end_equity / start_equity), 1.0 / years) - 1.0


def daily_turnover(result: BacktestResult) -> float:
    """Mean over trading days of (value traded that day / portfolio value at that day's close)."""
    traded: dict = defaultdict(lambda: ZERO)
    for o in result.filled_orders:
        assert o.filled_at is not None and o.fill_price is not None
        traded[o.filled_at.astimezone(_NEW_YORK).date()] += o.terms.quantity * o.fill_price
    closes = {day: list(points)[-1][1] for day, points in
              groupby(result.equity_curve, key=lambda p: p[0].astimezone(_NEW_YORK).date())}
    if not closes:
        return 0.0
    return float(sum((traded[d] / v for d, v in closes.items() if v > 0), ZERO) / len(closes))


def money(value: Decimal) -> Decimal:
    """``value`` rounded to cents (banker's rounding, as C# Math.Round)."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class BacktestStatistics:
    total_orders: int
    total_fees: Decimal
    start_equity: Decimal
    end_equity: Decimal
    net_profit: float
    compounding_annual_return: float
    drawdown: float
    portfolio_turnover: float

    def lean_lines(self) -> list[str]:
        """The statistics in LEAN's report spelling, one ``Name value`` line each."""
        return [f"Total Orders {self.total_orders}",
                f"Total Fees ${money(self.total_fees)}",
                f"Start Equity {self.start_equity.normalize():f}",
                f"End Equity {money(self.end_equity)}",
                f"Net Profit {_pct(self.net_profit)}",
                f"Compounding Annual Return {_pct(self.compounding_annual_return)}",
                f"Drawdown {_pct(round(self.drawdown, 3))}",
                f"Portfolio Turnover {_pct(self.portfolio_turnover, 2)}"]


def backtest_statistics(result: BacktestResult) -> BacktestStatistics:
    """LEAN-style summary statistics of a finished backtest."""
    end = result.equity_curve[-1][0] if result.equity_curve else result.start
    start_equity, end_equity = result.starting_cash, result.end_equity
    return BacktestStatistics(
        total_orders=len(result.orders), total_fees=result.total_fees,
        start_equity=start_equity, end_equity=end_equity,
        net_profit=float((end_equity - start_equity) / start_equity),
        compounding_annual_return=compounding_annual_return(start_equity, end_equity,
                                                            result.start, end),
        drawdown=float(max_drawdown(result.equity_curve)),
        portfolio_turnover=daily_turnover(result))


__all__ = ["BacktestStatistics", "backtest_statistics", "compounding_annual_return",
           "daily_turnover", "max_drawdown", "money"]
