"""Owns the sizing models: how many shares an order needs to reach a portfolio target.

``LeanSetHoldingsSizingModel`` restates LEAN's ``SetHoldings``/``PortfolioTarget.Percent`` sizing
(fee-aware, with the free-portfolio-value buffer); it reproduces BasicTemplateAlgorithm's 688
shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol

from intel_assets.domain.execution_models.fees.fee_model import FeeModel, OrderFeeParameters
from intel_assets.domain.execution_models.market import ZERO, to_decimal


class SizingModel(Protocol):
    def order_quantity(self, target_percent: Decimal, total_portfolio_value: Decimal,
                       holdings_quantity: Decimal, price: Decimal, fee_model: FeeModel,
                       free_portfolio_value: Decimal | None = None) -> Decimal:
        """Signed quantity to order so holdings reach ``target_percent`` of the portfolio."""


def _round_to_lot(quantity: Decimal, lot: Decimal, toward_negative: bool) -> Decimal:
    lots = (quantity / lot).to_integral_value(rounding=ROUND_FLOOR)
    if not toward_negative and lots * lot != quantity:
        lots += 1
    return lots * lot


@dataclass(frozen=True)
class LeanSetHoldingsSizingModel:
    """LEAN ``SetHoldings``/``PortfolioTarget.Percent`` sizing, fee-aware, in value space.

    ``adjusted = target x (TPV - free) / TPV`` where ``free`` is LEAN's
    ``Settings.FreePortfolioValue`` (fixed at start as TPV x ``free_portfolio_value_percentage``;
    when not given, TPV x percentage now). Then LEAN's loop: quantity = lot-rounded (toward
    zero-exposure side) ``adjusted x TPV / price - holdings``; fee = fee model on that quantity
    as a market order at ``price`` (LEAN's ``GetOrderFee`` on a ``MarketOrder``);
    new target = ``(TPV - fee) x adjusted``; repeat while the resulting holdings value exceeds the
    new target. LEAN works in margin units (value / leverage) on both sides; the leverage cancels
    except in the minimum-order check (``minimum_order_margin_portfolio_percentage``).
    """

    free_portfolio_value_percentage: Decimal = Decimal("0.0025")
    minimum_order_margin_portfolio_percentage: Decimal = Decimal("0.001")
    leverage: Decimal = Decimal("2")
    lot_size: Decimal = Decimal("1")

    def order_quantity(self, target_percent: Decimal, total_portfolio_value: Decimal,
                       holdings_quantity: Decimal, price: Decimal, fee_model: FeeModel,
                       free_portfolio_value: Decimal | None = None) -> Decimal:
        tpv, target_percent = to_decimal(total_portfolio_value), to_decimal(target_percent)
        if price <= 0:
            raise ValueError(f"cannot size an order at price {price}: need a positive price")
        if tpv <= 0:
            raise ValueError(f"cannot size an order with portfolio value {tpv}")
        free = (tpv * self.free_portfolio_value_percentage if free_portfolio_value is None
                else to_decimal(free_portfolio_value))
        adjusted = target_percent * (tpv - free) / tpv
        target_value = adjusted * tpv
        if target_value == 0:
            return -holdings_quantity
        current_value = holdings_quantity * price
        threshold = tpv * self.minimum_order_margin_portfolio_percentage
        if abs(target_value - current_value) / self.leverage < threshold:
            return ZERO
        last: Decimal | None = None
        while True:
            quantity = self._amount_to_order(target_value, holdings_quantity, price)
            if quantity == 0:
                return ZERO
            side = "buy" if quantity > 0 else "sell"
            fee = fee_model.order_fee(OrderFeeParameters(side, "market", abs(quantity), price,
                                                         price))
            target_value = (tpv - fee) * adjusted
            if quantity == last:
                raise ValueError(f"sizing did not converge: quantity {quantity} twice for target "
                                 f"value {target_value} (fee {fee})")
            last = quantity
            if abs((quantity + holdings_quantity) * price) <= abs(target_value):
                return quantity

    def _amount_to_order(self, target_value: Decimal, holdings: Decimal,
                         price: Decimal) -> Decimal:
        """LEAN ``GetAmountToOrder``: lot-rounded so the final holdings stay within the target."""
        long_target = target_value > 0
        size = _round_to_lot(target_value / price - holdings, self.lot_size,
                             toward_negative=long_target)
        while (long_target and (size + holdings) * price > target_value) or (
                not long_target and (size + holdings) * price < target_value):
            size += -self.lot_size if long_target else self.lot_size
        return size


__all__ = ["LeanSetHoldingsSizingModel", "SizingModel"]
