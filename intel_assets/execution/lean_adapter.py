"""Owns LeanAdapter: the ExecutionAdapter for the reference LEAN runner service, over HTTP (httpx).

Every call has a timeout. The runner being down, unreachable, too slow or failing (5xx) raises
RunnerUnavailableError with a plain message; a refusal (4xx) raises OrderRequestError (404:
OrderNotFoundError) carrying the runner's reason. ``submit`` is idempotent by client_order_id,
so after a RunnerUnavailableError it is safe to submit the same intent again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from intel_assets.contracts.orders import OrderIntent, OrderState
from intel_assets.execution.adapter import (
    OrderNotFoundError,
    OrderRequestError,
    RunnerUnavailableError,
)


class LeanAdapter:
    """Submit/cancel/replace/status orders at a LEAN runner (``base_url`` like http://host:8787)."""

    def __init__(self, base_url: str, timeout: float = 10.0,
                 client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        limits = httpx.Timeout(timeout, connect=min(timeout, 3.0))
        self._client = client or httpx.Client(base_url=self.base_url, timeout=limits)

    # ---- ExecutionAdapter ----------------------------------------------------------------
    def submit(self, intent: OrderIntent) -> OrderState:
        return self._order("POST", "/orders", json=intent.model_dump(mode="json"))

    def cancel(self, client_order_id: str) -> OrderState:
        return self._order("DELETE", f"/orders/{client_order_id}")

    def replace(self, client_order_id: str, qty: float | None = None,
                limit_price: float | None = None, as_of: datetime | None = None) -> OrderState:
        body: dict[str, Any] = {k: v for k, v in (("qty", qty), ("limit_price", limit_price))
                                if v is not None}
        if as_of is not None:
            body["as_of"] = as_of.isoformat()
        return self._order("PATCH", f"/orders/{client_order_id}", json=body)

    def status(self, client_order_id: str) -> OrderState:
        return self._order("GET", f"/orders/{client_order_id}")

    # ---- extras ---------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """The runner's /health document (raises RunnerUnavailableError when it is down)."""
        return self._request("GET", "/health").json()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "LeanAdapter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plumbing -------------------------------------------------------------------------
    def _order(self, method: str, path: str, json: dict[str, Any] | None = None) -> OrderState:
        response = self._request(method, path, json)
        try:
            return OrderState.model_validate(response.json())
        except ValueError as exc:
            raise RunnerUnavailableError(
                f"LEAN runner at {self.base_url} answered {method} {path} with something that "
                f"is not an order ({exc}); is that URL really a LEAN runner?") from exc

    def _request(self, method: str, path: str,
                 json: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = self._client.request(method, path, json=json)
        except httpx.TimeoutException as exc:
            raise RunnerUnavailableError(
                f"LEAN runner at {self.base_url} did not answer {method} {path} in time "
                f"({type(exc).__name__}); check it is running and not overloaded") from exc
        except httpx.TransportError as exc:
            raise RunnerUnavailableError(
                f"LEAN runner at {self.base_url} is unreachable ({type(exc).__name__}: {exc}); "
                "start it with `python -m intel_assets.execution.lean_runner` or fix the URL"
            ) from exc
        if response.status_code >= 500:
            raise RunnerUnavailableError(
                f"LEAN runner at {self.base_url} failed on {method} {path} "
                f"(HTTP {response.status_code}): {_reason(response)}")
        if response.status_code >= 400:
            error = OrderNotFoundError if response.status_code == 404 else OrderRequestError
            raise error(response.status_code, _reason(response))
        return response


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and body.get("reason"):
        return str(body["reason"])
    return str(body)[:200]


__all__ = ["LeanAdapter"]
