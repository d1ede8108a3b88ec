"""Owns the fill interface (``FillModel``), the parameter object it takes
(``FillModelParameters``) and the per-order-type method names a fill model dispatches to
(``FILL_METHODS``).

LEAN's ``IFillModel.Fill(FillModelParameters)`` receives the security, the order and the
config; LEAN's ``FillModel.Fill`` then calls one virtual method per order type (``MarketFill``,
``LimitFill``, ``StopMarketFill``, ``StopLimitFill``, ``TrailingStopFill``,
``MarketOnOpenFill``, ``MarketOnCloseFill``), which a venue's model overrides only where its
rules differ (QuantConnect/Lean master 24863901 ``Common/Orders/Fills/FillModel.cs``,
``IFillModel.cs``, ``FillModelParameters.cs``). Here the ``MarketView`` stands in for the
security and its cache, and the slippage model is passed along (LEAN reads
``asset.SlippageModel``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from intel_assets.domain.execution_models.market import MarketSnapshot, MarketView
from intel_assets.domain.execution_models.orders import FillDecision, OrderTerms
from intel_assets.domain.execution_models.slippage.slippage_model import SlippageModel

#: Order type -> the fill model method that fills it (LEAN ``FillModel``'s per-type methods).
FILL_METHODS: dict[str, str] = {
    "market": "market_fill",
    "limit": "limit_fill",
    "stop": "stop_market_fill",
    "stop_limit": "stop_limit_fill",
    "trailing_stop": "trailing_stop_fill",
    "market_on_open": "market_on_open_fill",
    "market_on_close": "market_on_close_fill",
}


@dataclass(frozen=True)
class FillModelParameters:
    """One evaluation of ``order`` on ``market`` with ``slippage`` (LEAN
    ``FillModelParameters``). A bare ``MarketSnapshot`` is viewed at its end (its bars are the
    latest, no exchange hours): after construction ``market`` is always a ``MarketView``."""

    order: OrderTerms
    market: MarketView | MarketSnapshot
    slippage: SlippageModel

    def __post_init__(self) -> None:
        if not isinstance(self.market, MarketView):
            object.__setattr__(self, "market", MarketView.of(self.market))


class FillModel(Protocol):
    def fill(self, parameters: FillModelParameters) -> FillDecision:
        """Whether ``parameters.order`` fills (entirely) on ``parameters.market`` and at what
        price (LEAN ``IFillModel.Fill``)."""


__all__ = ["FILL_METHODS", "FillModel", "FillModelParameters"]
