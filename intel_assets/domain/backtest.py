"""Owns the event-driven backtest engine: replays MarketSnapshots through an algorithm, sends its
orders to a Broker (the shared ``OrderBook`` in process, or a LEAN runner over HTTP), keeps
cash and holdings in Decimal from the broker's fill events, and records the equity curve.

Time steps follow LEAN's ``AlgorithmManager`` loop (QuantConnect/Lean master 24863901
``Engine/AlgorithmManager.cs``): for each time step ``T`` (a bar end) the engine (1) fires the
scheduled events timed before ``T`` (at their own time, on the previous bars), (2) hands the
step's bars to the broker, which scans open orders on them, (3) fires the events timed at ``T``,
(4) calls ``algorithm.on_data``, (5) lets the broker scan once more (LEAN's post-OnData scan,
where updates made in on_data take effect) and (6) marks the portfolio at the trade closes.
Fill events reach the portfolio first, then ``algorithm.on_order_event``. Buying-power checks,
margin calls, dividends and splits are not modelled. Statistics: ``backtest_stats``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import groupby
from typing import Callable, Iterable, Mapping, Protocol

from intel_assets.domain.backtest_stats import (  # re-exported: callers import them from here
    BacktestStatistics,
    backtest_statistics,
    money,
)
from intel_assets.domain.execution_models.compositions import ExecutionModels
from intel_assets.domain.execution_models.market import ZERO, MarketSnapshot, SessionHours, to_decimal
from intel_assets.domain.execution_models.orders import OrderTerms, OrderType, TimeInForce
from intel_assets.domain.order_book import BookEvent, OrderBook, OrderRejected

RecordStatus = str  # "submitted" | "filled" | "canceled" | "invalid"


@dataclass
class OrderRecord:
    """The algorithm's ticket for one order, kept current from the broker's events."""

    order_id: str
    symbol: str
    terms: OrderTerms
    status: RecordStatus = "submitted"
    fill_price: Decimal | None = None
    fee: Decimal = ZERO
    filled_at: datetime | None = None
    reason: str = ""
    tag: str = ""
    update_count: int = 0

    @property
    def signed_quantity(self) -> Decimal:
        return self.terms.signed_quantity

    @property
    def is_open(self) -> bool:
        return self.status == "submitted"


@dataclass(frozen=True)
class BrokerEvent:
    """A broker's report about one order: a fill, a cancel (or expiry), or new terms."""

    order_id: str
    kind: str  # "filled" | "canceled" | "updated"
    time: datetime
    fill_quantity: Decimal = ZERO
    fill_price: Decimal | None = None
    fee: Decimal = ZERO
    reason: str = ""
    terms: OrderTerms | None = None


class Broker(Protocol):
    """Where an algorithm's orders go; every method answers the events it caused."""

    def step(self, when: datetime, data: Mapping[str, MarketSnapshot]) -> list[BrokerEvent]:
        """A time step: the broker sees the bars that closed at ``when`` and scans."""

    def set_time(self, when: datetime) -> list[BrokerEvent]:
        """The clock moves to ``when`` without new bars (a scheduled event)."""

    def submit(self, symbol: str, terms: OrderTerms,
               tag: str) -> tuple[str, OrderTerms, list[BrokerEvent]]:
        """Place an order: (order id, accepted terms, events); raises OrderRejected."""

    def update(self, order_id: str, quantity: Decimal | None, limit_price: Decimal | None,
               stop_price: Decimal | None,
               trailing_amount: Decimal | None) -> tuple[OrderTerms, list[BrokerEvent]]:
        """Change an open order: (its new terms, events); raises OrderRejected."""

    def cancel(self, order_id: str) -> list[BrokerEvent]:
        """Cancel an open order; raises OrderRejected when it cannot be."""

    def end_step(self) -> list[BrokerEvent]:
        """LEAN's scan after on_data (updates made in on_data are evaluated here)."""


def _event(e: BookEvent, terms: OrderTerms) -> BrokerEvent:
    return BrokerEvent(str(e.order_id), e.kind, e.time, e.fill_quantity, e.fill_price, e.fee,
                       e.reason, terms)


class LocalBroker:
    """The in-process broker: the shared OrderBook fed with the engine's bars."""

    def __init__(self, models: ExecutionModels, hours: Mapping[str, SessionHours] | None = None,
                 **book_options) -> None:
        self.book = OrderBook(models, **book_options)
        self._hours = dict(hours or {})

    def _events(self, events: list[BookEvent]) -> list[BrokerEvent]:
        return [_event(e, self.book.get(e.order_id).terms) for e in events]

    def step(self, when, data):
        for symbol in data:
            if not self.book.has_security(symbol):
                self.book.add_security(symbol, self._hours.get(symbol))
        self.book.update_market(when, list(data.values()))
        return self._events(self.book.scan())

    def set_time(self, when):
        self.book.set_time(when)
        return []

    def submit(self, symbol, terms, tag):
        if not self.book.has_security(symbol):
            raise OrderRejected(f"there is no data for {symbol} yet")
        order, events = self.book.submit(symbol, terms, tag)
        return str(order.id), order.terms, self._events(events)

    def update(self, order_id, quantity, limit_price, stop_price, trailing_amount):
        order, events = self.book.update(int(order_id), quantity, limit_price, stop_price,
                                         trailing_amount)
        return order.terms, self._events(events)

    def cancel(self, order_id):
        return self._events(self.book.cancel(int(order_id), "canceled by the algorithm")[1])

    def end_step(self):
        return self._events(self.book.scan())


