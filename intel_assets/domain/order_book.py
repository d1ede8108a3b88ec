"""Owns the order-processing core shared by the backtest engine and the LEAN runner: an order
book that accepts, updates, cancels, expires and fills orders with one ExecutionModels
composition, the way LEAN's transaction handler and BacktestingBrokerage do.

Restated from QuantConnect/Lean master 24863901 (``Brokerages/Backtesting/BacktestingBrokerage.cs``
``Scan``, ``Engine/TransactionHandlers/BrokerageTransactionHandler.cs``, ``Algorithm/
QCAlgorithm.Trading.cs`` ``PreOrderChecksImpl``, ``Common/Orders/TimeInForces``):

* The book has a clock (``now``) and, per security, a cache of the latest trade and quote bars.
  ``update_market`` moves the clock to a bar end and stores that time step's bars; ``scan``
  evaluates every open order on the cache, in order-id order. ``advance_to`` does both for
  every data time step up to a moment when the book holds the securities' bars (the runner).
* Submission checks (refusals raise ``OrderRejected``; LEAN does not count them as orders): the
  security must have data; a market-on-open order cannot be placed while the market is open;
  a market-on-close order must be placed before the close minus the submission buffer (15.5 min
  by default). A market order placed while the exchange is closed becomes market-on-open.
  With ``round_prices`` (raw prices, as a broker sees them) limit and stop prices are rounded
  to the tick (0.01, or 0.0001 below USD 1).
* Every request (submit, update, cancel) is followed by a scan, as LEAN's synchronous request
  pool does (``processRequest`` = handle + ``BacktestingBrokerage.Scan``): a market order fills
  at once (asynchronous ones too), an update is evaluated on the current bar. Any other new
  order is first evaluated on the next time step ("all order fills are processed on the next
  bar").
* Each scan first expires orders: day at the first regular close after the order time, gtd at
  the close of its date (LEAN cancels them: status ``canceled``, reason "expired"); ioc/fok
  orders not filled on their first bar after the order time are canceled.
* A fill is whole; its fee comes from the fee model on LEAN's order value.
* Updates change quantity, limit, stop or trailing amount in place (the order time stays). A
  rewound clock (``rewind_to``) never re-evaluates an order on bars it has seen: orders last
  scanned after the new clock wait until the clock passes them.

Scans skip what cannot change (the result is the same as evaluating every open order): an
order evaluated on the same data, with the same terms, is not evaluated again while the clock
facts its decision reads are unchanged (``ExecutionModels.clock_facts``: for LEAN's fill model,
whether the exchange is open) and no expiry has come. Orders that are new, updated, changed by
their last evaluation, not evaluated yet, or whose decision reads the clock itself
(``clock_sensitive``: market-on-close) are always evaluated, and so is every open order once the
data or those facts change. A composition that does not declare its clock facts is evaluated in
full on every scan.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal, Sequence
from zoneinfo import ZoneInfo

from intel_assets.domain.execution_models.compositions import ExecutionModels, execute_order
from intel_assets.domain.execution_models.market import (
    ONE_HOUR,
    ONE_MINUTE,
    ZERO,
    MarketSnapshot,
    MarketView,
    SessionHours,
)
from intel_assets.domain.execution_models.orders import OrderTerms, order_terms_problems
from intel_assets.domain.execution_models.price_variation import round_to_tick, tick_size

BookStatus = Literal["submitted", "filled", "canceled"]
DEFAULT_MOC_BUFFER = timedelta(minutes=15, seconds=30)  # LEAN MarketOnCloseOrder default
_NEW_YORK = ZoneInfo("America/New_York")


class OrderRejected(ValueError):
    """The book refuses a request (bad order, wrong state); the message says why in plain words."""


@dataclass
class BookOrder:
    """One order as the book holds it (mutable: the book updates it as time passes)."""

    id: int
    symbol: str
    terms: OrderTerms
    created_at: datetime
    tag: str = ""
    status: BookStatus = "submitted"
    fill_price: Decimal | None = None
    fee: Decimal = ZERO
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    expired: bool = False
    reason: str = ""
    update_count: int = 0
    evaluated_bar_start: datetime | None = None
    evaluated_bar_end: datetime | None = None
    last_scanned: datetime | None = None  # see OrderBook.scan for orders a scan skipped

    @property
    def is_open(self) -> bool:
        return self.status == "submitted"

    @property
    def signed_quantity(self) -> Decimal:
        return self.terms.signed_quantity


@dataclass(frozen=True)
class BookEvent:
    """Something that happened to an order: a fill, a cancel/expiry, or a state change."""

    order_id: int
    symbol: str
    kind: Literal["filled", "canceled", "updated"]
    time: datetime
    fill_quantity: Decimal = ZERO  # signed
    fill_price: Decimal | None = None
    fee: Decimal = ZERO
    reason: str = ""


@dataclass
class _Security:
    hours: SessionHours | None
    lot_size: Decimal
    snapshots: Sequence[MarketSnapshot] = ()
    ends: list[datetime] = field(default_factory=list)
    cursor: int = 0  # snapshots[:cursor] have been fed to the cache
    trade: MarketSnapshot | None = None
    quote: MarketSnapshot | None = None

    def store(self, snapshot: MarketSnapshot) -> None:
        if snapshot.trade is not None:
            self.trade = snapshot
        if snapshot.quote is not None:
            self.quote = snapshot


class OrderBook:
    """LEAN's order processing for any number of securities under one composition."""

    def __init__(self, models: ExecutionModels, *, round_prices: bool = False,
                 stale_price_window: timedelta = ONE_HOUR, resolution: timedelta = ONE_MINUTE,
                 moc_buffer: timedelta = DEFAULT_MOC_BUFFER, extended_hours: bool = False) -> None:
        self.models = models
        self.round_prices = round_prices
        self.stale_price_window, self.resolution = stale_price_window, resolution
        self.moc_buffer, self.extended_hours = moc_buffer, extended_hours
        self.now: datetime | None = None
        self.orders: dict[int, BookOrder] = {}
        self._securities: dict[str, _Security] = {}
        self._open: dict[int, BookOrder] = {}  # open orders, in id order
        self._dirty: set[int] = set()  # open orders the next scan evaluates whatever the inputs
        self._sensitive: set[int] = set()  # open orders whose decision reads the clock itself
        self._expiry: dict[int, datetime | None] = {}  # open order -> when its time in force ends
        self._expiries: dict[datetime, int] = {}  # those ends -> how many open orders have it
        self._symbols: dict[str, int] = {}  # symbol -> how many open orders it has
        self._data_version = 0  # bumped whenever a security cache may have changed
        self._signature: tuple | None = None  # inputs of the last scan that evaluated every order
        self._skipped_at: datetime | None = None  # the last scan, when it skipped unchanged orders

    # ---- securities and time ----------------------------------------------------------------
    def add_security(self, symbol: str, hours: SessionHours | None = None,
                     lot_size: Decimal = Decimal(1),
                     snapshots: Sequence[MarketSnapshot] = ()) -> None:
        """Register ``symbol``; with ``snapshots`` (time-ordered) the book feeds itself in
        ``advance_to``, starting from its clock (bars that ended by then fill the cache)."""
        security = _Security(hours, Decimal(lot_size), snapshots, [s.end for s in snapshots])
        self._securities[symbol] = security
        self._data_version += 1
        if self.now is not None and snapshots:
            self._seek(security, self.now)

    def has_security(self, symbol: str) -> bool:
        return symbol in self._securities

    def open_order_ids(self) -> list[int]:
        """The ids of the open orders, in id order (only these can change)."""
        return list(self._open)

    def view(self, symbol: str) -> MarketView:
        """The security cache of ``symbol`` at the book clock, as fill models see it."""
        sec = self._security(symbol)
        assert self.now is not None, "the book clock is not set"
        return MarketView(symbol, self.now, sec.trade, sec.quote, sec.hours, self.resolution,
                          self.stale_price_window, self.extended_hours)

    def set_time(self, when: datetime) -> None:
        """Move the clock without new data (a scheduled event, a request between bars)."""
        if self.now is not None and when < self.now:
            raise OrderRejected(f"the clock is at {self.now.isoformat()}; {when.isoformat()} is "
                                "earlier (use rewind_to to replay an earlier period)")
        self.now = when

    def update_market(self, when: datetime, snapshots: Sequence[MarketSnapshot]) -> None:
        """One time step: the clock moves to ``when`` and the step's bars enter the caches."""
        self.set_time(when)
        for snapshot in snapshots:
            self._security(snapshot.symbol).store(snapshot)
        self._data_version += 1

    def advance_to(self, when: datetime) -> list[BookEvent]:
        """Every data time step in (now, when] of the securities the book feeds itself: store
        its bars and scan; then the clock moves to ``when`` and the book scans once more."""
        events: list[BookEvent] = []
        if self.now is None:
            self.now = when
            for sec in self._securities.values():
                self._seek(sec, when)
            return self.scan()
        pending: dict[datetime, list[MarketSnapshot]] = {}
        for sec in self._securities.values():
            stop = bisect_right(sec.ends, when)
            for snapshot in sec.snapshots[sec.cursor:stop]:
                pending.setdefault(snapshot.end, []).append(snapshot)
            sec.cursor = max(sec.cursor, stop)
        for step in sorted(pending):
            if step > self.now:
                self.update_market(step, pending[step])
                events += self.scan()
            else:  # bars of a security added after the clock passed them: cache only
                for snapshot in pending[step]:
                    self._security(snapshot.symbol).store(snapshot)
                self._data_version += 1
        if when > self.now:
            self.set_time(when)
        return events + self.scan()

    def rewind_to(self, when: datetime) -> None:
        """Move the clock back (to replay an earlier period): caches are rebuilt as of ``when``;
        open orders already scanned after ``when`` wait until the clock passes that time."""
        self._settle_skipped()
        self.now = when
        self._data_version += 1
        for sec in self._securities.values():
            sec.trade = sec.quote = None
            sec.cursor = 0
            self._seek(sec, when)

    def _seek(self, sec: _Security, when: datetime) -> None:
        stop = bisect_right(sec.ends, when)
        for snapshot in sec.snapshots[sec.cursor:stop]:
            sec.store(snapshot)
        sec.cursor = max(sec.cursor, stop)
        self._data_version += 1

    def _security(self, symbol: str) -> _Security:
        try:
            return self._securities[symbol]
        except KeyError:
            raise OrderRejected(f"unknown symbol {symbol}: the book has no data for it") from None

    # ---- requests ---------------------------------------------------------------------------
    def submit(self, symbol: str, terms: OrderTerms,
               tag: str = "") -> tuple[BookOrder, list[BookEvent]]:
        """Accept ``terms`` at the book clock (or raise OrderRejected), then scan (a market
        order fills at once). ``terms.submitted_at`` is replaced by the clock."""
        if self.now is None:
            raise OrderRejected("the book clock is not set")
        sec = self._security(symbol)
        if sec.trade is None and sec.quote is None:
            raise OrderRejected(f"there is no data for {symbol} yet at {self.now.isoformat()}: "
                                "orders need at least one bar")
        terms = dataclasses.replace(terms, submitted_at=self.now)
        terms = self._checked(symbol, sec, terms)
        order = BookOrder(len(self.orders) + 1, symbol, terms, self.now, tag)
        self.orders[order.id] = order
        self._open[order.id] = order
        self._symbols[symbol] = self._symbols.get(symbol, 0) + 1
        self._touched(order)
        return order, self.scan()

    def _checked(self, symbol: str, sec: _Security, terms: OrderTerms) -> OrderTerms:
        assert self.now is not None
        problems = order_terms_problems(terms)
        if problems:
            raise OrderRejected("; ".join(problems))
        if terms.quantity % sec.lot_size != 0:
            raise OrderRejected(f"quantity {terms.quantity} is not a multiple of the {symbol} "
                                f"lot size {sec.lot_size}")
        hours = sec.hours
        if terms.order_type == "market" and hours is not None and not hours.is_open(self.now):
            terms = dataclasses.replace(terms, order_type="market_on_open")
        if terms.order_type == "market_on_open":
            if hours is None:
                raise OrderRejected("market_on_open orders need exchange hours")
            if hours.is_open(self.now):
                raise OrderRejected("a market_on_open order cannot be placed while the market "
                                    "is open")
        if terms.order_type == "market_on_close":
            if hours is None:
                raise OrderRejected("market_on_close orders need exchange hours")
            close = hours.next_close(self.now)
            if self.now > close - self.moc_buffer:
                raise OrderRejected(f"market_on_close orders must be placed at least "
                                    f"{self.moc_buffer} before the close ({close.isoformat()})")
        return self._rounded(terms)

    def _rounded(self, terms: OrderTerms) -> OrderTerms:
        if not self.round_prices:
            return terms
        changes = {name: round_to_tick(getattr(terms, name)) for name in ("limit_price",
                   "stop_price") if getattr(terms, name) is not None}
        if terms.order_type == "trailing_stop" and not terms.trailing_percent \
                and terms.trailing_amount is not None:
            changes["trailing_amount"] = round_to_tick(terms.trailing_amount)
        return dataclasses.replace(terms, **changes)

    def update(self, order_id: int, quantity: Decimal | None = None,
               limit_price: Decimal | None = None, stop_price: Decimal | None = None,
               trailing_amount: Decimal | None = None) -> tuple[BookOrder, list[BookEvent]]:
        """Change an open order in place, then scan (it is evaluated on the current bar)."""
        order = self.get(order_id)
        if not order.is_open:
            raise OrderRejected(f"order {order_id} is {order.status}; only open orders can be "
                                "updated")
        changes: dict = {}
        kind = order.terms.order_type
        if limit_price is not None:
            if kind not in ("limit", "stop_limit"):
                raise OrderRejected(f"a limit price applies to limit and stop_limit orders; "
                                    f"order {order_id} is a {kind} order")
            changes["limit_price"] = limit_price
        if stop_price is not None:
            if kind not in ("stop", "stop_limit", "trailing_stop"):
                raise OrderRejected(f"a stop price applies to stop, stop_limit and trailing_stop "
                                    f"orders; order {order_id} is a {kind} order")
            changes["stop_price"] = stop_price
        if trailing_amount is not None:
            if kind != "trailing_stop":
                raise OrderRejected(f"a trailing amount applies to trailing_stop orders; order "
                                    f"{order_id} is a {kind} order")
            changes["trailing_amount"] = trailing_amount
        if quantity is not None:
            changes["quantity"] = quantity
        if not changes:
            raise OrderRejected("an update needs a quantity, limit price, stop price or "
                                "trailing amount")
        try:
            terms = dataclasses.replace(order.terms, **changes)
        except ValueError as exc:
            raise OrderRejected(str(exc)) from exc
        sec = self._security(order.symbol)
        if terms.quantity % sec.lot_size != 0:
            raise OrderRejected(f"quantity {terms.quantity} is not a multiple of the "
                                f"{order.symbol} lot size {sec.lot_size}")
        order.terms = self._rounded(terms)
        order.update_count += 1
        self._touched(order)
        return order, self.scan()

    def cancel(self, order_id: int,
               reason: str = "canceled by the client") -> tuple[BookOrder, list[BookEvent]]:
        """Cancel an open order, then scan; canceling a canceled order changes nothing; a
        filled one is refused."""
        order = self.get(order_id)
        if order.status == "filled":
            raise OrderRejected(f"order {order_id} is filled; it can no longer be canceled")
        if order.status == "canceled":
            return order, []
        return order, [self._close(order, reason)] + self.scan()

    def get(self, order_id: int) -> BookOrder:
        try:
            return self.orders[order_id]
        except KeyError:
            raise OrderRejected(f"no order {order_id} in the book") from None

    # ---- scanning ---------------------------------------------------------------------------
    def scan(self) -> list[BookEvent]:
        """Evaluate every open order at the clock (LEAN BacktestingBrokerage.Scan).

        Orders whose evaluation inputs are unchanged since the last full scan are skipped (the
        module docstring says when): their result would be the one they already hold. Their
        ``last_scanned`` is brought to the clock when it matters (``rewind_to``)."""
        assert self.now is not None, "the book clock is not set"
        events: list[BookEvent] = []
        views: dict[str, MarketView] = {}
        signature = self._scan_signature(views)
        if signature is not None and signature == self._signature and not self._expiry_due():
            orders = [self._open[i] for i in sorted(self._dirty)]
            self._skipped_at = self.now
        else:
            self._settle_skipped()
            orders = list(self._open.values())
            self._signature = signature
            self._skipped_at = None
        for order in orders:
            if order.last_scanned is not None and order.last_scanned > self.now:
                self._dirty.add(order.id)  # evaluated once the clock passes its last scan
                continue  # rewound clock: this order has seen later bars already
            order.last_scanned = self.now
            if order.terms.submitted_at == self.now and order.terms.order_type != "market":
                self._dirty.add(order.id)
                continue  # non-market orders are processed on the next bar
            self._dirty.discard(order.id)
            if self._expired(order):
                events.append(self._close(order, "expired: the order's time in force ended",
                                          expired=True))
                continue
            view = views.get(order.symbol)
            if view is None:
                view = views[order.symbol] = self.view(order.symbol)
            event = self._evaluate(order, view)
            if event is not None:
                events.append(event)
        return events

    def _touched(self, order: BookOrder) -> None:
        """A new or updated order: the next scan evaluates it; its expiry and whether its
        decision reads the clock are noted."""
        self._dirty.add(order.id)
        if order.id not in self._expiry:
            expiry = self._expiry_of(order)
            if expiry is not None:
                self._expiries[expiry] = self._expiries.get(expiry, 0) + 1
        if self.models.clock_sensitive(order.terms):
            self._sensitive.add(order.id)

    def _scan_signature(self, views: dict[str, MarketView]) -> tuple | None:
        """What every open order's evaluation reads besides its own terms: the data version
        and, per symbol with open orders, the clock facts of its view (None: no skipping)."""
        if self._sensitive:
            return None
        facts = []
        for symbol in sorted(self._symbols):
            view = views[symbol] = self.view(symbol)
            fact = self.models.clock_facts(view)
            if fact is None:
                return None
            facts.append((symbol, fact))
        return (self._data_version, tuple(facts))

    def _expiry_due(self) -> bool:
        """Whether an open order's time in force has ended by the clock."""
        assert self.now is not None
        return bool(self._expiries) and self.now >= min(self._expiries)

    def _settle_skipped(self) -> None:
        """Give the orders the last scan skipped the ``last_scanned`` they would have had."""
        if self._skipped_at is None:
            return
        for order in self._open.values():
            if order.last_scanned is None or order.last_scanned < self._skipped_at:
                order.last_scanned = self._skipped_at
        self._skipped_at = None

    def _expiry_of(self, order: BookOrder) -> datetime | None:
        """When the order's time in force ends (its terms' order time and date never change);
        remembered while it is open."""
        if order.id not in self._expiry:
            hours, tif = self._security(order.symbol).hours, order.terms.time_in_force
            expiry = None
            if hours is not None and tif == "day":
                expiry = hours.next_close(order.terms.submitted_at or order.created_at)
            elif hours is not None and tif == "gtd" and order.terms.expire_date is not None:
                expiry = hours.next_close(_ny_midnight(order.terms.expire_date))
            self._expiry[order.id] = expiry
        return self._expiry[order.id]

    def _expired(self, order: BookOrder) -> bool:
        assert self.now is not None
        expiry = self._expiry_of(order)
        return expiry is not None and self.now >= expiry

    def _closed(self, order: BookOrder) -> None:
        if self._open.pop(order.id, None) is not None:
            self._symbols[order.symbol] -= 1
            if not self._symbols[order.symbol]:
                del self._symbols[order.symbol]
        expiry = self._expiry.pop(order.id, None)
        if expiry is not None:
            self._expiries[expiry] -= 1
            if not self._expiries[expiry]:
                del self._expiries[expiry]
        self._dirty.discard(order.id)
        self._sensitive.discard(order.id)

    def _evaluate(self, order: BookOrder, view: MarketView | None = None) -> BookEvent | None:
        view = view or self.view(order.symbol)
        result = execute_order(order.terms, view, self.models)
        bar = view.last_data
        if bar is not None:
            order.evaluated_bar_start, order.evaluated_bar_end = bar.start, bar.end
        changed = bool(result.update)
        if changed:
            order.terms = dataclasses.replace(order.terms, **result.update)
            self._touched(order)  # new terms: the next scan evaluates them
        order.reason = result.reason
        assert self.now is not None
        if result.filled and result.price is not None:
            order.status, order.fill_price, order.fee = "filled", result.price, result.fee
            order.filled_at = self.now
            self._closed(order)
            return BookEvent(order.id, order.symbol, "filled", self.now, order.signed_quantity,
                             result.price, result.fee, result.reason)
        submitted = order.terms.submitted_at or order.created_at
        if order.terms.time_in_force in ("ioc", "fok") and bar is not None and bar.end > submitted:
            return self._close(order, f"{order.terms.time_in_force}: not filled on the first "
                                      f"bar after the order ({result.reason})")
        if changed:
            return BookEvent(order.id, order.symbol, "updated", self.now, reason=result.reason)
        return None

    def _close(self, order: BookOrder, reason: str, expired: bool = False) -> BookEvent:
        assert self.now is not None
        order.status, order.reason, order.expired = "canceled", reason, expired
        order.canceled_at = self.now
        self._closed(order)
        return BookEvent(order.id, order.symbol, "canceled", self.now, reason=reason)


def _ny_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=_NEW_YORK)


__all__ = ["BookEvent", "BookOrder", "DEFAULT_MOC_BUFFER", "OrderBook", "OrderRejected",
           "round_to_tick", "tick_size"]
