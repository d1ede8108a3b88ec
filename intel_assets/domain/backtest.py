"""Owns the event-driven backtest engine: replays MarketSnapshots through an algorithm and one
ExecutionModels composition, keeps cash/holdings in Decimal, and computes LEAN-style statistics.

Time steps follow LEAN's backtest loop: at each bar end ``T`` the engine (1) updates each
symbol's latest snapshot and price (trade close), (2) re-evaluates open orders on the new bars,
(3) calls ``algorithm.on_data`` whose orders are evaluated at once on the current snapshot
(market orders fill now, at the bar that just closed; limit/stop orders are "stale" on it and
wait for the next bar), (4) marks the portfolio at the trade closes. Buying-power checks,
margin calls, dividends and splits are not modelled.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import groupby
from typing import Iterable, Literal, Protocol
from zoneinfo import ZoneInfo

from intel_assets.domain.fills import (
    ZERO,
    ExecutionModels,
    MarketSnapshot,
    OrderTerms,
    OrderType,
    execute_order,
    to_decimal,
)

OrderRecordStatus = Literal["submitted", "filled", "canceled"]
_NEW_YORK = ZoneInfo("America/New_York")  # trading days are New-York dates


@dataclass
class OrderRecord:
    order_id: int
    symbol: str
    terms: OrderTerms
    status: OrderRecordStatus = "submitted"
    fill_price: Decimal | None = None
    fee: Decimal = ZERO
    filled_at: datetime | None = None
    reason: str = ""

    @property
    def signed_quantity(self) -> Decimal:
        return self.terms.quantity if self.terms.side == "buy" else -self.terms.quantity


@dataclass
class BacktestResult:
    start: datetime
    starting_cash: Decimal
    orders: list[OrderRecord]
    equity_curve: list[tuple[datetime, Decimal]]
    cash: Decimal
    holdings: dict[str, Decimal]

    @property
    def end_equity(self) -> Decimal:
        return self.equity_curve[-1][1] if self.equity_curve else self.starting_cash

    @property
    def total_fees(self) -> Decimal:
        return sum((o.fee for o in self.orders), ZERO)

    @property
    def filled_orders(self) -> list[OrderRecord]:
        return [o for o in self.orders if o.status == "filled"]


class BacktestContext:
    """What an algorithm sees and calls: time, cash, holdings, prices and order methods."""

    def __init__(self, models: ExecutionModels, cash: Decimal) -> None:
        self.models = models
        self.cash = cash
        self.time: datetime | None = None
        self.holdings: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self.latest: dict[str, MarketSnapshot] = {}
        self.prices: dict[str, Decimal] = {}
        self.orders: list[OrderRecord] = []
        # LEAN sets Settings.FreePortfolioValue once, after Initialize, from the starting value.
        pct = getattr(models.sizing, "free_portfolio_value_percentage", None)
        self.free_portfolio_value = None if pct is None else cash * pct

    # ---- portfolio ------------------------------------------------------------------------
    @property
    def total_portfolio_value(self) -> Decimal:
        return self.cash + sum((q * self.prices.get(s, ZERO) for s, q in self.holdings.items()),
                               ZERO)

    @property
    def invested(self) -> bool:
        return any(q != 0 for q in self.holdings.values())

    # ---- orders ---------------------------------------------------------------------------
    def set_holdings(self, symbol: str, target_percent: float | Decimal) -> OrderRecord | None:
        """LEAN ``SetHoldings``: a market order sized by the composition's sizing model."""
        price = self.prices.get(symbol)
        if price is None or price <= 0:
            raise ValueError(f"set_holdings({symbol!r}): no price yet for {symbol}")
        qty = self.models.sizing.order_quantity(
            to_decimal(target_percent), self.total_portfolio_value, self.holdings[symbol],
            price, self.models.fee, self.free_portfolio_value)
        return self.market_order(symbol, qty) if qty != 0 else None

    def market_order(self, symbol: str, quantity: float | Decimal) -> OrderRecord:
        return self._submit(symbol, to_decimal(quantity), "market")

    def limit_order(self, symbol: str, quantity: float | Decimal,
                    limit_price: float | Decimal) -> OrderRecord:
        return self._submit(symbol, to_decimal(quantity), "limit", limit=to_decimal(limit_price))

    def stop_order(self, symbol: str, quantity: float | Decimal,
                   stop_price: float | Decimal) -> OrderRecord:
        return self._submit(symbol, to_decimal(quantity), "stop", stop=to_decimal(stop_price))

    def cancel(self, order: OrderRecord) -> None:
        if order.status == "submitted":
            order.status, order.reason = "canceled", "canceled by the algorithm"

    def _submit(self, symbol: str, quantity: Decimal, order_type: OrderType,
                limit: Decimal | None = None, stop: Decimal | None = None) -> OrderRecord:
        if quantity == 0:
            raise ValueError(f"order for {symbol}: quantity must not be 0")
        terms = OrderTerms("buy" if quantity > 0 else "sell", abs(quantity), order_type,
                           limit, stop, self.time)
        record = OrderRecord(len(self.orders) + 1, symbol, terms)
        self.orders.append(record)
        self._try_fill(record)
        return record

    def _try_fill(self, record: OrderRecord) -> None:
        market = self.latest.get(record.symbol)
        if market is None:
            record.reason = "no data yet for the symbol"
            return
        result = execute_order(record.terms, market, self.models)
        record.reason = result.reason
        if not result.filled or result.price is None:
            return
        signed = record.signed_quantity
        self.cash -= signed * result.price + result.fee
        self.holdings[record.symbol] += signed
        record.status, record.fill_price, record.fee = "filled", result.price, result.fee
        record.filled_at = self.time

    def _step(self, when: datetime, data: dict[str, MarketSnapshot]) -> None:
        self.time = when
        for symbol, snapshot in data.items():
            self.latest[symbol] = snapshot
            if snapshot.price is not None:
                self.prices[symbol] = snapshot.price
        for record in self.orders:
            if record.status == "submitted" and record.symbol in data:
                self._try_fill(record)


class Algorithm(Protocol):
    def on_data(self, ctx: BacktestContext, data: dict[str, MarketSnapshot]) -> None:
        """Called once per time step with the snapshots that closed at ``ctx.time``."""


def run_backtest(algorithm: Algorithm, snapshots: Iterable[MarketSnapshot],
                 models: ExecutionModels, cash: float | Decimal,
                 start: datetime) -> BacktestResult:
    """Replay ``snapshots`` (any symbols, ordered by end time) through ``algorithm``."""
    ctx = BacktestContext(models, to_decimal(cash))
    curve: list[tuple[datetime, Decimal]] = []
    ordered = sorted(snapshots, key=lambda s: s.end)
    for when, group in groupby(ordered, key=lambda s: s.end):
        data = {s.symbol: s for s in group}
        ctx._step(when, data)
        algorithm.on_data(ctx, data)
        curve.append((when, ctx.total_portfolio_value))
    return BacktestResult(start, to_decimal(cash), ctx.orders, curve, ctx.cash,
                          {s: q for s, q in ctx.holdings.items() if q != 0})


# --------------------------------------------------------------------------- statistics


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
