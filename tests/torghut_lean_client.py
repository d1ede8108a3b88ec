"""Owns a test client that behaves as Torghut's LeanExecutionAdapter (our own restatement of
proompteng/lab 255d330fe ``services/torghut/app/trading/execution_adapters.py``; none of its
code): the same paths, bodies, headers and answer checks, over stdlib http.client as Torghut
does, raising ``RuntimeError('lean_runner_http_<status>:...')`` on a non-2xx answer.

* ``submit_order``: ``POST /v1/orders/submit`` with ``{symbol, side, qty, order_type,
  time_in_force, limit_price, stop_price, extra_params}``, headers ``X-Correlation-ID``
  (``torghut-<20 hex>``) and ``Idempotency-Key`` (the client_order_id, else a random key); the
  answer must have non-empty id, status, symbol and qty, the same client_order_id (when both are
  set) and symbol (case-insensitive), and a qty > 0.
* ``get_order`` (``GET /v1/orders/{id}``) and ``list_orders`` check non-empty id and status and a
  numeric qty when present; a list answer may be a list or ``{"orders": [...]}``.
* ``get_order_by_client_order_id``: ``GET /v1/orders/client/{id}``, None on 404.
* ``cancel_order``: ``POST /v1/orders/{id}/cancel`` -> the answer's ``ok`` when it is a bool.
* ``cancel_all_orders``: ``POST /v1/orders/cancel-all`` -> a list or ``{"orders": [...]}``.
* health: ``GET /healthz``; healthy when 2xx and ``status`` (if any) is ``ok``.
"""

from __future__ import annotations

import json
import uuid
from http.client import HTTPConnection
from typing import Any
from urllib.parse import quote, urlencode, urlsplit


class TorghutLikeLeanClient:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.last_headers: dict[str, str] = {}

    # ---- transport --------------------------------------------------------------------------
    def _request(self, method: str, path: str, payload: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> Any:
        parts = urlsplit(self.base_url)
        connection = HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
        sent = {"accept": "application/json", **(headers or {})}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            sent["content-type"] = "application/json"
        self.last_headers = sent
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode("utf-8", errors="replace").strip()
        finally:
            connection.close()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"lean_runner_http_{response.status}:{text[:200]}")
        return json.loads(text) if text else {}

    # ---- the adapter's calls ----------------------------------------------------------------
    def healthy(self) -> bool:
        try:
            payload = self._request("GET", "/healthz")
        except (RuntimeError, OSError):
            return False
        status = str(payload.get("status", "")).strip().lower() if isinstance(payload, dict) else ""
        return not status or status == "ok"

    def submit_order(self, symbol: str, side: str, qty: float, order_type: str,
                     time_in_force: str, limit_price: float | None = None,
                     stop_price: float | None = None,
                     extra_params: dict[str, Any] | None = None) -> dict[str, Any]:
        params = dict(extra_params or {})
        cid = params.get("client_order_id")
        key = str(cid or f"{symbol}:{side}:{qty}:{order_type}:{time_in_force}:{uuid.uuid4().hex[:8]}")
        body = {"symbol": symbol, "side": side, "qty": qty, "order_type": order_type,
                "time_in_force": time_in_force, "limit_price": limit_price,
                "stop_price": stop_price, "extra_params": params}
        order = self._request("POST", "/v1/orders/submit", body, headers={
            "X-Correlation-ID": f"torghut-{uuid.uuid4().hex[:20]}", "Idempotency-Key": key})
        return self._checked_submit(order, cid, symbol)

    @staticmethod
    def _checked_submit(order: Any, cid: Any, symbol: str) -> dict[str, Any]:
        if not isinstance(order, dict):
            raise RuntimeError(f"invalid_order_payload:{type(order)}")
        missing = sorted(k for k in ("id", "status", "symbol", "qty") if order.get(k) in (None, ""))
        if missing:
            raise RuntimeError(f"lean_order_payload_missing_keys:{','.join(missing)}")
        seen = order.get("client_order_id")
        if cid not in (None, "") and seen not in (None, "") and str(seen) != str(cid):
            raise RuntimeError("lean_order_payload_client_order_id_mismatch")
        if str(order.get("symbol", "")).strip().upper() != symbol.strip().upper():
            raise RuntimeError("lean_order_payload_symbol_mismatch")
        try:
            qty = float(str(order.get("qty")))
        except ValueError as exc:
            raise RuntimeError("lean_order_payload_qty_invalid") from exc
        if qty <= 0:
            raise RuntimeError("lean_order_payload_qty_non_positive")
        return order

    @staticmethod
    def _checked_read(order: Any) -> dict[str, Any]:
        if not isinstance(order, dict):
            raise RuntimeError(f"invalid_order_payload:{type(order)}")
        missing = sorted(k for k in ("id", "status") if order.get(k) in (None, ""))
        if missing:
            raise RuntimeError(f"lean_read_order_payload_missing_keys:{','.join(missing)}")
        if order.get("qty") not in (None, ""):
            float(str(order["qty"]))
        return order

    def get_order(self, order_id: str) -> dict[str, Any]:
        return self._checked_read(self._request("GET", f"/v1/orders/{quote(order_id)}"))

    def get_order_by_client_order_id(self, client_order_id: str) -> dict[str, Any] | None:
        try:
            return self._checked_read(self._request(
                "GET", f"/v1/orders/client/{quote(client_order_id)}"))
        except RuntimeError as exc:
            if str(exc).startswith("lean_runner_http_404"):
                return None
            raise

    def list_orders(self, status: str = "all") -> list[dict[str, Any]]:
        payload = self._request("GET", f"/v1/orders?{urlencode({'status': status})}")
        items = payload if isinstance(payload, list) else payload.get("orders", [])
        return [self._checked_read(item) for item in items if isinstance(item, dict)]

    def cancel_order(self, order_id: str) -> bool:
        payload = self._request("POST", f"/v1/orders/{quote(order_id)}/cancel")
        ok = payload.get("ok") if isinstance(payload, dict) else None
        return ok if isinstance(ok, bool) else True

    def cancel_all_orders(self) -> list[dict[str, Any]]:
        payload = self._request("POST", "/v1/orders/cancel-all")
        items = payload if isinstance(payload, list) else payload.get("orders", [])
        return [item for item in items if isinstance(item, dict)]
