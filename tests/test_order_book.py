"""The shared order-processing core (OrderBook) on hand-built minute bars: LEAN's request and scan
order, times in force, submission checks, price rounding, self-fed time steps and rewinds.

Restates QuantConnect/Lean master 24863901deffa9ec7985e21ef8fbdb0258efb9e4
``Brokerages/Backtesting/BacktestingBrokerage.cs`` (Scan: non-market orders wait for the next
bar; expiry before the fill), ``Common/Orders/TimeInForces/DayTimeInForce.cs`` and
``GoodTilDateTimeInForce.cs``, ``Algorithm/QCAlgorithm.Trading.cs`` (PreOrderChecksImpl: MOO while
open, the MOC buffer, market orders while closed become MOO) and ``Engine/TransactionHandlers/
BrokerageTransactionHandler.cs`` (price rounding; every processed request is followed by a scan).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal as D

import pytest

from intel_assets.domain.execution_models.compositions import lean_models
from intel_assets.domain.execution_models.market import MarketSnapshot, PriceBar, QuoteBar, TradeBar
from intel_assets.domain.execution_models.orders import OrderTerms
from intel_assets.domain.lean_data import ExchangeHours
from intel_assets.domain.order_book import OrderBook, OrderRejected, round_to_tick

HOURS = ExchangeHours({d: (time(9, 30), time(16, 0)) for d in range(5)})
OPEN = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)  # Tuesday 09:30 New York
MIN = timedelta(minutes=1)


def minute(start: datetime, o="100", h="101", l="99", c="100.5") -> MarketSnapshot:
    trade = TradeBar(D(o), D(h), D(l), D(c), D(100))
    quote = QuoteBar(PriceBar(D(o), D(h), D(l), D(c) - D("0.05")),
                     PriceBar(D(o), D(h), D(l), D(c) + D("0.05")))
    return MarketSnapshot("XYZ", start, start + MIN, trade, quote)


def book(**options) -> OrderBook:
    b = OrderBook(lean_models(), **options)
    b.add_security("XYZ", HOURS)
    b.update_market(OPEN + MIN, [minute(OPEN)])
    return b


def terms(side="buy", kind="market", qty="10", limit=None, stop=None, **extra) -> OrderTerms:
    def dec(v):
        return None if v is None else D(v)

    return OrderTerms(side, D(qty), kind, dec(limit), dec(stop), **extra)


def step(b: OrderBook, start: datetime, **bar):
    b.update_market(start + MIN, [minute(start, **bar)])
    return b.scan()


def test_market_fills_at_once_on_the_cached_bar_other_orders_wait_for_the_next_bar():
    b = book()
    market, events = b.submit("XYZ", terms())
    assert market.status == "filled" and market.fill_price == D("100.55")  # ask close
    assert events[0].fill_quantity == 10 and events[0].fee == D(1)
    limit, events = b.submit("XYZ", terms(kind="limit", limit="102"))
    assert limit.is_open and events == [] and b.scan() == []  # same time step: not evaluated
    filled = step(b, OPEN + MIN)
    assert limit.status == "filled" and limit.fill_price == D("100")  # favourable gap: open
    assert [e.kind for e in filled] == ["filled"]


def test_an_update_is_evaluated_at_once_on_the_current_bar():
    b = book()
    order, _ = b.submit("XYZ", terms(kind="limit", limit="90"))
    step(b, OPEN + MIN)
    assert order.is_open and "not reached" in order.reason
    updated, events = b.update(order.id, limit_price=D("99.5"))
    assert updated.status == "filled" and updated.fill_price == D("99.5") and events
    assert updated.update_count == 1 and updated.terms.submitted_at == OPEN + MIN


def test_day_orders_expire_at_the_close_before_the_last_bar_is_evaluated():
    b = book()
    order, _ = b.submit("XYZ", terms(kind="limit", limit="90", time_in_force="day"))
    last = datetime(2024, 1, 2, 20, 59, tzinfo=timezone.utc)  # 15:59 bar, ends at the close
    events = step(b, last, l="80")  # it would fill, but the close has come
    assert order.status == "canceled" and order.expired and "expired" in events[0].reason


def test_a_day_order_placed_after_the_close_lives_through_the_next_session():
    b = book()
    b.set_time(datetime(2024, 1, 2, 22, 0, tzinfo=timezone.utc))  # 17:00 New York
    order, _ = b.submit("XYZ", terms(kind="limit", limit="90", time_in_force="day"))
    step(b, datetime(2024, 1, 3, 14, 30, tzinfo=timezone.utc))
    assert order.is_open
    step(b, datetime(2024, 1, 3, 20, 59, tzinfo=timezone.utc))
    assert order.status == "canceled" and order.expired


def test_gtd_expires_at_the_close_of_its_date_gtc_never():
    b = book()
    gtd, _ = b.submit("XYZ", terms(kind="limit", limit="90", time_in_force="gtd",
                                   expire_date=date(2024, 1, 3)))
    gtc, _ = b.submit("XYZ", terms(kind="limit", limit="90"))
    step(b, datetime(2024, 1, 2, 20, 59, tzinfo=timezone.utc))
    assert gtd.is_open
    step(b, datetime(2024, 1, 3, 20, 59, tzinfo=timezone.utc))
    assert gtd.status == "canceled" and gtc.is_open


def test_ioc_is_canceled_when_its_first_bar_does_not_fill_it():
    b = book()
    order, _ = b.submit("XYZ", terms(kind="limit", limit="90", time_in_force="ioc"))
    step(b, OPEN + MIN)
    assert order.status == "canceled" and order.reason.startswith("ioc: not filled")


@pytest.mark.parametrize("when, kind, words", [
    (datetime(2024, 1, 2, 15, 0, tzinfo=timezone.utc), "market_on_open", "while the market is open"),
    (datetime(2024, 1, 2, 20, 45, tzinfo=timezone.utc), "market_on_close", "before the close"),
])
def test_submission_checks_refuse_with_a_reason(when, kind, words):
    b = book()
    b.set_time(when)
    with pytest.raises(OrderRejected, match=words):
        b.submit("XYZ", terms(kind=kind))
    assert b.orders == {}  # a refused order is not an order (LEAN does not count it)


def test_market_on_close_buffer_is_configurable_and_a_market_order_while_closed_becomes_moo():
    b = book(moc_buffer=timedelta(minutes=10))
    b.set_time(datetime(2024, 1, 2, 20, 45, tzinfo=timezone.utc))  # 15:45, buffer ends 15:50
    moc, _ = b.submit("XYZ", terms(kind="market_on_close"))
    assert moc.is_open
    b.set_time(datetime(2024, 1, 2, 22, 0, tzinfo=timezone.utc))  # 17:00: closed
    moo, _ = b.submit("XYZ", terms())
    assert moo.terms.order_type == "market_on_open" and moo.is_open
    step(b, datetime(2024, 1, 3, 14, 30, tzinfo=timezone.utc), o="101.25")
    assert moo.status == "filled" and moo.fill_price == D("101.25")


def test_orders_need_data_whole_lots_and_valid_terms():
    b = OrderBook(lean_models())
    b.add_security("XYZ", HOURS, lot_size=D(100))
    b.set_time(OPEN)
    with pytest.raises(OrderRejected, match="no data for XYZ yet"):
        b.submit("XYZ", terms())
    b.update_market(OPEN + MIN, [minute(OPEN)])
    with pytest.raises(OrderRejected, match="lot size 100"):
        b.submit("XYZ", terms(qty="150"))
    with pytest.raises(OrderRejected, match="unknown symbol ABC"):
        b.submit("ABC", terms())


def test_raw_price_books_round_limit_and_stop_prices_to_the_tick():
    assert round_to_tick(D("100.125")) == D("100.12") and round_to_tick(D("0.51235")) == \
        D("0.5124")
    b = book(round_prices=True)
    order, _ = b.submit("XYZ", terms(kind="stop_limit", stop="101.456", limit="101.5049"))
    assert (order.terms.stop_price, order.terms.limit_price) == (D("101.46"), D("101.50"))


def test_cancel_is_final_idempotent_and_refused_for_a_filled_order():
    b = book()
    order, _ = b.submit("XYZ", terms(kind="limit", limit="90"))
    _, events = b.cancel(order.id)
    assert order.status == "canceled" and events[0].kind == "canceled"
    assert b.cancel(order.id) == (order, [])
    filled, _ = b.submit("XYZ", terms())
    with pytest.raises(OrderRejected, match="filled"):
        b.cancel(filled.id)
    with pytest.raises(OrderRejected, match="only open orders"):
        b.update(order.id, limit_price=D(95))


def test_a_self_fed_book_evaluates_a_resting_order_on_every_bar_up_to_the_clock():
    bars = [minute(OPEN + i * MIN, l=low) for i, low in enumerate(["99", "98.5", "97", "99"])]
    b = OrderBook(lean_models())
    b.add_security("XYZ", HOURS, snapshots=bars)
    b.advance_to(OPEN + MIN)  # the first bar is cached
    order, _ = b.submit("XYZ", terms(kind="limit", limit="97.5"))
    events = b.advance_to(OPEN + 10 * MIN)  # three more bars in one clock move
    assert order.status == "filled" and order.filled_at == OPEN + 3 * MIN  # the low-97 bar
    assert order.fill_price == D("97.5") and [e.kind for e in events] == ["filled"]
    assert b.now == OPEN + 10 * MIN


def test_a_rewound_clock_never_re_evaluates_an_order_on_bars_it_has_seen():
    bars = [minute(OPEN + i * MIN) for i in range(3)]
    b = OrderBook(lean_models())
    b.add_security("XYZ", HOURS, snapshots=bars)
    b.advance_to(OPEN + 3 * MIN)
    resting, _ = b.submit("XYZ", terms(kind="limit", limit="90"))
    b.advance_to(OPEN + 5 * MIN)
    b.rewind_to(OPEN + MIN)
    early, _ = b.submit("XYZ", terms(kind="limit", limit="99.5"))
    events = b.advance_to(OPEN + 2 * MIN)
    assert early.status == "filled" and [e.order_id for e in events] == [early.id]
    assert resting.is_open and resting.last_scanned == OPEN + 5 * MIN


class _EveryScan:
    """LEAN's fill model without its clock facts: a book then evaluates every open order on
    every scan (what skipped scans must reproduce)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def fill(self, parameters):
        return self.inner.fill(parameters)


