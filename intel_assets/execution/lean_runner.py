"""Owns the reference LEAN runner service: an order book that fills OrderIntents with the LEAN
composition (EquityFillModel + InteractiveBrokers fees) on LEAN-format minute data, over HTTP.

The contract is ``lean_runner_openapi.yaml`` next to this module. Fill timing, no look-ahead:
an order is evaluated on the **first regular-session minute bar that starts at or after its
decision time** (a bar in progress at the decision is never used; its end is ``filled_at``).
Market orders fill there at the quote bar's ask/bid close; limit/stop orders fill there if that
trade bar reaches them, else stay ``open`` (day/gtc) or are ``canceled`` (ioc/fok). An open
order is re-evaluated only when replaced: ``PATCH`` with ``as_of`` evaluates the changed order
on the first bar starting at/after ``as_of`` (default: the original decision time). Prices are
``raw`` by default (what a broker fills at; parity with Alpaca needs that) or LEAN's
``adjusted``. Bad input gets 400/404/409/422 with ``{"error", "reason"}``, never a crash.
"""

from __future__ import annotations

import argparse
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from intel_assets.contracts.orders import Fill, OrderIntent, OrderState, ReplaceRequest
from intel_assets.devtools.asgi import asgi_in_background
from intel_assets.domain.fills import (
    ExecutionModels,
    MarketSnapshot,
    OrderTerms,
    execute_order,
    lean_models,
    to_decimal,
)
from intel_assets.domain.lean_data import (
    ExchangeHours,
    Normalization,
    first_snapshot_at_or_after,
    lean_minute_snapshots,
    read_exchange_hours,
    read_lot_size,
)
from intel_assets.domain.market_data import NEW_YORK, LeanDataError, lean_minute_days

OPENAPI_PATH = Path(__file__).with_name("lean_runner_openapi.yaml")


