"""Owns our restatements of LEAN regression algorithms that trade the shared LEAN week, with the
statistics LEAN publishes for them, so the engine (and the runner) can be checked against LEAN.

Each algorithm is rewritten from QuantConnect/Lean master 24863901
``Algorithm.CSharp/<Name>.cs`` (the published numbers are its ``ExpectedStatistics``); only the
trading logic is restated, in our own words and API (``BacktestContext``). All use SPY minute
data, LEAN's default Adjusted normalization, 100,000 USD and regular hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Callable

from intel_assets.domain.backtest import BacktestContext, BrokerEvent, OrderRecord
from intel_assets.domain.execution_models.market import MarketSnapshot
from intel_assets.domain.market_data import NEW_YORK

LEAN_COMMIT = "24863901deffa9ec7985e21ef8fbdb0258efb9e4"
SPY = "SPY"


def _at(ctx: BacktestContext, day: int, hour: int, minute: int) -> bool:
    """LEAN's ``TimeIs``: the algorithm clock is ``day`` hh:mm New York."""
    assert ctx.time is not None
    local = ctx.time.astimezone(NEW_YORK)
    return (local.day, local.hour, local.minute) == (day, hour, minute)


def _ny(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm, ss), tzinfo=NEW_YORK)


# --------------------------------------------------------------------------- algorithms


class BasicTemplate:
    """BasicTemplateAlgorithm: ``SetHoldings(SPY, 1)`` on the first data point, then hold."""

    def on_data(self, ctx: BacktestContext, data: dict[str, MarketSnapshot]) -> None:
        if not ctx.invested:
            ctx.set_holdings(SPY, 1)


class MarketOrderStaleDataFill:
    """MarketOrderStaleDataFillRegressionAlgorithm: a 1-share market order every trading day at
    09:30:01 (before the session's first bar: LEAN waits for fresh data) and at 12:00:00, once
    the security has data."""

    def __init__(self, days: list[date]) -> None:
        self.days = days

    def initialize(self, ctx: BacktestContext) -> None:
        for day in self.days:
            ctx.schedule(_ny(day, 9, 30, 1), self.trade)
            ctx.schedule(_ny(day, 12, 0, 0), self.trade)

    def trade(self, ctx: BacktestContext) -> None:
        if SPY in ctx.latest:
            ctx.market_order(SPY, 1)

    def on_data(self, ctx, data) -> None:
        return None


class TimeInForceOrders:
    """TimeInForceAlgorithm: on the first data point, two GTC, two DAY and two GTD (2013-10-10)
    buy limits of 10 shares at 100/160, 140/180 and 100/160."""

    def __init__(self) -> None:
        self.tickets: dict[str, OrderRecord] = {}

    def on_data(self, ctx: BacktestContext, data) -> None:
        if self.tickets:
            return
        ctx.default_time_in_force = "gtc"
        self.tickets["gtc1"] = ctx.limit_order(SPY, 10, 100)
        self.tickets["gtc2"] = ctx.limit_order(SPY, 10, 160)
        ctx.default_time_in_force = "day"
        self.tickets["day1"] = ctx.limit_order(SPY, 10, 140)
        self.tickets["day2"] = ctx.limit_order(SPY, 10, 180)
        ctx.default_time_in_force, ctx.default_expire_date = "gtd", date(2013, 10, 10)
        self.tickets["gtd1"] = ctx.limit_order(SPY, 10, 100)
        self.tickets["gtd2"] = ctx.limit_order(SPY, 10, 160)

    #: the statuses LEAN's algorithm asserts at the end
    EXPECTED = {"gtc1": "submitted", "gtc2": "filled", "day1": "canceled", "day2": "filled",
                "gtd1": "canceled", "gtd2": "filled"}


def _pair_filled(ctx: BacktestContext, pair: list[OrderRecord]) -> bool:
    """LEAN's ``CheckPairOrdersForFills``: when one side filled, cancel the other."""
    long_order, short_order = pair
    if long_order.status == "filled":
        ctx.cancel(short_order)
        return True
    if short_order.status == "filled":
        ctx.cancel(long_order)
        return True
    return False


