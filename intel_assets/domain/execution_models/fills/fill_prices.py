"""Owns the prices the fill models read from a ``MarketView``: LEAN's best-effort ask/bid
(``FillModel.GetBestEffortAskPrice``/``GetBestEffortBidPrice``, with its stale flag), LEAN's
``GetPrices`` (the quote side's OHLC), LEAN's trailing-stop update
(``TrailingStopOrder.TryUpdateStopPrice``) and Alpaca paper's current quote (``quote_price``).

Source: QuantConnect/Lean master 24863901 ``Common/Orders/Fills/FillModel.cs`` and
``Common/Orders/TrailingStopOrder.cs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from intel_assets.domain.execution_models.market import MarketView, PriceBar, Side


@dataclass(frozen=True)
class BestEffortPrice:
    """LEAN ``GetBestEffortAskPrice``/``BidPrice``: a price, whether it is stale, its bar end."""

    price: Decimal
    stale: bool
    data_end: datetime
    source: str


def best_effort_price(market: MarketView, side: Side,
                      order_time: datetime | None = None) -> BestEffortPrice | None:
    """The ask (buy) / bid (sell) close of the latest quote bar, else the latest trade close when
    it is newer; ``stale`` when the chosen bar ended before ``order_time - stale window``."""
    cutoff = (order_time or market.now) - market.stale_price_window
    stale: BestEffortPrice | None = None
    snap, quote = market.quote, market.quote_bar
    if snap is not None and quote is not None:
        bar = quote.ask if side == "buy" else quote.bid
        value = bar.close if bar is not None else quote.close
        label = ("ask" if side == "buy" else "bid") if bar is not None else "other side"
        if value is not None:
            if snap.end >= cutoff:
                return BestEffortPrice(value, False, snap.end, f"quote bar {label} close")
            stale = BestEffortPrice(value, True, snap.end, f"stale quote bar {label} close")
    trade, bar_t = market.trade, market.trade_bar
    if trade is not None and bar_t is not None and (stale is None or trade.end > stale.data_end):
        if trade.end >= cutoff:
            return BestEffortPrice(bar_t.close, False, trade.end, "trade bar close")
        stale = BestEffortPrice(bar_t.close, True, trade.end, "stale trade bar close")
    return stale


def side_prices(market: MarketView, side: Side) -> tuple[PriceBar, datetime] | None:
    """LEAN ``GetPrices``: the quote bar's ask (buy) / bid (sell) OHLC, else the trade bar, and
    the end of the bar they come from."""
    quote = market.quote_bar
    if quote is not None and market.quote is not None:
        bar = quote.ask if side == "buy" else quote.bid
        if bar is not None:
            return bar, market.quote.end
    if market.trade is not None and market.trade_bar is not None:
        return market.trade_bar, market.trade.end
    return None


def trailing_stop_price(market_price: Decimal, stop: Decimal, amount: Decimal, percent: bool,
                        side: Side) -> Decimal | None:
    """LEAN ``TrailingStopOrder.TryUpdateStopPrice``: the new stop, or None if it stays."""
    distance = market_price - stop if side == "sell" else stop - market_price
    reference = market_price * amount if percent else amount
    if distance <= reference:
        return None
    if percent:
        return market_price * (1 + amount) if side == "buy" else market_price * (1 - amount)
    return market_price + amount if side == "buy" else market_price - amount


def quote_price(market: MarketView, side: Side) -> Decimal | None:
    """Ask close (buy) / bid close (sell) of the latest quote bar; the other side's close when
    that side is missing (``QuoteBar.Close``); else the trade close; else None."""
    quote = market.quote_bar
    if quote is not None:
        bar = quote.ask if side == "buy" else quote.bid
        if bar is not None:
            return bar.close
        if quote.close is not None:
            return quote.close
    return market.price


__all__ = ["BestEffortPrice", "best_effort_price", "quote_price", "side_prices",
           "trailing_stop_price"]