@dataclass
class BacktestResult:
    start: datetime
    starting_cash: Decimal
    orders: list[OrderRecord]
    equity_curve: list[tuple[datetime, Decimal]]
    cash: Decimal
    holdings: dict[str, Decimal]
    rejected: list[OrderRecord] = field(default_factory=list)

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
    """What an algorithm sees and calls: time, cash, holdings, prices, orders and schedules."""

    def __init__(self, models: ExecutionModels, cash: Decimal, broker: Broker) -> None:
        self.models, self.cash, self.broker = models, cash, broker
        self.time: datetime | None = None
        self.holdings: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self.latest: dict[str, MarketSnapshot] = {}
        self.prices: dict[str, Decimal] = {}
        self.orders: list[OrderRecord] = []
        self.rejected: list[OrderRecord] = []
        self.default_time_in_force: TimeInForce = "gtc"  # LEAN DefaultOrderProperties
        self.default_expire_date: date | None = None
        self.algorithm: object | None = None
        self._by_id: dict[str, OrderRecord] = {}
        self._schedule: list[tuple[datetime, int, Callable[["BacktestContext"], None]]] = []
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

    def close(self, symbol: str) -> Decimal:
        """``Securities[symbol].Close``: the latest trade close."""
        price = self.prices.get(symbol)
        if price is None:
            raise ValueError(f"no price yet for {symbol}")
        return price

    # ---- schedules ------------------------------------------------------------------------
    def schedule(self, when: datetime, callback: Callable[["BacktestContext"], None]) -> None:
        """Run ``callback(ctx)`` at ``when`` (LEAN Schedule.On), on the bars known by then."""
        self._schedule.append((when, len(self._schedule), callback))
        self._schedule.sort(key=lambda item: (item[0], item[1]))

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

    def market_order(self, symbol: str, quantity, asynchronous: bool = False,
                     tag: str = "") -> OrderRecord:
        """A market order; as in a LEAN backtest, ``asynchronous`` ones fill at once too (the
        request is processed, and the book scanned, before the call returns)."""
        return self.order(symbol, quantity, "market", tag=tag)

    def limit_order(self, symbol: str, quantity, limit_price, tag: str = "") -> OrderRecord:
        return self.order(symbol, quantity, "limit", limit_price=limit_price, tag=tag)

    def stop_order(self, symbol: str, quantity, stop_price, tag: str = "") -> OrderRecord:
        return self.order(symbol, quantity, "stop", stop_price=stop_price, tag=tag)

    def stop_limit_order(self, symbol: str, quantity, stop_price, limit_price,
                         tag: str = "") -> OrderRecord:
        return self.order(symbol, quantity, "stop_limit", limit_price=limit_price,
                          stop_price=stop_price, tag=tag)

    def trailing_stop_order(self, symbol: str, quantity, stop_price, trailing_amount,
                            trailing_percent: bool, tag: str = "") -> OrderRecord:
        return self.order(symbol, quantity, "trailing_stop", stop_price=stop_price,
                          trailing_amount=trailing_amount, trailing_percent=trailing_percent,
                          tag=tag)

    def market_on_open_order(self, symbol: str, quantity, tag: str = "") -> OrderRecord:
        return self.order(symbol, quantity, "market_on_open", tag=tag)

    def market_on_close_order(self, symbol: str, quantity, tag: str = "") -> OrderRecord:
        return self.order(symbol, quantity, "market_on_close", tag=tag)

    def order(self, symbol: str, quantity, order_type: OrderType, *, limit_price=None,
              stop_price=None, trailing_amount=None, trailing_percent: bool = False,
              time_in_force: TimeInForce | None = None, tag: str = "") -> OrderRecord:
        """Submit one order (signed ``quantity``); a refused order comes back ``invalid``."""
        qty = to_decimal(quantity)
        tif = time_in_force or self.default_time_in_force
        def dec(v):
            return None if v is None else to_decimal(v)

        try:
            terms = OrderTerms("buy" if qty > 0 else "sell", abs(qty), order_type,
                               dec(limit_price), dec(stop_price), self.time, tif,
                               self.default_expire_date if tif == "gtd" else None,
                               dec(trailing_amount), trailing_percent)
            order_id, terms, events = self.broker.submit(symbol, terms, tag)
        except (OrderRejected, ValueError) as exc:
            rejected = OrderRecord(f"invalid-{len(self.rejected) + 1}", symbol, OrderTerms(
                "buy" if qty >= 0 else "sell", abs(qty) or Decimal(1)), "invalid",
                reason=str(exc), tag=tag)
            self.rejected.append(rejected)
            return rejected
        record = OrderRecord(order_id, symbol, terms, tag=tag)
        self.orders.append(record)
        self._by_id[order_id] = record
        self.apply(events)
        return record

    def update_order(self, record: OrderRecord, quantity=None, limit_price=None,
                     stop_price=None, trailing_amount=None) -> bool:
        """LEAN ``OrderTicket.Update``: False (and the reason on the record) when refused."""
        def dec(v):
            return None if v is None else to_decimal(v)

        qty = dec(quantity)
        try:
            record.terms, events = self.broker.update(
                record.order_id, None if qty is None else abs(qty), dec(limit_price),
                dec(stop_price), dec(trailing_amount))
        except OrderRejected as exc:
            record.reason = f"update refused: {exc}"
            return False
        record.update_count += 1
        self.apply(events)
        return True

    def cancel(self, record: OrderRecord) -> bool:
        """LEAN ``OrderTicket.Cancel``: False when the order can no longer be canceled."""
        if record.status != "submitted":
            return False
        try:
            self.apply(self.broker.cancel(record.order_id))
        except OrderRejected as exc:
            record.reason = f"cancel refused: {exc}"
            return False
        return True

    def apply(self, events: Iterable[BrokerEvent]) -> None:
        """Fold broker events into orders and the portfolio, then tell the algorithm."""
        for event in events:
            record = self._by_id.get(event.order_id)
            if record is None:
                continue
            if event.terms is not None:
                record.terms = event.terms
            record.reason = event.reason or record.reason
            if event.kind == "filled" and event.fill_price is not None:
                self.cash -= event.fill_quantity * event.fill_price + event.fee
                self.holdings[record.symbol] += event.fill_quantity
                record.status, record.fill_price, record.fee = "filled", event.fill_price, event.fee
                record.filled_at = event.time
            elif event.kind == "canceled":
                record.status = "canceled"
            handler = getattr(self.algorithm, "on_order_event", None)
            if callable(handler) and event.kind in ("filled", "canceled"):
                handler(self, record, event)

    # ---- the loop -------------------------------------------------------------------------
    def _fire(self, until: datetime, inclusive: bool) -> None:
        while self._schedule and (self._schedule[0][0] <= until if inclusive
                                  else self._schedule[0][0] < until):
            when, _, callback = self._schedule.pop(0)
            if self.time is None or when > self.time:
                self.time = when
                self.apply(self.broker.set_time(when))
            callback(self)

    def _step(self, when: datetime, data: dict[str, MarketSnapshot]) -> None:
        self._fire(when, inclusive=False)
        self.time = when
        for symbol, snapshot in data.items():
            self.latest[symbol] = snapshot
            if snapshot.price is not None:
                self.prices[symbol] = snapshot.price
        self.apply(self.broker.step(when, data))
        self._fire(when, inclusive=True)


