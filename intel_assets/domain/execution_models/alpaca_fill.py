"""Owns ``AlpacaPaperFillModel``: Alpaca paper trading's fills, against the current quote only.

market: ask (buy) / bid (sell) close of the latest quote; limit: fills at that quote when it is
marketable (ask <= limit for a buy, bid >= limit for a sell), never at a price the quote did not
show; stop: becomes a market order once the last trade (trade close) reaches the stop (>= for a
buy, <= for a sell); stop_limit: once triggered like a stop, fills like a limit. No partial
fills are modelled; other order types are not offered by this model.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from intel_assets.domain.execution_models.market import MarketSnapshot, MarketView, Side
from intel_assets.domain.execution_models.orders import FillDecision, OrderTerms
from intel_assets.domain.execution_models.slippage import SlippageModel


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


@dataclass(frozen=True)
class AlpacaPaperFillModel:
    """Alpaca paper trading: fills against the current quote, only when marketable."""

    def fill(self, order: OrderTerms, market: MarketView | MarketSnapshot,
             slippage: SlippageModel) -> FillDecision:
        market = market if isinstance(market, MarketView) else MarketView.of(market)
        base = quote_price(market, order.side)
        if base is None:
            return FillDecision(False, None, "no quote or trade data")
        slip = slippage.slippage(order, market)
        price = base + slip if order.side == "buy" else base - slip
        buy = order.side == "buy"
        kind = order.order_type
        if kind == "market":
            return FillDecision(True, price, "market: filled at the current quote")
        if kind in ("stop", "stop_limit") and not order.stop_triggered:
            stop, last = order.stop_price, market.price
            assert stop is not None, f"{kind} order without stop_price"
            if last is None or not ((last >= stop) if buy else (last <= stop)):
                return FillDecision(False, None, "stop not reached by the last trade")
            if kind == "stop":
                return FillDecision(True, price, "stop: last trade reached the stop")
        if kind in ("limit", "stop_limit"):
            limit = order.limit_price
            assert limit is not None, f"{kind} order without limit_price"
            update = {"stop_triggered": True} if kind == "stop_limit" else {}
            if (price <= limit) if buy else (price >= limit):
                return FillDecision(True, price, f"{kind}: marketable against the quote", update)
            return FillDecision(False, None, f"{kind}: not marketable against the quote", update)
        return FillDecision(False, None, f"{kind} orders are not modelled for Alpaca paper")


__all__ = ["AlpacaPaperFillModel", "quote_price"]
