"""Owns the slippage models: a non-negative price amount a fill model adds to buys and
subtracts from sells (LEAN ``ISlippageModel.GetSlippageApproximation``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from intel_assets.domain.execution_models.market import ZERO, MarketView
from intel_assets.domain.execution_models.orders import OrderTerms


class SlippageModel(Protocol):
    def slippage(self, order: OrderTerms, market: MarketView) -> Decimal:
        """Non-negative price amount added to buys / subtracted from sells."""


@dataclass(frozen=True)
class ZeroSlippageModel:
    """LEAN's default (``NullSlippageModel``): no slippage."""

    def slippage(self, order: OrderTerms, market: MarketView) -> Decimal:
        return ZERO


@dataclass(frozen=True)
class ConstantSlippageModel:
    """A fixed price amount per share against the order (e.g. Decimal('0.01'))."""

    amount: Decimal

    def slippage(self, order: OrderTerms, market: MarketView) -> Decimal:
        return self.amount


__all__ = ["ConstantSlippageModel", "SlippageModel", "ZeroSlippageModel"]