class RunnerRequestError(Exception):
    """A request the runner refuses; becomes ``{"error": code, "reason": reason}``."""

    def __init__(self, status_code: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status_code, self.code, self.reason = status_code, code, reason


@dataclass
class _SymbolData:
    snapshots: list[MarketSnapshot]
    hours: ExchangeHours
    lot_size: Decimal


class LeanOrderBook:
    """The runner's state: orders by client_order_id, filled by one ExecutionModels composition."""

    def __init__(self, lean_dir: Path, models: ExecutionModels | None = None,
                 normalization: Normalization = "raw") -> None:
        self.lean_dir = Path(lean_dir)
        self.models = models or lean_models()
        self.normalization = normalization
        self.orders: dict[str, OrderState] = {}
        self._data: dict[str, _SymbolData] = {}
        self._lock = threading.RLock()

    # ---- market data ----------------------------------------------------------------------
    def available_symbols(self) -> list[str]:
        root = self.lean_dir / "equity" / "usa" / "minute"
        return sorted(p.name.upper() for p in root.iterdir()) if root.is_dir() else []

    def _symbol_data(self, symbol: str) -> _SymbolData:
        if symbol not in self._data:
            if not lean_minute_days(self.lean_dir, symbol):
                raise RunnerRequestError(422, "unknown_symbol", (
                    f"unknown symbol {symbol}: no LEAN minute data for it in {self.lean_dir}; "
                    f"symbols with data: {', '.join(self.available_symbols()) or 'none'}"))
            try:
                self._data[symbol] = _SymbolData(
                    lean_minute_snapshots(self.lean_dir, symbol, normalization=self.normalization),
                    read_exchange_hours(self.lean_dir, symbol),
                    read_lot_size(self.lean_dir, symbol))
            except LeanDataError as exc:
                raise RunnerRequestError(422, "bad_data", f"LEAN data for {symbol}: {exc}") from exc
        return self._data[symbol]

    def _first_bar(self, symbol: str, moment: datetime) -> MarketSnapshot:
        data = self._symbol_data(symbol)
        session_day = data.hours.next_session_day(moment)
        i = first_snapshot_at_or_after(data.snapshots, moment)
        bar = data.snapshots[i] if i < len(data.snapshots) else None
        if bar is None or bar.start.astimezone(NEW_YORK).date() != session_day:
            days = lean_minute_days(self.lean_dir, symbol)
            raise RunnerRequestError(422, "outside_data", (
                f"time {moment.isoformat()} is outside the data: its next regular session "
                f"({session_day}) has no {symbol} minute bars; data covers "
                f"{', '.join(d.isoformat() for d in days)}"))
        return bar

    # ---- evaluation -----------------------------------------------------------------------
    def _evaluate(self, intent: OrderIntent, as_of: datetime, replace_count: int) -> OrderState:
        data = self._symbol_data(intent.symbol)
        qty = to_decimal(intent.qty)
        if qty % data.lot_size != 0:
            raise RunnerRequestError(422, "invalid_quantity", (
                f"qty {intent.qty} is not a multiple of the {intent.symbol} lot size "
                f"{data.lot_size} (LEAN symbol-properties database); send whole lots"))
        bar = self._first_bar(intent.symbol, as_of)
        terms = OrderTerms(intent.side, qty, intent.type,
                           None if intent.limit_price is None else to_decimal(intent.limit_price),
                           None if intent.stop_price is None else to_decimal(intent.stop_price),
                           as_of)
        result = execute_order(terms, bar, self.models)
        cid = intent.client_order_id or ""
        where = f"on the {bar.start.astimezone(NEW_YORK):%Y-%m-%d %H:%M} New York bar"
        if result.filled and result.price is not None:
            status, fill = "filled", Fill(
                client_order_id=cid, status="filled", filled_qty=float(qty),
                avg_fill_price=float(result.price), fee=float(result.fee), filled_at=bar.end,
                reason=f"{result.reason} {where}")
        elif intent.time_in_force in ("ioc", "fok"):
            status, fill = "canceled", Fill(
                client_order_id=cid, status="canceled", filled_qty=0,
                reason=f"{intent.time_in_force}: not filled {where} ({result.reason})")
        else:
            status, fill = "open", Fill(client_order_id=cid, status="unfilled", filled_qty=0,
                                        reason=f"{result.reason} {where}; order rests")
        return OrderState(client_order_id=cid, status=status, intent=intent, fill=fill,
                          replace_count=replace_count, evaluated_bar_start=bar.start)

    # ---- order operations -----------------------------------------------------------------
    def submit(self, intent: OrderIntent) -> tuple[OrderState, bool]:
        """(order, created): the existing order when the client_order_id is already known."""
        with self._lock:
            existing = self.orders.get(intent.client_order_id or "")
            if existing is not None:
                return existing, False
            state = self._evaluate(intent, intent.decision_time, 0)
            self.orders[state.client_order_id] = state
            return state, True

    def get(self, client_order_id: str) -> OrderState:
        state = self.orders.get(client_order_id)
        if state is None:
            raise RunnerRequestError(404, "not_found", f"no order with client_order_id "
                                                       f"{client_order_id!r} at this runner")
        return state

    def replace(self, client_order_id: str, request: ReplaceRequest) -> OrderState:
        with self._lock:
            state = self.get(client_order_id)
            if state.status != "open":
                raise RunnerRequestError(409, "not_open", (
                    f"order {client_order_id} is {state.status}; only open orders can be replaced"))
            intent = state.intent
            if request.limit_price is not None and intent.type != "limit":
                raise RunnerRequestError(422, "invalid_replace", (
                    f"limit_price applies to limit orders; {client_order_id} is a "
                    f"{intent.type} order"))
            as_of = request.as_of or intent.decision_time
            if as_of < intent.decision_time:
                raise RunnerRequestError(422, "invalid_replace", (
                    f"as_of {as_of.isoformat()} is before the order's decision time "
                    f"{intent.decision_time.isoformat()}"))
            hours = self._symbol_data(intent.symbol).hours
            if (intent.time_in_force == "day" and hours.next_session_day(as_of)
                    != hours.next_session_day(intent.decision_time)):
                raise RunnerRequestError(422, "expired", (
                    f"day order {client_order_id} expired at the close of the session of "
                    f"{intent.decision_time.isoformat()}; as_of {as_of.isoformat()} is later"))
            updates = {k: v for k, v in (("qty", request.qty),
                                         ("limit_price", request.limit_price)) if v is not None}
            new_intent = OrderIntent.model_validate({**intent.model_dump(), **updates})
            new_state = self._evaluate(new_intent, as_of, state.replace_count + 1)
            self.orders[client_order_id] = new_state
            return new_state

    def cancel(self, client_order_id: str) -> OrderState:
        with self._lock:
            state = self.get(client_order_id)
            if state.status == "canceled":
                return state
            if state.status != "open":
                raise RunnerRequestError(409, "not_open", (
                    f"order {client_order_id} is {state.status}; it can no longer be canceled"))
            fill = Fill(client_order_id=client_order_id, status="canceled", filled_qty=0,
                        reason="canceled by the client")
            new_state = state.model_copy(update={"status": "canceled", "fill": fill})
            self.orders[client_order_id] = new_state
            return new_state

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "service": "lean-runner", "lean_dir": str(self.lean_dir),
                "normalization": self.normalization,
                "fill_model": type(self.models.fill).__name__,
                "fee_model": type(self.models.fee).__name__,
                "symbols": self.available_symbols(), "orders": len(self.orders)}


