"""Owns RunnerBroker: the backtest engine's Broker over a LEAN runner's HTTP contract v2, so an
algorithm (e.g. a LEAN regression) trades through the runner exactly as it would in process.

The algorithm keeps its own market data and portfolio (as Torghut does); every order, update,
cancel, fill price, fee and fill time comes from the runner. Time steps move the runner's replay
clock (``POST /v1/clock``; the answer lists the orders the move changed); while the runner holds
no open order of ours a clock move is deferred until the next request, since nothing could
change. Prices travel as exact decimal strings.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Mapping

import httpx

from intel_assets.domain.backtest import Broker, BrokerEvent
from intel_assets.domain.execution_models.market import MarketSnapshot
from intel_assets.domain.execution_models.orders import OrderTerms
from intel_assets.domain.order_book import OrderRejected
from intel_assets.execution.lean_runner_wire import num, wire_type


def _dec(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def terms_from_wire(order: dict[str, Any]) -> OrderTerms:
    """The domain terms of a runner order (Alpaca spelling back to LEAN's order types)."""
    execution = order["_lean_execution"]
    kind, tif = order["order_type"], order["time_in_force"]
    if (kind, tif) == ("market", "opg"):
        kind, tif = "market_on_open", "gtc"
    elif (kind, tif) == ("market", "cls"):
        kind, tif = "market_on_close", "gtc"
    amount, percent = _dec(order.get("trail_price")), False
    if order.get("trail_percent") not in (None, ""):
        amount, percent = Decimal(str(order["trail_percent"])) / 100, True
    expire = execution.get("expire_date")
    return OrderTerms(order["side"], Decimal(str(order["qty"])), kind, _dec(order.get("limit_price")),
                      _dec(order.get("stop_price")),
                      datetime.fromisoformat(execution["order_time"].replace("Z", "+00:00")),
                      tif, date.fromisoformat(expire) if expire else None, amount, percent,
                      bool(execution.get("stop_triggered")))


class RunnerBroker:
    """A Broker whose order book is a LEAN runner at ``base_url`` (replay clock)."""

    def __init__(self, base_url: str, client: httpx.Client | None = None,
                 timeout: float = 30.0) -> None:
        self._http = client or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._known: dict[str, dict[str, Any]] = {}  # runner order id -> last order JSON
        self._open: set[str] = set()
        self._clock: datetime | None = None  # where the runner's clock is
        self._due: datetime | None = None  # where it should be
        self._ids = itertools.count(1)
        self.requests = 0

    # ---- plumbing -------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None) -> Any:
        self.requests += 1
        response = self._http.request(method, path, json=body, headers=headers)
        payload = response.json()
        if response.status_code in (404, 409, 422):
            raise OrderRejected(str(payload.get("reason") or payload))
        response.raise_for_status()
        return payload

    def _events(self, orders: list[dict[str, Any]]) -> list[BrokerEvent]:
        events = []
        for order in orders:
            order_id, status = str(order["id"]), order["status"]
            before = self._known.get(order_id)
            self._known[order_id] = order
            terms = terms_from_wire(order)
            if status == "new":
                self._open.add(order_id)
            else:
                self._open.discard(order_id)
            when = self._due or terms.submitted_at
            if status == "filled" and (before is None or before["status"] != "filled"):
                qty = terms.signed_quantity
                events.append(BrokerEvent(order_id, "filled", _time(order["filled_at"]), qty,
                                          Decimal(order["filled_avg_price"]),
                                          Decimal(order["_lean_execution"]["fee"]),
                                          order["_lean_execution"]["reason"], terms))
            elif status in ("canceled", "expired") and (before is None or before["status"] == "new"):
                at = order.get("canceled_at") or order.get("expired_at")
                events.append(BrokerEvent(order_id, "canceled", _time(at) if at else when,
                                          reason=order["_lean_execution"]["reason"], terms=terms))
            elif before is not None and before != order:
                events.append(BrokerEvent(order_id, "updated", when,
                                          reason=order["_lean_execution"]["reason"], terms=terms))
        return events

    def _sync_clock(self, force: bool = False) -> list[BrokerEvent]:
        if self._due is None or (self._clock == self._due):
            return []
        if not self._open and not force:
            return []  # nothing at the runner could change: move the clock on the next request
        answer = self._call("POST", "/v1/clock", {"as_of": self._due.isoformat()})
        self._clock = self._due
        return self._events(answer["orders"])

    # ---- Broker ---------------------------------------------------------------------------
    def step(self, when: datetime, data: Mapping[str, MarketSnapshot]) -> list[BrokerEvent]:
        self._due = when
        return self._sync_clock()

    def set_time(self, when: datetime) -> list[BrokerEvent]:
        self._due = when
        return self._sync_clock()

    def submit(self, symbol: str, terms: OrderTerms, tag: str):
        events = self._sync_clock(force=True)
        kind, tif = wire_type(terms)
        extra: dict[str, Any] = {"client_order_id": f"algo-{next(self._ids)}", "tag": tag}
        if terms.order_type == "trailing_stop" and terms.trailing_amount is not None:
            key = "trail_percent" if terms.trailing_percent else "trail_price"
            extra[key] = num(terms.trailing_amount * 100 if terms.trailing_percent
                             else terms.trailing_amount)
        if terms.expire_date is not None:
            extra["expire_date"] = terms.expire_date.isoformat()
        body = {"symbol": symbol, "side": terms.side, "qty": num(terms.quantity),
                "order_type": kind, "time_in_force": tif, "limit_price": num(terms.limit_price),
                "stop_price": num(terms.stop_price), "extra_params": extra}
        order = self._call("POST", "/v1/orders/submit", body,
                           headers={"Idempotency-Key": extra["client_order_id"]})
        order.pop("_lean_audit", None)
        self._known.setdefault(str(order["id"]), {**order, "status": "new"})
        return str(order["id"]), terms_from_wire(order), events + self._events([order])

    def update(self, order_id, quantity, limit_price, stop_price, trailing_amount):
        events = self._sync_clock(force=True)
        body: dict[str, Any] = {k: num(v) for k, v in (("qty", quantity),
                                ("limit_price", limit_price), ("stop_price", stop_price)) if v is not None}
        if trailing_amount is not None:
            percent = terms_from_wire(self._known[order_id]).trailing_percent
            body["trail_percent" if percent else "trail_price"] = num(
                trailing_amount * 100 if percent else trailing_amount)
        order = self._call("POST", f"/v1/orders/{order_id}/replace", body)
        order.pop("_lean_audit", None)
        updates = self._events([order])
        return terms_from_wire(order), events + [e for e in updates if e.kind != "updated"]

    def cancel(self, order_id):
        events = self._sync_clock(force=True)
        answer = self._call("POST", f"/v1/orders/{order_id}/cancel")
        if not answer["ok"]:
            raise OrderRejected(answer.get("reason") or "the runner refused the cancel")
        return events + self._events([answer["order"]])

    def end_step(self) -> list[BrokerEvent]:
        return []  # the runner scans after every request already

    def close(self) -> None:
        self._http.close()


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def runner_broker_factory(base_url: str) -> Callable[..., Broker]:
    """A lean_replay BrokerFactory that sends every order to the runner at ``base_url``."""
    def factory(regression, algorithm, hours) -> Broker:
        return RunnerBroker(base_url)
    return factory


__all__ = ["RunnerBroker", "runner_broker_factory", "terms_from_wire"]
