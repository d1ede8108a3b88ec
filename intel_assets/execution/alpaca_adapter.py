"""Owns AlpacaAdapter: the ExecutionAdapter for Alpaca (paper) over alpaca-py's TradingClient.

Idempotency: Alpaca refuses a reused client_order_id (422 "client_order_id must be unique"), so
``submit`` looks the id up first and, should a concurrent submit win the race, answers that 422
by fetching the existing order: never a second order. Alpaca's replace creates a NEW order (new
id and client_order_id) that ``replaces`` the old one; this adapter keeps addressing the chain by
the ORIGINAL client_order_id, follows ``replaced_by`` to the live order and reports
``replace_count`` = the chain's length - 1.

Status mapping (Alpaca order status -> OrderState.status / Fill.status):
  filled -> filled / filled (whole quantity; fee from AlpacaFeeModel: zero commission)
  canceled, expired (a day order unfilled at the close) -> canceled / canceled
  rejected -> rejected / rejected
  replaced -> followed to the replacing order (``replaced_by``)
  new, accepted, pending_new, accepted_for_bidding, held, calculated, pending_cancel,
  pending_replace, pending_review, stopped, suspended, done_for_day -> open / unfilled
  partially_filled -> open / unfilled (the contract has no partial fills; the reason says how
  much is filled)

Intents: ``submit`` remembers each intent; for an order this adapter did not submit, ``status``
rebuilds it from the Alpaca order (strategy_id "alpaca", intent_id = client_order_id,
decision_time = submitted_at). ``evaluated_bar_start`` is None: Alpaca does not report it.

Errors: unreachable / timeout / 5xx / 429 -> RunnerUnavailableError; 404 -> OrderNotFoundError;
other 4xx -> OrderRequestError with Alpaca's message. Messages never contain the credentials.

Bounds (intel_assets.bounded_http): every request ends within ``timeout`` seconds of wall clock
whatever the server sends; an adapter (one per parity run) sends nothing after
``max_seconds_per_run`` or after ``max_consecutive_failures`` failed requests in a row (circuit
breaker); bodies over 8 MiB are refused. Each is a RunnerUnavailableError.

``replay_clock=True`` (the local devtools server only, never real Alpaca) sets the server's
replay clock to ``intent.decision_time`` before a NEW submit (an idempotent re-submit leaves it)
and to ``as_of`` when a replace passes one (else the replace happens at the current clock), so a
parity replay drives this adapter like LeanAdapter.

``replay`` (replay_clock only; the parity replay's batch) places a whole day in one request per
order: ``POST /v2/orders`` with the devtools header ``X-Replay-Clock`` (the server moves its
clock to the decision time, then places the order; an order placed at another instant means the
server ignored it, and the replay stops: only the local paper server takes it), sent on one
keep-alive httpx client within the same bounds; no look-up first (a reused client_order_id is
the 422 above, answered with the existing order). Then one clock move to the horizon, pages of
``GET /v2/orders`` (500 orders each, Alpaca's after/until/direction) over the submission window
of the orders still open when placed (the others are final in their submit answer; an order a
page cannot reach, past 500 placed at one instant, is read by id), and a ``DELETE`` of each
order still open there. Outcomes are those of submit + a read at the horizon.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, TypeVar

import httpx
import requests
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopOrderRequest,
)

from intel_assets.bounded_http import (
    MIB,
    BoundedRequestsAdapter,
    ProviderError,
    ProviderGuard,
    bounded_client,
    fetch,
    mount_bounded,
)
from intel_assets.contracts.orders import Fill, OrderIntent, OrderState
from intel_assets.domain.fills import AlpacaFeeModel, OrderFeeParameters, to_decimal
from intel_assets.contracts.execution_errors import (
    ExecutionAdapterError,
    OrderNotFoundError,
    OrderRequestError,
    RunnerUnavailableError,
)
from intel_assets.execution.adapter import ReplayAnswer

T = TypeVar("T")
DUPLICATE_CLIENT_ORDER_ID = "client_order_id must be unique"
CLOCK_PATH = "/_replay/clock"
#: The devtools paper server's header for "place this order at that replay instant"
#: (intel_assets/devtools/alpaca_paper.py REPLAY_CLOCK_HEADER); real Alpaca has none.
REPLAY_CLOCK_HEADER = "X-Replay-Clock"
_PAGE = 500  # Alpaca's largest GET /v2/orders page
_MAX_CHAIN = 100
_CANCELED = {OrderStatus.CANCELED, OrderStatus.EXPIRED}
_FINAL = {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
_FEES = AlpacaFeeModel()
_BODY_CAP = 8 * MIB


#: One parity run replays a trading day (a few requests per intent).
DEFAULT_MAX_SECONDS_PER_RUN = 1800.0


class AlpacaAdapter:
    """Submit/cancel/replace/status orders at Alpaca (``base_url`` overrides the paper API URL)."""

    def __init__(self, api_key_id: str, api_secret_key: str, base_url: str | None = None,
                 paper: bool = True, *, timeout: float = 10.0, replay_clock: bool = False,
                 max_seconds_per_run: float | None = DEFAULT_MAX_SECONDS_PER_RUN,
                 max_consecutive_failures: int | None = 3) -> None:
        if not (api_key_id and api_secret_key):
            raise ExecutionAdapterError("Alpaca credentials are missing: pass api_key_id and "
                                        "api_secret_key (ALPACA_API_KEY_ID / ALPACA_API_SECRET_KEY)")
        if replay_clock and base_url is None:
            raise ValueError("replay_clock=True needs base_url: it drives the local devtools "
                             "server's clock and must never be pointed at real Alpaca")
        self.base_url = base_url.rstrip("/") if base_url else None
        self._where = f"Alpaca at {self.base_url}" if self.base_url else \
            f"Alpaca {'paper' if paper else 'live'} API"
        self._credentials = (api_key_id, api_secret_key)
        self._timeout, self.replay_clock = timeout, replay_clock
        self._client = TradingClient(api_key_id, api_secret_key, paper=paper,
                                     url_override=self.base_url)
        session = getattr(self._client, "_session", None)
        if not isinstance(session, requests.Session):  # alpaca-py internals changed: fail loudly
            raise RuntimeError("alpaca-py TradingClient has no requests session to set timeouts on")
        # alpaca-py sends without any timeout: every request goes through the bounded engine
        self.guard = ProviderGuard(self._where, request_seconds=timeout,
                                   run_seconds=max_seconds_per_run,
                                   max_consecutive_failures=max_consecutive_failures)
        mount_bounded(session, BoundedRequestsAdapter(self.guard, _BODY_CAP, record_success=True))
        self._intents: dict[str, OrderIntent] = {}
        self._clock_client: httpx.Client | None = None  # reused: a new httpx client costs ~50 ms
        self._replay_client: httpx.Client | None = None  # replay's keep-alive client, bounded

    # ---- ExecutionAdapter ----------------------------------------------------------------
    def submit(self, intent: OrderIntent) -> OrderState:
        cid = intent.client_order_id or ""
        if self._find(cid) is None:
            if self.replay_clock:
                self.set_replay_clock(intent.decision_time)
            request = self._order_request(intent)
            try:
                self._call(lambda: self._client.submit_order(request), "submit", cid)
            except OrderRequestError as exc:
                if DUPLICATE_CLIENT_ORDER_ID not in exc.reason:
                    raise  # else a concurrent submit placed it first: report that order
        self._intents.setdefault(cid, intent)
        return self.status(cid)

    def cancel(self, client_order_id: str) -> OrderState:
        chain = self._chain(client_order_id)
        live = chain[-1]
        if live.status not in _CANCELED:
            self._call(lambda: self._client.cancel_order_by_id(live.id), "cancel", client_order_id)
            chain[-1] = self._call(lambda: self._client.get_order_by_id(live.id), "cancel",
                                   client_order_id)
        return self._state(client_order_id, chain)

    def replace(self, client_order_id: str, qty: float | None = None,
                limit_price: float | None = None, as_of: datetime | None = None) -> OrderState:
        if qty is None and limit_price is None:
            raise OrderRequestError(422, "a replace needs qty and/or limit_price")
        if qty is not None and (qty <= 0 or not float(qty).is_integer()):
            raise OrderRequestError(422, f"qty {qty} cannot be sent: Alpaca replaces to a whole "
                                         "number of shares > 0")
        if as_of is not None:
            if not self.replay_clock:
                raise ValueError("as_of needs replay_clock=True (the local replay server)")
            self.set_replay_clock(as_of)
        live = self._chain(client_order_id)[-1]
        request = ReplaceOrderRequest(qty=None if qty is None else int(qty), limit_price=limit_price)
        self._call(lambda: self._client.replace_order_by_id(live.id, request), "replace",
                   client_order_id)
        return self.status(client_order_id)

    def status(self, client_order_id: str) -> OrderState:
        return self._state(client_order_id, self._chain(client_order_id))

    # ---- extras ---------------------------------------------------------------------------
    def set_replay_clock(self, as_of: datetime) -> datetime:
        """Set the local server's replay clock (devtools only; see ``set_replay_clock``)."""
        if self._clock_client is None:
            self._clock_client = httpx.Client(timeout=self._timeout)
        return set_replay_clock(self.base_url or "", as_of, api_key_id=self._credentials[0],
                                api_secret_key=self._credentials[1], client=self._clock_client)

    def close(self) -> None:
        self._client._session.close()
        for client in (self._clock_client, self._replay_client):
            if client is not None:
                client.close()

    def __enter__(self) -> "AlpacaAdapter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- replays ---------------------------------------------------------------------------
    def replay(self, intents: Sequence[OrderIntent],
               horizon: datetime) -> list[ReplayAnswer] | None:
        """The intents placed one request each at their decision times, the clock brought to
        ``horizon``, every order read there and the still-open ones canceled (module
        docstring); None without replay_clock. RunnerUnavailableError when the server is down
        or ignores the replay clock."""
        if not intents or not self.replay_clock or not self.base_url:
            return None
        answers: list[ReplayAnswer | None] = [None] * len(intents)
        submitted: dict[int, tuple[Order, float]] = {}  # placed by this replay, as answered
        existing: dict[int, float] = {}  # client_order_id already at the venue
        for n, intent in enumerate(intents):
            cid = intent.client_order_id or ""
            started = time.perf_counter()
            try:
                order = self._replay_submit(intent)
            except OrderRequestError as exc:
                latency = (time.perf_counter() - started) * 1000.0
                if DUPLICATE_CLIENT_ORDER_ID in exc.reason:
                    self._intents.setdefault(cid, intent)
                    existing[n] = latency
                    continue
                answers[n] = ReplayAnswer(None, exc, latency)
                if exc.status_code in (401, 403):  # the venue refuses us: ask nothing more
                    answers[n + 1:] = [ReplayAnswer(None, exc, 0.0)] * (len(intents) - n - 1)
                    return answers  # type: ignore[return-value]
                continue
            except RunnerUnavailableError:
                raise
            except Exception as exc:  # noqa: BLE001 - one intent's surprise is its own answer
                answers[n] = ReplayAnswer(None, exc, (time.perf_counter() - started) * 1000.0)
                continue
            self._intents.setdefault(cid, intent)
            submitted[n] = order, (time.perf_counter() - started) * 1000.0
        self.set_replay_clock(horizon)
        resting = [order for order, _ in submitted.values() if OrderStatus(order.status)
                   not in _FINAL]
        final = self._read_back(resting, horizon)
        still_open: list[tuple[str, str | None]] = []  # (client_order_id, live order id)
        for n, (order, latency) in submitted.items():
            cid = intents[n].client_order_id or ""
            live = final.get(str(order.id), order)
            answer = answers[n] = self._replay_answer(cid, live, latency)
            if answer.state is not None and answer.state.status == "open":
                still_open.append((cid, str(live.id) if live.status != OrderStatus.REPLACED
                                   else None))
        for n, latency in existing.items():
            cid = intents[n].client_order_id or ""
            try:
                answer = ReplayAnswer(self.status(cid), None, latency)
            except RunnerUnavailableError:
                raise
            except Exception as exc:  # noqa: BLE001 - accepted, then unreadable: its answer
                answer = ReplayAnswer(None, exc, latency)
            answers[n] = answer
            if answer.state is not None and answer.state.status == "open":
                still_open.append((cid, None))
        for cid, order_id in still_open:  # judged at the horizon: cancel what still rests
            self._cancel_quietly(cid, order_id)
        return answers  # type: ignore[return-value]

    def _replay_submit(self, intent: OrderIntent) -> Order:
        """``POST /v2/orders`` (alpaca-py's body) at the intent's decision time, one request."""
        cid = intent.client_order_id or ""
        if self._replay_client is None:
            self._replay_client = bounded_client(self._timeout, follow_redirects=False)
        key, secret = self._credentials
        headers = {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret,
                   REPLAY_CLOCK_HEADER: intent.decision_time.isoformat()}
        body = self._order_request(intent).to_request_fields()
        what = f"submit of order {cid!r}"
        try:
            answer = fetch(self._replay_client, "POST", f"{self.base_url}/v2/orders",
                           guard=self.guard, max_body_bytes=_BODY_CAP, record_success=True,
                           json=body, headers=headers)
        except ProviderError as exc:
            raise self._provider_failure(exc, what) from None
        if answer.status_code >= 400:
            raise self._api_failure(answer.status_code, _error_message(answer.text), what)
        try:
            order = Order(**answer.json())
        except (ValueError, TypeError):
            raise RunnerUnavailableError(
                f"{self._where} answered the {what} with something that is not an Alpaca order; "
                "is that URL an Alpaca trading API?") from None
        if order.submitted_at != intent.decision_time:
            raise RunnerUnavailableError(
                f"{self._where} placed order {cid!r} at {order.submitted_at}, not at its "
                f"decision time {intent.decision_time.isoformat()}: it ignores the "
                f"{REPLAY_CLOCK_HEADER} header; only the local paper server "
                "(intel_assets.devtools.alpaca_server) replays")
        return order

    def _read_back(self, resting: list[Order], horizon: datetime) -> dict[str, Order]:
        """The orders in ``resting`` as the venue holds them now: pages of GET /v2/orders over
        their submission window (oldest first), then one GET per order a page missed."""
        wanted = {str(o.id) for o in resting}
        found: dict[str, Order] = {}
        if not wanted:
            return found
        tick = timedelta(microseconds=1)
        after = min(o.submitted_at for o in resting) - tick  # type: ignore[type-var,operator]
        while not wanted <= found.keys():
            page = self._call(lambda: self._client.get_orders(GetOrdersRequest(
                status=QueryOrderStatus.ALL, limit=_PAGE, after=after, until=horizon + tick,
                direction=Sort.ASC, nested=False)), "read-back", "",
                what="read-back of the replayed orders")
            found.update((str(o.id), o) for o in page)
            if len(page) < _PAGE:
                break
            following = page[-1].submitted_at - tick  # type: ignore[operator]
            if following <= after:  # a page of one instant: read the rest one by one
                break
            after = following
        for order_id in wanted - found.keys():
            found[order_id] = self._call(lambda: self._client.get_order_by_id(order_id),
                                         "read-back", order_id, what=f"read-back of {order_id}")
        return found

    def _replay_answer(self, cid: str, order: Order, latency: float) -> ReplayAnswer:
        try:
            chain = self._chain(cid) if order.status == OrderStatus.REPLACED else [order]
            return ReplayAnswer(self._state(cid, chain), None, latency)
        except RunnerUnavailableError:
            raise
        except Exception as exc:  # noqa: BLE001 - accepted, then unreadable: its answer
            return ReplayAnswer(None, exc, latency)

    def _cancel_quietly(self, cid: str, order_id: str | None) -> None:
        """Cancel an order still open at the horizon, by its id when known (one DELETE), else
        by its client_order_id (the outcome is read: a failure only shows as a pinned clock on
        the next replay)."""
        try:
            if order_id is None:
                self.cancel(cid)
            else:
                self._call(lambda: self._client.cancel_order_by_id(order_id), "cancel", cid)
        except Exception:  # noqa: BLE001
            pass

    # ---- orders ---------------------------------------------------------------------------
    def _find(self, client_order_id: str) -> Order | None:
        try:
            return self._call(lambda: self._client.get_order_by_client_id(client_order_id),
                              "look up", client_order_id)
        except OrderNotFoundError:
            return None

    def _chain(self, client_order_id: str) -> list[Order]:
        """The order placed under ``client_order_id`` and every order that replaced it, in order."""
        first = self._find(client_order_id)
        if first is None:
            raise OrderNotFoundError(404, f"no order with client_order_id {client_order_id!r} "
                                          f"at {self._where}")
        chain = [first]
        while chain[-1].status == OrderStatus.REPLACED and chain[-1].replaced_by is not None:
            if len(chain) > _MAX_CHAIN:
                raise RunnerUnavailableError(f"{self._where}: more than {_MAX_CHAIN} replaces of "
                                             f"{client_order_id}; refusing to follow further")
            next_id = chain[-1].replaced_by
            chain.append(self._call(lambda: self._client.get_order_by_id(next_id), "look up",
                                    client_order_id))
        return chain

    @staticmethod
    def _order_request(intent: OrderIntent) -> Any:
        common = dict(symbol=intent.symbol, qty=intent.qty, side=OrderSide(intent.side),
                      time_in_force=TimeInForce(intent.time_in_force),
                      client_order_id=intent.client_order_id)
        try:
            if intent.type == "limit":
                return LimitOrderRequest(**common, limit_price=intent.limit_price)
            if intent.type == "stop":
                return StopOrderRequest(**common, stop_price=intent.stop_price)
            return MarketOrderRequest(**common)
        except ValueError as exc:
            raise OrderRequestError(422, f"alpaca-py refused to build the order: {exc}") from None

    def _intent(self, client_order_id: str, root: Order, live: Order) -> OrderIntent:
        base = self._intents.get(client_order_id)
        fields: dict[str, Any] = base.model_dump() if base is not None else {
            "intent_id": client_order_id, "strategy_id": "alpaca", "symbol": root.symbol,
            "side": _value(root.side), "type": _value(root.type or root.order_type),
            "time_in_force": _value(root.time_in_force), "decision_time": root.submitted_at,
            "client_order_id": client_order_id}
        fields.update(qty=float(live.qty or 0), time_in_force=_value(live.time_in_force),
                      limit_price=None if live.limit_price is None else float(live.limit_price),
                      stop_price=None if live.stop_price is None else float(live.stop_price))
        try:
            return OrderIntent.model_validate(fields)
        except ValueError as exc:
            raise OrderRequestError(422, f"order {client_order_id} at {self._where} is outside "
                                         f"the OrderIntent contract: {exc}") from None

    def _state(self, client_order_id: str, chain: list[Order]) -> OrderState:
        live = chain[-1]
        intent = self._intent(client_order_id, chain[0], live)
        status, fill = _mapped(client_order_id, live)
        return OrderState(client_order_id=client_order_id, status=status, intent=intent,
                          fill=fill, replace_count=len(chain) - 1)

    # ---- errors ---------------------------------------------------------------------------
    def _redacted(self, text: str) -> str:
        for secret in self._credentials:
            text = text.replace(secret, "***")
        return text

    def _provider_failure(self, exc: ProviderError, what: str) -> RunnerUnavailableError:
        """The bounded engine's failure (deadline, run budget, breaker, cap) in plain words."""
        text = f"is unreachable for the {what}" if exc.kind == "transport" else \
            f"failed the {what}"
        return RunnerUnavailableError(self._redacted(f"{self._where} {text}: {exc}"))

    def _api_failure(self, status: int, message: str, what: str) -> ExecutionAdapterError:
        """An Alpaca error answer: unavailable (5xx, 429, no status) or a refusal."""
        if status >= 500 or status == 429 or status == 0:
            return RunnerUnavailableError(self._redacted(
                f"{self._where} failed the {what} (HTTP {status}): {message}"))
        if status == 401:
            message = f"Alpaca refused the API key pair ({message})"
        error = OrderNotFoundError if status == 404 else OrderRequestError
        return error(status, self._redacted(message))

    def _call(self, fn: Callable[[], T], action: str, client_order_id: str,
              what: str | None = None) -> T:
        what = what or f"{action} of order {client_order_id!r}"
        try:
            return fn()
        except ProviderError as exc:  # the bounded engine: deadline, run budget, breaker, cap
            raise self._provider_failure(exc, what) from None
        except APIError as exc:
            raise self._api_failure(exc.status_code or 0, _api_message(exc), what) from None
        except requests.Timeout:
            raise RunnerUnavailableError(f"{self._where} did not answer the {what} within "
                                         f"{self._timeout:g} s") from None
        except ValueError as exc:  # a body that is not JSON or not an Alpaca order
            raise RunnerUnavailableError(
                f"{self._where} answered the {what} with something that is not an Alpaca order "
                f"({type(exc).__name__}); is that URL an Alpaca trading API?") from None
        except requests.RequestException as exc:
            raise RunnerUnavailableError(
                f"{self._where} is unreachable for the {what} ({type(exc).__name__})") from None


