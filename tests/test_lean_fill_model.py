"""LEAN's current EquityFillModel rules on hand-built bars (QuantConnect/Lean master
24863901deffa9ec7985e21ef8fbdb0258efb9e4 ``Common/Orders/Fills/EquityFillModel.cs`` and
``FillModel.cs``); every expected price below is worked out by hand from the bars in the test.

Default bar (one minute from T0 = 2024-01-02 09:30 New York, a Tuesday): trade O/H/L/C
100.00/101.00/99.00/100.50; bid O/H/L/C 99.90/100.05/99.85/99.95; ask 100.00/100.10/99.95/100.05.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from decimal import Decimal as D

import pytest

from intel_assets.domain.execution_models.fills.fill_model import FillModelParameters
from intel_assets.domain.execution_models.fills.fill_prices import (
    best_effort_price,
    trailing_stop_price,
)
from intel_assets.domain.execution_models.fills.lean_equity_fill_model import LeanEquityFillModel
from intel_assets.domain.execution_models.market import (
    MarketSnapshot,
    MarketView,
    PriceBar,
    QuoteBar,
    TradeBar,
)
from intel_assets.domain.execution_models.orders import FillDecision, OrderTerms
from intel_assets.domain.execution_models.slippage.constant_slippage_model import (
    ConstantSlippageModel,
)
from intel_assets.domain.execution_models.slippage.zero_slippage_model import ZeroSlippageModel
from intel_assets.domain.lean_data import ExchangeHours

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)  # 09:30 New York
HOURS = ExchangeHours({d: (time(9, 30), time(16, 0)) for d in range(5)})
LEAN = LeanEquityFillModel()
NO_SLIP = ZeroSlippageModel()
SLIP = ConstantSlippageModel(D("0.02"))
EARLY = T0 - timedelta(seconds=1)  # an order placed before the bar: the bar may fill it


def bar(o: str, h: str, l: str, c: str) -> PriceBar:
    return PriceBar(D(o), D(h), D(l), D(c))


def snap(trade=("100.00", "101.00", "99.00", "100.50"), bid=("99.90", "100.05", "99.85", "99.95"),
         ask=("100.00", "100.10", "99.95", "100.05"), start: datetime = T0) -> MarketSnapshot:
    tb = None if trade is None else TradeBar(*(D(x) for x in trade), volume=D(100))
    quote = None if bid is None and ask is None else QuoteBar(
        None if bid is None else bar(*bid), None if ask is None else bar(*ask))
    return MarketSnapshot("XYZ", start, start + timedelta(minutes=1), tb, quote)


def view(snapshot: MarketSnapshot | None = None, now: datetime | None = None,
         hours=HOURS) -> MarketView:
    s = snapshot or snap()
    return MarketView.of(s, now, hours)


def terms(side="buy", kind="market", qty="10", limit=None, stop=None, at=EARLY, **extra):
    def dec(v):
        return None if v is None else D(v)

    return OrderTerms(side, D(qty), kind, dec(limit), dec(stop), at, **extra)


def fill(model, order, market, slippage) -> FillDecision:
    return model.fill(FillModelParameters(order, market, slippage))


# --------------------------------------------------------------------------- market


def test_market_fills_at_the_latest_quote_close_ask_for_buys_bid_for_sells_plus_slippage():
    assert fill(LEAN, terms(at=T0 + timedelta(minutes=1)), view(), NO_SLIP).price == D("100.05")
    assert fill(LEAN, terms("sell", at=T0 + timedelta(minutes=1)), view(), NO_SLIP).price == \
        D("99.95")
    assert fill(LEAN, terms(), view(), SLIP).price == D("100.07")
    assert fill(LEAN, terms("sell"), view(), SLIP).price == D("99.93")


def test_market_price_falls_back_to_the_trade_close_and_the_other_quote_side():
    assert fill(LEAN, terms(), view(snap(bid=None, ask=None)), NO_SLIP).price == D("100.50")
    assert fill(LEAN, terms(), view(snap(ask=None)), NO_SLIP).price == D("99.95")  # QuoteBar.Close


def test_market_order_at_the_bar_end_uses_that_bar_not_the_next_one():
    """An order at 09:31:00 fills on the bar that closed at 09:31:00 (the cache), not later."""
    at_end = T0 + timedelta(minutes=1)
    decision = fill(LEAN, terms(at=at_end), view(now=at_end), NO_SLIP)
    assert (decision.filled, decision.price) == (True, D("100.05"))


def test_market_order_waits_for_fresh_data_when_the_price_is_older_than_the_stale_window():
    """FillModel.ShouldWaitForFreshDataOnStale: data > 1 h old and > 1 bar behind -> wait."""
    stale_at = T0 + timedelta(hours=2)
    waits = fill(LEAN, terms(at=stale_at), view(now=stale_at), NO_SLIP)
    assert not waits.filled and "fresh data" in waits.reason
    half_hour = T0 + timedelta(minutes=31)  # within the window: fills on the older bar
    assert fill(LEAN, terms(at=half_hour), view(now=half_hour), NO_SLIP).price == D("100.05")
    best = best_effort_price(view(now=stale_at), "buy", stale_at)
    assert best is not None and best.stale and best.data_end == T0 + timedelta(minutes=1)


def test_market_order_waits_while_the_exchange_is_closed_but_fills_on_the_sessions_last_bar():
    last = snap(start=datetime(2024, 1, 2, 20, 59, tzinfo=timezone.utc))  # 15:59-16:00
    evening = datetime(2024, 1, 2, 21, 30, tzinfo=timezone.utc)  # 16:30 New York
    closed = fill(LEAN, terms(at=evening), view(last, evening), NO_SLIP)
    assert not closed.filled and "closed" in closed.reason
    at_close = last.end
    assert fill(LEAN, terms(at=at_close), view(last, at_close), NO_SLIP).filled


# --------------------------------------------------------------------------- limit


@pytest.mark.parametrize("trade, limit, price", [
    (("100.80", "101.00", "99.00", "100.50"), "100.20", "100.20"),  # opened above: at the limit
    (("100.00", "101.00", "99.00", "100.50"), "100.20", "100.00"),  # opened below: the open
    (("100.80", "101.00", "99.00", "100.50"), "101.50", "100.80"),  # limit above the high: open
    (("100.80", "101.00", "99.00", "100.50"), "99.00", None),       # low == limit: LEAN needs <
])
def test_buy_limit_fills_at_the_limit_or_at_a_favourable_open(trade, limit, price):
    decision = fill(LEAN, terms(kind="limit", limit=limit), view(snap(trade)), NO_SLIP)
    assert decision.price == (None if price is None else D(price))
    assert decision.filled is (price is not None)


@pytest.mark.parametrize("trade, limit, price", [
    (("99.50", "101.00", "99.00", "100.50"), "100.70", "100.70"),
    (("99.50", "101.00", "99.00", "100.50"), "98.00", "99.50"),     # opened above: the open
    (("99.50", "101.00", "99.00", "100.50"), "101.00", None),       # high == limit
])
def test_sell_limit_mirrors_the_buy(trade, limit, price):
    decision = fill(LEAN, terms("sell", "limit", limit=limit), view(snap(trade)), NO_SLIP)
    assert decision.price == (None if price is None else D(price))


def test_limit_and_stop_wait_for_a_trade_bar_that_closed_after_the_order_time():
    market = view()
    at_end = T0 + timedelta(minutes=1)
    for kind, field in (("limit", {"limit": "102"}), ("stop", {"stop": "100"}),
                        ("stop_limit", {"stop": "100", "limit": "102"})):
        decision = fill(LEAN, terms(kind=kind, at=at_end, **field), market, NO_SLIP)
        assert not decision.filled and "after the order time" in decision.reason


# --------------------------------------------------------------------------- stop market


@pytest.mark.parametrize("side, stop, price", [
    ("buy", "100.80", "100.82"),   # high 101 >= stop, opened below: the stop + slippage
    ("buy", "101.00", "101.02"),   # high == stop triggers (>=)
    ("buy", "99.50", "100.02"),    # opened at/above the stop: unfavourable gap, open + slippage
    ("buy", "101.01", None),
    ("sell", "99.50", "99.48"),    # low 99 <= stop, opened above: the stop - slippage
    ("sell", "99.00", "98.98"),    # low == stop triggers (<=)
    ("sell", "100.20", "99.98"),   # opened at/below the stop: the open - slippage
    ("sell", "98.99", None),
])
def test_stop_market_triggers_on_the_trade_range_and_fills_at_the_stop_or_the_gap_open(
        side, stop, price):
    decision = fill(LEAN, terms(side, "stop", stop=stop), view(), SLIP)
    assert decision.price == (None if price is None else D(price))


# --------------------------------------------------------------------------- stop limit


def test_buy_stop_limit_triggers_on_the_ask_high_then_needs_the_ask_close_below_the_limit():
    fills = fill(LEAN, terms(kind="stop_limit", stop="100.08", limit="100.06"), view(), NO_SLIP)
    assert (fills.filled, fills.price) == (True, D("100.06"))  # min(ask high 100.10, limit)
    assert fills.update == {"stop_triggered": True}
    rests = fill(LEAN, terms(kind="stop_limit", stop="100.08", limit="100.04"), view(), NO_SLIP)
    assert not rests.filled and rests.update == {"stop_triggered": True}
    untouched = fill(LEAN, terms(kind="stop_limit", stop="100.10", limit="100.20"), view(),
                           NO_SLIP)  # LEAN needs high > stop
    assert not untouched.filled and untouched.update == {}


def test_a_triggered_stop_limit_fills_later_without_reaching_the_stop_again():
    quiet = snap(ask=("99.50", "99.60", "99.40", "99.45"))
    order = terms(kind="stop_limit", stop="100.08", limit="99.50", stop_triggered=True)
    decision = fill(LEAN, order, view(quiet), NO_SLIP)
    assert (decision.filled, decision.price, decision.update) == (True, D("99.50"), {})


def test_sell_stop_limit_uses_the_bid_bar():
    decision = fill(LEAN, terms("sell", "stop_limit", stop="99.86", limit="99.90"), view(),
                          NO_SLIP)
    assert (decision.filled, decision.price) == (True, D("99.90"))  # max(bid low 99.85, limit)


# --------------------------------------------------------------------------- trailing stop


def test_trailing_stop_fills_on_the_quote_side_or_trails_it():
    pct = D("0.01")
    sell = fill(LEAN, terms("sell", "trailing_stop", stop="99.90", trailing_amount=pct,
                            trailing_percent=True), view(), NO_SLIP)
    assert (sell.filled, sell.price) == (True, D("99.90"))  # bid low 99.85 <= stop; min(stop, 99.95)
    buy = fill(LEAN, terms("buy", "trailing_stop", stop="100.08", trailing_amount=pct,
                           trailing_percent=True), view(), NO_SLIP)
    assert (buy.filled, buy.price) == (True, D("100.08"))  # ask high 100.10 >= stop
    trails = fill(LEAN, terms("sell", "trailing_stop", stop="98.00", trailing_amount=pct,
                              trailing_percent=True), view(), NO_SLIP)
    assert not trails.filled
    assert trails.update == {"stop_price": D("100.05") * D("0.99")}  # bid high x (1 - 1 %)


def test_trailing_stop_price_moves_only_when_the_market_moved_past_the_trailing_amount():
    assert trailing_stop_price(D("100"), D("99"), D("1"), False, "sell") is None  # distance 1
    assert trailing_stop_price(D("100"), D("98.5"), D("1"), False, "sell") == D("99")
    assert trailing_stop_price(D("100"), D("102"), D("0.01"), True, "buy") == D("101.00")


# --------------------------------------------------------------------------- on open / close


def test_market_on_open_fills_at_the_open_of_the_first_session_bar_after_the_order():
    evening = datetime(2024, 1, 1, 22, 0, tzinfo=timezone.utc)  # 17:00 New York the day before
    decision = fill(LEAN, terms(kind="market_on_open", at=evening), view(), SLIP)
    assert (decision.filled, decision.price) == (True, D("100.02"))  # open 100.00 + slippage
    during = T0 + timedelta(seconds=30)  # placed inside the session bar: waits
    assert not fill(LEAN, terms(kind="market_on_open", at=during), view(), NO_SLIP).filled


def test_market_on_close_waits_for_the_close_then_takes_the_last_trade_close():
    last = snap(start=datetime(2024, 1, 2, 20, 59, tzinfo=timezone.utc))  # 15:59-16:00
    order = terms(kind="market_on_close", at=T0)
    waiting = fill(LEAN, order, view(last, last.start), NO_SLIP)
    assert not waiting.filled and "close" in waiting.reason
    filled = fill(LEAN, order, view(last, last.end), SLIP)
    assert (filled.filled, filled.price) == (True, D("100.52"))  # close 100.50 + slippage