def _order_state(order) -> tuple:
    return (order.status, order.terms, order.fill_price, order.fee, order.filled_at,
            order.canceled_at, order.expired, order.reason, order.update_count,
            order.evaluated_bar_start, order.evaluated_bar_end)


def test_skipped_scans_give_what_evaluating_every_order_on_every_scan_gives():
    """Random requests (every order type, clock moves within, across and between sessions,
    rewinds, updates, cancels) on sparse bars, against a book that never skips."""
    import dataclasses
    import random

    rng = random.Random(7)
    days = (datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc),
            datetime(2024, 1, 3, 14, 30, tzinfo=timezone.utc))
    bars, price = [], 100.0
    for start in days:
        for i in range(390):
            price = max(1.0, price + rng.uniform(-0.3, 0.3))
            if rng.random() < 0.7:  # gaps: minutes without a bar
                p = f"{price:.2f}"
                bars.append(minute(start + i * MIN, o=p, h=f"{price + 0.2:.2f}",
                                   l=f"{price - 0.2:.2f}", c=f"{price + 0.05:.2f}"))
    models = lean_models()
    books = [OrderBook(models), OrderBook(dataclasses.replace(models,
                                                             fill=_EveryScan(models.fill)))]
    assert books[1].models.clock_facts(None) is None  # type: ignore[arg-type]
    for b in books:
        b.add_security("XYZ", HOURS, snapshots=bars)
    moments = [d + timedelta(seconds=s) for d in days for s in range(-7200, 7 * 3600, 37)]
    position, now = 0, moments[0]

    def both(call):
        answers = []
        for b in books:
            try:
                answers.append(("ok", call(b)))
            except OrderRejected as exc:
                answers.append(("refused", str(exc)))
        return answers

    kinds = ["market", "limit", "stop", "stop_limit", "trailing_stop", "market_on_open",
             "market_on_close"]
    for step_no in range(1500):
        roll = rng.random()
        if roll < 0.45:  # mostly short moves (a bar or two), some longer, across the close
            position = min(len(moments) - 1, position + (rng.randint(0, 3) if rng.random() < 0.85
                                                         else rng.randint(4, 60)))
            now = moments[position]
            answers = both(lambda b: [(e.order_id, e.kind, e.time, e.fill_price, e.reason)
                                      for e in b.advance_to(now)])
        elif roll < 0.5:
            position = max(0, position - rng.randint(1, 20))
            now = moments[position]
            both(lambda b: b.rewind_to(now))
            answers = both(lambda b: len(b.advance_to(now)))
        elif roll < 0.9:
            kind = rng.choices(kinds, (25, 30, 20, 10, 10, 4, 1 if step_no > 1200 else 0))[0]
            mid = D(f"{price:.2f}")
            near = lambda: mid + D(rng.randint(-60, 60)) / 100  # noqa: E731
            extra = {}
            if kind == "trailing_stop":
                extra = dict(trailing_amount=D("0.25"), trailing_percent=False)
            order_terms = terms(side=rng.choice(["buy", "sell"]), kind=kind,
                                limit=near() if kind in ("limit", "stop_limit") else None,
                                stop=near() if kind in ("stop", "stop_limit", "trailing_stop")
                                else None,
                                time_in_force=rng.choice(["day", "gtc", "ioc"])
                                if kind in ("limit", "stop", "market") else "gtc", **extra)
            answers = both(lambda b: (b.submit("XYZ", order_terms)[0].id,
                                      [(e.order_id, e.kind) for e in b.scan()]))
        else:
            open_ids = [o.id for o in books[0].orders.values() if o.is_open]
            if not open_ids:
                continue
            target = rng.choice(open_ids)
            if rng.random() < 0.5:
                answers = both(lambda b: [(e.order_id, e.kind) for e in b.cancel(target)[1]])
            else:
                qty = D(rng.randint(1, 50))
                answers = both(lambda b: [(e.order_id, e.kind) for e in
                                          b.update(target, quantity=qty)[1]])
        assert answers[0] == answers[1], (step_no, answers)
        assert [_order_state(o) for o in books[0].orders.values()] == \
            [_order_state(o) for o in books[1].orders.values()], step_no
    statuses = {o.status for o in books[0].orders.values()}
    assert statuses == {"filled", "canceled", "submitted"} and len(books[0].orders) > 400
    assert now > days[1], "the walk reaches the second session"