class Algorithm(Protocol):
    def on_data(self, ctx: BacktestContext, data: dict[str, MarketSnapshot]) -> None:
        """Called once per time step with the snapshots that closed at ``ctx.time``.

        Optional: ``initialize(ctx)`` (before the first step), ``on_order_event(ctx, record,
        event)`` (each fill or cancel), ``on_end(ctx)`` (after the last step)."""


def run_backtest(algorithm: Algorithm, snapshots: Iterable[MarketSnapshot],
                 models: ExecutionModels, cash: float | Decimal, start: datetime, *,
                 hours: Mapping[str, SessionHours] | None = None,
                 broker: Broker | None = None) -> BacktestResult:
    """Replay ``snapshots`` (any symbols) through ``algorithm``; orders go to ``broker``
    (default: a LocalBroker over the shared OrderBook with ``hours`` per symbol)."""
    broker = broker or LocalBroker(models, hours)
    ctx = BacktestContext(models, to_decimal(cash), broker)
    ctx.algorithm = algorithm
    init = getattr(algorithm, "initialize", None)
    if callable(init):
        init(ctx)
    curve: list[tuple[datetime, Decimal]] = []
    for when, group in groupby(sorted(snapshots, key=lambda s: s.end), key=lambda s: s.end):
        data = {s.symbol: s for s in group}
        ctx._step(when, data)
        algorithm.on_data(ctx, data)
        ctx.apply(broker.end_step())
        curve.append((when, ctx.total_portfolio_value))
    end = getattr(algorithm, "on_end", None)
    if callable(end):
        end(ctx)
    return BacktestResult(start, to_decimal(cash), ctx.orders, curve, ctx.cash,
                          {s: q for s, q in ctx.holdings.items() if q != 0}, ctx.rejected)


__all__ = ["Algorithm", "BacktestContext", "BacktestResult", "BacktestStatistics", "Broker",
           "BrokerEvent", "LocalBroker", "OrderRecord", "backtest_statistics", "money",
           "run_backtest"]
