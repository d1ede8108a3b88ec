"""Owns ``InteractiveBrokersFeeModel``: LEAN's default US-equity fee.

Restates QuantConnect/Lean master ``Common/Orders/Fees/InteractiveBrokersFeeModel.cs`` for US
equities: USD 0.005 per share, at least USD 1, at most 0.5 % of the order value
(``maximumFeeRate: 0.005m`` at master 24863901; it was never raised to 1 %), checked in LEAN's
order: below the minimum -> the minimum (even above the cap), else above the cap -> the cap. The
order value is LEAN's ``Order.GetValue`` (``OrderFeeParameters.order_value_price``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from intel_assets.domain.execution_models.fees.fee_model import OrderFeeParameters
from intel_assets.domain.execution_models.market import ZERO


@dataclass(frozen=True)
class InteractiveBrokersFeeModel:
    """LEAN's default US-equity fee: per share, at least ``minimum_fee``, at most a share of value."""

    fee_per_share: Decimal = Decimal("0.005")
    minimum_fee: Decimal = Decimal("1")
    maximum_fee_rate: Decimal = Decimal("0.005")

    def order_fee(self, parameters: OrderFeeParameters) -> Decimal:
        shares = abs(parameters.quantity)
        if shares == 0:
            return ZERO
        fee = self.fee_per_share * shares
        cap = self.maximum_fee_rate * shares * abs(parameters.order_value_price)
        if fee < self.minimum_fee:
            fee = self.minimum_fee
        elif fee > cap:
            fee = cap
        return abs(fee)


__all__ = ["InteractiveBrokersFeeModel"]
