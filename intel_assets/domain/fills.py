"""Owns the stable import path of the market-rule models: re-exports ``domain.execution_models``
(market data views, order terms, the LEAN and Alpaca paper fill models with their
``FillModelParameters``, the fee models with their ``OrderFeeParameters``, slippage and sizing
models, their compositions and ``execute_order``). New code may import either."""

from __future__ import annotations

from intel_assets.domain.execution_models.compositions import (
    ExecutionModels,
    alpaca_paper_models,
    execute_order,
    lean_models,
)
from intel_assets.domain.execution_models.fees.alpaca_fee_model import AlpacaFeeModel
from intel_assets.domain.execution_models.fees.fee_model import (
    FeeModel,
    OrderFeeParameters,
    order_value_price,
)
from intel_assets.domain.execution_models.fees.interactive_brokers_fee_model import (
    InteractiveBrokersFeeModel,
)
from intel_assets.domain.execution_models.fills.alpaca_paper_fill_model import (
    AlpacaPaperFillModel,
)
from intel_assets.domain.execution_models.fills.fill_model import (
    FILL_METHODS,
    FillModel,
    FillModelParameters,
)
from intel_assets.domain.execution_models.fills.fill_prices import (
    BestEffortPrice,
    best_effort_price,
    quote_price,
)
from intel_assets.domain.execution_models.fills.lean_equity_fill_model import LeanEquityFillModel
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
from intel_assets.domain.execution_models.slippage.constant_slippage_model import (
    ConstantSlippageModel,
)
from intel_assets.domain.execution_models.slippage.slippage_model import SlippageModel
from intel_assets.domain.execution_models.slippage.zero_slippage_model import ZeroSlippageModel


def best_effort_quote_price(market: MarketSnapshot, side: Side):
    """Ask close (buy) / bid close (sell) of one snapshot's quote bar, with LEAN's fallbacks."""
    return quote_price(MarketView.of(market), side)


__all__ = ["AlpacaFeeModel", "AlpacaPaperFillModel", "BestEffortPrice", "ConstantSlippageModel",
           "ExecutionModels", "ExecutionResult", "FILL_METHODS", "FeeModel", "FillDecision",
           "FillModel", "FillModelParameters", "InteractiveBrokersFeeModel",
           "LeanEquityFillModel", "LeanSetHoldingsSizingModel", "MarketSnapshot", "MarketView",
           "OrderFeeParameters", "OrderTerms", "OrderType", "PriceBar", "QuoteBar",
           "SessionHours", "Side", "SizingModel", "SlippageModel", "TimeInForce", "TradeBar",
           "ZERO", "ZeroSlippageModel", "alpaca_paper_models", "best_effort_price",
           "best_effort_quote_price", "execute_order", "lean_models", "order_value_price",
           "quote_price", "to_decimal"]
