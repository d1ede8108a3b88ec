"""Owns ``ZeroSlippageModel``: LEAN's default slippage (``NullSlippageModel``), none."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from intel_assets.domain.execution_models.market import ZERO, MarketView
from intel_assets.domain.execution_models.orders import OrderTerms


@dataclass(frozen=True)
class ZeroSlippageModel:
    """LEAN's default (``NullSlippageModel``): no slippage."""

    reads_clock: ClassVar[bool] = False

    def slippage(self, order: OrderTerms, market: MarketView) -> Decimal:
        return ZERO


__all__ = ["ZeroSlippageModel"]
