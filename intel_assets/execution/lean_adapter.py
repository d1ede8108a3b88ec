"""Owns LeanAdapter: the ExecutionAdapter for a LEAN runner speaking Torghut's contract v2, over
HTTP (httpx).

The wire is Torghut's (proompteng/lab 255d330fe ``services/torghut/app/trading/
execution_adapters.py``): ``POST /v1/orders/submit`` with ``X-Correlation-ID`` and
``Idempotency-Key`` (the client_order_id) headers, reads by id and by client order id, cancel
answering ``{"ok": bool}``; the answer of a submit must carry a non-empty id, status, symbol and
qty, the same client_order_id and symbol, and qty > 0, else the runner is treated as broken.
Orders come back as ``OrderState`` (statuses new -> open, filled, canceled/expired -> canceled).

Clock: on a runner with a replay clock (``GET /v1/clock`` mode ``replay``), ``submit`` first
moves the clock to the intent's decision time, so the order is placed when it was decided (a
live runner places it now). Every call ends within ``timeout`` seconds of wall clock whatever
the runner sends (intel_assets.bounded_http: a runner dripping bytes is cut at the deadline), an
adapter stops calling after ``max_seconds_per_run`` (one adapter per parity run) or after
``max_consecutive_failures`` failed calls in a row (circuit breaker), and answers over
``max_body_bytes`` are refused while streaming. The runner being down, unreachable, too
slow, failing (5xx) or answering something that is not a v2 order raises RunnerUnavailableError;
a refusal (4xx, or a cancel answering ok false) raises OrderRequestError (404:
OrderNotFoundError) carrying the runner's reason. ``submit`` is idempotent, so after a
RunnerUnavailableError it is safe to submit the same intent again.

Replays (``replay``, the parity replay's batch): on a replay-clock runner a whole replay is two
requests, ``POST /v1/backtests/submit`` (lane ``shadow_replay``, config kind ``order_replay``:
see lean_backtests.py) and ``GET /v1/backtests/{id}`` (polled while Torghut's statuses queued /
running say so): the runner places every intent as ``submit`` would, at its decision time, and
answers each order as a read at the horizon would. The orders live in that backtest, not in the
runner's book (a later ``status`` of one is a 404). A runner that refuses the config or answers
another kind of result (Torghut's runner forwards backtests to its upstream LEAN) is replayed
one request per intent instead. The submit answer must come within ``timeout`` like any call
(the reference runner replays about 5,000 intents a second).

Backtests (``run_backtest``, the lean_backtest_evidence asset): any ``{lane, config}`` submitted to
the runner's backtest upstream as Torghut submits it, polled to its end within a wall-clock bound.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from intel_assets.bounded_http import MIB, ProviderError, ProviderGuard, bounded_client, fetch
from intel_assets.contracts.orders import Fill, OrderIntent, OrderState
from intel_assets.contracts.execution_errors import (
    OrderNotFoundError,
    OrderRequestError,
    RunnerUnavailableError,
)
from intel_assets.execution.adapter import ReplayAnswer

_OPEN = {"new", "accepted", "pending_new", "partially_filled", "accepted_for_bidding",
         "pending_replace", "pending_cancel", "held"}
_CANCELED = {"canceled", "expired", "done_for_day", "replaced"}
#: One parity run replays a trading day: a few calls per intent; 30 min bounds a runner that
#: answers slowly forever without cutting a day of thousands of intents.
DEFAULT_MAX_SECONDS_PER_RUN = 1800.0
#: The largest answer is an order list or a backtest; 32 MiB is far above either.
DEFAULT_MAX_BODY_BYTES = 32 * MIB
#: Torghut's name of its replay lane (app/trading/lean_runtime.py ``_normalize_backtest_lane``).
REPLAY_LANE = "shadow_replay"
_PENDING = ("queued", "running")  # Torghut's backtest statuses before "completed"


class LeanAdapter:
    """Submit/cancel/replace/status orders at a LEAN runner (``base_url`` like http://host:8787).

    ``replay_clock``: None asks the runner once (``GET /v1/clock``); True/False forces it.
    ``timeout`` is each call's wall-clock bound; ``max_seconds_per_run`` (None: none) bounds the
    adapter's life; a ``client`` you pass keeps its own transport (its body cap and the breaker
    still apply, the per-call deadline only between body chunks).
    """

    def __init__(self, base_url: str, timeout: float = 10.0, client: httpx.Client | None = None,
                 replay_clock: bool | None = None, *,
                 max_seconds_per_run: float | None = DEFAULT_MAX_SECONDS_PER_RUN,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 max_consecutive_failures: int | None = 3) -> None:
        self.base_url = base_url.rstrip("/")
        self.guard = ProviderGuard(f"LEAN runner at {self.base_url}", request_seconds=timeout,
                                   run_seconds=max_seconds_per_run,
                                   max_consecutive_failures=max_consecutive_failures)
        self.max_body_bytes = max_body_bytes
        self._client = client or bounded_client(timeout, connect_timeout=3.0,
                                                base_url=self.base_url)
        self._replay_clock = replay_clock
        self._ids: dict[str, str] = {}  # client_order_id -> runner order id
        self.last_correlation_id: str | None = None

    # ---- ExecutionAdapter ----------------------------------------------------------------
    def submit(self, intent: OrderIntent) -> OrderState:
        cid = intent.client_order_id or ""
        if self.replay_clock:
            self.set_replay_clock(intent.decision_time)
        body = submit_body(intent)
        order = self._json("POST", "/v1/orders/submit", body, headers={
            "X-Correlation-ID": self._correlation(), "Idempotency-Key": cid})
        problem = submit_problem(order, cid, intent.symbol)
        if problem:
            raise RunnerUnavailableError(
                f"LEAN runner at {self.base_url} answered the submit of {cid} with a payload that "
                f"breaks contract v2 ({problem}); is that URL really a LEAN v2 runner?")
        return self._state(order, intent)

    def cancel(self, client_order_id: str) -> OrderState:
        order_id = self._order_id(client_order_id)
        answer = self._json("POST", f"/v1/orders/{order_id}/cancel",
                            headers={"X-Correlation-ID": self._correlation()})
        if not isinstance(answer, dict) or not isinstance(answer.get("order"), dict):
            raise self._broken("POST cancel", "no order in the cancel answer")
        if answer.get("ok") is False:
            raise OrderRequestError(409, str(answer.get("reason") or
                                             f"order {client_order_id} can no longer be canceled"))
        return self._state(answer["order"])

    def replace(self, client_order_id: str, qty: float | None = None,
                limit_price: float | None = None, as_of: datetime | None = None,
                stop_price: float | None = None) -> OrderState:
        """Change qty, limit and/or stop price of an open order (LEAN's in-place update); with
        ``as_of`` on a replay runner, the clock first moves there."""
        order_id = self._order_id(client_order_id)
        if as_of is not None:
            if not self.replay_clock:
                raise ValueError("as_of needs a runner with a replay clock")
            self.set_replay_clock(as_of)
        body = {k: v for k, v in (("qty", qty), ("limit_price", limit_price),
                                  ("stop_price", stop_price)) if v is not None}
        return self._state(self._json("POST", f"/v1/orders/{order_id}/replace", body,
                                       headers={"X-Correlation-ID": self._correlation()}))

    def status(self, client_order_id: str) -> OrderState:
        order = self._json("GET", f"/v1/orders/client/{client_order_id}")
        self._ids[client_order_id] = str(order.get("id"))
        return self._state(order)

    # ---- replays ---------------------------------------------------------------------------
    def replay(self, intents: Sequence[OrderIntent],
               horizon: datetime) -> list[ReplayAnswer] | None:
        """The intents replayed in one backtest of the runner (module docstring), each order
        as a read at ``horizon`` gives it; None on a live runner or one without order replays."""
        if not intents or not self.replay_clock:
            return None
        started = time.perf_counter()
        config = {"kind": "order_replay", "read_at": horizon.isoformat(), "intents": [
            {"at": intent.decision_time.isoformat(), **submit_body(intent)} for intent in intents]}
        try:
            accepted = self._json("POST", "/v1/backtests/submit",
                                  {"lane": REPLAY_LANE, "config": config},
                                  headers={"X-Correlation-ID": self._correlation()})
            result = self._backtest_result(accepted)
        except OrderRequestError:
            return None  # this runner does not take the order replay: one request per intent
        if result is None:
            return None
        share = (time.perf_counter() - started) * 1000.0 / len(intents)
        return self._replay_answers(intents, result, share)

    def _backtest_result(self, accepted: Any) -> dict[str, Any] | None:
        """The order-replay result of an accepted backtest (polled while pending), or None when
        the answer is some other kind of backtest."""
        if not isinstance(accepted, dict) or not accepted.get("backtest_id"):
            return None
        deadline = time.monotonic() + self.guard.request_seconds
        while True:
            record = self._json("GET", f"/v1/backtests/{accepted['backtest_id']}")
            if not isinstance(record, dict) or record.get("status") not in _PENDING:
                break
            if time.monotonic() >= deadline:
                raise RunnerUnavailableError(
                    f"LEAN runner at {self.base_url}: the replay backtest "
                    f"{accepted['backtest_id']} is still {record.get('status')} after "
                    f"{self.guard.request_seconds:g} s")
            time.sleep(0.05)
        result = record.get("result") if isinstance(record, dict) else None
        if not isinstance(result, dict) or result.get("kind") != "order_replay" or not \
                isinstance(result.get("orders"), list) or not isinstance(result.get("rejected"),
                                                                         list):
            return None
        return result

    def _replay_answers(self, intents: Sequence[OrderIntent], result: dict[str, Any],
                        share_ms: float) -> list[ReplayAnswer]:
        orders = {str(o.get("client_order_id")): o for o in result["orders"] if isinstance(o, dict)}
        refused = {r.get("index"): r for r in result["rejected"] if isinstance(r, dict)}
        answers = []
        for n, intent in enumerate(intents):
            cid = intent.client_order_id or ""
            if n in refused:
                status = int(refused[n].get("status_code") or 422)
                error = OrderNotFoundError if status == 404 else OrderRequestError
                answers.append(ReplayAnswer(None, error(status, str(refused[n].get("reason"))),
                                            share_ms))
                continue
            order = orders.get(cid)
            problem = submit_problem(order, cid, intent.symbol) if order is not None else \
                "the replay answer has no order for it and does not list it as refused"
            if problem:
                raise RunnerUnavailableError(
                    f"LEAN runner at {self.base_url} answered the replay of {cid} with a payload "
                    f"that breaks contract v2 ({problem}); is that URL really a LEAN v2 runner?")
            try:  # not remembered in _ids: the order lives in the backtest, not the book
                state = order_state(order)  # type: ignore[arg-type]
            except (ValueError, KeyError, TypeError) as exc:
                raise self._broken("the replay", f"{type(exc).__name__}: {exc}") from exc
            answers.append(ReplayAnswer(state, None, share_ms))
        return answers

    # ---- backtests ------------------------------------------------------------------------
    def run_backtest(self, lane: str, config: dict[str, Any], *,
                     max_wait_seconds: float = 300.0,
                     poll_seconds: float = 0.25) -> dict[str, Any]:
        """Submit ``{lane, config}`` to the runner's backtest upstream as Torghut's LEAN
        authority does (``POST /v1/backtests/submit`` with ``X-Correlation-ID``; config: see
        lean_backtests.py) and poll ``GET /v1/backtests/{id}`` while it is queued or running:
        the final record (status ``completed`` or ``failed``, ``result``, ``error``).

        RunnerUnavailableError when the runner is unreachable, failing, answers something else
        than a backtest record, or the backtest is still pending after ``max_wait_seconds``;
        OrderRequestError carrying the runner's plain-words reason when it refuses the body
        (400 bad lane or config, 429 busy).
        """
        accepted = self._json("POST", "/v1/backtests/submit", {"lane": lane, "config": config},
                              headers={"X-Correlation-ID": self._correlation()})
        if not isinstance(accepted, dict) or not accepted.get("backtest_id"):
            raise RunnerUnavailableError(
                f"LEAN runner at {self.base_url} answered POST /v1/backtests/submit without a "
                "backtest_id; is that URL really a LEAN runner with backtests?")
        backtest = str(accepted["backtest_id"])
        deadline = time.monotonic() + max_wait_seconds
        while True:
            record = self._json("GET", f"/v1/backtests/{backtest}")
            if not isinstance(record, dict) or not isinstance(record.get("status"), str):
                raise RunnerUnavailableError(
                    f"LEAN runner at {self.base_url} answered GET /v1/backtests/{backtest} "
                    "with something that is not a backtest record")
            if record["status"] not in _PENDING:
                return record
            if time.monotonic() >= deadline:
                raise RunnerUnavailableError(
                    f"LEAN runner at {self.base_url}: backtest {backtest} is still "
                    f"{record['status']} after {max_wait_seconds:g} s; it keeps running there, "
                    "materialize again later to read it (same lane and config: same backtest)")
            time.sleep(poll_seconds)

    # ---- extras ---------------------------------------------------------------------------
    @property
    def replay_clock(self) -> bool:
        if self._replay_clock is None:
            self._replay_clock = self.clock().get("mode") == "replay"
        return self._replay_clock

    def clock(self) -> dict[str, Any]:
        return self._json("GET", "/v1/clock")

    def set_replay_clock(self, as_of: datetime) -> dict[str, Any]:
        """Move the runner's replay clock (the answer lists the orders the move changed)."""
        return self._json("POST", "/v1/clock", {"as_of": as_of.isoformat()})

    def health(self) -> dict[str, Any]:
        """The runner's /healthz document (raises RunnerUnavailableError when it is down)."""
        return self._json("GET", "/healthz")

    def list_orders(self, status: str = "all") -> list[dict[str, Any]]:
        answer = self._json("GET", "/v1/orders", params={"status": status})
        orders = answer if isinstance(answer, list) else answer.get("orders", [])
        return [o for o in orders if isinstance(o, dict)]

    def cancel_all(self) -> list[dict[str, Any]]:
        answer = self._json("POST", "/v1/orders/cancel-all")
        return [o for o in answer.get("orders", []) if isinstance(o, dict)]

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "LeanAdapter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plumbing -------------------------------------------------------------------------
    def _correlation(self) -> str:
        self.last_correlation_id = f"intel-{uuid.uuid4().hex[:20]}"
        return self.last_correlation_id

    def _order_id(self, client_order_id: str) -> str:
        if client_order_id not in self._ids:
            self.status(client_order_id)
        return self._ids[client_order_id]

    def _state(self, order: dict[str, Any], intent: OrderIntent | None = None) -> OrderState:
        try:
            state = order_state(order, intent)
        except (ValueError, KeyError, TypeError) as exc:
            raise self._broken("an order read", f"{type(exc).__name__}: {exc}") from exc
        self._ids[state.client_order_id] = str(order["id"])
        return state

    def _broken(self, what: str, detail: str) -> RunnerUnavailableError:
        return RunnerUnavailableError(
            f"LEAN runner at {self.base_url} answered {what} with something that is not a v2 "
            f"order ({detail}); is that URL really a LEAN v2 runner?")

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None,
              params: dict[str, str] | None = None) -> Any:
        try:
            response = fetch(self._client, method, path, guard=self.guard,
                             max_body_bytes=self.max_body_bytes, json=body, headers=headers,
                             params=params)
        except ProviderError as exc:
            raise RunnerUnavailableError(self._unavailable(method, path, exc)) from exc
        if response.status_code >= 500:
            raise RunnerUnavailableError(
                f"LEAN runner at {self.base_url} failed on {method} {path} "
                f"(HTTP {response.status_code}): {_reason(response)}")
        if response.status_code >= 400:
            self.guard.record_success()  # a refusal is an answer: the runner works
            error = OrderNotFoundError if response.status_code == 404 else OrderRequestError
            raise error(response.status_code, _reason(response))
        try:
            answer = response.json()
        except ValueError as exc:
            self.guard.record_failure(f"{method} {path}: the body is not JSON")
            raise self._broken(f"{method} {path}", "the body is not JSON") from exc
        self.guard.record_success()
        return answer

    def _unavailable(self, method: str, path: str, exc: ProviderError) -> str:
        where = f"LEAN runner at {self.base_url}"
        if exc.kind == "timeout":
            return (f"{where} did not answer {method} {path} in time ({exc}); check it is "
                    "running and not overloaded")
        if exc.kind == "budget":
            return (f"{where}: this run's time budget ({self.guard.run_seconds:g} s) is spent; "
                    f"{method} {path} was not completed")
        if exc.kind == "circuit_open":
            return (f"{where} is unreachable or failing: not called again in this run after "
                    f"{self.guard.consecutive_failures} consecutive failures (last: "
                    f"{self.guard.last_failure})")
        if exc.kind == "too_large":
            return f"{where} answered {method} {path} with a body over the cap ({exc})"
        return (f"{where} is unreachable ({exc}); start it with `intel-assets lean-runner` or "
                "fix the URL")


