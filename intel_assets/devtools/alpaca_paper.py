"""Owns paper trading on the local Alpaca server: Alpaca's order endpoints, filled on replayed LEAN quotes.

Endpoints (Alpaca's paths and order JSON, which alpaca-py's ``Order`` model parses):
``POST /v2/orders`` (200 + order; a client_order_id already used is refused with 422
"client_order_id must be unique", as Alpaca does: idempotency belongs to the client),
``GET /v2/orders`` (status=open|closed|all, limit (max 500), direction (by submitted_at), after
and until (exclusive bounds on submitted_at), symbols), ``GET /v2/orders/{id}``,
``GET /v2/orders:by_client_order_id?client_order_id=``, ``PATCH /v2/orders/{id}`` (replace: a
NEW order with ``replaces`` = old id; the old one becomes ``replaced`` with ``replaced_by``) and
``DELETE /v2/orders/{id}`` (cancel, 204). Supported: market/limit/stop, day/gtc/ioc/fok, simple
orders, regular hours. Errors are Alpaca-shaped ``{"code", "message"}``: 422/40010001 bad input
(unknown symbol, qty <= 0, missing price, no data at the replay time), 404/40410000 unknown
order, 422/42210000 wrong state (cancel or replace of a closed order), 400/40010000 bad JSON.

Replay clock: the server's clock (``AlpacaServer.as_of``, also the news clock) is the replay
instant. ``POST /_replay/clock {"as_of": iso}`` (``GET`` reads it) is a devtools endpoint, NOT
part of Alpaca's API: it stands in for the passage of time. It may move backwards only while no
order is open (a resting order cannot un-see the market). A ``POST /v2/orders`` carrying the
devtools header ``X-Replay-Clock: <iso>`` first moves the clock there exactly as that endpoint
would (same rules, refusals answered 422 "cannot set the replay clock: ...", the order then not
placed), so a replay places each order in one request (AlpacaAdapter.replay).

Fill timing is Alpaca paper's (Alpaca's Paper Trading Specification: paper orders never reach an
exchange, a simulation fills them against the real-time quotes, without queue position for
non-marketable limits, price improvement or latency slippage): an order
is evaluated at once on the **current quote**, the latest minute snapshot that ended at or before
the server's clock (a bar counts from its end, as the arrival quote does), and a fill then is
stamped at the clock (``filled_at`` = the submission instant). When no bar of the order's
session has closed yet (before the open, at 09:30:00 exactly, after the close, a weekend) the
order rests until the first session bar ends. A resting order is re-evaluated on every later
snapshot, at that snapshot's end, up to the clock (``POST /_replay/clock`` moves it): a limit
fills once the quote becomes marketable, at the quote. A day order still open when the clock
passes its session close becomes ``expired``; ioc/fok orders not filled on their first
evaluation become ``canceled``. No data for the order's session -> 422.

This is not LEAN's timing, and parity measures the difference: LEAN (``execution/
lean_runner*.py``, ``domain/order_book.py``) fills a market order on the same bar (the one that
closed at or before the order time, at its ask/bid) but evaluates a limit or stop order first on
the next bar, on the trade range, filling at the limit or the open. Fill decisions are
``AlpacaPaperFillModel`` (+ ``AlpacaFeeModel``, zero commission; Alpaca's order JSON has no fee
field) via ``execute_order`` on raw (unadjusted) prices, as a broker fills.
"""

from __future__ import annotations

import json
import threading
import uuid
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from intel_assets.contracts.orders import DEFAULT_ORDER_BOUNDS
from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol
from intel_assets.devtools.alpaca_wire import ApiError, ApiRequest, ApiResponse, RouteHost, parse_time
from intel_assets.domain.fills import (
    MarketSnapshot,
    MarketView,
    OrderTerms,
    alpaca_paper_models,
    execute_order,
)
from intel_assets.domain.lean_data import ExchangeHours, lean_minute_snapshots, read_exchange_hours
from intel_assets.domain.market_data import NEW_YORK, LeanDataError, lean_minute_days