class OrderTicketDemo:
    """OrderTicketDemoAlgorithm: every order type with updates and cancels (see LEAN's file)."""

    def __init__(self) -> None:
        self.limits: list[OrderRecord] = []
        self.stops: list[OrderRecord] = []
        self.stop_limits: list[OrderRecord] = []
        self.trailing: list[OrderRecord] = []
        self.moo: list[OrderRecord] = []
        self.moc: list[OrderRecord] = []
        self.sync_market_filled: bool | None = None

    def on_data(self, ctx: BacktestContext, data) -> None:
        for step in (self._market, self._limit, self._stop, self._stop_limit, self._trailing,
                     self._market_on_open, self._market_on_close):
            step(ctx)

    def _market(self, ctx: BacktestContext) -> None:
        if _at(ctx, 7, 9, 31):
            self.sync_market_filled = ctx.market_order(SPY, 10).status == "filled"
            ctx.cancel(ctx.market_order(SPY, 10, asynchronous=True))

    def _limit(self, ctx: BacktestContext) -> None:
        if _at(ctx, 7, 12, 0):
            close = ctx.close(SPY)
            self.limits = [ctx.limit_order(SPY, 10, close * Decimal("0.999")),
                           ctx.limit_order(SPY, -10, close * Decimal("1.001"))]
        if len(self.limits) == 2:
            if _pair_filled(ctx, self.limits):
                self.limits = []
                return
            long_order, short_order = self.limits
            ctx.update_order(long_order, limit_price=long_order.terms.limit_price + Decimal("0.01"))
            ctx.update_order(short_order,
                             limit_price=short_order.terms.limit_price - Decimal("0.01"))

    def _stop(self, ctx: BacktestContext) -> None:
        if _at(ctx, 7, 16, 0):
            close = ctx.close(SPY)
            self.stops = [ctx.stop_order(SPY, 10, close * Decimal("1.0025")),
                          ctx.stop_order(SPY, -10, close * Decimal("0.9975"))]
        if len(self.stops) == 2:
            if _pair_filled(ctx, self.stops):
                self.stops = []
                return
            long_order, short_order = self.stops
            ctx.update_order(long_order, stop_price=long_order.terms.stop_price - Decimal("0.01"))
            ctx.update_order(short_order, stop_price=short_order.terms.stop_price + Decimal("0.01"))

    def _stop_limit(self, ctx: BacktestContext) -> None:
        if _at(ctx, 8, 12, 1):
            close = ctx.close(SPY)
            self.stop_limits = [
                ctx.stop_limit_order(SPY, 10, close * Decimal("1.001"), close - Decimal("0.03")),
                ctx.stop_limit_order(SPY, -10, close * Decimal("0.999"), close + Decimal("0.03"))]
        if len(self.stop_limits) == 2:
            if _pair_filled(ctx, self.stop_limits):
                self.stop_limits = []
                return
            cent = Decimal("0.01")
            long_order, short_order = self.stop_limits
            ctx.update_order(long_order, stop_price=long_order.terms.stop_price - cent,
                             limit_price=long_order.terms.limit_price + cent)
            ctx.update_order(short_order, stop_price=short_order.terms.stop_price + cent,
                             limit_price=short_order.terms.limit_price - cent)

    def _trailing(self, ctx: BacktestContext) -> None:
        step, floor = Decimal("0.0001"), Decimal("0.0001")
        if _at(ctx, 7, 12, 0):
            close, pct = ctx.close(SPY), Decimal("0.0025")
            self.trailing = [
                ctx.trailing_stop_order(SPY, 10, close * Decimal("1.0025"), pct, True),
                ctx.trailing_stop_order(SPY, -10, close * Decimal("0.9975"), pct, True)]
        elif len(self.trailing) == 2:
            if _pair_filled(ctx, self.trailing):
                self.trailing = []
                return
            long_order, short_order = self.trailing
            assert ctx.time is not None and long_order.terms.submitted_at is not None
            minutes = (ctx.time - long_order.terms.submitted_at) / timedelta(minutes=1)
            if minutes % 5 != 0:
                return
            for order in (long_order, short_order):
                amount = order.terms.trailing_amount or floor
                ctx.update_order(order, trailing_amount=max(amount - step, floor))

    def _market_on_open(self, ctx: BacktestContext) -> None:
        if _at(ctx, 8, 16, 0):
            self.moo = [ctx.market_on_open_order(SPY, 50)]
        self._bump_quantity(ctx, self.moo)

    def _market_on_close(self, ctx: BacktestContext) -> None:
        if _at(ctx, 9, 12, 0):
            held = ctx.holdings[SPY]
            self.moc = [ctx.market_on_close_order(SPY, 100 if held == 0 else 2 * held)]
        self._bump_quantity(ctx, self.moc)
        if _at(ctx, 11, 15, 45):  # inside the 15.5-min buffer: LEAN refuses it (not counted)
            ctx.market_on_close_order(SPY, -ctx.holdings[SPY], tag="Liquidate end of algorithm")

    @staticmethod
    def _bump_quantity(ctx: BacktestContext, tickets: list[OrderRecord]) -> None:
        assert ctx.time is not None
        if len(tickets) == 1 and ctx.time.astimezone(NEW_YORK).minute == 59:
            ticket = tickets[0]
            if ticket.status == "filled":
                tickets.clear()
                return
            ctx.update_order(ticket, quantity=ticket.signed_quantity + 1)


