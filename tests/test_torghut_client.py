"""Tests Torghut's market-context client over real HTTP against the real serving app (and tiny
ASGI apps that answer crafted envelopes). The client restates proompteng/lab 255d330fe
services/torghut/app/trading/market_context.py (MarketContextClient.fetch): full endpoint URL,
?symbol=&asOf=, non-2xx / ok-not-true / context-not-an-object are failures, strict parse."""

from __future__ import annotations

import asyncio
import socket
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
from intel_assets.devtools.asgi import asgi_in_background
from intel_assets.domain.clock import Clock
from intel_assets.stores.bundle_store import BundleStore
from intel_assets.serving.app import ServingConfig, create_app
from intel_assets.torghut.client import CircuitBreaker, MarketContextClient, endpoint_url
from intel_assets.torghut.metrics import REGISTRY
from intel_assets.torghut.schema import TorghutMarketContextBundle

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


def serving(store_factory: Callable[[], BundleStore]) -> Any:
    """The real serving app on a replay clock at T0 (bundles are served as published)."""
    return create_app(store_factory, ServingConfig(clock=Clock(T0)))


def answering(body: Any, status: int = 200, seen: list | None = None) -> Starlette:
    """A market-context endpoint that answers ``body`` (a contract-breaking server)."""
    async def endpoint(request: Request) -> Any:
        if seen is not None:
            seen.append(dict(request.query_params))
        if isinstance(body, str):
            from starlette.responses import Response
            return Response(body, status_code=status, media_type="application/json")
        return JSONResponse(body, status_code=status)

    return Starlette(routes=[Route("/api/torghut/market-context", endpoint)])


def torghut_view(bundle: Any) -> TorghutMarketContextBundle:
    return TorghutMarketContextBundle.model_validate(bundle.to_wire())


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
    recorder = Recorder(serving(lambda: BundleStore.from_dsn(store)))
    with serve_asgi(recorder) as url:
        yield url, recorder


def fetches(outcome: str) -> float:
    return REGISTRY.get_sample_value("torghut_market_context_fetches_total", {"outcome": outcome}) or 0.0


def test_ok_fetch_unwraps_the_envelope_and_validates(served: tuple[str, Recorder]) -> None:
    url, recorder = served
    before = fetches("ok")
    with MarketContextClient(url) as client:
        result = client.fetch("spy")
    assert result.outcome == "ok" and result.ok and result.symbol == "SPY"
    assert result.bundle == torghut_view(make_bundle("SPY", T0, ALL_OK))
    assert result.etag and result.etag.startswith('"')
    assert (result.status_code, result.attempts, result.from_cache) == (200, 1, False)
    assert recorder.statuses == [200] and fetches("ok") == before + 1


def test_endpoint_url_and_as_of_are_sent_as_torghut_sends_them() -> None:
    """TRADING_MARKET_CONTEXT_URL is the full endpoint (a query string of its own is kept);
    asOf is the UTC ISO-8601 of the decision time."""
    assert endpoint_url("http://h:8080") == "http://h:8080/api/torghut/market-context"
    assert endpoint_url("http://h/api/torghut/market-context/?x=1") == \
        "http://h/api/torghut/market-context/?x=1"
    with pytest.raises(ValueError, match="must start with http"):
        endpoint_url("h:8080")
    seen: list[dict] = []
    app = answering({"ok": True, "context": make_bundle("SPY", T0, ALL_OK).to_wire()}, seen=seen)
    with serve_asgi(app) as url, MarketContextClient(
            f"{url}/api/torghut/market-context?tenant=paper") as client:
        at = datetime(2024, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=-5)))
        assert client.fetch("SPY", as_of=at).ok
        assert client.fetch("SPY").ok
    assert seen == [{"tenant": "paper", "symbol": "SPY", "asOf": "2024-03-01T15:30:00+00:00"},
                    {"tenant": "paper", "symbol": "SPY"}]


def test_two_domain_bundles_of_torghuts_current_schema_parse() -> None:
    """Torghut's head requires only technicals and regime (proompteng/lab HEAD 2026-08-22
    services/torghut/app/trading/llm/schema.py); both shapes parse here."""
    wire = make_bundle("SPY", T0, ALL_OK).to_wire()
    two = {**wire, "domains": {k: wire["domains"][k] for k in ("technicals", "regime")}}
    with serve_asgi(answering({"ok": True, "context": two})) as url, MarketContextClient(url) as c:
        result = c.fetch("SPY")
    assert result.ok and result.bundle is not None and result.bundle.domains.news is None
    assert set(result.bundle.domains.present()) == {"technicals", "regime"}


