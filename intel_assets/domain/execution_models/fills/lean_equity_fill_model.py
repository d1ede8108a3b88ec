"""Owns ``LeanEquityFillModel``: LEAN's current ``EquityFillModel`` rules, restated, one method
per order type (``FILL_METHODS``) behind the ``fill`` dispatch; the base a venue's fill model
subclasses, overriding only the order types where the venue differs.

Source: QuantConnect/Lean master 24863901 ``Common/Orders/Fills/EquityFillModel.cs`` and its base
``FillModel.cs``. Every rule reads a ``MarketView`` (the security cache at the venue clock) and
never a bar that ended after ``now``. No partial fills: the whole quantity or nothing.

* market: only while the exchange is open (or ``now`` is inside the last bar of the session);
  the latest quote bar's ask close (buy) / bid close (sell) +/- slippage, else the latest trade
  close when it is newer. A price older than the stale window (1 h) makes the order wait for
  fresh data when it is more than one bar behind the order time; otherwise it fills on it.
* limit: needs a trade bar that ended after the order time. Buy when ``low < limit``, at the
  limit, or at the open when the bar opened below it (favourable gap); sell mirrors it.
* stop (stop-market): same bar rule; buy triggers at ``high >= stop`` and fills at the stop +
  slippage, or at the open + slippage when the bar opened at or above it (unfavourable gap);
  sell mirrors it (``low <= stop``).
* stop_limit: on the quote side's bar (ask for a buy, bid for a sell; the trade bar without
  quotes) ending after the order time: the stop triggers at ``high > stop`` (buy) / ``low <
  stop`` (sell) and stays triggered; then it fills when that side's close is below (buy) /
  above (sell) the limit, at min(high, limit) / max(low, limit).
* trailing_stop: on the quote side's bar; buy fills at ``high >= stop`` at max(stop, close +
  slippage), sell at ``low <= stop`` at min(stop, close - slippage); unfilled, the stop trails
  the bar's low (buy) / high (sell) by the trailing amount.
* market_on_open: the open of the first regular-session trade bar that starts at or after the
  order time, on a later day than an order placed during a session.
* market_on_close: once ``now`` reaches the first close after the order time, the latest trade
  bar's close +/- slippage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import ClassVar

from intel_assets.domain.execution_models.fills.fill_model import FILL_METHODS, FillModelParameters
from intel_assets.domain.execution_models.fills.fill_prices import (
    best_effort_price,
    side_prices,
    trailing_stop_price,
)
from intel_assets.domain.execution_models.market import MarketView
from intel_assets.domain.execution_models.orders import ORDER_TYPES, FillDecision, OrderTerms
from intel_assets.domain.execution_models.slippage.slippage_model import SlippageModel

_LONG_AGO = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _wait(reason: str, **update) -> FillDecision:
    return FillDecision(False, None, reason, dict(update))


@dataclass(frozen=True)
class LeanEquityFillModel:
    """LEAN ``EquityFillModel``: one method per order type (``FILL_METHODS``), dispatched by
    ``fill``; a subclass overrides the ones where its venue differs. ``order_types`` are the
    order types the model offers (all of LEAN's)."""

    order_types: ClassVar[tuple[str, ...]] = ORDER_TYPES

    def clock_facts(self, market: MarketView) -> tuple[bool, bool]:
        """What of ``market.now`` the decisions below read for an order that is not
        ``clock_sensitive``: whether the exchange is open (regular hours, and with the view's
        extended hours). Every other input is the order's terms (its order time included) and
        the view's bars, hours and windows."""
        return market.exchange_open(), market.exchange_open(market.extended_hours)

    def clock_sensitive(self, order: OrderTerms) -> bool:
        """Orders whose decision reads ``market.now`` itself: market-on-close (waits for the
        close) and any order without an order time (which stands in for it)."""
        return order.order_type == "market_on_close" or order.submitted_at is None

    def fill(self, parameters: FillModelParameters) -> FillDecision:
        """LEAN ``FillModel.Fill``: the per-order-type method ``FILL_METHODS`` names for the
        order's type, or ``unoffered_fill`` for a type not in ``order_types``."""
        order, market, slippage = parameters.order, parameters.market, parameters.slippage
        assert isinstance(market, MarketView)
        if order.order_type not in self.order_types:
            return self.unoffered_fill(order, market, slippage)
        method = getattr(self, FILL_METHODS[order.order_type])
        return method(order, market, slippage)

    def unoffered_fill(self, order: OrderTerms, market: MarketView,
                       slippage: SlippageModel) -> FillDecision:
        """An order of a type this model does not offer: never fills."""
        return _wait(f"{order.order_type} orders are not supported by the equity fill model")

    # ---- market -----------------------------------------------------------------------------
    def market_fill(self, order: OrderTerms, market: MarketView,
                    slippage: SlippageModel) -> FillDecision:
        if not market.exchange_open():
            return _wait("market: the exchange is closed")
        order_time = order.submitted_at or market.now
        best = best_effort_price(market, order.side, order_time)
        if best is None:
            return _wait("market: no quote or trade data to fill on")
        if best.stale and order_time - best.data_end > market.resolution:
            return _wait(f"market: waiting for fresh data (latest bar ended "
                         f"{best.data_end.isoformat()}, beyond the stale-price window)")
        slip = slippage.slippage(order, market)
        price = best.price + slip if order.side == "buy" else best.price - slip
        return FillDecision(True, price, f"market: filled at the {best.source}")

    # ---- limit / stop -----------------------------------------------------------------------
    def _fresh_trade_bar(self, order: OrderTerms, market: MarketView):
        bar = market.trade
        if bar is None or bar.trade is None:
            return None
        if bar.end <= (order.submitted_at or _LONG_AGO):
            return None
        return bar.trade

    def limit_fill(self, order: OrderTerms, market: MarketView,
                   slippage: SlippageModel) -> FillDecision:
        if not market.exchange_open(market.extended_hours):
            return _wait("limit: the exchange is closed")
        bar = self._fresh_trade_bar(order, market)
        if bar is None:
            return _wait("limit: no trade bar closed after the order time yet")
        limit = order.limit_price
        assert limit is not None, "limit order without limit_price"
        if order.side == "buy" and bar.low < limit:
            if bar.open < limit:
                return FillDecision(True, bar.open, "limit: favourable gap, filled at the open")
            return FillDecision(True, limit, "limit: trade low below the limit, filled at it")
        if order.side == "sell" and bar.high > limit:
            if bar.open > limit:
                return FillDecision(True, bar.open, "limit: favourable gap, filled at the open")
            return FillDecision(True, limit, "limit: trade high above the limit, filled at it")
        return _wait("limit: not reached by the trade bar")

    def stop_market_fill(self, order: OrderTerms, market: MarketView,
                         slippage: SlippageModel) -> FillDecision:
        if not market.exchange_open():
            return _wait("stop: the exchange is closed")
        bar = self._fresh_trade_bar(order, market)
        if bar is None:
            return _wait("stop: no trade bar closed after the order time yet")
        stop = order.stop_price
        assert stop is not None, "stop order without stop_price"
        buy = order.side == "buy"
        if (bar.high >= stop) if buy else (bar.low <= stop):
            slip = slippage.slippage(order, market)
            gap = (bar.open >= stop) if buy else (bar.open <= stop)
            base = bar.open if gap else stop
            price = base + slip if buy else base - slip
            return FillDecision(True, price, "stop: unfavourable gap, filled at the open" if gap
                                else "stop: triggered, filled at the stop")
        return _wait("stop: not triggered by the trade bar")

    def stop_limit_fill(self, order: OrderTerms, market: MarketView,
                        slippage: SlippageModel) -> FillDecision:
        if not market.exchange_open(market.extended_hours):
            return _wait("stop_limit: the exchange is closed")
        found = side_prices(market, order.side)
        if found is None or found[1] <= (order.submitted_at or _LONG_AGO):
            return _wait("stop_limit: no bar closed after the order time yet")
        bar, stop, limit = found[0], order.stop_price, order.limit_price
        assert stop is not None and limit is not None, "stop_limit without stop and limit"
        buy = order.side == "buy"
        triggered = order.stop_triggered or ((bar.high > stop) if buy else (bar.low < stop))
        if not triggered:
            return _wait("stop_limit: stop not triggered")
        update = {} if order.stop_triggered else {"stop_triggered": True}
        if buy and bar.close < limit:
            return FillDecision(True, min(bar.high, limit), "stop_limit: triggered, ask close "
                                "below the limit", update)
        if not buy and bar.close > limit:
            return FillDecision(True, max(bar.low, limit), "stop_limit: triggered, bid close "
                                "above the limit", update)
        return FillDecision(False, None, "stop_limit: triggered, limit not reached", update)

    def trailing_stop_fill(self, order: OrderTerms, market: MarketView,
                           slippage: SlippageModel) -> FillDecision:
        if not market.exchange_open():
            return _wait("trailing_stop: the exchange is closed")
        found = side_prices(market, order.side)
        if found is None or found[1] <= (order.submitted_at or _LONG_AGO):
            return _wait("trailing_stop: no bar closed after the order time yet")
        bar, stop = found[0], order.stop_price
        assert stop is not None and order.trailing_amount is not None
        slip = slippage.slippage(order, market)
        if order.side == "sell" and bar.low <= stop:
            return FillDecision(True, min(stop, bar.close - slip), "trailing_stop: triggered")
        if order.side == "buy" and bar.high >= stop:
            return FillDecision(True, max(stop, bar.close + slip), "trailing_stop: triggered")
        reference = bar.high if order.side == "sell" else bar.low
        moved = trailing_stop_price(reference, stop, order.trailing_amount,
                                    order.trailing_percent, order.side)
        if moved is None:
            return _wait("trailing_stop: not triggered")
        return _wait("trailing_stop: not triggered; stop trailed", stop_price=moved)

    # ---- on open / on close -----------------------------------------------------------------
    def market_on_open_fill(self, order: OrderTerms, market: MarketView,
                            slippage: SlippageModel) -> FillDecision:
        hours, snap, bar = market.hours, market.trade, market.trade_bar
        if hours is None:
            return _wait("market_on_open: needs exchange hours")
        order_time = order.submitted_at or market.now
        if snap is None or bar is None or snap.start < order_time:
            return _wait("market_on_open: waiting for the first bar after the order")
        if not hours.is_open(snap.start):
            return _wait("market_on_open: the latest bar is not from the regular session")
        if order_time >= snap.end:
            return _wait("market_on_open: waiting for the open")
        if hours.is_open(order_time) and _local_date(hours, order_time) == _local_date(
                hours, snap.end):
            return _wait("market_on_open: placed during today's session, fills at the next open")
        if not market.exchange_open():
            return _wait("market_on_open: the exchange is closed")
        slip = slippage.slippage(order, market)
        price = bar.open + slip if order.side == "buy" else bar.open - slip
        return FillDecision(True, price, "market_on_open: filled at the session's first open")

    def market_on_close_fill(self, order: OrderTerms, market: MarketView,
                             slippage: SlippageModel) -> FillDecision:
        hours = market.hours
        if hours is None:
            return _wait("market_on_close: needs exchange hours")
        close = hours.next_close(order.submitted_at or market.now)
        if market.now < close:
            return _wait(f"market_on_close: waiting for the close at {close.isoformat()}")
        bar = market.trade_bar
        if bar is None:
            return _wait("market_on_close: no trade bar to take the close from")
        slip = slippage.slippage(order, market)
        price = bar.close + slip if order.side == "buy" else bar.close - slip
        return FillDecision(True, price, "market_on_close: filled at the last trade close")


def _local_date(hours, moment: datetime):
    local = getattr(hours, "local_date", None)
    return local(moment) if callable(local) else moment.date()


__all__ = ["LeanEquityFillModel"]