# --------------------------------------------------------------------------- HTTP


def _error(status: int, code: str, reason: str) -> JSONResponse:
    return JSONResponse({"error": code, "reason": reason}, status_code=status)


def _validation_reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise RunnerRequestError(400, "bad_request", f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise RunnerRequestError(400, "bad_request", "body must be a JSON object")
    return body


def _state(state: OrderState, status: int = 200) -> JSONResponse:
    return JSONResponse(state.model_dump(mode="json"), status_code=status)


def create_lean_runner_app(lean_dir: Path | str, normalization: Normalization = "raw",
                           models: ExecutionModels | None = None) -> Starlette:
    """The runner's Starlette app over the LEAN Data folder ``lean_dir``."""
    book = LeanOrderBook(Path(lean_dir), models, normalization)

    async def post_order(request: Request) -> JSONResponse:
        body = await _json_object(request)
        try:
            intent = OrderIntent.model_validate(body)
        except ValidationError as exc:
            raise RunnerRequestError(422, "invalid_intent", _validation_reason(exc)) from exc
        state, created = book.submit(intent)
        return _state(state, 201 if created else 200)

    async def get_order(request: Request) -> JSONResponse:
        return _state(book.get(request.path_params["client_order_id"]))

    async def patch_order(request: Request) -> JSONResponse:
        cid = request.path_params["client_order_id"]
        book.get(cid)  # 404 before judging the body
        body = await _json_object(request)
        try:
            replace = ReplaceRequest.model_validate(body)
        except ValidationError as exc:
            raise RunnerRequestError(422, "invalid_replace", _validation_reason(exc)) from exc
        try:
            return _state(book.replace(cid, replace))
        except ValidationError as exc:
            raise RunnerRequestError(422, "invalid_replace", _validation_reason(exc)) from exc

    async def delete_order(request: Request) -> JSONResponse:
        return _state(book.cancel(request.path_params["client_order_id"]))

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(book.health())

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RunnerRequestError)
        return _error(exc.status_code, exc.code, exc.reason)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, f"{request.method} {request.url.path}: {exc.detail}")

    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, "internal", f"{type(exc).__name__}: {exc}")

    app = Starlette(routes=[
        Route("/orders", post_order, methods=["POST"]),
        Route("/orders/{client_order_id}", get_order, methods=["GET"]),
        Route("/orders/{client_order_id}", patch_order, methods=["PATCH"]),
        Route("/orders/{client_order_id}", delete_order, methods=["DELETE"]),
        Route("/health", health, methods=["GET"]),
    ], exception_handlers={RunnerRequestError: refused, HTTPException: http_error,
                           Exception: crashed})
    app.state.book = book
    return app


def serve_lean_runner(lean_dir: Path | str, host: str = "127.0.0.1", port: int = 8787,
                      normalization: Normalization = "raw") -> None:
    """Run the runner in the foreground with uvicorn until interrupted."""
    uvicorn.run(create_lean_runner_app(lean_dir, normalization), host=host, port=port,
                log_level="warning")


@contextmanager
def lean_runner_in_background(lean_dir: Path | str, host: str = "127.0.0.1", port: int = 0,
                              normalization: Normalization = "raw") -> Iterator[str]:
    """A runner on a background thread for the ``with`` block; yields its base URL."""
    with asgi_in_background(create_lean_runner_app(lean_dir, normalization), host, port,
                            lifespan="off", start_timeout=10) as url:
        yield url


def main(argv: list[str] | None = None) -> int:
    from intel_assets.execution.lean_replay import default_lean_dir

    parser = argparse.ArgumentParser(prog="python -m intel_assets.execution.lean_runner",
                                     description="Serve the reference LEAN runner.")
    parser.add_argument("--lean-dir", type=Path, default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--normalization", choices=["raw", "adjusted"], default="raw")
    args = parser.parse_args(argv)
    serve_lean_runner(args.lean_dir or default_lean_dir(), args.host, args.port,
                      args.normalization)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
