"""Batched parity replays give the outcomes of the per-order replay: a day of mixed intents
(intel_assets.devtools.parity_load: market/limit/stop, day/gtc/ioc) through the LEAN runner's
order-replay backtest and the Alpaca paper server's one-request-per-order replay, against the
same intents one request at a time (Venue batch=False), each over real loopback HTTP on its own
servers. Also: a runner without order replays and a server that ignores the replay clock, and
the order book's skipped scans against a book that evaluates every order on every scan."""

from __future__ import annotations

import re
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import date

import httpx
import pytest
from starlette.responses import JSONResponse

from intel_assets.devtools.alpaca_paper import ORDERS_PATH
from intel_assets.devtools.alpaca_server import ApiResponse, start_alpaca_server
from intel_assets.devtools.asgi import asgi_in_background
from intel_assets.devtools.parity_load import load_decisions
from intel_assets.domain.decisions import MarketTape, validate_decisions
from intel_assets.domain.execution_models.compositions import lean_models
from intel_assets.contracts.execution_errors import OrderRequestError
from intel_assets.execution.alpaca_adapter import AlpacaAdapter
from intel_assets.execution.lean_adapter import LeanAdapter, submit_body
from intel_assets.devtools.lean_runner import lean_runner_in_background
from intel_assets.execution.lean_runner import create_lean_runner_app
from intel_assets.execution.lean_runner_state import RunnerState
from intel_assets.execution.lean_runner_wire import SubmitOrderBody
from intel_assets.execution.parity_replay import Venue, replay_day, replay_horizon, replay_venue
from intel_assets.resources.execution_venue import ExecutionVenueResource

DAY = date(2013, 10, 8)
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMINGS = {"submit_latency_ms", "torghut"}  # wall-clock measurements, not results


@pytest.fixture(scope="module")
def day_of_intents(lean_dir):
    """(decision rows, tape, valid intents, horizon) of 400 mixed decisions on DAY."""
    tape = MarketTape(lean_dir)
    rows = load_decisions(lean_dir, 400, days=[DAY], seed=3, tape=tape)
    valid, rejected = validate_decisions(rows, tape)
    assert not rejected and len(valid) == 400
    return rows, tape, valid, replay_horizon(DAY, valid)


def comparable(outcome) -> dict:
    """An outcome without its timings; venue order ids masked (Alpaca's reason names one)."""
    data = outcome.model_dump(mode="json", exclude=TIMINGS)
    data["reason"] = _ID.sub("<id>", data["reason"] or "")
    return data


def venues(runner_url: str, paper_url: str, batch: bool) -> dict[str, Venue]:
    slots = {"lean": ExecutionVenueResource(kind="lean", base_url=runner_url),
             "alpaca": ExecutionVenueResource(kind="alpaca", base_url=paper_url,
                                              replay_clock=True)}
    return {side: replace(slot.venue(), batch=batch) for side, slot in slots.items()}


