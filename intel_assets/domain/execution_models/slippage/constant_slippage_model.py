"""Owns ``ConstantSlippageModel``: a fixed price amount per share against the order."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from intel_assets.domain.execution_models.market import MarketView
from intel_assets.domain.execution_models.orders import OrderTerms


@dataclass(frozen=True)
class ConstantSlippageModel:
    """A fixed price amount per share against the order (e.g. Decimal('0.01'))."""

    reads_clock: ClassVar[bool] = False
    amount: Decimal

    def slippage(self, order: OrderTerms, market: MarketView) -> Decimal:
        return self.amount


__all__ = ["ConstantSlippageModel"]
