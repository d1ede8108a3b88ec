"""Owns the ExecutionAdapter protocol every venue adapter implements, and its error types.

An adapter turns an OrderIntent into an order at one venue (the reference LEAN runner, Alpaca
paper, ...) and reports OrderState back. Every call is idempotent by ``client_order_id``:
submitting the same intent twice yields the existing order, never a second one, so a caller may
retry a submit whose response it never saw.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from intel_assets.contracts.orders import OrderIntent, OrderState


class ExecutionAdapterError(Exception):
    """Base class: the venue could not do what was asked; the message says why in plain words."""


class RunnerUnavailableError(ExecutionAdapterError):
    """The venue (runner service, broker API) cannot be reached or is failing; retry later."""


class OrderRequestError(ExecutionAdapterError):
    """The venue refused the request (bad input, unknown order, wrong state); do not retry as is."""

    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(f"{reason} (HTTP {status_code})")
        self.status_code = status_code
        self.reason = reason


class OrderNotFoundError(OrderRequestError):
    """No order with that client_order_id exists at the venue."""


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


__all__ = ["ExecutionAdapter", "ExecutionAdapterError", "OrderNotFoundError",
           "OrderRequestError", "RunnerUnavailableError"]
