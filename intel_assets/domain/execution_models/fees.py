"""Owns the fee models and LEAN's order value (the price a fee cap is measured against).

``InteractiveBrokersFeeModel`` restates QuantConnect/Lean master
``Common/Orders/Fees/InteractiveBrokersFeeModel.cs`` for US equities: USD 0.005 per share, at
least USD 1, at most 0.5 % of the order value (``maximumFeeRate: 0.005m`` at master 24863901;
it was never raised to 1 %), checked in LEAN's order: below the minimum -> the minimum (even
above the cap), else above the cap -> the cap. The order value is LEAN's ``Order.GetValue``:
market-type orders at ``Security.Price``; limits at the better of limit and price; stops at the
better of stop and price (``order_value_price``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from intel_assets.domain.execution_models.market import ZERO
from intel_assets.domain.execution_models.orders import OrderTerms


class FeeModel(Protocol):
    def order_fee(self, quantity: Decimal, price: Decimal) -> Decimal:
        """The fee (account currency, >= 0) for trading ``|quantity|`` shares valued at ``price``."""


def order_value_price(order: OrderTerms, security_price: Decimal) -> Decimal:
    """The per-share price LEAN values ``order`` at (``Order.GetValue`` / quantity)."""
    buy = order.side == "buy"
    pick = min if buy else max
    if order.order_type == "limit" and order.limit_price is not None:
        return pick(order.limit_price, security_price)
    if order.order_type == "stop_limit" and order.limit_price is not None:
        return pick(order.limit_price, security_price)
    if order.order_type in ("stop", "trailing_stop") and order.stop_price is not None:
        return pick(order.stop_price, security_price)
    return security_price


@dataclass(frozen=True)
class AlpacaFeeModel:
    """Alpaca: zero commission (regulatory SEC/TAF pass-through fees are not modelled)."""

    def order_fee(self, quantity: Decimal, price: Decimal) -> Decimal:
        return ZERO


@dataclass(frozen=True)
class InteractiveBrokersFeeModel:
    """LEAN's default US-equity fee: per share, at least ``minimum_fee``, at most a share of value."""

    fee_per_share: Decimal = Decimal("0.005")
    minimum_fee: Decimal = Decimal("1")
    maximum_fee_rate: Decimal = Decimal("0.005")

    def order_fee(self, quantity: Decimal, price: Decimal) -> Decimal:
        shares = abs(quantity)
        if shares == 0:
            return ZERO
        fee = self.fee_per_share * shares
        cap = self.maximum_fee_rate * shares * abs(price)
        if fee < self.minimum_fee:
            fee = self.minimum_fee
        elif fee > cap:
            fee = cap
        return abs(fee)


__all__ = ["AlpacaFeeModel", "FeeModel", "InteractiveBrokersFeeModel", "order_value_price"]
