"""The reference LEAN runner over real HTTP on 127.0.0.1: Torghut's LEAN runner contract v2.

Every exchange made through the ``http`` fixture is checked against ``lean_runner_openapi.yaml``
(tests/lean_contract.py). Raw SPY prices were read by hand from the shared files (deci-cents /
10,000; ``unzip -p equity/usa/minute/spy/20131007_trade.zip | grep ^34200000``), New York
bar starts, 2013-10-07: 09:30 trade O/H/L/C 167.43/167.52/167.41/167.44, bid/ask close
167.44/167.45; 09:31 trade 167.47/167.47/167.31/167.37, ask close 167.38; 09:32 trade
167.37/167.37/167.25/167.28; 09:34 trade 167.42/167.53/167.41/167.50.
"""

from __future__ import annotations

import socket
import time
import uuid
from datetime import datetime
from typing import Any, Iterator

import httpx
import pytest
from helpers import LEAN_DIR
from lean_contract import SPEC, check_exchange
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from torghut_lean_client import TorghutLikeLeanClient

from intel_assets.contracts.orders import OrderIntent
from intel_assets.devtools.asgi import asgi_in_background
from intel_assets.execution.adapter import ExecutionAdapter
from intel_assets.contracts.execution_errors import (
    OrderNotFoundError,
    OrderRequestError,
    RunnerUnavailableError,
)
from intel_assets.execution.lean_adapter import LeanAdapter
from intel_assets.devtools.lean_runner import lean_runner_in_background
from intel_assets.execution.lean_runner import create_lean_runner_app
from intel_assets.execution.lean_runner_wire import (
    BacktestSubmitBody,
    ClockBody,
    ReplaceOrderBody,
    ShadowSimulateBody,
    SubmitOrderBody,
)

MONDAY = "2013-10-07"


def at(hhmm: str, day: str = MONDAY) -> str:
    return f"{day}T{hhmm}-04:00"


@pytest.fixture
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


def clock(http: httpx.Client, when: str) -> dict[str, Any]:
    answer = http.post("/v1/clock", json={"as_of": when})
    assert answer.status_code == 200, answer.text
    return answer.json()


def submit(http: httpx.Client, cid: str | None = None, headers: dict | None = None,
           **fields: Any) -> httpx.Response:
    body = {"symbol": "SPY", "side": "buy", "qty": 10, "order_type": "market",
            "time_in_force": "day", "limit_price": None, "stop_price": None,
            "extra_params": {} if cid is None else {"client_order_id": cid}}
    body.update(fields)
    return http.post("/v1/orders/submit", json=body, headers=headers or {})


# --------------------------------------------------------------------------- Torghut's client


def test_a_torghut_like_client_submits_reads_lists_replays_and_cancels(http, runner_url):
    """Reproduces the calls and checks of proompteng/lab 255d330fe
    services/torghut/app/trading/execution_adapters.py LeanExecutionAdapter (restated in
    tests/torghut_lean_client.py) against the runner."""
    torghut = TorghutLikeLeanClient(runner_url)
    assert torghut.healthy()
    clock(http, at("09:31"))
    market = torghut.submit_order("SPY", "buy", 10, "market", "day",
                                  extra_params={"client_order_id": "torghut-m1"})
    assert (market["status"], market["filled_avg_price"]) == ("filled", "167.45")
    assert market["_lean_contract_version"] == "v2"
    audit = market["_lean_audit"]
    assert audit["idempotency_key"] == "torghut-m1" and not audit["idempotent_replay"]
    assert audit["correlation_id"].startswith("torghut-")
    assert audit["correlation_id"] == torghut.last_headers["X-Correlation-ID"]
    assert torghut.get_order(market["id"])["client_order_id"] == "torghut-m1"
    assert torghut.get_order_by_client_order_id("torghut-m1")["id"] == market["id"]

    resting = torghut.submit_order("SPY", "buy", 10, "limit", "day", limit_price=160.0,
                                   extra_params={"client_order_id": "torghut-l1"})
    again = torghut.submit_order("SPY", "buy", 10, "limit", "day", limit_price=160.0,
                                 extra_params={"client_order_id": "torghut-l1"})
    assert again["id"] == resting["id"] and again["_lean_audit"]["idempotent_replay"] is True
    assert [o["id"] for o in torghut.list_orders("open")] == [resting["id"]]
    assert len(torghut.list_orders("all")) == 2 and len(torghut.list_orders("closed")) == 1
    assert torghut.cancel_order(resting["id"]) is True
    assert torghut.get_order(resting["id"])["status"] == "canceled"
    assert torghut.cancel_order(market["id"]) is False  # filled: cannot be canceled
    assert torghut.get_order_by_client_order_id("never-sent") is None
    assert torghut.cancel_all_orders() == []