def test_a_batched_day_gives_the_outcomes_of_the_per_order_replay(lean_dir, day_of_intents):
    rows, tape, valid, _ = day_of_intents
    with ExitStack() as stack:
        runner = {b: stack.enter_context(lean_runner_in_background(lean_dir)) for b in (1, 0)}
        paper = {b: stack.enter_context(start_alpaca_server(lean_dir=lean_dir)) for b in (1, 0)}
        reports = {}
        for batch in (True, False):
            opened = venues(runner[batch], paper[batch].url, batch)
            try:
                reports[batch] = replay_day(DAY, rows, tape, opened)
            finally:
                for venue in opened.values():
                    venue.close()
        lean_requests = {b: _lean_requests(runner[b]) for b in (1, 0)}
        paper_requests = {b: Counter((r.method, r.path) for r in paper[b].requests)
                          for b in (1, 0)}

    batched, per_order = reports[True], reports[False]
    assert not batched.evidence_problems() and not per_order.evidence_problems()
    by_id = {r.intent_id: r for r in per_order.rows}
    for row in batched.rows:
        other = by_id[row.intent_id]
        for side in ("lean", "alpaca"):
            assert comparable(row.outcome(side)) == comparable(other.outcome(side)), \
                (side, row.intent_id)
        assert (row.status_agree, row.filled_qty_diff, row.fill_price_diff_bps, row.fee_diff) == \
            (other.status_agree, other.filled_qty_diff, other.fill_price_diff_bps, other.fee_diff)
    assert len(batched.rows) == len(per_order.rows) == len(valid)
    s, t = batched.summary, per_order.summary
    assert (s.status_agreement_pct, s.fill_price_drift_bps, s.filled_qty_diff_abs_total,
            s.fee_diff_total) == (t.status_agreement_pct, t.fill_price_drift_bps,
                                  t.filled_qty_diff_abs_total, t.fee_diff_total)
    for side in ("lean", "alpaca"):  # the day exercised resting, expiring and filled orders
        statuses = Counter(r.outcome(side).status for r in batched.rows)
        assert {"filled", "canceled", "unfilled"} <= set(statuses), (side, statuses)
        assert all(r.outcome(side).final and r.outcome(side).submit_latency_ms > 0
                   for r in batched.rows)

    # the batch is what ran: two LEAN requests; one paper request per order plus a few reads
    assert lean_requests[True].get("submit_backtest") == 1
    assert "submit_order" not in lean_requests[True] and "move_clock" not in lean_requests[True]
    assert lean_requests[False]["submit_order"] == len(valid)
    placed = paper_requests[True][("POST", ORDERS_PATH)]
    assert placed == len(valid) and paper_requests[True][("POST", "/_replay/clock")] == 1
    assert sum(paper_requests[True].values()) < 1.1 * len(valid) < \
        sum(paper_requests[False].values()) / 3


def _lean_requests(url: str) -> dict[str, int]:
    return httpx.get(f"{url}/v1/observability").json()["metrics"]["requests_total"]


def test_a_runner_without_order_replays_is_replayed_one_request_per_intent(lean_dir,
                                                                           day_of_intents):
    _, _, valid, horizon = day_of_intents
    day = valid[:60]
    runner_app = create_lean_runner_app(lean_dir)

    async def no_backtests(scope, receive, send):  # a runner whose backtests are not ours
        if scope["type"] == "http" and scope["path"] == "/v1/backtests/submit":
            await JSONResponse({"error": "not_found", "reason": "no such route"},
                               status_code=404)(scope, receive, send)
            return
        await runner_app(scope, receive, send)

    with asgi_in_background(no_backtests, lifespan="off") as refusing:
        adapter = LeanAdapter(refusing)
        assert adapter.replay([v.intent for v in day], horizon) is None
        fallback = replay_venue(Venue(adapter, "lean without order replays",
                                      finish=lambda h: bool(adapter.set_replay_clock(h))),
                                day, horizon)
        adapter.close()
        submits = runner_app.state.runner.metrics.snapshot()["requests_total"]["submit_order"]
    with lean_runner_in_background(lean_dir) as url:
        batched = replay_venue(ExecutionVenueResource(kind="lean", base_url=url).venue(),
                               day, horizon)
    assert submits == len(day)
    assert {k: comparable(v) for k, v in fallback.items()} == \
        {k: comparable(v) for k, v in batched.items()}


def test_a_server_that_ignores_the_replay_clock_makes_the_venue_unavailable(lean_dir,
                                                                            day_of_intents):
    _, _, valid, horizon = day_of_intents
    with start_alpaca_server(lean_dir=lean_dir) as server:
        book = server.server.paper_book

        def placed_now(srv, request):  # Alpaca's POST /v2/orders: no replay clock header
            with book._lock:
                import json

                return ApiResponse(200, book._new_order(json.loads(request.body)).wire())

        server.server.add_route("POST", ORDERS_PATH, placed_now)
        adapter = AlpacaAdapter("key", "secret", base_url=server.url, replay_clock=True)
        adapter.set_replay_clock(valid[0].intent.decision_time.replace(hour=9, minute=45))
        outcomes = replay_venue(Venue(adapter, "paper that ignores the header"), valid[:5],
                                horizon)
        adapter.close()
    assert {o.status for o in outcomes.values()} == {"unavailable"}
    assert all("X-Replay-Clock" in (o.reason or "") for o in outcomes.values())


