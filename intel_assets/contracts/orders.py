"""Owns the order shapes that cross a boundary: OrderIntent, Fill, OrderState (the LEAN runner's
wire bodies are in execution/lean_runner_wire.py).

Quantities and prices are JSON numbers (Python ``float``) on the wire, as Alpaca and Torghut
send them; the execution engine converts them to ``Decimal`` via ``str()`` (so ``0.1`` stays
exactly ``0.1``) before any money arithmetic. Every time is timezone-aware and serialized as
ISO-8601 UTC. Keys are snake_case; unknown keys are rejected so a typo is a 422, not a default.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol

CLIENT_ORDER_ID_RULE = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_CLIENT_ORDER_ID_RE = re.compile(CLIENT_ORDER_ID_RULE)

Side = Literal["buy", "sell"]
#: Torghut's StrategyDecision.order_type spellings (services/torghut/app/trading/models.py).
OrderType = Literal["market", "limit", "stop", "stop_limit"]
TimeInForce = Literal["day", "gtc", "ioc", "fok"]
FillStatus = Literal["filled", "rejected", "unfilled", "canceled"]
OrderStatus = Literal["open", "filled", "canceled", "rejected"]


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(timezone.utc)


def _positive_finite(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrderIntent(_Model):
    """What a strategy decided to trade, at ``decision_time``; one intent = one order."""

    intent_id: str = Field(min_length=1, max_length=128)
    strategy_id: str = Field(min_length=1, max_length=128)
    symbol: str
    side: Side
    qty: float = Field(description="shares, > 0; fractional allowed by the contract, "
                                   "venues may require whole shares")
    type: OrderType = "market"
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: TimeInForce = "day"
    decision_time: AwareDatetime
    client_order_id: str | None = Field(
        default=None, description="idempotency key; default '<strategy_id>-<intent_id>'")

    @field_validator("symbol", mode="before")
    @classmethod
    def _symbol(cls, value: Any) -> str:
        try:
            return normalize_symbol(value)
        except InvalidSymbolError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("qty")
    @classmethod
    def _qty(cls, value: float) -> float:
        return _positive_finite("qty", value)  # type: ignore[return-value]

    @field_validator("limit_price", "stop_price")
    @classmethod
    def _price(cls, value: float | None, info) -> float | None:
        return _positive_finite(info.field_name, value)

    @field_validator("decision_time")
    @classmethod
    def _decision_utc(cls, value: datetime) -> datetime:
        return _utc(value)  # type: ignore[return-value]

    @model_validator(mode="after")
    def _prices_match_type(self) -> "OrderIntent":
        needs_limit = self.type in ("limit", "stop_limit")
        needs_stop = self.type in ("stop", "stop_limit")
        if needs_limit and self.limit_price is None:
            raise ValueError(f"a {self.type} order needs limit_price (the worst price you accept)")
        if needs_stop and self.stop_price is None:
            raise ValueError(f"a {self.type} order needs stop_price (the trigger price)")
        if not needs_limit and self.limit_price is not None:
            raise ValueError(f"limit_price is only allowed on limit and stop_limit orders, not "
                             f"{self.type} orders")
        if not needs_stop and self.stop_price is not None:
            raise ValueError(f"stop_price is only allowed on stop and stop_limit orders, not "
                             f"{self.type} orders")
        if self.client_order_id is None:
            object.__setattr__(self, "client_order_id", default_client_order_id(
                self.strategy_id, self.intent_id))
        if not _CLIENT_ORDER_ID_RE.fullmatch(self.client_order_id or ""):
            raise ValueError(f"client_order_id {self.client_order_id!r} must match "
                             f"{CLIENT_ORDER_ID_RULE}")
        return self


@dataclass(frozen=True)
class OrderBounds:
    """The largest order every boundary accepts (LEAN runner, paper venue, decision reader).

    No equity order comes near them; beyond them Decimal arithmetic overflows (qty >= 1e28 made
    the runner answer 500) or fees and notionals become absurd (qty 1e27: a 5e24 USD fee).
    Configured by INTEL_MAX_ORDER_QTY and INTEL_MAX_ORDER_PRICE (settings.order_bounds)."""

    max_qty: Decimal = Decimal(100_000_000)
    max_price: Decimal = Decimal(10_000_000)

    def problem(self, qty: Decimal | None, **prices: Decimal | None) -> str | None:
        """Why an order of ``qty`` at these prices is refused, or None."""
        if qty is not None and qty > self.max_qty:
            return (f"qty {qty} exceeds the largest order accepted, {self.max_qty:,} shares "
                    "(INTEL_MAX_ORDER_QTY)")
        for name, price in prices.items():
            if price is not None and price > self.max_price:
                return (f"{name} {price} exceeds the largest price accepted, {self.max_price:,} "
                        "USD (INTEL_MAX_ORDER_PRICE)")
        return None


DEFAULT_ORDER_BOUNDS = OrderBounds()


def default_client_order_id(strategy_id: str, intent_id: str) -> str:
    """The deterministic client_order_id of an intent that names none (retries stay idempotent)."""
    raw = re.sub(r"[^A-Za-z0-9._:-]", "_", f"{strategy_id}-{intent_id}")
    return (raw if raw[:1].isalnum() else f"o{raw}")[:128]


class Fill(_Model):
    """The execution outcome of one order so far: whole quantity or nothing (no partials)."""

    client_order_id: str
    status: FillStatus
    filled_qty: float = Field(ge=0)
    avg_fill_price: float | None = None
    fee: float = Field(default=0.0, ge=0)
    filled_at: AwareDatetime | None = None
    reason: str | None = None

    @field_validator("filled_at")
    @classmethod
    def _filled_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @model_validator(mode="after")
    def _consistent(self) -> "Fill":
        if self.status == "filled":
            if self.filled_qty <= 0 or self.avg_fill_price is None or self.filled_at is None:
                raise ValueError("a filled Fill needs filled_qty > 0, avg_fill_price and filled_at")
        elif self.filled_qty != 0 or self.avg_fill_price is not None:
            raise ValueError(f"a {self.status} Fill has filled_qty 0 and no avg_fill_price")
        return self


class OrderState(_Model):
    """An order as a venue holds it: the (possibly replaced) intent, its status and its fill."""

    client_order_id: str
    status: OrderStatus
    intent: OrderIntent
    fill: Fill
    replace_count: int = Field(default=0, ge=0)
    evaluated_bar_start: AwareDatetime | None = Field(
        default=None, description="start of the market bar the order was last evaluated on")

    @field_validator("evaluated_bar_start")
    @classmethod
    def _bar_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


__all__ = ["CLIENT_ORDER_ID_RULE", "DEFAULT_ORDER_BOUNDS", "Fill", "FillStatus", "OrderBounds",
           "OrderIntent", "OrderState", "OrderStatus", "OrderType", "Side", "TimeInForce",
           "default_client_order_id"]
