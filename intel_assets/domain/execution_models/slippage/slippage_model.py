"""Owns the slippage interface: a non-negative price amount a fill model adds to buys and
subtracts from sells (LEAN ``ISlippageModel.GetSlippageApproximation(asset, order)``; the
``MarketView`` stands in for LEAN's ``Security``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from intel_assets.domain.execution_models.market import MarketView
from intel_assets.domain.execution_models.orders import OrderTerms


class SlippageModel(Protocol):
    """``reads_clock = False`` on a model declares that its amount never depends on
    ``market.now`` (ExecutionModels.clock_facts relies on it); undeclared means it may."""

    def slippage(self, order: OrderTerms, market: MarketView) -> Decimal:
        """Non-negative price amount added to buys / subtracted from sells."""


__all__ = ["SlippageModel"]
