"""Owns ``AlpacaPaperFillModel``: Alpaca paper trading's fills, against the current quote only.

market: ask (buy) / bid (sell) close of the latest quote; limit: fills at that quote when it is
marketable (ask <= limit for a buy, bid >= limit for a sell), never at a price the quote did not
show; stop: becomes a market order once the last trade (trade close) reaches the stop (>= for a
buy, <= for a sell); stop_limit: once triggered like a stop, fills like a limit. No partial
fills are modelled; other order types are not offered by this model.

It subclasses ``LeanEquityFillModel`` (LEAN's dispatch) and overrides exactly the per-order-type
methods where Alpaca paper differs from LEAN: ``market_fill``, ``limit_fill``,
``stop_market_fill`` and ``stop_limit_fill``; each parity difference is one method. It offers
no trailing_stop, market_on_open or market_on_close (``order_types``), so LEAN's methods for
them are never called.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from intel_assets.domain.execution_models.fills.fill_prices import quote_price
from intel_assets.domain.execution_models.fills.lean_equity_fill_model import LeanEquityFillModel
from intel_assets.domain.execution_models.market import MarketView
from intel_assets.domain.execution_models.orders import FillDecision, OrderTerms
from intel_assets.domain.execution_models.slippage.slippage_model import SlippageModel

_NO_QUOTE = "no quote or trade data"


def _quote_fill_price(order: OrderTerms, market: MarketView,
                      slippage: SlippageModel) -> Decimal | None:
    """The current quote (``quote_price``) +/- slippage, or None without a quote or trade."""
    base = quote_price(market, order.side)
    if base is None:
        return None
    slip = slippage.slippage(order, market)
    return base + slip if order.side == "buy" else base - slip


def _stop_reached(order: OrderTerms, market: MarketView) -> bool:
    """Whether the last trade (trade close) reached the stop: >= for a buy, <= for a sell."""
    stop, last = order.stop_price, market.price
    assert stop is not None, f"{order.order_type} order without stop_price"
    return last is not None and ((last >= stop) if order.side == "buy" else (last <= stop))


def _against_limit(order: OrderTerms, price: Decimal, update: dict[str, Any]) -> FillDecision:
    """Fills at ``price`` (the quote) when it is marketable against the order's limit."""
    kind, limit = order.order_type, order.limit_price
    assert limit is not None, f"{kind} order without limit_price"
    if (price <= limit) if order.side == "buy" else (price >= limit):
        return FillDecision(True, price, f"{kind}: marketable against the quote", update)
    return FillDecision(False, None, f"{kind}: not marketable against the quote", update)


@dataclass(frozen=True)
class AlpacaPaperFillModel(LeanEquityFillModel):
    """Alpaca paper trading: fills against the current quote, only when marketable."""

    order_types: ClassVar[tuple[str, ...]] = ("market", "limit", "stop", "stop_limit")

    def clock_facts(self, market: MarketView) -> None:
        """None: this model declares no clock facts (LEAN's are about LEAN's rules), so a book
        evaluates every open order on every scan."""
        return None

    def market_fill(self, order: OrderTerms, market: MarketView,
                    slippage: SlippageModel) -> FillDecision:
        price = _quote_fill_price(order, market, slippage)
        if price is None:
            return FillDecision(False, None, _NO_QUOTE)
        return FillDecision(True, price, "market: filled at the current quote")

    def limit_fill(self, order: OrderTerms, market: MarketView,
                   slippage: SlippageModel) -> FillDecision:
        price = _quote_fill_price(order, market, slippage)
        if price is None:
            return FillDecision(False, None, _NO_QUOTE)
        return _against_limit(order, price, {})

    def stop_market_fill(self, order: OrderTerms, market: MarketView,
                         slippage: SlippageModel) -> FillDecision:
        price = _quote_fill_price(order, market, slippage)
        if price is None:
            return FillDecision(False, None, _NO_QUOTE)
        if not _stop_reached(order, market):
            return FillDecision(False, None, "stop not reached by the last trade")
        return FillDecision(True, price, "stop: last trade reached the stop")

    def stop_limit_fill(self, order: OrderTerms, market: MarketView,
                        slippage: SlippageModel) -> FillDecision:
        price = _quote_fill_price(order, market, slippage)
        if price is None:
            return FillDecision(False, None, _NO_QUOTE)
        if not order.stop_triggered and not _stop_reached(order, market):
            return FillDecision(False, None, "stop not reached by the last trade")
        return _against_limit(order, price, {"stop_triggered": True})

    def unoffered_fill(self, order: OrderTerms, market: MarketView,
                       slippage: SlippageModel) -> FillDecision:
        if quote_price(market, order.side) is None:  # without data every order says so first
            return FillDecision(False, None, _NO_QUOTE)
        return FillDecision(False, None,
                            f"{order.order_type} orders are not modelled for Alpaca paper")


__all__ = ["AlpacaPaperFillModel"]