class MarketOnCloseBuffer:
    """MarketOnCloseOrderBufferRegressionAlgorithm: submission buffer 10 min; MOC of 2 shares at
    15:49 (accepted), at 15:51 (refused) and at 17:00 (after the close: fills next close)."""

    moc_buffer = timedelta(minutes=10)

    def __init__(self) -> None:
        self.valid: OrderRecord | None = None
        self.invalid: OrderRecord | None = None
        self.after_hours: OrderRecord | None = None

    def initialize(self, ctx: BacktestContext) -> None:
        ctx.schedule(_ny(date(2013, 10, 7), 17, 0), self._after_hours)

    def _after_hours(self, ctx: BacktestContext) -> None:
        self.after_hours = ctx.market_on_close_order(SPY, 2)

    def on_data(self, ctx: BacktestContext, data) -> None:
        assert ctx.time is not None
        local = ctx.time.astimezone(NEW_YORK)
        if (local.hour, local.minute) == (15, 49) and self.valid is None:
            self.valid = ctx.market_on_close_order(SPY, 2)
        if (local.hour, local.minute) == (15, 51) and self.invalid is None:
            self.invalid = ctx.market_on_close_order(SPY, 2)


class StopLossOnOrderEvent:
    """StopLossOnOrderEventRegressionAlgorithm: short 100 SPY at the first data point; when it
    fills, a buy stop for 100 at the fill price - 2 (below the market: it triggers at once)."""

    def __init__(self) -> None:
        self.traded = False

    def on_data(self, ctx: BacktestContext, data) -> None:
        if not ctx.invested and not self.traded:
            self.traded = True
            ctx.market_order(SPY, -100, tag="Entry")

    def on_order_event(self, ctx: BacktestContext, record: OrderRecord,
                       event: BrokerEvent) -> None:
        if record.tag == "Entry" and event.kind == "filled" and record.fill_price is not None:
            ctx.stop_order(record.symbol, -record.signed_quantity, record.fill_price - 2,
                           tag="StopLoss")


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Regression:
    """One LEAN regression algorithm: how to build it, its period and LEAN's statistics."""

    name: str
    lean_file: str
    build: Callable[[list[date]], object]
    start: date
    end: date
    published: dict[str, str]
    symbols: tuple[str, ...] = (SPY,)
    cash: Decimal = Decimal(100_000)
    notes: str = ""
    extra: dict[str, str] = field(default_factory=dict)


WEEK = (date(2013, 10, 7), date(2013, 10, 11))


def _stats(orders: str, fees: str, end: str, net: str) -> dict[str, str]:
    return {"Total Orders": orders, "Total Fees": fees, "Start Equity": "100000",
            "End Equity": end, "Net Profit": net}


REGRESSIONS: dict[str, Regression] = {r.name: r for r in [
    Regression("basic-template", "Algorithm.CSharp/BasicTemplateAlgorithm.cs",
               lambda days: BasicTemplate(), *WEEK,
               _stats("1", "$3.44", "101691.92", "1.692%")),
    Regression("market-order-stale-data-fill",
               "Algorithm.CSharp/MarketOrderStaleDataFillRegressionAlgorithm.cs",
               lambda days: MarketOrderStaleDataFill(days), *WEEK,
               _stats("9", "$9.00", "100012.81", "0.013%")),
    Regression("time-in-force", "Algorithm.CSharp/TimeInForceAlgorithm.cs",
               lambda days: TimeInForceOrders(), *WEEK,
               _stats("6", "$3.00", "100070.41", "0.070%")),
    Regression("order-ticket-demo", "Algorithm.CSharp/OrderTicketDemoAlgorithm.cs",
               lambda days: OrderTicketDemo(), *WEEK,
               _stats("12", "$9.00", "100709.93", "0.710%")),
    Regression("market-on-close-buffer",
               "Algorithm.CSharp/MarketOnCloseOrderBufferRegressionAlgorithm.cs",
               lambda days: MarketOnCloseBuffer(), date(2013, 10, 7), date(2013, 10, 8),
               {"Total Orders": "2", "Total Fees": "$2.00", "Start Equity": "100000",
                "End Equity": "99994.65"}),
    Regression("stop-loss-on-order-event",
               "Algorithm.CSharp/StopLossOnOrderEventRegressionAlgorithm.cs",
               lambda days: StopLossOnOrderEvent(), *WEEK,
               _stats("2", "$2.00", "99995.41", "-0.005%")),
]}


__all__ = ["BasicTemplate", "LEAN_COMMIT", "MarketOnCloseBuffer", "MarketOrderStaleDataFill",
           "OrderTicketDemo", "REGRESSIONS", "Regression", "StopLossOnOrderEvent",
           "TimeInForceOrders"]