ORDERS_PATH, ORDER_PATH = "/v2/orders", "/v2/orders/{order_id}"
BY_CLIENT_ORDER_ID_PATH, CLOCK_PATH = "/v2/orders:by_client_order_id", "/_replay/clock"
REPLAY_CLOCK_HEADER = "X-Replay-Clock"  # devtools only: see the module docstring
MAX_LIST_LIMIT = 500  # Alpaca's cap on GET /v2/orders
INVALID, MALFORMED, NOT_FOUND, WRONG_STATE = 40010001, 40010000, 40410000, 42210000
ORDER_TYPES, TIMES_IN_FORCE = ("market", "limit", "stop"), ("day", "gtc", "ioc", "fok")
MAX_CLIENT_ORDER_ID = 128
_MODELS = alpaca_paper_models()


@dataclass(frozen=True)
class ReplayMarket:
    """One symbol's replayed minute snapshots (raw prices) and its exchange hours."""

    snapshots: tuple[MarketSnapshot, ...]
    starts: tuple[datetime, ...]
    hours: ExchangeHours
    days: tuple[date, ...]
    ends: tuple[datetime, ...]

    def view(self, index: int, now: datetime) -> MarketView:
        """The market at ``now`` as of snapshot ``index``: its latest trade and quote bars at
        or before that snapshot, on the same New York day (a minute without one of them keeps
        the previous minute's, as the consolidated quote and last sale persist)."""
        day = self.starts[index].astimezone(NEW_YORK).date()
        trade = quote = None
        i = index
        while i >= 0 and (trade is None or quote is None):
            snap = self.snapshots[i]
            if snap.start.astimezone(NEW_YORK).date() != day:
                break
            trade = trade or (snap if snap.trade is not None else None)
            quote = quote or (snap if snap.quote is not None else None)
            i -= 1
        return MarketView(self.snapshots[index].symbol, now, trade, quote)


@lru_cache(maxsize=32)
def replay_market(lean_dir: str, symbol: str) -> ReplayMarket:
    """LEAN minute snapshots of ``symbol`` with raw prices (cached: servers in one process share)."""
    snapshots = tuple(lean_minute_snapshots(Path(lean_dir), symbol, normalization="raw"))
    return ReplayMarket(snapshots, tuple(s.start for s in snapshots),
                        read_exchange_hours(Path(lean_dir), symbol),
                        tuple(lean_minute_days(Path(lean_dir), symbol)),
                        tuple(s.end for s in snapshots))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _num(value: Decimal | None) -> str | None:
    """Alpaca's decimal-string spelling: Decimal('10.0') -> '10', Decimal('167.450') -> '167.45'."""
    return None if value is None else f"{value.normalize():f}"


@dataclass
class PaperOrder:
    """One order as the paper book holds it; ``wire()`` is its Alpaca JSON."""

    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    created_at: datetime
    session_day: date
    session_close: datetime
    bar: int = -1  # index of the last snapshot this order was evaluated on (or the one before
    #                its session's first, while it waits for the session's first bar)
    status: str = "new"
    updated_at: datetime | None = None
    filled_at: datetime | None = None
    filled_avg_price: Decimal | None = None
    expired_at: datetime | None = None
    canceled_at: datetime | None = None
    replaced_at: datetime | None = None
    replaced_by: str | None = None
    replaces: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "new"

    def wire(self) -> dict[str, Any]:
        filled = self.status == "filled"
        return {
            "id": self.id, "client_order_id": self.client_order_id,
            "created_at": _iso(self.created_at), "updated_at": _iso(self.updated_at or self.created_at),
            "submitted_at": _iso(self.created_at), "filled_at": _iso(self.filled_at),
            "expired_at": _iso(self.expired_at), "expires_at": None, "canceled_at": _iso(self.canceled_at),
            "failed_at": None, "replaced_at": _iso(self.replaced_at), "replaced_by": self.replaced_by,
            "replaces": self.replaces, "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"asset:{self.symbol}")),
            "symbol": self.symbol, "asset_class": "us_equity", "notional": None, "qty": _num(self.qty),
            "filled_qty": _num(self.qty) if filled else "0", "filled_avg_price": _num(self.filled_avg_price),
            "order_class": "simple", "order_type": self.type, "type": self.type, "side": self.side,
            "position_intent": None, "time_in_force": self.time_in_force,
            "limit_price": _num(self.limit_price), "stop_price": _num(self.stop_price),
            "status": self.status, "extended_hours": False, "legs": None, "trail_percent": None,
            "trail_price": None, "hwm": None,
        }


