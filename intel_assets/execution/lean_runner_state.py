"""Owns the reference LEAN runner's state: its clock (live, or a replay clock), the LEAN-format
data it fills on, the shared ``OrderBook`` (the same order-processing core as the backtest
engine), order ids and idempotency keys, and per-operation observability.

Every request first brings the book to the clock: each data time step up to the clock is
stored and every open order scanned on it (so a resting order is evaluated on every bar, on
reads and on clock moves, not only when it is submitted or replaced). The book then handles
the request at the clock and scans once more, as LEAN does after every order request.
Refusals raise ``RunnerRequestError`` (status, code, plain-words reason).

``replay_orders`` runs a list of intents the way a client replaying them one request at a time
would (move the replay clock to each intent's time, submit it, move the clock to a read
instant, read every order) on a scratch state: same data, models, normalization, market-on-close
buffer and bounds, its own clock and book, so the runner's own orders and clock are untouched.
The LEAN minute data a state loads is shared with its scratch states (loaded once per symbol).
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time as dtime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence

from intel_assets.contracts.orders import DEFAULT_ORDER_BOUNDS, OrderBounds
from intel_assets.domain.execution_models.compositions import (
    ExecutionModels,
    execute_order,
    lean_models,
)
from intel_assets.domain.lean_data import (
    Normalization,
    lean_minute_snapshots,
    read_exchange_hours,
    read_lot_size,
)
from intel_assets.domain.market_data import NEW_YORK, LeanDataError, lean_minute_days
from intel_assets.domain.order_book import DEFAULT_MOC_BUFFER, BookOrder, OrderBook, OrderRejected
from intel_assets.execution.lean_runner_wire import (
    LIST_STATUSES,
    ReplaceOrderBody,
    ShadowSimulateBody,
    SubmitOrderBody,
    WireError,
    audit,
    iso,
    num,
    order_json,
    trail_from,
    wire_decimal,
)


class RunnerRequestError(Exception):
    """A request the runner refuses; becomes ``{"error": code, "reason": reason}``."""

    def __init__(self, status_code: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status_code, self.code, self.reason = status_code, code, reason


@dataclass
class RunnerClock:
    """Live (wall time) or replay (set at start, moved by ``POST /v1/clock``)."""

    mode: str  # "live" | "replay"
    replay_at: datetime | None = None

    def now(self) -> datetime:
        if self.mode == "live" or self.replay_at is None:
            return datetime.now(timezone.utc)
        return self.replay_at


@dataclass
class _Entry:
    order_id: str
    book_id: int
    client_order_id: str
    idempotency_key: str
    extra_params: dict[str, Any] = field(default_factory=dict)


#: Upper bounds (ms) of the latency histogram's buckets; the last bucket is +Inf.
LATENCY_BUCKETS_MS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
                      5000.0)


class RunnerMetrics:
    """Requests, failures (``operation:taxonomy``) and latency per operation.

    Besides Torghut's four maps (requests_total, failures_total, latency_ms_last,
    latency_ms_avg) the snapshot carries ``latency_ms_histogram``: per operation, cumulative
    counts per bucket upper bound (``le``, ms, "+Inf" last) as Prometheus histograms count them,
    so a scraper can take the difference of two snapshots and read a window's p99
    (domain.canary_slo). Counters start at zero when the runner starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.latency_last: dict[str, float] = {}
        self._latency_sum: dict[str, float] = {}
        self._buckets: dict[str, list[int]] = {}  # per bucket (not cumulative), +Inf last

    def record(self, operation: str, started: float, failure: str | None = None) -> None:
        ms = max((time.perf_counter() - started) * 1000.0, 0.0)
        slot = bisect.bisect_left(LATENCY_BUCKETS_MS, ms)
        with self._lock:
            self.requests[operation] = self.requests.get(operation, 0) + 1
            self.latency_last[operation] = ms
            self._latency_sum[operation] = self._latency_sum.get(operation, 0.0) + ms
            counts = self._buckets.setdefault(operation, [0] * (len(LATENCY_BUCKETS_MS) + 1))
            counts[slot] += 1
            if failure:
                key = f"{operation}:{failure}"
                self.failures[key] = self.failures.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            histogram = {}
            for op, counts in self._buckets.items():
                cumulative = list(itertools.accumulate(counts))
                histogram[op] = {
                    "buckets": {**{f"{le:g}": n for le, n in zip(LATENCY_BUCKETS_MS, cumulative)},
                                "+Inf": cumulative[-1]},
                    "count": cumulative[-1], "sum": self._latency_sum[op]}
            return {"requests_total": dict(self.requests), "failures_total": dict(self.failures),
                    "latency_ms_last": dict(self.latency_last),
                    "latency_ms_avg": {op: self._latency_sum[op] / n
                                       for op, n in self.requests.items()},
                    "latency_ms_histogram": histogram}