def submit_body(intent: OrderIntent) -> dict[str, Any]:
    """Torghut's ``POST /v1/orders/submit`` body for an intent (client_order_id, intent and
    strategy ids and the decision time echoed in extra_params)."""
    return {"symbol": intent.symbol, "side": intent.side, "qty": intent.qty,
            "order_type": intent.type, "time_in_force": intent.time_in_force,
            "limit_price": intent.limit_price, "stop_price": intent.stop_price,
            "extra_params": {"client_order_id": intent.client_order_id or "",
                             "intent_id": intent.intent_id, "strategy_id": intent.strategy_id,
                             "decision_time": intent.decision_time.isoformat()}}


def submit_problem(order: Any, client_order_id: str, symbol: str) -> str | None:
    """Why a submit answer breaks contract v2 (Torghut's checks), or None when it is fine."""
    if not isinstance(order, dict):
        return "the answer is not a JSON object"
    missing = [k for k in ("id", "status", "symbol", "qty") if order.get(k) in (None, "")]
    if missing:
        return f"missing {', '.join(missing)}"
    seen = order.get("client_order_id")
    if client_order_id and seen not in (None, "") and str(seen) != client_order_id:
        return f"client_order_id {seen!r} is not {client_order_id!r}"
    if str(order.get("symbol", "")).strip().upper() != symbol.strip().upper():
        return f"symbol {order.get('symbol')!r} is not {symbol!r}"
    try:
        qty = float(str(order.get("qty")))
    except ValueError:
        return f"qty {order.get('qty')!r} is not a number"
    return None if qty > 0 else f"qty {qty} is not > 0"


