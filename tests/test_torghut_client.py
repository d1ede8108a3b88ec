"""Tests Torghut's market-context client over real HTTP against the real serving app (and tiny ASGI apps)."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from helpers import make_bundle
from intel_assets.contracts.bundle import DOMAINS
from intel_assets.resources.bundle_store import BundleStore
from intel_assets.serving.app import create_app
from intel_assets.torghut.client import CircuitBreaker, MarketContextClient
from intel_assets.devtools.asgi import asgi_in_background
from intel_assets.torghut.metrics import REGISTRY

T0 = datetime(2024, 3, 1, 15, 30, tzinfo=timezone.utc)
ALL_OK = {d: "ok" for d in DOMAINS}
UNREACHABLE = "postgresql://intel@127.0.0.1:1/intel"  # refused at once: the real app answers 503


class Recorder:
    """ASGI wrapper that records the status of every HTTP response the wrapped app sends."""

    def __init__(self, app: Any) -> None:
        self.app, self.statuses = app, []

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def recording_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                self.statuses.append(message["status"])
            await send(message)

        await self.app(scope, receive, recording_send)


serve_asgi = asgi_in_background  # any ASGI app on a free 127.0.0.1 port; yields its URL


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def sqlite_dsn(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bundles.sqlite3'}"


def publish(dsn: str, *bundles: Any) -> list[str]:
    with BundleStore.from_dsn(dsn) as store:
        store.ensure_schema()
        return store.publish(list(bundles))


def tamper(dsn: str, symbol: str, body: str) -> None:
    """Overwrite the published body of `symbol` in the SQLite store (a contract-breaking publisher)."""
    with sqlite3.connect(dsn[len("sqlite:///"):]) as conn:
        assert conn.execute("UPDATE bundle_latest SET body = ?, etag = ? WHERE symbol = ?",
                            (body, f"tampered{abs(hash(body))}", symbol)).rowcount == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> str:
    dsn = sqlite_dsn(tmp_path)
    publish(dsn, make_bundle("SPY", T0, ALL_OK), make_bundle("IBM", T0))
    return dsn


@pytest.fixture
def served(store: str) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder(create_app(lambda: BundleStore.from_dsn(store)))
    with serve_asgi(recorder) as url:
        yield url, recorder


def fetches(outcome: str) -> float:
    return REGISTRY.get_sample_value("torghut_market_context_fetches_total", {"outcome": outcome}) or 0.0


def test_ok_fetch_validates_the_wire_bundle(served: tuple[str, Recorder], store: str) -> None:
    url, recorder = served
    before = fetches("ok")
    with MarketContextClient(url) as client:
        result = client.fetch("spy")
    assert result.outcome == "ok" and result.ok and result.symbol == "SPY"
    assert result.bundle == make_bundle("SPY", T0, ALL_OK)
    with BundleStore.from_dsn(store) as st:
        assert result.etag == f'"{st.latest("SPY").etag}"'  # type: ignore[union-attr]
    assert (result.status_code, result.attempts, result.from_cache) == (200, 1, False)
    assert recorder.statuses == [200] and fetches("ok") == before + 1


def test_etag_304_reuses_the_cached_bundle(served: tuple[str, Recorder], store: str) -> None:
    url, recorder = served
    with MarketContextClient(url) as client:
        first, second = client.fetch("IBM"), client.fetch("IBM")
        assert recorder.statuses == [200, 304]  # the server really answered 304
        assert second.ok and second.from_cache and second.status_code == 304
        assert second.bundle is first.bundle and second.etag == first.etag
        assert client.stats.not_modified == 1 and client.stats.requests == 2
        publish(store, make_bundle("IBM", T0 + timedelta(minutes=1), ALL_OK))  # a new version
        third = client.fetch("IBM")
    assert recorder.statuses == [200, 304, 200]
    assert third.ok and not third.from_cache and third.etag != first.etag
    assert third.bundle == make_bundle("IBM", T0 + timedelta(minutes=1), ALL_OK)


def _wire(symbol: str) -> dict:
    return make_bundle(symbol, T0, ALL_OK).to_wire()


@pytest.mark.parametrize("mutate, where", [
    (lambda w: {**w, "llmHint": "buy"}, "llmHint: Extra inputs are not permitted"),
    (lambda w: {**w, "domains": {**w["domains"], "research": dict(w["domains"]["news"], domain="news")}},
     "domains.research: Extra inputs are not permitted"),
    (lambda w: {**{k: v for k, v in w.items() if k != "asOfUtc"}, "as_of_utc": w["asOfUtc"]}, "asOfUtc: Field required"),
    (lambda w: {**w, "freshnessSeconds": 1.5}, "freshnessSeconds:"),
    (lambda w: {**w, "domains": {**w["domains"], "regime": dict(w["domains"]["regime"], state="fresh")}},
     "domains.regime.state:"),
])
def test_contract_violations_are_schema_invalid(served: tuple[str, Recorder], store: str,
                                                mutate: Callable[[dict], dict], where: str) -> None:
    url, _ = served
    tamper(store, "SPY", json.dumps(mutate(_wire("SPY"))))
    before = fetches("schema_invalid")
    with MarketContextClient(url, breaker_failures=1) as client:
        result = client.fetch("SPY")
        assert result.outcome == "schema_invalid" and result.bundle is None
        assert result.reason == "validation_error" and result.detail.startswith(where), result.detail
        assert result.attempts == 1 and client.breaker.state == "closed"  # not an outage
    assert fetches("schema_invalid") == before + 1


def test_non_json_and_foreign_symbol_bodies_are_schema_invalid(served: tuple[str, Recorder], store: str) -> None:
    url, _ = served
    tamper(store, "SPY", "<html>not json</html>")
    tamper(store, "IBM", json.dumps(_wire("AIG")))
    with MarketContextClient(url) as client:
        bad_json, foreign = client.fetch("SPY"), client.fetch("IBM")
    assert (bad_json.outcome, bad_json.reason) == ("schema_invalid", "invalid_json")
    assert (foreign.outcome, foreign.reason) == ("schema_invalid", "symbol_mismatch")
    assert "AIG" in foreign.detail


def test_unknown_symbol_is_unavailable_without_retry(served: tuple[str, Recorder]) -> None:
    url, recorder = served
    with MarketContextClient(url, max_retries=2) as client:
        result = client.fetch("ZZZZ")
        invalid = client.fetch("1ABC")
    assert (result.outcome, result.reason, result.status_code) == ("unavailable", "not_found", 404)
    assert result.attempts == 1 and "no bundle published for ZZZZ" in result.detail
    assert (invalid.outcome, invalid.reason, invalid.attempts) == ("unavailable", "invalid_symbol", 0)
    assert recorder.statuses == [404]  # one request for ZZZZ, none for the invalid symbol


def test_closed_port_is_unavailable_after_retries() -> None:
    slept: list[float] = []
    before = fetches("unavailable")
    with MarketContextClient(closed_port_url(), max_retries=2, backoff_seconds=0.05,
                             sleep=slept.append) as client:
        result = client.fetch("SPY")
        assert client.stats.requests == 3 and client.stats.retries == 2
    assert (result.outcome, result.reason, result.attempts) == ("unavailable", "connect_error", 3)
    assert slept == [0.05, 0.1]  # exponential backoff between attempts
    assert fetches("unavailable") == before + 1


def test_5xx_is_retried_then_unavailable() -> None:
    recorder = Recorder(create_app(lambda: BundleStore.from_dsn(UNREACHABLE)))
    with serve_asgi(recorder) as url, MarketContextClient(url, max_retries=2, backoff_seconds=0.01) as client:
        result = client.fetch("SPY")
    assert (result.outcome, result.reason, result.status_code) == ("unavailable", "http_5xx", 503)
    assert recorder.statuses == [503, 503, 503] and "store_unavailable" in result.detail


def test_breaker_opens_then_half_opens_with_one_trial(tmp_path: Path) -> None:
    dsn = sqlite_dsn(tmp_path)
    publish(dsn, make_bundle("SPY", T0, ALL_OK))
    target = [UNREACHABLE]  # the store is down (503) until the test brings it up
    recorder = Recorder(create_app(lambda: BundleStore.from_dsn(target[0])))
    clock = FakeClock()
    with serve_asgi(recorder) as url, MarketContextClient(
            url, max_retries=1, backoff_seconds=0, breaker_failures=3, breaker_reset_seconds=30,
            clock=clock) as client:
        for _ in range(3):
            assert client.fetch("SPY").reason == "http_5xx"
        assert client.breaker.state == "open" and len(recorder.statuses) == 6  # 3 fetches x 2 attempts
        refused = client.fetch("SPY")
        assert (refused.outcome, refused.reason, refused.attempts) == ("unavailable", "breaker_open", 0)
        clock.now += 29.9
        assert client.fetch("SPY").reason == "breaker_open" and len(recorder.statuses) == 6
        clock.now += 0.1
        assert client.breaker.state == "half_open"
        trial = client.fetch("SPY")  # still down: one attempt only, then open again
        assert (trial.reason, trial.attempts) == ("http_5xx", 1) and len(recorder.statuses) == 7
        assert client.breaker.state == "open" and client.fetch("SPY").reason == "breaker_open"
        target[0] = dsn  # the store comes back
        clock.now += 30
        recovered = client.fetch("SPY")
        assert recovered.ok and recovered.attempts == 1 and client.breaker.state == "closed"
        assert client.fetch("SPY").from_cache
        assert client.stats.short_circuited == 3
    assert recorder.statuses == [503] * 7 + [200, 304]


def test_breaker_admits_a_single_trial_while_half_open() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures=2, reset_seconds=10, clock=clock)
    breaker.record_failure()
    assert breaker.acquire() == "closed"  # one failure of two: still closed
    breaker.record_failure()
    assert breaker.state == "open" and breaker.acquire() is None
    assert breaker.seconds_until_trial() == 10
    clock.now += 10
    assert breaker.acquire() == "trial"
    assert breaker.acquire() is None  # a concurrent caller waits for the trial's outcome
    breaker.record_success()
    assert breaker.state == "closed" and breaker.acquire() == "closed"


def test_slow_server_times_out() -> None:
    hits: list[float] = []

    async def slow(request: Request) -> JSONResponse:
        hits.append(time.monotonic())
        await asyncio.sleep(0.5)
        return JSONResponse(_wire("SPY"))

    app = Starlette(routes=[Route("/api/torghut/market-context", slow)])
    with serve_asgi(app) as url, MarketContextClient(url, timeout_seconds=0.1, max_retries=1,
                                                     backoff_seconds=0) as client:
        started = time.monotonic()
        result = client.fetch("SPY")
        elapsed = time.monotonic() - started
    assert (result.outcome, result.reason, result.attempts) == ("unavailable", "timeout", 2)
    assert len(hits) == 2 and elapsed < 0.9  # two 0.1 s timeouts, not two 0.5 s waits