# --------------------------------------------------------------------------- fills and time


def test_a_market_order_fills_on_the_bar_that_closed_at_the_order_time(http):
    """LEAN: the latest data at or before the order time (v1 of this runner filled one bar
    late, at the 09:31 bar's ask 167.38)."""
    clock(http, at("09:31:00"))
    order = submit(http, "m-0931").json()
    assert (order["filled_avg_price"], order["filled_at"]) == ("167.45", "2013-10-07T13:31:00Z")
    assert order["_lean_execution"]["fee"] == "1"  # 10 x 0.005 -> the USD 1 minimum
    clock(http, at("09:31:40"))
    mid_bar = submit(http, "m-093140", side="sell").json()
    assert mid_bar["filled_avg_price"] == "167.44"  # still the bar that closed at 09:31: bid


def test_a_resting_limit_is_evaluated_on_every_bar_up_to_the_clock(http):
    clock(http, at("09:31"))
    order = submit(http, "l-rest", order_type="limit", limit_price=167.30).json()
    assert order["status"] == "new"  # the 09:31 bar is the next one: not evaluated yet
    moved = clock(http, at("09:40"))
    assert [o["id"] for o in moved["orders"]] == [order["id"]]
    filled = moved["orders"][0]
    # 09:31 bar low 167.31 does not reach it; the 09:32 bar (low 167.25, open 167.37) does
    assert (filled["status"], filled["filled_avg_price"]) == ("filled", "167.3")
    assert filled["filled_at"] == "2013-10-07T13:33:00Z"
    assert http.get(f"/v1/orders/{order['id']}").json()["status"] == "filled"


def test_day_orders_expire_at_the_close_gtc_orders_stay(http):
    clock(http, at("10:00"))
    day = submit(http, "day-1", order_type="limit", limit_price=160).json()
    gtc = submit(http, "gtc-1", order_type="limit", limit_price=160, time_in_force="gtc").json()
    clock(http, at("15:59"))
    assert http.get(f"/v1/orders/{day['id']}").json()["status"] == "new"
    moved = clock(http, at("16:00"))
    expired = http.get(f"/v1/orders/{day['id']}").json()
    assert expired["status"] == "expired" and expired["expired_at"] == "2013-10-07T20:00:00Z"
    assert [o["id"] for o in moved["orders"]] == [day["id"]]
    clock(http, at("09:31", "2013-10-08"))
    assert http.get(f"/v1/orders/{gtc['id']}").json()["status"] == "new"


def test_replace_changes_the_stop_in_place_and_is_evaluated_at_once(http):
    clock(http, at("09:31"))
    stop = submit(http, "s-1", order_type="stop", stop_price=168).json()
    clock(http, at("09:35"))
    assert http.get(f"/v1/orders/{stop['id']}").json()["status"] == "new"
    replaced = http.post(f"/v1/orders/{stop['id']}/replace", json={"stop_price": "167.40"}).json()
    # the bar that closed at 09:35 opened at 167.42 >= the new stop: unfavourable gap, the open
    assert (replaced["id"], replaced["status"], replaced["filled_avg_price"]) == (
        stop["id"], "filled", "167.42")
    assert replaced["_lean_execution"]["update_count"] == 1
    again = http.post(f"/v1/orders/{stop['id']}/replace", json={"stop_price": 167})
    assert again.status_code == 409 and "filled" in again.json()["reason"]
    limit = submit(http, "s-2", order_type="limit", limit_price=150).json()
    wrong = http.post(f"/v1/orders/{limit['id']}/replace", json={"stop_price": 150})
    assert wrong.status_code == 422 and "stop price applies" in wrong.json()["reason"]
    bigger = http.post(f"/v1/orders/{limit['id']}/replace", json={"qty": 20, "limit_price": 151})
    assert (bigger.json()["qty"], bigger.json()["limit_price"]) == ("20", "151")


