"""Owns the domain form of an order as the market-rule models see it (``OrderTerms``) and what a
model answers (``FillDecision``, ``ExecutionResult``).

Order types are LEAN's, spelled as Torghut/Alpaca spell them: market, limit, stop (LEAN
StopMarket), stop_limit, trailing_stop, market_on_open, market_on_close. Times in force: day
(expires at the first regular close after the order), gtc, gtd (LEAN GoodTilDate: the close of
``expire_date``), ioc and fok (one evaluation, then canceled; with no partial fills they are the
same). ``OrderTerms`` is immutable: an update, a stop trigger or a trailing move is a new value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from intel_assets.domain.execution_models.market import Side

OrderType = Literal["market", "limit", "stop", "stop_limit", "trailing_stop",
                    "market_on_open", "market_on_close"]
ORDER_TYPES: tuple[str, ...] = ("market", "limit", "stop", "stop_limit", "trailing_stop",
                                "market_on_open", "market_on_close")
TimeInForce = Literal["day", "gtc", "gtd", "ioc", "fok"]
TIMES_IN_FORCE: tuple[str, ...] = ("day", "gtc", "gtd", "ioc", "fok")


@dataclass(frozen=True)
class OrderTerms:
    """What a fill model needs to know about an order (domain form of OrderIntent).

    ``quantity`` is unsigned; ``side`` gives the direction. ``submitted_at`` is LEAN's
    ``Order.Time``: it never changes on updates. ``trailing_amount`` is a price amount, or a
    fraction of the price when ``trailing_percent``. ``stop_triggered`` is a stop-limit's state.
    """

    side: Side
    quantity: Decimal
    order_type: OrderType = "market"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    submitted_at: datetime | None = None
    time_in_force: TimeInForce = "gtc"
    expire_date: date | None = None
    trailing_amount: Decimal | None = None
    trailing_percent: bool = False
    stop_triggered: bool = False

    def __post_init__(self) -> None:
        problems = order_terms_problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side == "buy" else -self.quantity


def order_terms_problems(terms: OrderTerms) -> list[str]:
    """Plain-words reasons ``terms`` is not a valid order ([] when it is)."""
    out: list[str] = []
    if terms.side not in ("buy", "sell"):
        out.append(f"side must be buy or sell, not {terms.side!r}")
    if terms.order_type not in ORDER_TYPES:
        out.append(f"order type must be one of {', '.join(ORDER_TYPES)}, not {terms.order_type!r}")
    if terms.time_in_force not in TIMES_IN_FORCE:
        out.append(f"time in force must be one of {', '.join(TIMES_IN_FORCE)}, not "
                   f"{terms.time_in_force!r}")
    if not terms.quantity > 0:
        out.append(f"quantity must be > 0, got {terms.quantity}")
    needs_limit = terms.order_type in ("limit", "stop_limit")
    needs_stop = terms.order_type in ("stop", "stop_limit", "trailing_stop")
    if needs_limit and terms.limit_price is None:
        out.append(f"a {terms.order_type} order needs a limit price")
    if needs_stop and terms.stop_price is None:
        out.append(f"a {terms.order_type} order needs a stop price")
    if terms.order_type == "trailing_stop" and terms.trailing_amount is None:
        out.append("a trailing_stop order needs a trailing amount")
    for name in ("limit_price", "stop_price", "trailing_amount"):
        value = getattr(terms, name)
        if value is not None and not value > 0:
            out.append(f"{name} must be > 0, got {value}")
    if terms.time_in_force == "gtd" and terms.expire_date is None:
        out.append("a gtd order needs an expire date")
    return out


@dataclass(frozen=True)
class FillDecision:
    """One evaluation of an order: filled (whole quantity) at ``price``, or why not.

    ``update`` carries state the evaluation changed even without a fill (a stop-limit's trigger,
    a trailing stop's new stop price), as ``OrderTerms`` field values.
    """

    filled: bool
    price: Decimal | None
    reason: str
    update: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecutionResult:
    """A fill decision with its fee: what a venue reports for one evaluation."""

    filled: bool
    price: Decimal | None
    quantity: Decimal
    fee: Decimal
    reason: str
    update: dict[str, Any] = field(default_factory=dict)


__all__ = ["ExecutionResult", "FillDecision", "ORDER_TYPES", "OrderTerms", "OrderType",
           "TIMES_IN_FORCE", "TimeInForce", "order_terms_problems"]
