"""Owns the errors an execution venue answers with, as every side of the adapter boundary sees
them: the adapters (execution/), the parity replay and Torghut's routing (torghut/routing.py)."""

from __future__ import annotations


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


__all__ = ["ExecutionAdapterError", "OrderNotFoundError", "OrderRequestError",
           "RunnerUnavailableError"]
