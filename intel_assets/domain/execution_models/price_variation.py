"""Owns the minimum price variation (tick) of US equities and rounding to it: LEAN's
``EquityPriceVariationModel`` (0.01, or 0.0001 below USD 1), used on raw prices; LEAN's
``AdjustedPriceVariationModel`` (adjusted prices, its backtest default) never rounds."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal


def tick_size(price: Decimal) -> Decimal:
    """US-equity minimum price variation: 0.0001 below USD 1, else 0.01."""
    return Decimal("0.0001") if price < 1 else Decimal("0.01")


def round_to_tick(price: Decimal) -> Decimal:
    """``price`` rounded to its tick, half to even (C# ``Math.Round``, as LEAN rounds order
    prices in ``BrokerageTransactionHandler.RoundOrderPrices``)."""
    tick = tick_size(price)
    return (price / tick).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * tick


__all__ = ["round_to_tick", "tick_size"]
