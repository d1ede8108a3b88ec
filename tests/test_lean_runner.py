"""The reference LEAN runner over real HTTP on 127.0.0.1, driven through LeanAdapter.

Every HTTP exchange made here is checked against ``lean_runner_openapi.yaml`` (status code
declared for the operation, body keys exactly the schema's properties, types/enums/formats).
Prices were read by hand from the raw SPY files (raw normalization, deci-cents / 10,000):
2013-10-07 09:30 bar (``grep ^34200000``): trade O/H/L/C 167.43/167.52/167.41/167.44, quote
bid close 167.44, ask close 167.45; 09:31 bar (``^34260000``): trade 167.47/167.47/167.31/167.37,
ask close 167.38; 2013-10-08 09:30 bar: trade 167.45/167.52/167.40/167.50.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import datetime
from decimal import Decimal as D
from typing import Any, Iterator

import httpx
import pytest
from helpers import LEAN_DIR
import yaml
from pydantic import ValidationError

from intel_assets.contracts.orders import Fill, OrderIntent, OrderState, ReplaceRequest
from intel_assets.execution.adapter import (
    ExecutionAdapter,
    OrderNotFoundError,
    OrderRequestError,
    RunnerUnavailableError,
)
from intel_assets.execution.lean_adapter import LeanAdapter
from intel_assets.execution.lean_runner import (
    OPENAPI_PATH,
    LeanOrderBook,
    create_lean_runner_app,
    lean_runner_in_background,
)

SPEC = yaml.safe_load(OPENAPI_PATH.read_text())
OPEN_0930 = "2013-10-07T09:30:00-04:00"


# --------------------------------------------------------------------------- OpenAPI checking


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        node: Any = SPEC
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _is_type(value: Any, kind: str) -> bool:
    return {"null": value is None, "string": isinstance(value, str),
            "boolean": isinstance(value, bool), "array": isinstance(value, list),
            "object": isinstance(value, dict),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool)}[kind]


def check_schema(value: Any, schema: dict, where: str = "$") -> None:
    schema = _resolve(schema)
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if kinds:
        assert any(_is_type(value, k) for k in kinds), f"{where}: {value!r} is not {kinds}"
    if value is None:
        return
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if schema.get("format") == "date-time":
        assert datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None, where
    if isinstance(value, dict):
        props = schema.get("properties", {})
        assert set(value) == set(props), f"{where}: keys {sorted(value)} != {sorted(props)}"
        for key, item in value.items():
            check_schema(item, props[key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check_schema(item, schema["items"], f"{where}[{i}]")


def check_exchange(response: httpx.Response) -> None:
    path = response.request.url.path
    template = "/orders/{client_order_id}" if path.startswith("/orders/") else path
    operation = SPEC["paths"][template][response.request.method.lower()]
    declared = operation["responses"].get(str(response.status_code))
    assert declared is not None, f"{response.request.method} {template} -> " \
                                 f"{response.status_code} is not in the contract"
    schema = _resolve(declared)["content"]["application/json"]["schema"]
    check_schema(response.json(), schema, f"{response.request.method} {path}")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def runner_url() -> Iterator[str]:
    if not (LEAN_DIR / "equity" / "usa" / "minute" / "spy").is_dir():
        pytest.skip(f"shared LEAN data absent at {LEAN_DIR}: set INTEL_LEAN_DATA_DIR")
    with lean_runner_in_background(LEAN_DIR) as url:
        yield url


@pytest.fixture
def http(runner_url: str) -> Iterator[httpx.Client]:
    """An httpx client whose every response is checked against the OpenAPI contract."""
    seen: list[httpx.Response] = []

    def record(response: httpx.Response) -> None:
        response.read()
        seen.append(response)

    with httpx.Client(base_url=runner_url, timeout=10,
                      event_hooks={"response": [record]}) as client:
        yield client
    assert seen, "a runner test must talk to the runner"
    for response in seen:
        check_exchange(response)


@pytest.fixture
def adapter(runner_url: str, http: httpx.Client) -> LeanAdapter:
    return LeanAdapter(runner_url, client=http)


def intent(**overrides: Any) -> OrderIntent:
    fields: dict[str, Any] = {"intent_id": uuid.uuid4().hex[:12], "strategy_id": "test",
                              "symbol": "spy", "side": "buy", "qty": 10,
                              "decision_time": OPEN_0930}
    return OrderIntent(**{**fields, **overrides})


def raw_intent(**overrides: Any) -> dict[str, Any]:
    return {**intent().model_dump(mode="json"), **overrides}


# --------------------------------------------------------------------------- submit / status


def test_market_buy_fills_whole_qty_at_the_next_bars_ask_close_with_ib_fee(
        adapter: LeanAdapter) -> None:
    state = adapter.submit(intent())
    assert state.status == "filled" and state.fill.status == "filled"
    assert state.fill.filled_qty == 10 and state.fill.avg_fill_price == 167.45
    assert state.fill.fee == 1.0  # 10 x 0.005 = 0.05 -> 1 USD minimum
    assert state.fill.filled_at == datetime.fromisoformat("2013-10-07T09:31:00-04:00")
    assert adapter.status(state.client_order_id) == state
    sell = adapter.submit(intent(side="sell", qty=1000))
    assert (sell.fill.avg_fill_price, sell.fill.fee) == (167.44, 5.0)  # bid close; 1000 x 0.005


def test_submit_is_idempotent_by_client_order_id(adapter: LeanAdapter,
                                                 http: httpx.Client) -> None:
    body = raw_intent()
    before = http.get("/health").json()["orders"]
    first, again = http.post("/orders", json=body), http.post("/orders", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    changed = OrderIntent.model_validate({**body, "qty": 99})  # same client_order_id
    assert adapter.submit(changed).intent.qty == 10  # the existing order, not a new one
    assert http.get("/health").json()["orders"] == before + 1


def test_no_look_ahead_orders_use_the_first_bar_starting_at_or_after_the_decision(
        adapter: LeanAdapter) -> None:
    mid_bar = adapter.submit(intent(decision_time="2013-10-07T09:30:30-04:00"))
    assert mid_bar.evaluated_bar_start == datetime.fromisoformat("2013-10-07T09:31:00-04:00")
    assert mid_bar.fill.avg_fill_price == 167.38  # the 09:31 bar's ask close
    premarket = adapter.submit(intent(decision_time="2013-10-07T08:00:00-04:00"))
    assert premarket.evaluated_bar_start == datetime.fromisoformat(OPEN_0930)


def test_stop_buy_triggers_on_trade_high_and_fills_at_max_stop_ask(adapter: LeanAdapter) -> None:
    state = adapter.submit(intent(type="stop", stop_price=167.50))  # high 167.52 > 167.50
    assert (state.status, state.fill.avg_fill_price) == ("filled", 167.50)  # ask 167.45 lower


# --------------------------------------------------------------------------- replace / cancel


def test_resting_limit_then_replace_to_marketable_fills_at_min_high_limit(
        adapter: LeanAdapter) -> None:
    state = adapter.submit(intent(type="limit", limit_price=167.00))  # low 167.41 not < 167
    assert state.status == "open" and state.fill.status == "unfilled"
    assert "limit not reached" in (state.fill.reason or "")
    replaced = adapter.replace(state.client_order_id, limit_price=167.45)
    assert (replaced.status, replaced.fill.avg_fill_price) == ("filled", 167.45)
    assert replaced.replace_count == 1 and replaced.intent.limit_price == 167.45
    with pytest.raises(OrderRequestError) as err:
        adapter.cancel(state.client_order_id)
    assert err.value.status_code == 409 and "filled" in err.value.reason
    with pytest.raises(OrderRequestError, match="only open orders"):
        adapter.replace(state.client_order_id, qty=5)


def test_replace_as_of_a_later_bar_re_evaluates_there(adapter: LeanAdapter) -> None:
    state = adapter.submit(intent(type="limit", limit_price=167.35))  # 09:30 low 167.41
    assert state.status == "open"
    replaced = adapter.replace(state.client_order_id, qty=20,
                               as_of=datetime.fromisoformat("2013-10-07T09:31:00-04:00"))
    assert replaced.status == "filled" and replaced.fill.filled_qty == 20
    assert replaced.fill.avg_fill_price == 167.35  # 09:31 low 167.31 < 167.35 <= high 167.47


def test_day_orders_expire_but_gtc_orders_can_be_replaced_next_session(
        adapter: LeanAdapter) -> None:
    next_open = datetime.fromisoformat("2013-10-08T09:30:00-04:00")
    day = adapter.submit(intent(type="limit", limit_price=160))
    with pytest.raises(OrderRequestError, match="expired") as err:
        adapter.replace(day.client_order_id, limit_price=170, as_of=next_open)
    assert err.value.status_code == 422
    gtc = adapter.submit(intent(type="limit", limit_price=160, time_in_force="gtc"))
    filled = adapter.replace(gtc.client_order_id, limit_price=170, as_of=next_open)
    assert filled.fill.avg_fill_price == 167.52  # min(high 167.52, 170) on 10-08 09:30


def test_cancel_is_final_and_idempotent(adapter: LeanAdapter) -> None:
    state = adapter.submit(intent(type="limit", limit_price=150))
    canceled = adapter.cancel(state.client_order_id)
    assert canceled.status == "canceled" and canceled.fill.status == "canceled"
    assert adapter.cancel(state.client_order_id) == canceled
    assert adapter.status(state.client_order_id).status == "canceled"
    with pytest.raises(OrderRequestError) as err:
        adapter.replace(state.client_order_id, limit_price=151)
    assert err.value.status_code == 409


def test_ioc_limit_not_filled_on_the_first_bar_is_canceled(adapter: LeanAdapter) -> None:
    state = adapter.submit(intent(type="limit", limit_price=150, time_in_force="ioc"))
    assert state.status == "canceled" and "ioc" in (state.fill.reason or "")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("overrides, status, code, words", [
    ({"symbol": "XYZQ"}, 422, "unknown_symbol", "unknown symbol XYZQ"),
    ({"symbol": "no spaces"}, 422, "invalid_intent", "invalid symbol"),
    ({"qty": 0}, 422, "invalid_intent", "qty must be a finite number > 0"),
    ({"qty": -5}, 422, "invalid_intent", "qty must be a finite number > 0"),
    ({"qty": 1.5}, 422, "invalid_quantity", "lot size"),
    ({"type": "limit"}, 422, "invalid_intent", "limit order needs limit_price"),
    ({"type": "stop"}, 422, "invalid_intent", "stop order needs stop_price"),
    ({"limit_price": 100}, 422, "invalid_intent", "only allowed on limit and stop_limit orders"),
    ({"decision_time": "2013-10-07T09:30:00"}, 422, "invalid_intent", "timezone"),
    ({"decision_time": "2013-10-12T10:00:00-04:00"}, 422, "outside_data", "2013-10-14"),
    ({"decision_time": "2031-01-02T10:00:00-05:00"}, 422, "outside_data", "outside the data"),
    ({"side": "short"}, 422, "invalid_intent", "side"),
    ({"surprise": 1}, 422, "invalid_intent", "surprise"),
])
def test_bad_intents_are_refused_with_a_reason(http: httpx.Client, overrides, status, code,
                                               words) -> None:
    response = http.post("/orders", json=raw_intent(**overrides))
    assert response.status_code == status
    assert response.json()["error"] == code
    assert words in response.json()["reason"]


def test_bad_bodies_and_unknown_orders(http: httpx.Client, adapter: LeanAdapter) -> None:
    assert http.post("/orders", content=b"{not json").status_code == 400
    assert http.post("/orders", json=[1, 2]).json()["error"] == "bad_request"
    with pytest.raises(OrderNotFoundError):
        adapter.status("never-submitted")
    assert http.patch("/orders/never-submitted", json={"qty": 1}).status_code == 404
    assert http.delete("/orders/never-submitted").status_code == 404
    stop = adapter.submit(intent(type="stop", stop_price=200))  # never triggers: rests
    empty = http.patch(f"/orders/{stop.client_order_id}", json={})
    assert empty.status_code == 422 and "qty and/or limit_price" in empty.json()["reason"]
    wrong = http.patch(f"/orders/{stop.client_order_id}", json={"limit_price": 1})
    assert wrong.status_code == 422 and "applies to limit orders" in wrong.json()["reason"]
    with pytest.raises(OrderRequestError, match="unknown symbol") as err:
        adapter.submit(intent(symbol="ZZZZ"))
    assert err.value.status_code == 422


# --------------------------------------------------------------------------- availability


def test_runner_down_raises_runner_unavailable_with_a_plain_message() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = LeanAdapter(f"http://127.0.0.1:{port}", timeout=2)
    calls = [lambda: down.submit(intent()), lambda: down.status("x"), lambda: down.cancel("x"),
             lambda: down.replace("x", qty=1), down.health]
    for call in calls:
        with pytest.raises(RunnerUnavailableError, match=f"127.0.0.1:{port} is unreachable"):
            call()


def test_lean_adapter_is_an_execution_adapter(adapter: LeanAdapter) -> None:
    assert isinstance(adapter, ExecutionAdapter)
    assert adapter.health()["fill_model"] == "LeanEquityFillModel"


# --------------------------------------------------------------------------- contract


def test_contract_paths_match_the_app_routes() -> None:
    app = create_lean_runner_app(LEAN_DIR)
    served = {(route.path, method.lower()) for route in app.routes
              for method in route.methods - {"HEAD"}}
    declared = {(path, method) for path, ops in SPEC["paths"].items()
                for method in ops if method != "parameters"}
    assert served == declared


@pytest.mark.parametrize("model, schema", [(OrderIntent, "OrderIntent"), (Fill, "Fill"),
                                           (OrderState, "OrderState"),
                                           (ReplaceRequest, "ReplaceRequest")])
def test_contract_schemas_match_the_pydantic_models(model, schema) -> None:
    assert set(model.model_fields) == set(SPEC["components"]["schemas"][schema]["properties"])


def test_every_endpoint_answers_in_the_contract_shape(adapter: LeanAdapter,
                                                      http: httpx.Client) -> None:
    created = http.post("/orders", json=raw_intent(type="limit", limit_price=100))
    cid = created.json()["client_order_id"]
    responses = [created, http.get(f"/orders/{cid}"),
                 http.patch(f"/orders/{cid}", json={"qty": 20}),
                 http.delete(f"/orders/{cid}"), http.get("/health")]
    assert [r.status_code for r in responses] == [201, 200, 200, 200, 200]
    for response in responses:  # keys == schema properties, types, enums, formats
        check_exchange(response)


def test_contract_rejects_bad_shapes_directly() -> None:
    with pytest.raises(ValidationError, match="limit order needs limit_price"):
        intent(type="limit")
    with pytest.raises(ValidationError, match="qty"):
        intent(qty=float("nan"))
    made = intent(intent_id="abc", strategy_id="momo v2")
    assert made.client_order_id == "momo_v2-abc" and made.symbol == "SPY"


def test_adjusted_normalization_fills_at_lean_backtest_prices() -> None:
    if not (LEAN_DIR / "equity" / "usa" / "minute" / "spy").is_dir():
        pytest.skip(f"shared LEAN data absent at {LEAN_DIR}: set INTEL_LEAN_DATA_DIR")
    book = LeanOrderBook(LEAN_DIR, normalization="adjusted")
    state, created = book.submit(intent())
    assert created and D(str(state.fill.avg_fill_price)) == D("167.45") * D("0.8646266")


def test_an_internal_error_is_a_json_500_not_a_dropped_connection() -> None:
    app = create_lean_runner_app(LEAN_DIR)

    def broken(_intent: OrderIntent) -> None:
        raise RuntimeError("simulated bug")

    app.state.book.submit = broken

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://runner") as client:
            return await client.post("/orders", json=raw_intent())

    response = asyncio.run(post())
    assert response.status_code == 500
    assert response.json() == {"error": "internal", "reason": "RuntimeError: simulated bug"}
