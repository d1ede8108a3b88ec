"""No provider outlasts its budget (issue 12, finding 2): the bounded HTTP engine, Alpaca trading
and the LEAN runner adapter against real misbehaving servers on 127.0.0.1 (tests/slow_http.py).

Every server drips bytes faster than the per-read timeout, so a per-read timeout alone would
never fire (that is how a news fetch once ran 156 s against a 60 s budget); the asserted times
are bounds with generous margins, not speed targets.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
import requests
from slow_http import SlowServer, elapsed

from intel_assets.bounded_http import (
    BoundedRequestsAdapter,
    CircuitOpen,
    ProviderGuard,
    ProviderTimeout,
    ResponseTooLarge,
    RunBudgetExhausted,
    bounded_client,
    fetch,
    mount_bounded,
)
from intel_assets.contracts.orders import OrderIntent
from intel_assets.contracts.execution_errors import RunnerUnavailableError
from intel_assets.execution.alpaca_adapter import AlpacaAdapter
from intel_assets.execution.lean_adapter import LeanAdapter

MARGIN = 2.0  # seconds of slack on every wall-clock bound (loaded 2-core CI machines)
AS_OF = datetime.fromisoformat("2013-10-11T15:59:00-04:00").astimezone(timezone.utc)
KEY, SECRET = "PKTESTKEYID0001", "s3cr3t-NEVER-SHOW-ME"


def guard(request_seconds: float = 1.0, run_seconds: float | None = 60.0, failures=3):
    return ProviderGuard("test provider", request_seconds=request_seconds,
                         run_seconds=run_seconds, max_consecutive_failures=failures)

# ---- the engine --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["drip_headers", "drip_body", "hang"])
def test_a_request_ends_at_its_wall_clock_deadline_whatever_the_server_sends(mode):
    with SlowServer(mode, interval=0.2) as server, bounded_client(5.0) as client:
        took, error = elapsed(lambda: fetch(client, "GET", server.url + "/x",
                                            guard=guard(request_seconds=1.0), max_body_bytes=10**6))
    assert isinstance(error, ProviderTimeout), error
    assert "within 1 s (wall clock)" in str(error)
    assert 0.9 <= took <= 1.0 + MARGIN  # the per-read timeout (5 s) never fired: 0.2 s drips


def test_the_run_deadline_cuts_a_request_and_refuses_the_next():
    g = guard(request_seconds=10.0, run_seconds=1.5)
    with SlowServer("drip_body", interval=0.2) as server, bounded_client(10.0) as client:
        took, error = elapsed(lambda: fetch(client, "GET", server.url, guard=g, max_body_bytes=10**6))
        assert isinstance(error, RunBudgetExhausted) and took <= 1.5 + MARGIN
        took, error = elapsed(lambda: fetch(client, "GET", server.url, guard=g, max_body_bytes=10**6))
        assert isinstance(error, RunBudgetExhausted) and took < 0.5
        assert server.connections == 1  # the second request was never sent


def test_bodies_over_the_cap_are_refused_declared_or_streamed():
    with bounded_client(5.0) as client:
        with SlowServer("huge_declared") as server:  # 100 MB declared: refused before reading
            took, error = elapsed(lambda: fetch(client, "GET", server.url, guard=guard(5.0),
                                                max_body_bytes=1 << 20))
        assert isinstance(error, ResponseTooLarge) and "declares 104,857,600 bytes" in str(error)
        assert took < 1.0 + MARGIN
        with SlowServer("endless") as server:  # no length: counted while streaming, then cut
            took, error = elapsed(lambda: fetch(client, "GET", server.url, guard=guard(30.0),
                                                max_body_bytes=1 << 20))
            time.sleep(0.2)
            sent = server.sent
        assert isinstance(error, ResponseTooLarge) and "stopped reading" in str(error)
        assert sent < 32 << 20, f"the server wrote {sent:,} bytes before the client hung up"
        assert took < 5.0 + MARGIN


def test_the_circuit_opens_after_consecutive_failures_and_stays_open_for_the_run():
    g = guard(request_seconds=0.5, failures=3)
    with SlowServer("hang") as server, bounded_client(5.0) as client:
        for _ in range(3):
            with pytest.raises(ProviderTimeout):
                fetch(client, "GET", server.url, guard=g, max_body_bytes=1000)
        took, error = elapsed(lambda: fetch(client, "GET", server.url, guard=g, max_body_bytes=1000))
        assert isinstance(error, CircuitOpen) and took < 0.2
        assert "after 3 consecutive failures" in str(error) and "within 0.5 s" in str(error)
        assert server.connections == 3
    g.record_success()
    assert g.is_open  # no half-open state within a run: the next run gets a fresh guard


def test_requests_sessions_get_the_same_bounds_as_requests_exceptions():
    session = requests.Session()
    mount_bounded(session, BoundedRequestsAdapter(guard(request_seconds=1.0), 10**6))
    with SlowServer("drip_body", interval=0.2) as server:
        took, error = elapsed(lambda: session.get(server.url + "/news"))
    assert isinstance(error, requests.Timeout) and isinstance(error, ProviderTimeout)
    assert took <= 1.0 + MARGIN
    with SlowServer("endless") as server:
        took, error = elapsed(lambda: session.get(server.url))
    assert isinstance(error, requests.RequestException) and isinstance(error, ResponseTooLarge)


def test_bad_limits_are_refused_with_the_rule():
    for kwargs in ({"request_seconds": 0, "run_seconds": 1}, {"request_seconds": float("inf"),
                                                              "run_seconds": 1},
                   {"request_seconds": 1, "run_seconds": float("nan")}):
        with pytest.raises(ValueError, match="must be a finite number > 0"):
            ProviderGuard("p", **kwargs)
    with pytest.raises(ValueError, match="max_consecutive_failures must be >= 1"):
        ProviderGuard("p", request_seconds=1, run_seconds=None, max_consecutive_failures=0)


# ---- Alpaca trading (alpaca-py TradingClient) and the LEAN runner ---------------------------

def intent() -> OrderIntent:
    return OrderIntent(intent_id="i-1", strategy_id="s", symbol="SPY", side="buy", qty=1,
                       decision_time=AS_OF, client_order_id="bound-1")


def test_alpaca_trading_calls_end_at_their_deadline_and_the_circuit_opens():
    with SlowServer("drip_body", interval=0.2) as server:
        adapter = AlpacaAdapter(KEY, SECRET, base_url=server.url, timeout=1.0)
        for _ in range(3):
            took, error = elapsed(lambda: adapter.status("bound-1"))
            assert isinstance(error, RunnerUnavailableError) and took <= 1.0 + MARGIN
            assert "within 1 s (wall clock)" in str(error)
        took, error = elapsed(lambda: adapter.submit(intent()))
        assert isinstance(error, RunnerUnavailableError) and took < 0.2
        assert "not called again in this run" in str(error)
        assert server.connections == 3 and SECRET not in str(error)


def test_alpaca_trading_stops_at_its_run_budget():
    with SlowServer("hang") as server:
        adapter = AlpacaAdapter(KEY, SECRET, base_url=server.url, timeout=5.0,
                                max_seconds_per_run=1.0)
        took, error = elapsed(lambda: adapter.status("bound-1"))
        assert isinstance(error, RunnerUnavailableError) and took <= 1.0 + MARGIN
        assert "run time budget exhausted" in str(error)


def test_lean_runner_calls_end_at_their_deadline_then_the_circuit_opens():
    with SlowServer("drip_headers", interval=0.2) as server:
        lean = LeanAdapter(server.url, timeout=1.0, replay_clock=False)
        for _ in range(3):
            took, error = elapsed(lambda: lean.submit(intent()))
            assert isinstance(error, RunnerUnavailableError) and took <= 1.0 + MARGIN
            assert "did not answer POST /v1/orders/submit in time" in str(error)
        took, error = elapsed(lambda: lean.status("bound-1"))
        assert isinstance(error, RunnerUnavailableError) and took < 0.2
        assert "not called again in this run after 3 consecutive failures" in str(error)
        assert server.connections == 3


def test_lean_runner_run_budget_and_body_cap():
    with SlowServer("drip_body", interval=0.2) as server:
        lean = LeanAdapter(server.url, timeout=10.0, replay_clock=False, max_seconds_per_run=1.0)
        took, error = elapsed(lean.health)
        assert isinstance(error, RunnerUnavailableError) and took <= 1.0 + MARGIN
        assert "time budget (1 s) is spent" in str(error)
    with SlowServer("endless") as server:
        lean = LeanAdapter(server.url, timeout=10.0, replay_clock=False, max_body_bytes=1 << 20)
        with pytest.raises(RunnerUnavailableError, match="body over the cap"):
            lean.health()