def order_state(order: dict[str, Any], intent: OrderIntent | None = None) -> OrderState:
    """An Alpaca-shaped v2 order as OrderState (intent rebuilt from the echoed extra_params)."""
    execution = order.get("_lean_execution") or {}
    params = execution.get("extra_params") or {}
    cid = str(order.get("client_order_id") or params.get("client_order_id") or order["id"])
    if intent is None or intent.client_order_id != cid:
        intent = OrderIntent(
            intent_id=str(params.get("intent_id") or cid),
            strategy_id=str(params.get("strategy_id") or "lean-runner"), symbol=order["symbol"],
            side=order["side"], qty=float(order["qty"]), type=order.get("order_type") or "market",
            limit_price=_float(order.get("limit_price")),
            stop_price=_float(order.get("stop_price")),
            time_in_force=order.get("time_in_force") or "day",
            decision_time=params.get("decision_time") or order.get("submitted_at"),
            client_order_id=cid)
    else:
        intent = intent.model_copy(update={"qty": float(order["qty"]),
                                           "limit_price": _float(order.get("limit_price")),
                                           "stop_price": _float(order.get("stop_price"))})
    status = str(order["status"])
    reason = execution.get("reason") or f"LEAN runner order {order['id']} is {status}"
    if status == "filled":
        fill = Fill(client_order_id=cid, status="filled", filled_qty=float(order["filled_qty"]),
                    avg_fill_price=float(order["filled_avg_price"]),
                    fee=float(execution.get("fee") or 0), filled_at=order["filled_at"],
                    reason=reason)
        state = "filled"
    elif status in _CANCELED:
        fill = Fill(client_order_id=cid, status="canceled", filled_qty=0, reason=reason)
        state = "canceled"
    elif status == "rejected":
        fill = Fill(client_order_id=cid, status="rejected", filled_qty=0, reason=reason)
        state = "rejected"
    elif status in _OPEN:
        fill = Fill(client_order_id=cid, status="unfilled", filled_qty=0, reason=reason)
        state = "open"
    else:
        raise ValueError(f"unknown order status {status!r}")
    return OrderState(client_order_id=cid, status=state, intent=intent, fill=fill,
                      replace_count=int(execution.get("update_count") or 0),
                      evaluated_bar_start=execution.get("evaluated_bar_start"))


def _float(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and (body.get("reason") or body.get("detail")):
        return str(body.get("reason") or body.get("detail"))
    return str(body)[:200]


__all__ = ["LeanAdapter", "REPLAY_LANE", "order_state", "submit_body", "submit_problem"]
