"""Owns the reference LEAN runner service: Torghut's LEAN runner contract v2 over HTTP, backed by
the runner state (clock, LEAN data, the shared OrderBook) and the backtest engine.

Contract: ``lean_runner_openapi.yaml`` beside this module, restated from proompteng/lab
255d330fe (``services/torghut/app/trading/execution_adapters.py`` and
``services/torghut/app/lean_runner.py``) plus what the reference runner adds (a replay clock,
replace, LEAN's order types). Fills follow LEAN master's EquityFillModel on LEAN-format minute
data (``raw`` prices by default, what a broker fills at; ``adjusted`` is LEAN's backtest
default). Bad input gets 400/404/409/422 with ``{"error", "reason"}``, never a traceback.

It is also the two LEAN upstreams of Torghut's current LEAN authority: backtests under
``/v1/backtests`` (``lean_upstream``: asynchronous, stored in SQLite, reproducible) and
``POST /v1/strategy-shadow/evaluate`` (``lean_strategy_shadow``: LEAN vs Alpaca paper fill).

The command is ``intel-assets lean-runner`` (intel_assets/cli/lean_runner.py); tests and drills
run it on a background thread with devtools/lean_runner.py.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
import weakref
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

import uvicorn
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from intel_assets.contracts.orders import DEFAULT_ORDER_BOUNDS, OrderBounds
from intel_assets.domain.execution_models.compositions import ExecutionModels
from intel_assets.domain.lean_data import Normalization
from intel_assets.domain.order_book import DEFAULT_MOC_BUFFER
from intel_assets.execution.lean_backtests import (
    MAX_STORED_BACKTESTS,
    ORDER_REPLAY,
    OrderReplayConfig,
    backtest_id,
    parse_config,
    replay_intents,
)
from intel_assets.execution.lean_runner_state import RunnerClock, RunnerRequestError, RunnerState
from intel_assets.execution.lean_runner_wire import (
    BacktestSubmitBody,
    ClockBody,
    ReplaceOrderBody,
    ShadowSimulateBody,
    SubmitOrderBody,
    audit,
    iso,
    validation_reason,
)
from intel_assets.execution.lean_strategy_shadow import evaluate as evaluate_strategy_shadow
from intel_assets.execution.lean_strategy_shadow import parse_body as strategy_shadow_body
from intel_assets.execution.lean_upstream import BacktestUpstream
from intel_assets.execution.lean_upstream_store import BacktestStore

OPENAPI_PATH = Path(__file__).with_name("lean_runner_openapi.yaml")
Handler = Callable[[Request], Awaitable[Any]]


async def _body(request: Request, model: type[BaseModel]) -> Any:
    try:
        raw = json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise RunnerRequestError(400, "bad_request", f"body is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise RunnerRequestError(400, "bad_request", "body must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise RunnerRequestError(422, "invalid_request", validation_reason(exc)) from exc


def _correlation_id(request: Request) -> str:
    return (request.headers.get("x-correlation-id") or "").strip() or f"lean-{uuid.uuid4().hex[:20]}"


def create_lean_runner_app(lean_dir: Path | str, normalization: Normalization = "raw",
                           models: ExecutionModels | None = None, *,
                           as_of: datetime | None = None, live: bool = False,
                           moc_buffer: timedelta = DEFAULT_MOC_BUFFER,
                           bounds: OrderBounds = DEFAULT_ORDER_BOUNDS,
                           store_path: Path | str | None = None,
                           backtest_time_limit: float = 120.0,
                           max_pending_backtests: int = 16) -> Starlette:
    """The runner over the LEAN Data folder ``lean_dir``: a live clock, or a replay clock at
    ``as_of`` (default: New York midnight of the first data day). Backtests are kept in the
    SQLite file ``store_path`` (default: a temporary one, removed with the app); see
    ``lean_upstream`` for their time limit and queue bound."""
    clock = RunnerClock("live") if live else None
    if clock is None and as_of is not None:
        clock = RunnerClock("replay", as_of.astimezone(timezone.utc))
    state = RunnerState(Path(lean_dir), models, normalization, clock=clock,
                        moc_buffer=moc_buffer, bounds=bounds)
    scratch = None
    if store_path is None:
        scratch = tempfile.mkdtemp(prefix="lean-runner-")
        store_path = Path(scratch) / "backtests.sqlite3"
    upstream = BacktestUpstream(state.lean_dir, BacktestStore(store_path), state.models,
                                time_limit_seconds=backtest_time_limit,
                                max_pending=max_pending_backtests)
    replays: dict[str, dict[str, Any]] = {}  # order replays: answered at once, kept in memory

    def endpoint(operation: str, work: Handler) -> Handler:
        async def run(request: Request) -> JSONResponse:
            started = time.perf_counter()
            try:  # handlers run one at a time on the event loop; state calls never await
                state.sync()
                answer = await work(request)
            except RunnerRequestError as exc:
                state.metrics.record(operation, started, f"http_{exc.status_code}")
                return JSONResponse({"error": exc.code, "reason": exc.reason},
                                    status_code=exc.status_code)
            status = 200
            if isinstance(answer, tuple):
                answer, status = answer
            state.metrics.record(operation, started, None if status < 400 else f"http_{status}")
            return JSONResponse(answer, status_code=status)
        return run

    async def healthz(request: Request) -> dict[str, Any]:
        return state.health()

    async def observability(request: Request) -> dict[str, Any]:
        return {"service": "intel-assets-lean-runner", "contract_version": "lean-v2",
                "metrics": state.metrics.snapshot(), "clock": state.clock_info()}

    async def get_clock(request: Request) -> dict[str, Any]:
        return state.clock_info()

    async def post_clock(request: Request) -> dict[str, Any]:
        body = await _body(request, ClockBody)
        previous, changed = state.move_clock(body.as_of)
        return {**state.clock_info(), "previous": iso(previous), "orders": changed}

    async def submit(request: Request) -> dict[str, Any]:
        body = await _body(request, SubmitOrderBody)
        return state.submit(body, request.headers.get("idempotency-key"),
                            _correlation_id(request))

    async def get_order(request: Request) -> dict[str, Any]:
        return state.order(request.path_params["order_id"])

    async def get_by_client(request: Request) -> dict[str, Any]:
        return state.order_by_client_id(request.path_params["client_order_id"])

    async def list_orders(request: Request) -> dict[str, Any]:
        return {"orders": state.orders(request.query_params.get("status", "all").lower())}

    async def cancel(request: Request):
        ok, order, reason = state.cancel(request.path_params["order_id"])
        answer = {"ok": ok, "order": order, "_lean_audit": audit(
            "cancel_order", _correlation_id(request), datetime.now(timezone.utc))}
        if not ok:
            answer["reason"] = reason
        return answer

    async def cancel_all(request: Request) -> dict[str, Any]:
        return {"orders": state.cancel_all(), "_lean_audit": audit(
            "cancel_all_orders", _correlation_id(request), datetime.now(timezone.utc))}

    async def replace(request: Request) -> dict[str, Any]:
        order_id = request.path_params["order_id"]
        state.order(order_id)  # 404 before judging the body
        body = await _body(request, ReplaceOrderBody)
        answer = state.replace(order_id, body)
        answer["_lean_audit"] = audit("replace_order", _correlation_id(request),
                                      datetime.now(timezone.utc))
        return answer

    async def shadow(request: Request) -> dict[str, Any]:
        return state.shadow(await _body(request, ShadowSimulateBody), _correlation_id(request))

    async def submit_backtest(request: Request) -> dict[str, Any]:
        try:
            body = await _body(request, BacktestSubmitBody)
        except RunnerRequestError as exc:  # bad input to a backtest is a 400, in plain words
            raise RunnerRequestError(400, exc.code, exc.reason) from exc
        correlation_id = _correlation_id(request)
        if body.config.get("kind") == ORDER_REPLAY:
            record = order_replay(body.lane, body.config)
        else:
            record = upstream.record(upstream.submit(body.lane, body.config, correlation_id,
                                                     str(request.base_url)))
        return {"backtest_id": record["backtest_id"], "status": record["status"],
                "lane": record["lane"], "reproducibility_hash": record["reproducibility_hash"],
                "authority_mode": record["lane"],
                "_lean_audit": audit("submit_backtest", correlation_id,
                                     datetime.now(timezone.utc))}

    def order_replay(lane: str, raw: dict[str, Any]) -> dict[str, Any]:
        bt_id, digest = backtest_id(lane, raw)
        if bt_id not in replays:
            try:
                config = parse_config(raw)
            except ValueError as exc:
                raise RunnerRequestError(400, "invalid_config", str(exc)) from exc
            assert isinstance(config, OrderReplayConfig)
            while len(replays) >= MAX_STORED_BACKTESTS:
                replays.pop(next(iter(replays)))
            replays[bt_id] = {"backtest_id": bt_id, "lane": lane, "status": "completed",
                              "reproducibility_hash": digest,
                              "result": order_replay_result(config), "error": None}
        return replays[bt_id]

    def order_replay_result(config: OrderReplayConfig) -> dict[str, Any]:
        replay = state.replay_orders(replay_intents(config), config.read_at)
        return {"kind": "order_replay", "read_at": iso(config.read_at),
                "orders": replay["orders"], "rejected": replay["rejected"],
                "engine": {"fill_model": type(state.models.fill).__name__,
                           "fee_model": type(state.models.fee).__name__,
                           "normalization": state.normalization}}

    async def get_backtest(request: Request) -> dict[str, Any]:
        wanted = request.path_params["backtest_id"]
        if wanted in replays:
            return replays[wanted]
        stored = upstream.store.get(wanted)
        if stored is None:
            raise RunnerRequestError(404, "not_found", f"no backtest {wanted!r} at this runner")
        return upstream.record(stored)

    async def strategy_shadow(request: Request) -> dict[str, Any]:
        try:
            raw = json.loads(await request.body() or b"null")
        except ValueError as exc:
            raise RunnerRequestError(400, "bad_request", f"body is not valid JSON: {exc}") from exc
        return evaluate_strategy_shadow(state, strategy_shadow_body(raw), _correlation_id(request))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": code, "reason": f"{request.method} {request.url.path}: "
                             f"{exc.detail}"}, status_code=exc.status_code)

    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "internal", "reason": f"{type(exc).__name__}: {exc}"},
                            status_code=500)

    routes = [
        ("/healthz", "GET", "healthz", healthz),
        ("/v1/observability", "GET", "observability", observability),
        ("/v1/clock", "GET", "get_clock", get_clock),
        ("/v1/clock", "POST", "move_clock", post_clock),
        ("/v1/orders/submit", "POST", "submit_order", submit),
        ("/v1/orders/cancel-all", "POST", "cancel_all_orders", cancel_all),
        ("/v1/orders", "GET", "list_orders", list_orders),
        ("/v1/orders/client/{client_order_id}", "GET", "get_order_by_client_order_id",
         get_by_client),
        ("/v1/orders/{order_id}", "GET", "get_order", get_order),
        ("/v1/orders/{order_id}/cancel", "POST", "cancel_order", cancel),
        ("/v1/orders/{order_id}/replace", "POST", "replace_order", replace),
        ("/v1/shadow/simulate", "POST", "shadow_simulate", shadow),
        ("/v1/backtests/submit", "POST", "submit_backtest", submit_backtest),
        ("/v1/backtests/{backtest_id}", "GET", "get_backtest", get_backtest),
        ("/v1/strategy-shadow/evaluate", "POST", "strategy_shadow", strategy_shadow),
    ]
    app = Starlette(routes=[Route(path, endpoint(op, fn), methods=[method])
                            for path, method, op, fn in routes],
                    exception_handlers={HTTPException: http_error, Exception: crashed})
    app.state.runner = state
    app.state.backtests = upstream
    if scratch is not None:
        weakref.finalize(app, shutil.rmtree, scratch, ignore_errors=True)
    return app


def serve_lean_runner(lean_dir: Path | str, host: str = "127.0.0.1", port: int = 8787,
                      normalization: Normalization = "raw", **options: Any) -> None:
    """Run the runner in the foreground with uvicorn until interrupted."""
    uvicorn.run(create_lean_runner_app(lean_dir, normalization, **options), host=host,
                port=port, log_level="warning")