def _canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


class RunnerState:
    """The runner: an OrderBook on LEAN data, driven by its clock and the HTTP requests."""

    def __init__(self, lean_dir: Path, models: ExecutionModels | None = None,
                 normalization: Normalization = "raw", *, clock: RunnerClock | None = None,
                 moc_buffer=DEFAULT_MOC_BUFFER,
                 bounds: OrderBounds = DEFAULT_ORDER_BOUNDS,
                 data: dict[str, tuple] | None = None) -> None:
        self.lean_dir = Path(lean_dir)
        self.bounds = bounds
        self.models = models or lean_models()
        self.normalization = normalization
        self.moc_buffer = moc_buffer
        # symbol -> (days, snapshots, hours, lot size): loaded once, shared with scratch states
        self._data: dict[str, tuple] = {} if data is None else data
        self.clock = clock or RunnerClock("replay", self.first_data_midnight())
        self.book = OrderBook(self.models, round_prices=normalization == "raw",
                              moc_buffer=moc_buffer)
        self.book.advance_to(self.clock.now())
        self.metrics = RunnerMetrics()
        self._by_id: dict[str, _Entry] = {}
        self._by_book: dict[int, _Entry] = {}
        self._by_cid: dict[str, _Entry] = {}
        self._by_key: dict[str, _Entry] = {}
        self._days: dict[str, list] = {}

    # ---- data -------------------------------------------------------------------------------
    def available_symbols(self) -> list[str]:
        root = self.lean_dir / "equity" / "usa" / "minute"
        return sorted(p.name.upper() for p in root.iterdir()) if root.is_dir() else []

    def first_data_midnight(self) -> datetime:
        """New York midnight of the earliest minute-data day (the default replay clock)."""
        days = [d for s in self.available_symbols() for d in lean_minute_days(self.lean_dir, s)]
        if not days:
            return datetime.now(timezone.utc)
        return datetime.combine(min(days), dtime(), tzinfo=NEW_YORK).astimezone(timezone.utc)

    def _ensure_symbol(self, symbol: str) -> None:
        if self.book.has_security(symbol):
            return
        if symbol not in self._data:
            days = lean_minute_days(self.lean_dir, symbol)
            if not days:
                raise RunnerRequestError(422, "unknown_symbol", (
                    f"unknown symbol {symbol}: no LEAN minute data for it in {self.lean_dir}; "
                    f"symbols with data: {', '.join(self.available_symbols()) or 'none'}"))
            try:
                snapshots = lean_minute_snapshots(self.lean_dir, symbol,
                                                  normalization=self.normalization,
                                                  fill_forward=True)
                hours = read_exchange_hours(self.lean_dir, symbol)
                lot = read_lot_size(self.lean_dir, symbol)
            except LeanDataError as exc:
                raise RunnerRequestError(422, "bad_data",
                                         f"LEAN data for {symbol}: {exc}") from exc
            self._data[symbol] = (days, tuple(snapshots), hours, lot)
        days, snapshots, hours, lot = self._data[symbol]
        self._days[symbol] = days
        self.book.add_security(symbol, hours, lot, snapshots)

    def market_view(self, symbol: str):
        """The market of ``symbol`` at the book's time (its data loaded on first use)."""
        self._ensure_symbol(symbol)
        return self.book.view(symbol)

    def _check_in_data(self, symbol: str) -> None:
        """An order needs data for the session it would be evaluated in."""
        hours = self.book.view(symbol).hours
        now = self.book.now
        assert hours is not None and now is not None
        try:
            session_day = hours.next_session_day(now)  # type: ignore[attr-defined]
        except LeanDataError as exc:
            raise RunnerRequestError(422, "outside_data", str(exc)) from exc
        days = self._days[symbol]
        if session_day not in days:
            raise RunnerRequestError(422, "outside_data", (
                f"the runner clock {now.isoformat()} is outside the data: its next regular "
                f"session ({session_day}) has no {symbol} minute bars; data covers "
                f"{', '.join(d.isoformat() for d in days)}"))

    # ---- time -------------------------------------------------------------------------------
    def sync(self) -> None:
        """Bring the book to the clock (every data time step up to it, each one scanned)."""
        now = self.clock.now()
        if self.book.now is None or now >= self.book.now:
            self.book.advance_to(now)

    def move_clock(self, as_of: datetime) -> tuple[datetime, list[dict[str, Any]]]:
        """Move the replay clock (back too: orders never re-see bars); the orders it changed
        (only open orders can change: a filled or canceled one is final)."""
        if self.clock.mode != "replay":
            raise RunnerRequestError(409, "live_clock", "the runner runs on a live clock; "
                                     "start it with --as-of (or INTEL_AS_OF) for a replay clock")
        previous = self.clock.now()
        before = {i: self._state_key(self.book.get(i)) for i in self.book.open_order_ids()
                  if i in self._by_book}
        self._move(as_of)
        changed = [self.order(self._by_book[i].order_id) for i, key in before.items()
                   if self._state_key(self.book.get(i)) != key]
        return previous, changed

    def _move(self, as_of: datetime) -> None:
        self.clock.replay_at = as_of.astimezone(timezone.utc)
        if self.book.now is not None and as_of < self.book.now:
            self.book.rewind_to(as_of)
        self.book.advance_to(as_of)

    @staticmethod
    def _state_key(order: BookOrder) -> tuple:
        return order.status, order.terms, order.update_count, order.reason

    def clock_info(self) -> dict[str, Any]:
        return {"mode": self.clock.mode, "now": iso(self.clock.now()),
                "book_time": iso(self.book.now)}

    # ---- orders -----------------------------------------------------------------------------
    def order(self, order_id: str) -> dict[str, Any]:
        entry = self._by_id.get(order_id)
        if entry is None:
            raise RunnerRequestError(404, "not_found", f"no order with id {order_id!r} at this "
                                     "runner")
        return order_json(self.book.get(entry.book_id), entry.order_id, entry.client_order_id,
                          entry.extra_params)

    def order_by_client_id(self, client_order_id: str) -> dict[str, Any]:
        entry = self._by_cid.get(client_order_id)
        if entry is None:
            raise RunnerRequestError(404, "not_found", f"no order with client_order_id "
                                     f"{client_order_id!r} at this runner")
        return self.order(entry.order_id)

    def orders(self, status: str) -> list[dict[str, Any]]:
        if status not in LIST_STATUSES:
            raise RunnerRequestError(422, "invalid_status", f"status must be one of "
                                     f"{', '.join(LIST_STATUSES)}, not {status!r}")
        out = []
        for entry in self._by_id.values():
            is_open = self.book.get(entry.book_id).is_open
            if status == "all" or (status == "open") == is_open:
                out.append(self.order(entry.order_id))
        return out

    def submit(self, body: SubmitOrderBody, idempotency_key: str | None,
               correlation_id: str) -> dict[str, Any]:
        """Place the order once per idempotency key; a known key answers the same order."""
        request_ts = datetime.now(timezone.utc)
        entry, key, replayed = self._place(body, idempotency_key)
        payload = self.order(entry.order_id)
        payload["_lean_audit"] = audit("submit_order", correlation_id, request_ts, key, replayed)
        return payload

    def _place(self, body: SubmitOrderBody,
               idempotency_key: str | None) -> tuple[_Entry, str, bool]:
        """(the order's entry, its idempotency key, whether the key was known already)."""
        key = (idempotency_key or "").strip() or body.client_order_id or hashlib.sha256(
            _canonical(body.model_dump()).encode()).hexdigest()[:64]
        known = self._by_key.get(key)
        if known is not None:
            return known, key, True
        try:
            terms = body.terms(self.bounds)
        except WireError as exc:
            raise RunnerRequestError(422, "invalid_order", str(exc)) from exc
        cid = body.client_order_id or f"lean-{uuid.uuid4().hex[:24]}"
        if cid in self._by_cid:
            raise RunnerRequestError(409, "client_order_id_in_use", (
                f"client_order_id {cid} is already used by order {self._by_cid[cid].order_id} "
                f"(submitted under another Idempotency-Key); send that key to replay it"))
        self._ensure_symbol(body.symbol)
        self._check_in_data(body.symbol)
        try:
            order, _ = self.book.submit(body.symbol, terms)
        except OrderRejected as exc:
            raise RunnerRequestError(422, "order_rejected", str(exc)) from exc
        entry = _Entry(str(uuid.uuid4()), order.id, cid, key, dict(body.extra_params))
        entry.extra_params.setdefault("client_order_id", cid)
        for index, value in ((self._by_id, entry.order_id), (self._by_book, order.id),
                             (self._by_cid, cid), (self._by_key, key)):
            index[value] = entry  # type: ignore[index]
        return entry, key, False

    def cancel(self, order_id: str) -> tuple[bool, dict[str, Any], str]:
        """(ok, order, reason): a filled order cannot be canceled (ok False)."""
        self.order(order_id)  # 404 first
        entry = self._by_id[order_id]
        try:
            self.book.cancel(entry.book_id)
        except OrderRejected as exc:
            return False, self.order(order_id), str(exc)
        return True, self.order(order_id), ""

    def cancel_all(self) -> list[dict[str, Any]]:
        canceled = []
        for entry in list(self._by_id.values()):
            if self.book.get(entry.book_id).is_open:
                self.book.cancel(entry.book_id)
                canceled.append(self.order(entry.order_id))
        return canceled

    def replace(self, order_id: str, body: ReplaceOrderBody) -> dict[str, Any]:
        self.order(order_id)
        entry = self._by_id[order_id]
        order = self.book.get(entry.book_id)
        if not order.is_open:
            raise RunnerRequestError(409, "not_open", f"order {order_id} is {order.status}; "
                                     "only open orders can be replaced")
        try:
            qty = wire_decimal("qty", body.qty)
            limit = wire_decimal("limit_price", body.limit_price)
            stop = wire_decimal("stop_price", body.stop_price)
            amount, percent = trail_from({"trail_percent": body.trail_percent,
                                          "trail_price": body.trail_price}, required=False)
        except WireError as exc:
            raise RunnerRequestError(422, "invalid_replace", str(exc)) from exc
        too_big = self.bounds.problem(qty, limit_price=limit, stop_price=stop, trail_price=amount)
        if too_big:
            raise RunnerRequestError(422, "invalid_replace", too_big)
        if amount is not None and percent != order.terms.trailing_percent:
            raise RunnerRequestError(422, "invalid_replace", (
                "a trailing stop keeps its kind of trail: send trail_percent for a percent "
                "trail and trail_price for a price trail"))
        try:
            self.book.update(entry.book_id, qty, limit, stop, amount)
        except OrderRejected as exc:
            raise RunnerRequestError(422, "invalid_replace", str(exc)) from exc
        return self.order(order_id)

    # ---- shadow -----------------------------------------------------------------------------
    def shadow(self, body: ShadowSimulateBody, correlation_id: str) -> dict[str, Any]:
        """The fill LEAN's models would give this order on the latest bar at the clock."""
        self._ensure_symbol(body.symbol)
        try:
            terms = SubmitOrderBody(symbol=body.symbol, side=body.side, qty=body.qty,
                                    order_type=body.order_type, time_in_force=body.time_in_force,
                                    limit_price=body.limit_price,
                                    stop_price=body.stop_price).terms()
            intent_price = wire_decimal("intent_price", body.intent_price)
        except WireError as exc:
            raise RunnerRequestError(422, "invalid_order", str(exc)) from exc
        view = self.book.view(body.symbol)
        latest = view.last_data
        if latest is None:
            raise RunnerRequestError(422, "outside_data", f"no {body.symbol} bar at or before "
                                     f"the runner clock {iso(view.now)}")
        resting = terms.order_type not in ("market", "market_on_open", "market_on_close")
        terms = dataclasses.replace(terms, submitted_at=latest.start if resting else view.now)
        result = execute_order(terms, view, self.models)
        quote = view.quote_bar
        mid = None
        if quote is not None and quote.bid is not None and quote.ask is not None:
            mid = (quote.bid.close + quote.ask.close) / 2
        arrival = intent_price if intent_price is not None else mid
        bps = None
        if result.filled and result.price is not None and arrival:
            sign = 1 if terms.side == "buy" else -1
            bps = float(sign * (result.price - arrival) / arrival * Decimal(10_000))
        status = ("no_fill" if not result.filled else "unknown" if bps is None
                  else "pass" if abs(bps) <= 3.0 else "drift")
        return {
            "symbol": body.symbol, "side": terms.side, "qty": num(terms.quantity),
            "order_type": body.order_type, "as_of": iso(view.now), "would_fill": result.filled,
            "simulated_fill_price": num(result.price), "simulated_fee": num(result.fee),
            "arrival_price": num(arrival),
            "arrival_source": "intent_price" if intent_price is not None else "quote_mid",
            "simulated_slippage_bps": None if bps is None else round(bps, 4),
            "parity_status": status,
            "failure_taxonomy": {"pass": None, "drift": "execution_quality_drift",
                                 "no_fill": "no_fill", "unknown": "no_arrival_price"}[status],
            "reason": result.reason, "evaluated_bar_start": iso(latest.start),
            "evaluated_bar_end": iso(latest.end),
            "_lean_audit": audit("shadow_simulate", correlation_id, datetime.now(timezone.utc)),
        }

    # ---- replays ---------------------------------------------------------------------------
    def replay_orders(self, intents: Sequence[tuple[int, datetime | None,
                                                     SubmitOrderBody | dict[str, Any]]],
                      read_at: datetime) -> dict[str, Any]:
        """Each ``(index, at, body)`` placed as a replay client placing them one request at a
        time would (``POST /v1/clock`` to ``at``, then ``POST /v1/orders/submit`` with the
        body's client_order_id as Idempotency-Key), then every order as ``GET /v1/orders/{id}``
        answers it once the clock is at ``read_at``; on a scratch state (module docstring).
        Refused intents are listed with their index, status, code and reason; a body already
        refused (a dict) only moves the clock, as its submit would have followed the move."""
        first = next((at for _, at, _ in intents if at is not None), read_at)
        scratch = RunnerState(self.lean_dir, self.models, self.normalization,
                              clock=RunnerClock("replay", first.astimezone(timezone.utc)),
                              moc_buffer=self.moc_buffer, bounds=self.bounds, data=self._data)
        rejected = []
        for n, at, body in intents:
            if at is not None:
                scratch._move(at)
            if isinstance(body, dict):
                rejected.append(body)
                continue
            try:
                scratch._place(body, None)  # as submit, without building its answer
            except RunnerRequestError as exc:
                rejected.append({"index": n, "client_order_id": body.client_order_id,
                                 "status_code": exc.status_code, "error": exc.code,
                                 "reason": exc.reason})
        scratch._move(read_at)
        return {"orders": [scratch.order(entry.order_id) for entry in scratch._by_id.values()],
                "rejected": rejected, "clock": scratch.clock_info()}

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "service": "intel-assets-lean-runner", "contract_version": "lean-v2",
                "clock": self.clock_info(), "lean_dir": str(self.lean_dir),
                "normalization": self.normalization,
                "fill_model": type(self.models.fill).__name__,
                "fee_model": type(self.models.fee).__name__,
                "symbols": self.available_symbols(), "orders": len(self._by_id)}


__all__ = ["RunnerClock", "RunnerMetrics", "RunnerRequestError", "RunnerState"]