def _value(enum_or_str: Any) -> Any:
    return getattr(enum_or_str, "value", enum_or_str)


def _api_message(exc: APIError) -> str:
    return _error_message(str(exc))


def _error_message(text: str) -> str:
    """Alpaca's ``message`` of an error body (the body itself when it has none)."""
    try:
        body = json.loads(text)
        return str(body.get("message") or body)[:300] if isinstance(body, dict) else str(body)[:300]
    except ValueError:
        return text[:300] or "no message"


def _fee(order: Order, qty: Decimal, price: Decimal) -> Decimal:
    """``AlpacaFeeModel``'s fee for a fill of ``qty`` at ``price`` (valued at the fill price)."""
    side = "sell" if _value(order.side) == "sell" else "buy"
    return _FEES.order_fee(OrderFeeParameters(side, "market", qty, price, price))


def _mapped(client_order_id: str, order: Order) -> tuple[str, Fill]:
    """(OrderState.status, Fill) for an Alpaca order (see the module's status mapping)."""
    status = OrderStatus(order.status)
    label = f"Alpaca order {order.id} is {status.value}"
    if status == OrderStatus.FILLED:
        qty, price = to_decimal(order.filled_qty or 0), to_decimal(order.filled_avg_price or 0)
        return "filled", Fill(client_order_id=client_order_id, status="filled",
                              filled_qty=float(qty), avg_fill_price=float(price),
                              fee=float(_fee(order, qty, price)), filled_at=order.filled_at,
                              reason=label)
    if status in _CANCELED:
        return "canceled", Fill(client_order_id=client_order_id, status="canceled", filled_qty=0,
                                reason=label + (" (not filled before it expired, e.g. a day "
                                                "order at the close)"
                                                if status == OrderStatus.EXPIRED else ""))
    if status == OrderStatus.REJECTED:
        return "rejected", Fill(client_order_id=client_order_id, status="rejected", filled_qty=0,
                                reason=label)
    partial = to_decimal(order.filled_qty or 0)
    note = f" ({partial} of {order.qty} filled; partial fills are not modelled)" if partial else ""
    return "open", Fill(client_order_id=client_order_id, status="unfilled", filled_qty=0,
                        reason=label + note)


