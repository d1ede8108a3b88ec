"""Owns ``AlpacaFeeModel``: Alpaca's fees, zero commission plus (when set) the sell-side
regulatory pass-through fees.

Alpaca charges no commission on US equities; it passes on two regulatory fees on sells only:
the SEC (Section 31) fee, a rate of the sale's notional, and FINRA's Trading Activity Fee
(TAF), an amount per share sold with a per-trade cap. Their rates change over time, so both
default to 0 (no fee, as before) and a caller sets the rates in force; no rounding is applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from intel_assets.domain.execution_models.fees.fee_model import OrderFeeParameters
from intel_assets.domain.execution_models.market import ZERO


@dataclass(frozen=True)
class AlpacaFeeModel:
    """Alpaca: zero commission; on sells ``sec_fee_rate`` x notional (fill price x shares) plus
    ``finra_taf_per_share`` x shares, at most ``finra_taf_max_per_trade`` (None: no cap)."""

    sec_fee_rate: Decimal = ZERO
    finra_taf_per_share: Decimal = ZERO
    finra_taf_max_per_trade: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("sec_fee_rate", "finra_taf_per_share", "finra_taf_max_per_trade"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")

    def order_fee(self, parameters: OrderFeeParameters) -> Decimal:
        if parameters.side != "sell":
            return ZERO
        sec = self.sec_fee_rate * parameters.fill_value
        taf = self.finra_taf_per_share * abs(parameters.quantity)
        if self.finra_taf_max_per_trade is not None:
            taf = min(taf, self.finra_taf_max_per_trade)
        fee = sec + taf
        return fee if fee else ZERO


__all__ = ["AlpacaFeeModel"]
