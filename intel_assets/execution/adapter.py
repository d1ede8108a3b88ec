"""Owns the ExecutionAdapter protocol every venue adapter implements, and its error types.

An adapter turns an OrderIntent into an order at one venue (the reference LEAN runner, Alpaca
paper, ...) and reports OrderState back. Every call is idempotent by ``client_order_id``:
submitting the same intent twice yields the existing order, never a second one, so a caller may
retry a submit whose response it never saw.

A venue with a replay clock may also offer ``ReplayingAdapter.replay``: a whole replay (each
intent placed at its decision time, the clock brought to a horizon, every order read there) in
fewer round trips than one submit, clock move and read per intent, with the same outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from intel_assets.contracts.orders import OrderIntent, OrderState


@runtime_checkable
class ExecutionAdapter(Protocol):
    """Submit/cancel/replace/status of orders at one venue, idempotent by client_order_id."""

    def submit(self, intent: OrderIntent) -> OrderState:
        """Place ``intent`` (or return the order already placed under its client_order_id)."""

    def cancel(self, client_order_id: str) -> OrderState:
        """Cancel an open order; canceling a canceled order returns it unchanged."""

    def replace(self, client_order_id: str, qty: float | None = None,
                limit_price: float | None = None) -> OrderState:
        """Change quantity and/or limit price of an open order."""

    def status(self, client_order_id: str) -> OrderState:
        """The order as the venue holds it now."""


@dataclass(frozen=True)
class ReplayAnswer:
    """One intent of a replay: its order's state at the horizon, or why it has none (the
    venue's refusal of the submit as an OrderRequestError, or what went wrong with this intent
    alone), and the wall time the venue took for it (a batch's time shared by its intents)."""

    state: OrderState | None
    error: Exception | None = None
    latency_ms: float = 0.0


@runtime_checkable
class ReplayingAdapter(Protocol):
    def replay(self, intents: Sequence[OrderIntent],
               horizon: datetime) -> list[ReplayAnswer] | None:
        """Place each intent (in this order) at its decision time, bring the venue's clock to
        ``horizon``, read every order there (and cancel what is still open, so nothing rests
        into a later replay): one answer per intent, in order. None when this venue cannot
        replay that way (a live clock, a runner without it): replay one intent at a time.
        Raises RunnerUnavailableError when the venue is down."""


__all__ = ["ExecutionAdapter", "ReplayAnswer", "ReplayingAdapter"]