def test_the_same_idempotency_key_is_the_same_order_never_a_second_one(http):
    clock(http, at("09:31"))
    first = submit(http, "idem-1").json()
    changed = submit(http, "idem-1", qty=99).json()  # same key (the client_order_id)
    assert changed["id"] == first["id"] and changed["qty"] == "10"
    assert changed["_lean_audit"]["idempotent_replay"] is True
    keyed = submit(http, "idem-2", headers={"Idempotency-Key": "k-2"}).json()
    assert submit(http, "idem-3", headers={"Idempotency-Key": "k-2"}).json()["id"] == keyed["id"]
    clash = submit(http, "idem-2", headers={"Idempotency-Key": "k-other"})
    assert clash.status_code == 409 and "already used" in clash.json()["reason"]
    anonymous = submit(http, order_type="limit", limit_price=150).json()
    assert submit(http, order_type="limit", limit_price=150).json()["id"] == anonymous["id"]
    assert len(http.get("/v1/orders").json()["orders"]) == 3


@pytest.mark.parametrize("fields, code, words", [
    ({"symbol": "XYZQ"}, "unknown_symbol", "unknown symbol XYZQ"),
    ({"symbol": "no spaces"}, "invalid_request", "invalid symbol"),
    ({"qty": 0}, "invalid_order", "qty must be a finite number > 0"),
    ({"qty": "-5"}, "invalid_order", "qty must be a finite number > 0"),
    ({"qty": "ten"}, "invalid_order", "qty must be a number"),
    ({"qty": 1.5}, "order_rejected", "lot size"),
    ({"qty": True}, "invalid_request", "must be a number or a decimal string, not true"),
    ({"qty": 1e28}, "invalid_order", "exceeds the largest order accepted"),  # was a 500
    ({"qty": "1e27"}, "invalid_order", "INTEL_MAX_ORDER_QTY"),  # was a 5e24 USD fee
    ({"order_type": "limit", "limit_price": 1e30}, "invalid_order", "INTEL_MAX_ORDER_PRICE"),
    ({"order_type": "limit"}, "invalid_order", "limit order needs a limit price"),
    ({"order_type": "stop"}, "invalid_order", "stop order needs a stop price"),
    ({"order_type": "iceberg"}, "invalid_order", "order_type must be one of"),
    ({"limit_price": 100}, "invalid_order", "only allowed on limit and stop_limit"),
    ({"order_type": "limit", "limit_price": 1, "time_in_force": "opg"}, "invalid_order",
     "applies to market orders"),
    ({"order_type": "limit", "limit_price": 1, "time_in_force": "gtd"}, "invalid_order",
     "expire_date"),
    ({"order_type": "trailing_stop", "stop_price": 170}, "invalid_order", "trail_percent"),
    ({"extra_params": {"client_order_id": "-bad id"}}, "invalid_order", "client_order_id"),
    ({"side": "short"}, "invalid_request", "side"),
    ({"surprise": 1}, "invalid_request", "surprise"),
])
def test_bad_orders_are_refused_with_a_reason(http, fields, code, words):
    clock(http, at("10:00"))
    response = submit(http, f"bad-{uuid.uuid4().hex[:6]}", **fields)
    assert response.status_code == 422, response.text
    assert (response.json()["error"], words in response.json()["reason"]) == (code, True)


def test_a_replace_beyond_the_order_bounds_is_refused_and_the_order_kept(http):
    clock(http, at("09:31"))
    resting = submit(http, "big-1", order_type="limit", limit_price=150, time_in_force="gtc").json()
    huge = http.post(f"/v1/orders/{resting['id']}/replace", json={"qty": 1e28})
    assert huge.status_code == 422 and "INTEL_MAX_ORDER_QTY" in huge.json()["reason"]
    kept = http.get(f"/v1/orders/{resting['id']}").json()
    assert (kept["status"], kept["qty"], kept["replaced_by"]) == ("new", "10", None)