def set_replay_clock(base_url: str, as_of: datetime, *, api_key_id: str | None = None,
                     api_secret_key: str | None = None, timeout: float = 10.0,
                     client: httpx.Client | None = None) -> datetime:
    """Set the local devtools server's replay clock (``POST /_replay/clock``; not Alpaca's API).

    The server checks credentials on every route, this one included: pass the same key pair as
    the adapter (AlpacaAdapter.set_replay_clock does). ``client`` reuses an httpx.Client (a new
    one per call costs ~50 ms). Returns the instant the server now holds.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    if not base_url:
        raise ValueError("set_replay_clock needs the local server's base_url")
    headers = {"APCA-API-KEY-ID": api_key_id or "", "APCA-API-SECRET-KEY": api_secret_key or ""}
    url = base_url.rstrip("/") + CLOCK_PATH
    try:
        response = (client or httpx).post(url, json={"as_of": as_of.isoformat()}, headers=headers,
                                          timeout=timeout)
    except httpx.HTTPError as exc:
        raise RunnerUnavailableError(f"the replay server at {base_url} is unreachable "
                                     f"({type(exc).__name__})") from None
    if response.status_code >= 500:
        raise RunnerUnavailableError(f"the replay server at {base_url} failed to set the clock "
                                     f"(HTTP {response.status_code})")
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        message = str(body.get("message") if isinstance(body, dict) else "") or response.reason_phrase
        if response.status_code == 401:
            message += " (pass api_key_id/api_secret_key: the server checks them on every route)"
        raise OrderRequestError(response.status_code, f"cannot set the replay clock: {message}")
    if not isinstance(body, dict) or not isinstance(body.get("as_of"), str):
        raise RunnerUnavailableError(f"{base_url}{CLOCK_PATH} is not a replay clock endpoint")
    return datetime.fromisoformat(body["as_of"].replace("Z", "+00:00"))


__all__ = ["AlpacaAdapter", "set_replay_clock"]
