"""Owns the slippage models: a non-negative price amount a fill model adds to buys and
subtracts from sells (LEAN ``ISlippageModel.GetSlippageApproximation``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Protocol

from intel_assets.domain.execution_models.market import ZERO, MarketView
from intel_assets.domain.execution_models.orders import OrderTerms


class SlippageModel(Protocol):
    """``reads_clock = False`` on a model declares that its amount never depends on
    ``market.now`` (ExecutionModels.clock_facts relies on it); undeclared means it may."""

    def slippage(self, order: OrderTerms, market: MarketView) -> Decimal:
        """Non-negative price amount added to buys / subtracted from sells."""


@dataclass(frozen=True)
class ZeroSlippageModel:
    """LEAN's default (``NullSlippageModel``): no slippage."""

    reads_clock: ClassVar[bool] = False

    def slippage(self, order: OrderTerms, market: MarketView) -> Decimal:
        return ZERO


@dataclass(frozen=True)
class ConstantSlippageModel:
    """A fixed price amount per share against the order (e.g. Decimal('0.01'))."""

    reads_clock: ClassVar[bool] = False
    amount: Decimal

    def slippage(self, order: OrderTerms, market: MarketView) -> Decimal:
        return self.amount


__all__ = ["ConstantSlippageModel", "SlippageModel", "ZeroSlippageModel"]