@pytest.mark.parametrize("body, status, outcome, reason", [
    ({"ok": False, "message": "market context query failed"}, 200, "unavailable", "not_ok"),
    ({"ok": True}, 200, "schema_invalid", "missing_context"),
    ({"ok": True, "context": "SPY"}, 200, "schema_invalid", "missing_context"),
    (["not", "an", "object"], 200, "schema_invalid", "invalid_payload"),
    ({"ok": False, "message": "symbol is required"}, 400, "unavailable", "http_4xx"),
])
def test_envelope_failures(body: Any, status: int, outcome: str, reason: str) -> None:
    with serve_asgi(answering(body, status)) as url, MarketContextClient(url) as client:
        result = client.fetch("SPY")
    assert (result.outcome, result.reason) == (outcome, reason)
    assert result.bundle is None


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
    assert third.bundle is not None and third.bundle.as_of_utc == T0 + timedelta(minutes=1)


def _wire(symbol: str) -> dict:
    return make_bundle(symbol, T0, ALL_OK).to_wire()


@pytest.mark.parametrize("mutate, where", [
    (lambda w: {**w, "llmHint": "buy"}, "llmHint: Extra inputs are not permitted"),
    (lambda w: {**w, "domains": {**w["domains"], "research": dict(w["domains"]["news"], domain="news")}},
     "domains.research: Extra inputs are not permitted"),
    (lambda w: {**{k: v for k, v in w.items() if k != "asOfUtc"}, "as_of_utc": w["asOfUtc"]},
     "asOfUtc: Field required"),
    (lambda w: {**w, "freshnessSeconds": 1.5}, "freshnessSeconds:"),
    (lambda w: {**w, "domains": {**w["domains"], "regime": dict(w["domains"]["regime"], state="fresh")}},
     "domains.regime.state:"),
])
def test_contract_violations_are_schema_invalid(mutate: Callable[[dict], dict], where: str) -> None:
    before = fetches("schema_invalid")
    with serve_asgi(answering({"ok": True, "context": mutate(_wire("SPY"))})) as url, \
            MarketContextClient(url, breaker_failures=1) as client:
        result = client.fetch("SPY")
        assert result.outcome == "schema_invalid" and result.bundle is None
        assert result.reason == "validation_error" and result.detail.startswith(where), result.detail
        assert result.attempts == 1 and client.breaker.state == "closed"  # not an outage
    assert fetches("schema_invalid") == before + 1


def test_non_json_and_foreign_symbol_bodies_are_schema_invalid() -> None:
    with serve_asgi(answering("<html>not json</html>")) as url, MarketContextClient(url) as client:
        bad_json = client.fetch("SPY")
    with serve_asgi(answering({"ok": True, "context": _wire("AIG")})) as url, \
            MarketContextClient(url) as client:
        foreign = client.fetch("IBM")
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
    recorder = Recorder(serving(lambda: BundleStore.from_dsn(UNREACHABLE)))
    with serve_asgi(recorder) as url, MarketContextClient(url, max_retries=2, backoff_seconds=0.01) as client:
        result = client.fetch("SPY")
    assert (result.outcome, result.reason, result.status_code) == ("unavailable", "http_5xx", 503)
    assert recorder.statuses == [503, 503, 503] and "store_unavailable" in result.detail


def test_breaker_opens_then_half_opens_with_one_trial(tmp_path: Path) -> None:
    dsn = sqlite_dsn(tmp_path)
    publish(dsn, make_bundle("SPY", T0, ALL_OK))
    target = [UNREACHABLE]  # the store is down (503) until the test brings it up
    recorder = Recorder(serving(lambda: BundleStore.from_dsn(target[0])))
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
        return JSONResponse({"ok": True, "context": _wire("SPY")})

    app = Starlette(routes=[Route("/api/torghut/market-context", slow)])
    with serve_asgi(app) as url, MarketContextClient(url, timeout_seconds=0.1, max_retries=1,
                                                     backoff_seconds=0) as client:
        started = time.monotonic()
        result = client.fetch("SPY")
        elapsed = time.monotonic() - started
    assert (result.outcome, result.reason, result.attempts) == ("unavailable", "timeout", 2)
    assert len(hits) == 2 and elapsed < 0.9  # two 0.1 s timeouts, not two 0.5 s waits
