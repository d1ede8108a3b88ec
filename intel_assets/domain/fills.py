"""Owns the stable import path of the market-rule models: re-exports ``domain.execution_models``
(market data views, order terms, the LEAN and Alpaca paper fill models, fee, slippage and sizing
models, their compositions and ``execute_order``). New code may import either."""

from __future__ import annotations

from intel_assets.domain.execution_models.alpaca_fill import AlpacaPaperFillModel, quote_price
from intel_assets.domain.execution_models.compositions import (
    ExecutionModels,
    FillModel,
    alpaca_paper_models,
    execute_order,
    lean_models,
)
from intel_assets.domain.execution_models.fees import (
    AlpacaFeeModel,
    FeeModel,
    InteractiveBrokersFeeModel,
    order_value_price,
)
from intel_assets.domain.execution_models.lean_fill import (
    BestEffortPrice,
    LeanEquityFillModel,
    best_effort_price,
)
from intel_assets.domain.execution_models.market import (
    ZERO,
    MarketSnapshot,
    MarketView,
    PriceBar,
    QuoteBar,
    SessionHours,
    Side,
    TradeBar,
    to_decimal,
)
from intel_assets.domain.execution_models.orders import (
    ExecutionResult,
    FillDecision,
    OrderTerms,
    OrderType,
    TimeInForce,
)
from intel_assets.domain.execution_models.sizing import LeanSetHoldingsSizingModel, SizingModel
from intel_assets.domain.execution_models.slippage import (
    ConstantSlippageModel,
    SlippageModel,
    ZeroSlippageModel,
)


def best_effort_quote_price(market: MarketSnapshot, side: Side):
    """Ask close (buy) / bid close (sell) of one snapshot's quote bar, with LEAN's fallbacks."""
    return quote_price(MarketView.of(market), side)


__all__ = ["AlpacaFeeModel", "AlpacaPaperFillModel", "BestEffortPrice", "ConstantSlippageModel",
           "ExecutionModels", "ExecutionResult", "FeeModel", "FillDecision", "FillModel",
           "InteractiveBrokersFeeModel", "LeanEquityFillModel", "LeanSetHoldingsSizingModel",
           "MarketSnapshot", "MarketView", "OrderTerms", "OrderType", "PriceBar", "QuoteBar",
           "SessionHours", "Side", "SizingModel", "SlippageModel", "TimeInForce", "TradeBar",
           "ZERO", "ZeroSlippageModel", "alpaca_paper_models", "best_effort_price",
           "best_effort_quote_price", "execute_order", "lean_models", "order_value_price",
           "to_decimal"]