def test_orders_outside_the_data_and_bad_bodies(http):
    clock(http, at("16:30", "2013-10-11"))
    outside = submit(http, "late")
    assert outside.status_code == 422 and "2013-10-14" in outside.json()["reason"]
    assert http.post("/v1/orders/submit", content=b"{not json").status_code == 400
    assert http.post("/v1/orders/submit", json=[1, 2]).json()["error"] == "bad_request"
    assert http.post("/v1/clock", json={"as_of": "2013-10-07T10:00:00"}).status_code == 422
    for path in ("/v1/orders/nope", "/v1/orders/client/nope", "/v1/backtests/nope"):
        assert http.get(path).status_code == 404
    assert http.post("/v1/orders/nope/cancel").status_code == 404
    assert http.post("/v1/orders/nope/replace", json={"qty": 1}).status_code == 404
    bogus = http.get("/v1/orders", params={"status": "bogus"})
    assert bogus.status_code == 422 and "open, closed, all" in bogus.json()["reason"]


def test_a_replay_clock_moves_back_without_re_evaluating_orders(http):
    clock(http, at("09:31"))
    resting = submit(http, "r-1", order_type="limit", limit_price=150, time_in_force="gtc").json()
    clock(http, at("12:00"))
    back = clock(http, at("09:31"))  # replay an earlier period
    assert back["now"] == "2013-10-07T13:31:00Z" and back["previous"] == "2013-10-07T16:00:00Z"
    early = submit(http, "r-2", order_type="limit", limit_price=167.30).json()
    moved = clock(http, at("09:40"))
    assert [o["id"] for o in moved["orders"]] == [early["id"]]  # the resting one waits
    assert http.get(f"/v1/orders/{resting['id']}").json()["status"] == "new"


def test_a_live_runner_refuses_clock_moves_and_orders_outside_its_data():
    if not (LEAN_DIR / "equity" / "usa" / "minute" / "spy").is_dir():
        pytest.skip(f"shared LEAN data absent at {LEAN_DIR}")
    with lean_runner_in_background(LEAN_DIR, live=True) as url, httpx.Client(base_url=url) as c:
        assert c.get("/v1/clock").json()["mode"] == "live"
        refused = c.post("/v1/clock", json={"as_of": at("10:00")})
        assert refused.status_code == 409 and "live clock" in refused.json()["reason"]
        order = c.post("/v1/orders/submit", json={"symbol": "SPY", "side": "buy", "qty": 1})
        assert order.status_code == 422 and "outside the data" in order.json()["reason"]


# --------------------------------------------------------------------------- observability


def test_observability_counts_requests_failures_and_latency_by_operation(http):
    clock(http, at("09:31"))
    submit(http, "o-1")
    submit(http, "o-2", symbol="XYZQ")
    http.get("/v1/orders/nope")
    metrics = http.get("/v1/observability").json()["metrics"]
    assert metrics["requests_total"]["submit_order"] == 2
    assert metrics["failures_total"] == {"submit_order:http_422": 1, "get_order:http_404": 1}
    assert metrics["latency_ms_avg"]["submit_order"] >= 0
    histogram = metrics["latency_ms_histogram"]["submit_order"]
    assert histogram["count"] == 2 and histogram["buckets"]["+Inf"] == 2
    counts = list(histogram["buckets"].values())
    assert counts == sorted(counts), "bucket counts are cumulative, as Prometheus counts them"
    assert http.get("/healthz").json()["status"] == "ok"


# --------------------------------------------------------------------------- shadow


def test_shadow_simulate_prices_the_order_with_leans_models_now(http):
    clock(http, at("09:31"))
    torghut_body = {"symbol": "SPY", "side": "buy", "qty": 10, "order_type": "market",
                    "time_in_force": "day", "limit_price": None, "intent_price": None}
    shadow = http.post("/v1/shadow/simulate", json=torghut_body).json()
    assert (shadow["simulated_fill_price"], shadow["simulated_fee"]) == ("167.45", "1")
    assert shadow["arrival_price"] == "167.445"  # mid of bid 167.44 / ask 167.45
    assert shadow["simulated_slippage_bps"] == pytest.approx(0.005 / 167.445 * 1e4, abs=1e-4)
    assert shadow["parity_status"] == "pass"
    priced = http.post("/v1/shadow/simulate", json={**torghut_body, "intent_price": 167.35}).json()
    assert priced["arrival_source"] == "intent_price"
    assert priced["simulated_slippage_bps"] == pytest.approx(0.10 / 167.35 * 1e4, abs=1e-4)
    assert priced["parity_status"] == "drift" and priced["failure_taxonomy"]
    limit = http.post("/v1/shadow/simulate", json={**torghut_body, "order_type": "limit",
                                                   "limit_price": 167.42}).json()
    assert limit["simulated_fill_price"] == "167.42"  # 09:30 bar: low 167.41, opened above
    missed = http.post("/v1/shadow/simulate", json={**torghut_body, "order_type": "limit",
                                                    "limit_price": 167}).json()
    assert (missed["would_fill"], missed["parity_status"]) == (False, "no_fill")
    assert http.get("/v1/orders").json()["orders"] == []  # a simulation places nothing