def test_the_paper_replay_clock_header_refuses_what_the_clock_endpoint_refuses(lean_dir,
                                                                              day_of_intents):
    _, _, valid, horizon = day_of_intents
    resting = next(v.intent for v in valid if v.intent.type == "limit"
                   and v.intent.time_in_force == "gtc")
    with start_alpaca_server(lean_dir=lean_dir) as server:
        adapter = AlpacaAdapter("key", "secret", base_url=server.url, replay_clock=True)
        late = resting.model_copy(update={"client_order_id": "late", "intent_id": "late",
                                          "decision_time": horizon})
        first = adapter.replay([late], horizon.replace(hour=23))
        early = resting.model_copy(update={"client_order_id": "early", "intent_id": "early"})
        adapter.submit(late.model_copy(update={"client_order_id": "held", "intent_id": "held",
                                               "decision_time": horizon}))
        refused = adapter.replay([early], horizon)
        with pytest.raises(OrderRequestError) as per_order:  # the same intent, one at a time
            adapter.submit(early.model_copy(update={"client_order_id": "early-2"}))
        adapter.close()
    assert first is not None and first[0].state is not None
    assert refused is not None and refused[0].state is None
    assert refused[0].error.reason.startswith("cannot set the replay clock: the replay clock "
                                              "cannot move back")
    assert refused[0].error.reason == per_order.value.reason


@dataclass(frozen=True)
class _EveryScan:
    """LEAN's fill model without its clock facts: the book evaluates every order every scan."""

    inner: object

    def fill(self, parameters):
        return self.inner.fill(parameters)


def test_skipped_scans_leave_every_order_as_full_scans_do(lean_dir, day_of_intents):
    _, _, valid, horizon = day_of_intents
    models = lean_models()
    full = replace(models, fill=_EveryScan(models.fill))
    assert full.clock_facts is not None and full.clock_facts(None) is None  # type: ignore[arg-type]
    intents = [(n, v.intent.decision_time, SubmitOrderBody.model_validate(submit_body(v.intent)))
               for n, v in enumerate(valid)]
    skipping = RunnerState(lean_dir, models).replay_orders(intents, horizon)
    everything = RunnerState(lean_dir, full).replay_orders(intents, horizon)
    assert skipping["rejected"] == everything["rejected"] == []

    def without_ids(orders):
        return [{k: v for k, v in o.items() if k not in ("id", "asset_id")} for o in orders]

    assert without_ids(skipping["orders"]) == without_ids(everything["orders"])
    assert len({o["status"] for o in skipping["orders"]}) >= 3


def test_a_venue_down_or_refusing_the_keys_is_unavailable_batched_as_one_at_a_time(
        lean_dir, day_of_intents):
    _, _, valid, horizon = day_of_intents
    day = valid[:20]
    with lean_runner_in_background(lean_dir) as gone:
        pass  # stopped: nothing listens there now
    lean = replay_venue(ExecutionVenueResource(kind="lean", base_url=gone).venue(), day, horizon)
    assert {o.status for o in lean.values()} == {"unavailable"}
    assert all(gone in (o.reason or "") for o in lean.values())
    outcomes = {}
    with start_alpaca_server(lean_dir=lean_dir, api_key_id="right", api_secret_key="keys") as srv:
        for batch in (True, False):
            adapter = AlpacaAdapter("wrong", "keys", base_url=srv.url, replay_clock=True)
            outcomes[batch] = replay_venue(Venue(adapter, "paper", batch=batch), day, horizon)
            adapter.close()
    assert outcomes[True] == outcomes[False]
    assert {o.status for o in outcomes[True].values()} == {"unavailable"}
    assert all("refused the API key pair" in (o.reason or "") for o in outcomes[True].values())
