"""Owns the fee interface (``FeeModel``), the parameter object it takes
(``OrderFeeParameters``) and LEAN's order value (the price a fee cap is measured against).

LEAN's ``IFeeModel.GetOrderFee(OrderFeeParameters)`` receives the security and the order; here
the parameters carry what of them a fee reads: side, order type, the quantity filled, the fill
price, ``Security.Price`` at the fill and the order's limit and stop prices. The order value is
LEAN's ``Order.GetValue``: market-type orders at ``Security.Price``; limits at the better of
limit and price; stops at the better of stop and price (``order_value_price``; QuantConnect/Lean
24863901 ``Common/Orders/LimitOrder.cs`` and ``StopMarketOrder.cs`` ``GetValueImpl``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from intel_assets.domain.execution_models.market import Side
from intel_assets.domain.execution_models.orders import OrderTerms, OrderType


def _value_price(side: Side, order_type: str, limit_price: Decimal | None,
                 stop_price: Decimal | None, security_price: Decimal) -> Decimal:
    pick = min if side == "buy" else max
    if order_type in ("limit", "stop_limit") and limit_price is not None:
        return pick(limit_price, security_price)
    if order_type in ("stop", "trailing_stop") and stop_price is not None:
        return pick(stop_price, security_price)
    return security_price


def order_value_price(order: OrderTerms, security_price: Decimal) -> Decimal:
    """The per-share price LEAN values ``order`` at (``Order.GetValue`` / quantity)."""
    return _value_price(order.side, order.order_type, order.limit_price, order.stop_price,
                        security_price)


@dataclass(frozen=True)
class OrderFeeParameters:
    """One fill as a fee model sees it (LEAN ``OrderFeeParameters``: security and order).

    ``quantity`` is the shares filled (unsigned; ``side`` gives the direction; a fee model reads
    ``abs(quantity)``); ``fill_price`` the fill's price per share; ``security_price`` LEAN's
    ``Security.Price`` at the fill, which LEAN's order value reads together with the order's
    ``limit_price`` / ``stop_price``.
    """

    side: Side
    order_type: OrderType
    quantity: Decimal
    fill_price: Decimal
    security_price: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None

    @classmethod
    def of(cls, order: OrderTerms, fill_price: Decimal,
           security_price: Decimal) -> OrderFeeParameters:
        """``order`` filled whole at ``fill_price`` while the security is at ``security_price``."""
        return cls(order.side, order.order_type, order.quantity, fill_price, security_price,
                   order.limit_price, order.stop_price)

    @property
    def order_value_price(self) -> Decimal:
        """The per-share price LEAN values the order at (``Order.GetValue`` / quantity)."""
        return _value_price(self.side, self.order_type, self.limit_price, self.stop_price,
                            self.security_price)

    @property
    def order_value(self) -> Decimal:
        """LEAN's ``Order.GetValue`` (unsigned): shares x ``order_value_price``."""
        return abs(self.quantity) * abs(self.order_value_price)

    @property
    def fill_value(self) -> Decimal:
        """The fill's notional (unsigned): shares x fill price."""
        return abs(self.quantity) * abs(self.fill_price)


class FeeModel(Protocol):
    def order_fee(self, parameters: OrderFeeParameters) -> Decimal:
        """The fee (account currency, >= 0) for the fill ``parameters`` describe (LEAN
        ``IFeeModel.GetOrderFee``)."""


__all__ = ["FeeModel", "OrderFeeParameters", "order_value_price"]