# --------------------------------------------------------------------------- backtests


def finished_backtest(http: httpx.Client, backtest_id: str, timeout: float = 30) -> dict:
    """The backtest once it left queued/running (backtests run on the runner's worker)."""
    deadline = time.monotonic() + timeout
    while True:
        record = http.get(f"/v1/backtests/{backtest_id}").json()
        if record["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return record
        time.sleep(0.05)


def test_backtests_are_identified_by_their_config_and_refuse_bad_ones(http):
    config = {"cash": 100000, "normalization": "raw", "intents": [
        {"at": at("09:31"), "symbol": "SPY", "side": "buy", "qty": 100},
        {"at": at("15:00"), "symbol": "SPY", "side": "sell", "qty": 100}]}
    first = http.post("/v1/backtests/submit", json={"lane": "research", "config": config}).json()
    again = http.post("/v1/backtests/submit", json={"lane": "research", "config": config}).json()
    assert first["backtest_id"] == again["backtest_id"] and first["status"] in ("queued",
                                                                                 "running")
    result = finished_backtest(http, first["backtest_id"])["result"]
    assert result["statistics"]["Total Orders"] == "2" and result["summary"]["trade_count"] == 2
    assert result["orders"][0]["fill_price"] == "167.45"  # the bar that closed at 09:31
    assert result["summary"]["net_pnl"] == pytest.approx(
        result["summary"]["gross_pnl"] - 2.0)  # two USD 1 minimum fees
    bad = http.post("/v1/backtests/submit", json={"config": {"intents": []}})
    assert bad.status_code == 400 and "intents" in bad.json()["reason"]
    unknown = http.post("/v1/backtests/submit", json={"config": {"intents": [
        {**config["intents"][0], "symbol": "XYZQ"}]}})
    assert unknown.status_code == 400 and "XYZQ" in unknown.json()["reason"]


def test_an_order_replay_answers_what_the_order_endpoints_would_and_places_nothing():
    """config kind order_replay: each intent placed as POST /v1/orders/submit on a clock moved
    to its time would be, every order read at read_at as GET /v1/orders/{id} would answer it,
    refusals as the submit's; on a scratch book (the runner's orders and clock stay as they
    are). Checked against the contract, and against the same requests one at a time."""
    read_at = at("16:30")
    intents = [
        {"at": at("09:31"), "symbol": "SPY", "side": "buy", "qty": 10,
         "extra_params": {"client_order_id": "replay-market"}},
        {"at": at("09:31:30"), "symbol": "SPY", "side": "buy", "qty": 10,
         "order_type": "limit", "limit_price": 167.30, "time_in_force": "gtc",
         "extra_params": {"client_order_id": "replay-limit"}},
        {"at": at("09:32"), "symbol": "XYZQ", "side": "buy", "qty": 1,
         "extra_params": {"client_order_id": "replay-unknown"}},
        {"at": at("09:33"), "symbol": "SPY", "side": "buy", "qty": 0,
         "extra_params": {"client_order_id": "replay-zero"}},
        {"at": at("10:00"), "symbol": "SPY", "side": "sell", "qty": 5, "order_type": "limit",
         "limit_price": 999, "extra_params": {"client_order_id": "replay-day"}}]
    config = {"kind": "order_replay", "read_at": read_at, "intents": intents}
    seen: list[httpx.Response] = []
    with lean_runner_in_background(LEAN_DIR) as url, httpx.Client(
            base_url=url, timeout=10, event_hooks={"response": [
                lambda r: (r.read(), seen.append(r))]}) as runner:
        before = runner.get("/v1/clock").json()
        accepted = runner.post("/v1/backtests/submit", json={"lane": "shadow_replay",
                                                             "config": config}).json()
        again = runner.post("/v1/backtests/submit", json={"lane": "shadow_replay",
                                                          "config": config}).json()
        record = runner.get(f"/v1/backtests/{accepted['backtest_id']}").json()
        assert runner.get("/v1/orders").json()["orders"] == [], "nothing placed in the book"
        assert runner.get("/v1/clock").json() == before, "the runner's clock did not move"
        one_at_a_time = {}
        for item in intents:  # the same requests, one at a time, on the runner itself
            clock(runner, item["at"])
            body = {k: v for k, v in item.items() if k != "at"}
            answer = runner.post("/v1/orders/submit", json=body, headers={
                "Idempotency-Key": body["extra_params"]["client_order_id"]})
            one_at_a_time[body["extra_params"]["client_order_id"]] = answer
        clock(runner, read_at)
        reads = {cid: runner.get(f"/v1/orders/client/{cid}").json()
                 for cid, answer in one_at_a_time.items() if answer.status_code == 200}
    for response in seen:
        check_exchange(response)
    assert again["backtest_id"] == accepted["backtest_id"] and record["status"] == "completed"
    result = record["result"]
    assert result["kind"] == "order_replay" and result["engine"]["normalization"] == "raw"
    replayed = {o["client_order_id"]: o for o in result["orders"]}
    assert set(replayed) == set(reads) == {"replay-market", "replay-limit", "replay-day"}
    for cid, order in reads.items():
        assert {k: v for k, v in replayed[cid].items() if k != "id"} == \
            {k: v for k, v in order.items() if k != "id"}, cid
    assert [(r["index"], r["client_order_id"], r["status_code"], r["error"]) for r in
            result["rejected"]] == [(2, "replay-unknown", 422, "unknown_symbol"),
                                    (3, "replay-zero", 422, "invalid_order")]
    for refusal in result["rejected"]:
        assert refusal["reason"] == one_at_a_time[refusal["client_order_id"]].json()["reason"]
    assert (replayed["replay-market"]["status"], replayed["replay-day"]["status"]) == (
        "filled", "expired")


# --------------------------------------------------------------------------- LeanAdapter


def intent(**overrides: Any) -> OrderIntent:
    fields: dict[str, Any] = {"intent_id": uuid.uuid4().hex[:12], "strategy_id": "test",
                              "symbol": "spy", "side": "buy", "qty": 10,
                              "decision_time": at("09:31")}
    return OrderIntent(**{**fields, **overrides})


def test_lean_adapter_speaks_v2_and_keeps_the_execution_adapter_protocol(http, runner_url):
    adapter = LeanAdapter(runner_url, client=http)
    assert isinstance(adapter, ExecutionAdapter) and adapter.replay_clock
    state = adapter.submit(intent())  # moves the replay clock to the decision time first
    assert (state.status, state.fill.avg_fill_price, state.fill.fee) == ("filled", 167.45, 1.0)
    assert state.fill.filled_at == datetime.fromisoformat(at("09:31"))
    assert adapter.status(state.client_order_id) == state
    assert adapter.submit(intent(intent_id=state.intent.intent_id, qty=99)).intent.qty == 10
    resting = adapter.submit(intent(type="limit", limit_price=167.0,
                                    decision_time=at("09:32")))
    assert resting.status == "open" and resting.fill.status == "unfilled"
    replaced = adapter.replace(resting.client_order_id, limit_price=167.3,
                               as_of=datetime.fromisoformat(at("09:33")))
    assert (replaced.status, replaced.fill.avg_fill_price) == ("filled", 167.3)
    assert replaced.replace_count == 1
    with pytest.raises(OrderRequestError) as err:
        adapter.cancel(replaced.client_order_id)
    assert err.value.status_code == 409 and "filled" in err.value.reason
    day = adapter.submit(intent(type="limit", limit_price=150, decision_time=at("15:00")))
    adapter.set_replay_clock(datetime.fromisoformat(at("16:01")))
    expired = adapter.status(day.client_order_id)
    assert expired.status == "canceled" and "expired" in (expired.fill.reason or "")
    gtc = adapter.submit(intent(type="stop", stop_price=200, time_in_force="gtc",
                                decision_time=at("16:30")))
    canceled = adapter.cancel(gtc.client_order_id)
    assert canceled.status == "canceled" and adapter.cancel(gtc.client_order_id) == canceled
    with pytest.raises(OrderNotFoundError):
        adapter.status("never-submitted")
    with pytest.raises(OrderRequestError, match="unknown symbol") as unknown:
        adapter.submit(intent(symbol="ZZZZ"))
    assert unknown.value.status_code == 422


def test_lean_adapter_reports_a_down_or_foreign_runner_as_unavailable():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = LeanAdapter(f"http://127.0.0.1:{port}", timeout=2, replay_clock=False)
    for call in (lambda: down.submit(intent()), lambda: down.status("x"),
                 lambda: down.cancel("x"), lambda: down.replace("x", qty=1), down.health):
        with pytest.raises(RunnerUnavailableError, match=f"127.0.0.1:{port} is unreachable"):
            call()

    async def not_an_order(request):  # some other service answering 200
        return JSONResponse({"ok": True, "symbol": "SPY"})

    foreign = Starlette(routes=[Route("/v1/orders/submit", not_an_order, methods=["POST"])])
    with asgi_in_background(foreign, lifespan="off") as url:
        with pytest.raises(RunnerUnavailableError, match="breaks contract v2.*missing id"):
            LeanAdapter(url, replay_clock=False).submit(intent())


# --------------------------------------------------------------------------- contract


def test_contract_paths_match_the_app_routes() -> None:
    app = create_lean_runner_app(LEAN_DIR)
    served = {(route.path, method.lower()) for route in app.routes
              for method in route.methods - {"HEAD"}}
    declared = {(path, method) for path, ops in SPEC["paths"].items()
                for method in ops if method != "parameters"}
    assert served == declared


@pytest.mark.parametrize("model, schema", [
    (SubmitOrderBody, "SubmitOrderBody"), (ReplaceOrderBody, "ReplaceOrderBody"),
    (ClockBody, "ClockBody"), (ShadowSimulateBody, "ShadowSimulateBody"),
    (BacktestSubmitBody, "BacktestSubmitBody")])
def test_contract_request_bodies_match_the_models(model, schema) -> None:
    assert set(model.model_fields) == set(SPEC["components"]["schemas"][schema]["properties"])


def test_doctor_checks_the_runners_healthz(runner_url) -> None:
    from intel_assets.cli.doctor import check_lean_runner

    result = check_lean_runner({"INTEL_LEAN_RUNNER_URL": runner_url}, timeout=5)
    assert result.ok and "answers HTTP 200" in result.detail


def test_the_intel_assets_lean_runner_command_serves_torghuts_client(tmp_path) -> None:
    """proompteng/lab 255d330fe services/torghut/app/trading/execution_adapters.py, against the
    real ``intel-assets lean-runner`` process (replay clock from --as-of)."""
    import subprocess
    import sys
    import time

    if not (LEAN_DIR / "equity" / "usa" / "minute" / "spy").is_dir():
        pytest.skip(f"shared LEAN data absent at {LEAN_DIR}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "intel_assets.cli", "lean-runner", "--lean-dir",
               str(LEAN_DIR), "--port", str(port), "--as-of", at("09:31")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        torghut = TorghutLikeLeanClient(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        while not torghut.healthy():
            assert process.poll() is None and time.monotonic() < deadline, "runner did not start"
            time.sleep(0.1)
        market = torghut.submit_order("SPY", "buy", 10, "market", "day",
                                      extra_params={"client_order_id": "cli-m"})
        limit = torghut.submit_order("SPY", "buy", 10, "limit", "gtc", limit_price=150.0,
                                     extra_params={"client_order_id": "cli-l"})
        again = torghut.submit_order("SPY", "buy", 10, "limit", "gtc", limit_price=150.0,
                                     extra_params={"client_order_id": "cli-l"})
        assert market["filled_avg_price"] == "167.45" and again["id"] == limit["id"]
        assert torghut.get_order_by_client_order_id("cli-l")["status"] == "new"
        assert torghut.cancel_order(limit["id"]) is True
        assert [o["status"] for o in torghut.list_orders("all")] == ["filled", "canceled"]
    finally:
        process.terminate()
        process.wait(timeout=10)