def _invalid(message: str) -> ApiError:
    return ApiError(422, message, INVALID)


def _json_body(request: ApiRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise ApiError(400, "request body format is invalid: not JSON", MALFORMED) from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body format is invalid: expected a JSON object", MALFORMED)
    return body


def _positive(body: dict[str, Any], name: str) -> Decimal | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        number = Decimal(str(value))
    except InvalidOperation:
        raise _invalid(f"{name} must be a number, got {value!r}") from None
    if not number.is_finite() or number <= 0:
        raise _invalid(f"{name} must be > 0, got {value!r}")
    return number


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = body.get(name) or default
    if value is None:
        raise _invalid(f"{name} is required (one of {', '.join(allowed)})")
    if str(value).lower() not in allowed:
        raise _invalid(f"{name} {value!r} is not supported by the replay; use one of {', '.join(allowed)}")
    return str(value).lower()


class PaperBook:
    """The paper account's orders, filled against replayed LEAN snapshots at the server's clock."""

    def __init__(self, server: RouteHost, lean_dir: str | Path) -> None:
        self.server, self.lean_dir = server, Path(lean_dir).resolve()
        self.orders: dict[str, PaperOrder] = {}  # by id, in creation order
        self._open: dict[str, PaperOrder] = {}  # the open ones (only these can change)
        self._has_data: dict[str, bool] = {}  # symbol -> LEAN minute data present (read once)
        self._by_client_id: dict[str, str] = {}
        self._lock = threading.RLock()

    # ---- market data and timing (Alpaca paper: the current quote, then every later one) ----
    def _market(self, raw_symbol: Any) -> tuple[str, ReplayMarket]:
        try:
            symbol = normalize_symbol(raw_symbol if isinstance(raw_symbol, str) else None)
        except InvalidSymbolError as exc:
            raise _invalid(str(exc).replace("?symbol=TICKER", '"symbol": "TICKER"')) from None
        if symbol not in self._has_data:
            self._has_data[symbol] = bool(lean_minute_days(self.lean_dir, symbol))
        if not self._has_data[symbol]:
            raise _invalid(f'asset "{symbol}" not found: the replay has no LEAN minute data for it')
        try:
            return symbol, replay_market(str(self.lean_dir), symbol)
        except LeanDataError as exc:
            raise _invalid(f"replay data for {symbol} is unusable: {exc}") from None

    def _session(self, symbol: str, market: ReplayMarket, moment: datetime) -> tuple[date, int]:
        """(day, index of its first snapshot) of the first regular session not closed at
        ``moment``: the session an order placed then belongs to (422 when it is not in the data)."""
        try:
            session_day = market.hours.next_session_day(moment)
        except LeanDataError as exc:
            raise _invalid(str(exc)) from None
        hours = market.hours.session(session_day)
        opens = datetime.combine(session_day, hours[0], NEW_YORK) if hours else moment
        i = bisect_left(market.starts, opens)
        if i >= len(market.starts) or market.starts[i].astimezone(NEW_YORK).date() != session_day:
            covered = ", ".join(d.isoformat() for d in market.days)
            raise _invalid(f"no {symbol} market data at the replay clock {_iso(moment)}: its next "
                           f"regular session ({session_day}) is not in the replayed data (covers "
                           f"{covered}); set the clock with POST {CLOCK_PATH}")
        return session_day, i

    def _evaluate(self, order: PaperOrder, market: ReplayMarket, index: int,
                  at: datetime) -> None:
        """Apply the Alpaca paper models to ``order`` on the market of snapshot ``index`` as
        seen at ``at`` (a fill is stamped ``at``)."""
        order.bar = index
        terms = OrderTerms(order.side, order.qty, order.type, order.limit_price,  # type: ignore[arg-type]
                           order.stop_price, order.created_at)
        result = execute_order(terms, market.view(index, at), _MODELS)
        if result.filled:
            order.status, order.filled_avg_price = "filled", result.price
            order.filled_at = order.updated_at = at
        elif order.time_in_force in ("ioc", "fok"):
            order.status, order.canceled_at = "canceled", at
            order.updated_at = at

    def _new_order(self, body: dict[str, Any], base: PaperOrder | None = None) -> PaperOrder:
        """A validated, stored and evaluated order from an order (or replace) body."""
        cid = body.get("client_order_id") or str(uuid.uuid4())
        if not isinstance(cid, str) or len(cid) > MAX_CLIENT_ORDER_ID:
            raise _invalid(f"client_order_id must be a string of at most {MAX_CLIENT_ORDER_ID} characters")
        if cid in self._by_client_id:
            raise _invalid("client_order_id must be unique")
        if base is None:
            for name in ("notional", "trail_price", "trail_percent", "legs", "take_profit", "stop_loss"):
                if body.get(name) not in (None, "", []):
                    raise _invalid(f"{name} is not supported by the replay (simple qty orders only)")
            if (body.get("order_class") or "simple") != "simple":
                raise _invalid("order_class must be simple: the replay has no bracket/oco/oto orders")
            if body.get("extended_hours") is True:
                raise _invalid("extended_hours orders are not supported: the replay is regular-session")
            symbol, market = self._market(body.get("symbol"))
            side = _choice(body, "side", ("buy", "sell"))
            order_type = _choice(body, "type", ORDER_TYPES, body.get("order_type"))
        else:
            symbol, market = base.symbol, replay_market(str(self.lean_dir), base.symbol)
            side, order_type = base.side, base.type
            if body.get("trail") is not None:
                raise _invalid("trail applies to trailing_stop orders, which the replay does not support")
        tif = _choice(body, "time_in_force", TIMES_IN_FORCE, base.time_in_force if base else None)
        qty = _positive(body, "qty") or (base.qty if base else None)
        if qty is None:
            raise _invalid("qty is required (notional orders are not supported by the replay)")
        limit = _positive(body, "limit_price") or (base.limit_price if base else None)
        stop = _positive(body, "stop_price") or (base.stop_price if base else None)
        if order_type == "limit" and limit is None:
            raise _invalid("limit_price is required for limit orders")
        if order_type == "stop" and stop is None:
            raise _invalid("stop_price is required for stop orders")
        if order_type != "limit" and limit is not None:
            raise _invalid(f"limit_price is only valid for limit orders, not {order_type} orders")
        if order_type != "stop" and stop is not None:
            raise _invalid(f"stop_price is only valid for stop orders, not {order_type} orders")
        too_big = DEFAULT_ORDER_BOUNDS.problem(qty, limit_price=limit, stop_price=stop)
        if too_big:  # beyond it Decimal overflows (qty >= 1e28 crashed this handler)
            raise _invalid(too_big)
        if qty % 1 and tif != "day":
            raise _invalid("fractional orders must be DAY orders")
        now = self.server.now()
        day, first = self._session(symbol, market, now)
        hours = market.hours.session(day)
        close = datetime.combine(day, hours[1], NEW_YORK).astimezone(timezone.utc) if hours else now
        order = PaperOrder(str(uuid.uuid4()), cid, symbol, side, order_type, tif, qty, limit, stop,
                           now, day, close, bar=first - 1, replaces=base.id if base else None)
        current = bisect_right(market.ends, now) - 1  # the latest snapshot ended at/before now
        if current >= first:  # a bar of the order's session has closed: its quote is current
            self._evaluate(order, market, current, now)
        self.orders[order.id] = order
        self._by_client_id[cid] = order.id
        if order.is_open:
            self._open[order.id] = order
        return order

    def _advance(self, moment: datetime) -> None:
        """Re-evaluate open orders on each later snapshot that ended at or before ``moment``
        (at its end), then expire the day orders whose session closed by ``moment``."""
        latest: dict[str, tuple[ReplayMarket, int]] = {}  # per symbol: its last bar by moment
        for order in list(self._open.values()):
            if order.symbol not in latest:
                market = replay_market(str(self.lean_dir), order.symbol)
                latest[order.symbol] = market, bisect_right(market.ends, moment) - 1
            market, last = latest[order.symbol]
            if order.bar >= last and (order.time_in_force != "day" or moment < order.session_close):
                continue  # no later bar yet, nothing expires: unchanged
            for index in range(order.bar + 1, last + 1):
                if not order.is_open or (order.time_in_force == "day" and
                                         market.starts[index].astimezone(NEW_YORK).date() != order.session_day):
                    break
                self._evaluate(order, market, index, market.ends[index])
            if order.is_open and order.time_in_force == "day" and moment >= order.session_close:
                order.status, order.expired_at = "expired", order.session_close
                order.updated_at = order.session_close
            if not order.is_open:
                del self._open[order.id]

    def _move_clock(self, server: RouteHost, raw: Any) -> None:
        """Move the replay clock to ``raw`` (an ISO-8601 string), evaluating open orders on the
        way; 422 when it is not a time or would move back while orders are open."""
        if not isinstance(raw, str):
            raise _invalid('body must be {"as_of": "<ISO-8601 time>"}')
        try:
            moment = parse_time(raw, "as_of")
        except ApiError as exc:
            raise _invalid(exc.message) from None
        if self._open and server.as_of is not None and moment < server.now():
            raise _invalid(f"the replay clock cannot move back from {_iso(server.now())} to "
                           f"{_iso(moment)} while orders are open ({', '.join(self._open)})")
        self._advance(moment)
        server.as_of = moment

    # ---- handlers -------------------------------------------------------------------------
    def _order(self, request: ApiRequest) -> PaperOrder:
        order = self.orders.get(request.path.rstrip("/").rsplit("/", 1)[-1])
        if order is None:
            raise ApiError(404, "order not found", NOT_FOUND)
        return order

    def submit(self, server: RouteHost, request: ApiRequest) -> ApiResponse:
        """POST /v2/orders: validate, store and evaluate a new order (422 on a reused
        client_order_id); with X-Replay-Clock, at that replay instant (module docstring)."""
        body = _json_body(request)
        with self._lock:
            at = request.headers.get(REPLAY_CLOCK_HEADER.lower())
            if at is not None:
                try:
                    self._move_clock(server, at)
                except ApiError as exc:
                    raise ApiError(exc.status, f"cannot set the replay clock: {exc.message}",
                                   exc.code) from None
            return ApiResponse(200, self._new_order(body).wire())

    def get(self, server: RouteHost, request: ApiRequest) -> ApiResponse:
        """GET /v2/orders/{order_id}."""
        with self._lock:
            return ApiResponse(200, self._order(request).wire())

    def by_client_order_id(self, server: RouteHost, request: ApiRequest) -> ApiResponse:
        """GET /v2/orders:by_client_order_id?client_order_id=..."""
        with self._lock:
            order_id = self._by_client_id.get(request.param("client_order_id") or "")
            if order_id is None:
                raise ApiError(404, "order not found", NOT_FOUND)
            return ApiResponse(200, self.orders[order_id].wire())

    def list_orders(self, server: RouteHost, request: ApiRequest) -> ApiResponse:
        """GET /v2/orders?status=open|closed|all&limit=&direction=&after=&until=&symbols=
        (by submitted_at, newest first by default; after/until exclusive)."""
        status = (request.param("status") or "open").lower()
        if status not in ("open", "closed", "all"):
            raise _invalid("status must be open, closed or all")
        try:
            limit = int(request.param("limit") or 50)
        except ValueError:
            raise _invalid("limit must be an integer") from None
        symbols = {s.strip().upper() for s in (request.param("symbols") or "").split(",") if s.strip()}
        after = parse_time(request.param("after"), "after") if request.param("after") else None
        until = parse_time(request.param("until"), "until") if request.param("until") else None
        with self._lock:
            chosen = [o for o in self.orders.values()
                      if (status == "all" or o.is_open == (status == "open"))
                      and (not symbols or o.symbol in symbols)
                      and (after is None or o.created_at > after)
                      and (until is None or o.created_at < until)]
            chosen.sort(key=lambda o: o.created_at,  # stable: creation order within an instant
                        reverse=(request.param("direction") or "desc").lower() == "desc")
            page = [o.wire() for o in chosen[:max(1, min(limit, MAX_LIST_LIMIT))]]
        return ApiResponse(200, page)

    def replace(self, server: RouteHost, request: ApiRequest) -> ApiResponse:
        """PATCH /v2/orders/{order_id}: a new order replaces the open one, evaluated at the clock."""
        body = _json_body(request)
        with self._lock:
            old = self._order(request)
            if not old.is_open:
                raise ApiError(422, f'order is already in "{old.status}" state', WRONG_STATE)
            new = self._new_order(body, base=old)
            old.status, old.replaced_by = "replaced", new.id
            old.replaced_at = old.updated_at = new.created_at
            self._open.pop(old.id, None)
            return ApiResponse(200, new.wire())

    def cancel(self, server: RouteHost, request: ApiRequest) -> ApiResponse:
        """DELETE /v2/orders/{order_id}: cancel an open order (204, no body)."""
        with self._lock:
            order = self._order(request)
            if not order.is_open:
                raise ApiError(422, f'order is already in "{order.status}" state', WRONG_STATE)
            order.status, order.canceled_at = "canceled", server.now()
            order.updated_at = order.canceled_at
            self._open.pop(order.id, None)
        return ApiResponse(204, raw=b"")

    def clock(self, server: RouteHost, request: ApiRequest) -> ApiResponse:
        """GET/POST /_replay/clock (devtools only, not Alpaca's API): read or set the replay instant."""
        with self._lock:
            if request.method == "POST":
                self._move_clock(server, _json_body(request).get("as_of"))
            return ApiResponse(200, {"as_of": _iso(server.as_of), "open_orders": len(self._open)})


def install_paper_trading(server: RouteHost, lean_dir: str | Path) -> PaperBook:
    """Add the paper-trading and replay-clock routes to ``server``; returns its book."""
    if not (Path(lean_dir) / "equity" / "usa" / "minute").is_dir():
        raise ValueError(f"{lean_dir} is not a LEAN Data folder (no equity/usa/minute inside)")
    book = PaperBook(server, lean_dir)
    for method, path, handler in (
            ("POST", ORDERS_PATH, book.submit), ("GET", ORDERS_PATH, book.list_orders),
            ("GET", ORDER_PATH, book.get), ("PATCH", ORDER_PATH, book.replace),
            ("DELETE", ORDER_PATH, book.cancel), ("GET", BY_CLIENT_ORDER_ID_PATH, book.by_client_order_id),
            ("GET", CLOCK_PATH, book.clock), ("POST", CLOCK_PATH, book.clock)):
        server.add_route(method, path, handler)
    server.paper_book = book
    return book


__all__ = ["CLOCK_PATH", "MAX_LIST_LIMIT", "PaperBook", "PaperOrder", "REPLAY_CLOCK_HEADER",
           "ReplayMarket", "install_paper_trading", "replay_market"]
