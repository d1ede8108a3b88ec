"""Tests the serving app over real HTTP (uvicorn + httpx) on SQLite and PostgreSQL stores:
Jangar's envelope and error shape, request-time freshness, point-in-time reads, the kill
switch, both health views and the scrape-time metrics."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

import httpx
import pytest

from helpers import make_bundle
from intel_assets.contracts.bundle import DOMAINS, WIRE_TOP_LEVEL_KEYS, MarketContextBundle
from intel_assets.contracts.symbols import SYMBOL_RULE
from intel_assets.devtools.asgi import asgi_in_background
from intel_assets.domain.bundle import BundlePolicy, bundle_seen_at
from intel_assets.domain.clock import Clock
from intel_assets.stores.bundle_store import BundleStore
from intel_assets.serving.app import ServingConfig, create_app

T0 = datetime(2024, 3, 1, 15, 30, tzinfo=timezone.utc)
URL = "/api/torghut/market-context"
UNREACHABLE = "postgresql://intel:s3cret-pw@127.0.0.1:1/intel"
ALL_OK = {d: "ok" for d in DOMAINS}


def at(clock: datetime, **kwargs) -> ServingConfig:
    return ServingConfig(clock=Clock(clock), **kwargs)


@contextmanager
def running(store_factory: Callable[[], BundleStore],
            config: ServingConfig | None = None) -> Iterator[httpx.Client]:
    """Serve create_app(store_factory, config) with uvicorn on a free local port."""
    with asgi_in_background(create_app(store_factory, config or at(T0))) as url:
        with httpx.Client(base_url=url, timeout=20) as client:
            yield client


@pytest.fixture
def published(store_dsn: str) -> dict[str, MarketContextBundle]:
    """SPY (technicals/regime ok, news/fundamentals missing) and IBM (published an hour
    earlier, then again at T0 with every domain ok)."""
    spy, ibm = make_bundle("SPY", T0), make_bundle("IBM", T0, ALL_OK)
    with BundleStore.from_dsn(store_dsn) as store:
        store.ensure_schema()
        store.publish([spy, make_bundle("IBM", T0 - timedelta(hours=1))])
        store.publish([ibm])
    return {"SPY": spy, "IBM": ibm}


@pytest.fixture
def client(store_dsn: str, published: dict) -> Iterator[httpx.Client]:
    with running(lambda: BundleStore.from_dsn(store_dsn)) as http:
        yield http


def context_of(resp: httpx.Response) -> MarketContextBundle:
    body = resp.json()
    assert set(body) == {"ok", "context"} and body["ok"] is True
    assert set(body["context"]) == WIRE_TOP_LEVEL_KEYS
    return MarketContextBundle.model_validate(body["context"], by_alias=True, by_name=False)


def test_bundle_in_jangar_envelope_with_etag(client: httpx.Client, published: dict) -> None:
    """200 {"ok": true, "context": <bundle>} (proompteng/lab 255d330fe services/jangar/src/
    routes/api/torghut/market-context/index.ts); at the instant it was built, the served bundle
    is the published one."""
    resp = client.get(URL, params={"symbol": "SPY"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["cache-control"] == "no-cache"
    assert context_of(resp) == published["SPY"]
    assert resp.headers["etag"].startswith('"') and len(resp.headers["etag"]) == 34
    lower = client.get(URL, params={"symbol": "ibm"})
    assert lower.status_code == 200 and context_of(lower) == published["IBM"]


def test_freshness_is_measured_when_asked(store_dsn: str, published: dict) -> None:
    """The same stored bundle read 400 s later is stale: freshness, states, flags and quality
    are re-measured at the serving clock, never frozen at publish time."""
    later = T0 + timedelta(seconds=400)
    with running(lambda: BundleStore.from_dsn(store_dsn), at(later)) as http:
        served = context_of(http.get(URL, params={"symbol": "IBM"}))
    assert served == bundle_seen_at(published["IBM"], later, BundlePolicy(300))
    assert served.as_of_utc == T0 and served.freshness_seconds == 405
    assert served.domains.technicals.state.value == "stale"
    assert "market_context_stale" in served.risk_flags
    assert served.quality_score < published["IBM"].quality_score
    with running(lambda: BundleStore.from_dsn(store_dsn),
                 at(later, policy=BundlePolicy(600))) as http:
        lenient = context_of(http.get(URL, params={"symbol": "IBM"}))
    assert "market_context_stale" not in lenient.risk_flags  # INTEL_MAX_STALENESS_SECONDS


def test_etag_follows_the_served_body(client: httpx.Client) -> None:
    first = client.get(URL, params={"symbol": "IBM"})
    etag = first.headers["etag"]
    for header in (etag, f"W/{etag}", f'"0000", {etag}', "*"):
        resp = client.get(URL, params={"symbol": "IBM"}, headers={"If-None-Match": header})
        assert resp.status_code == 304, header
        assert resp.content == b"" and resp.headers["etag"] == etag
    changed = client.get(URL, params={"symbol": "IBM"}, headers={"If-None-Match": '"0000"'})
    assert changed.status_code == 200 and changed.headers["etag"] == etag
    other = client.get(URL, params={"symbol": "SPY"}, headers={"If-None-Match": etag})
    assert other.status_code == 200  # another symbol's ETag never matches


def test_point_in_time_reads_never_look_ahead(store_dsn: str) -> None:
    """?asOf=T serves the newest bundle built as of T or earlier, re-aged to T."""
    instants = [T0 + timedelta(minutes=30 * k) for k in range(4)]
    bundles = [make_bundle("SPY", t, ALL_OK) for t in instants]
    with BundleStore.from_dsn(store_dsn) as store:
        store.ensure_schema()
        store.publish(bundles[2:])  # out of order: a backfill of the past comes later
        store.publish(bundles[:2])
        assert store.latest("SPY").as_of_utc == instants[-1]  # type: ignore[union-attr]
    with running(lambda: BundleStore.from_dsn(store_dsn), at(instants[-1] + timedelta(hours=1))) as http:
        for k, instant in enumerate(instants):
            for probe in (instant, instant + timedelta(minutes=29, seconds=59)):
                resp = http.get(URL, params={"symbol": "SPY", "asOf": probe.isoformat()})
                served = context_of(resp)
                assert served.as_of_utc == instant, (k, probe)
                assert served == bundle_seen_at(bundles[k], probe)
        z = http.get(URL, params={"symbol": "SPY", "asOf": "2024-03-01T16:00:00Z"})
        assert context_of(z).as_of_utc == instants[1]
        raw_plus = http.get(f"{URL}?symbol=SPY&asOf=2024-03-01T16:10:00+00:00")  # '+' unencoded
        assert context_of(raw_plus).as_of_utc == instants[1]
        early = http.get(URL, params={"symbol": "SPY", "asOf": (T0 - timedelta(seconds=1)).isoformat()})
        assert early.status_code == 404 and early.json()["ok"] is False
        assert "built as of 2024-03-01T15:29:59+00:00 or earlier" in early.json()["message"]
        latest = context_of(http.get(URL, params={"symbol": "SPY"}))
        assert latest.as_of_utc == instants[-1] and "market_context_stale" in latest.risk_flags


@pytest.mark.parametrize("params,message", [
    ({}, "symbol is required"), ({"symbol": ""}, "symbol is required"),
    ({"symbol": "1ABC"}, SYMBOL_RULE), ({"symbol": "TOO_LONG_SYMBOL_XXXX"}, SYMBOL_RULE),
    ({"symbol": "SPY", "asOf": "yesterday"}, "asOf must be an ISO-8601 timestamp"),
    ({"symbol": "SPY", "asOf": "2024-03-01T15:30:00"}, "has no UTC offset"),
])
def test_bad_input_is_400_ok_false(client: httpx.Client, params: dict, message: str) -> None:
    resp = client.get(URL, params=params)
    assert resp.status_code == 400
    body = resp.json()
    assert body["ok"] is False and message in body["message"]
    assert body["error"] in ("invalid_symbol", "invalid_as_of")


def test_unknown_symbol_is_404_ok_false(client: httpx.Client) -> None:
    resp = client.get(URL, params={"symbol": "ZZZZ"})
    assert resp.status_code == 404
    assert resp.json() == {"ok": False, "error": "not_found", "message": resp.json()["message"]}
    assert resp.json()["message"].startswith("no bundle published for ZZZZ;")


def test_kill_switch_serves_disabled_bundles_without_the_store() -> None:
    """INTEL_MARKET_CONTEXT_ENABLED=false (the plan's JANGAR_MARKET_CONTEXT_ENABLED): every
    domain missing, flagged market_context_disabled; works even with the store down."""
    with running(lambda: BundleStore.from_dsn(UNREACHABLE), at(T0, enabled=False)) as http:
        served = context_of(http.get(URL, params={"symbol": "SPY"}))
        assert [b.state.value for b in served.domains.blocks()] == ["missing"] * 4
        assert "market_context_disabled" in served.risk_flags and served.quality_score == 0
        assert http.get(URL, params={"symbol": "1X"}).status_code == 400


def test_symbol_health_in_jangar_shape(store_dsn: str, published: dict) -> None:
    """GET .../health?symbol=S -> {"ok": true, "health": {...}} with Jangar's keys
    (proompteng/lab 255d330fe services/jangar/src/server/torghut-market-context.ts)."""
    with BundleStore.from_dsn(store_dsn) as store:
        store.record_provider_attempt("news", configured=True, success=True, latency_ms=12.5)
        store.record_provider_attempt("clickhouse", configured=True, success=False,
                                      error="connection refused")
        store.record_provider_attempt("clickhouse", configured=True, success=False,
                                      error="connection refused again")
    with running(lambda: BundleStore.from_dsn(store_dsn)) as http:
        body = http.get(f"{URL}/health").json()  # default symbol SPY
        ibm = http.get(f"{URL}/health", params={"symbol": "IBM"}).json()["health"]
        unknown = http.get(f"{URL}/health", params={"symbol": "ZZZZ"}).json()["health"]
    assert body["ok"] is True
    health = body["health"]
    assert {"enabled", "cacheSeconds", "maxStalenessSeconds", "bundleFreshnessSeconds",
            "bundleQualityScore", "providerHealth", "ingestionHealth", "domainHealth",
            "overallState"} <= set(health)
    assert health["symbol"] == "SPY" and health["enabled"] is True
    assert health["maxStalenessSeconds"] == 300 and health["bundleFreshnessSeconds"] == 5
    assert [d["domain"] for d in health["domainHealth"]] == list(DOMAINS)
    assert set(health["domainHealth"][0]) == {"domain", "state", "freshnessSeconds",
                                             "maxFreshnessSeconds", "qualityScore", "riskFlags"}
    assert health["overallState"] == "degraded"  # news and fundamentals missing
    providers = {p["provider"]: p for p in health["providerHealth"]}
    assert set(providers) == {"news", "fundamentals"}
    assert providers["news"]["configured"] and providers["news"]["latencyMs"] == 12.5
    assert providers["news"]["lastError"] is None and providers["news"]["lastSuccessAt"]
    assert providers["fundamentals"] == {"provider": "fundamentals", "configured": False,
                                         "lastAttemptAt": None, "lastSuccessAt": None,
                                         "lastError": None, "consecutiveFailures": 0,
                                         "latencyMs": None}
    ch = health["ingestionHealth"]["clickhouse"]
    assert ch["consecutiveFailures"] == 2 and ch["lastError"] == "connection refused again"
    assert ch["lastSuccessAt"] is None
    assert ibm["overallState"] == "ok" and ibm["bundleQualityScore"] == published["IBM"].quality_score
    assert unknown["overallState"] == "degraded"
    assert {d["state"] for d in unknown["domainHealth"]} == {"missing"}


def test_health_down_on_error_or_disabled(store_dsn: str) -> None:
    with BundleStore.from_dsn(store_dsn) as store:
        store.ensure_schema()
        store.publish([make_bundle("BAC", T0, {"news": "error", "fundamentals": "ok"})])
    with running(lambda: BundleStore.from_dsn(store_dsn)) as http:
        assert http.get(f"{URL}/health", params={"symbol": "BAC"}).json()["health"][
            "overallState"] == "down"
    with running(lambda: BundleStore.from_dsn(store_dsn), at(T0, enabled=False)) as http:
        off = http.get(f"{URL}/health", params={"symbol": "BAC"}).json()["health"]
    assert off["enabled"] is False and off["overallState"] == "down"


def test_universe_health_names_the_symbols(store_dsn: str) -> None:
    with BundleStore.from_dsn(store_dsn) as store:
        store.ensure_schema()
        store.publish([
            make_bundle("SPY", T0, {"news": "stale"}),
            make_bundle("IBM", T0, ALL_OK),
            make_bundle("BAC", T0, {"technicals": "error", "regime": "missing"}),
        ])
    with running(lambda: BundleStore.from_dsn(store_dsn)) as http:
        body = http.get(f"{URL}/health/universe").json()
    health = body["health"]
    assert body["ok"] is True and health["symbols"] == 3 and health["overallState"] == "down"
    tech = health["domains"]["technicals"]
    assert (tech["ok"], tech["error"], tech["errorSymbols"]) == (2, 1, ["BAC"])
    assert tech["oldestAsOf"] == "2024-03-01T15:29:55Z"
    assert health["domains"]["regime"]["missingSymbols"] == ["BAC"]
    assert health["domains"]["news"]["staleSymbols"] == ["SPY"]
    assert health["domains"]["news"]["missingSymbols"] == ["BAC"]
    assert health["domains"]["fundamentals"]["missingSymbols"] == ["BAC", "SPY"]
    # read an hour later, every price block is stale and every bundle flagged
    with running(lambda: BundleStore.from_dsn(store_dsn), at(T0 + timedelta(hours=1))) as http:
        later = http.get(f"{URL}/health/universe").json()["health"]
    assert later["domains"]["technicals"]["staleSymbols"] == ["IBM", "SPY"]
    assert later["staleBundles"] == ["BAC", "IBM", "SPY"]


def test_concurrent_requests(client: httpx.Client, published: dict) -> None:
    def fetch(i: int) -> tuple[int, str]:
        resp = client.get(URL, params={"symbol": "SPY" if i % 2 else "IBM"})
        return resp.status_code, resp.json()["context"]["symbol"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(fetch, range(64)))
    assert results == [(200, "SPY" if i % 2 else "IBM") for i in range(64)]


def test_unreachable_store_is_503_without_secrets() -> None:
    with running(lambda: BundleStore.from_dsn(UNREACHABLE)) as http:
        for path in (URL, f"{URL}/health", f"{URL}/health/universe"):
            resp = http.get(path, params={"symbol": "SPY"})
            assert resp.status_code == 503, path
            assert resp.json()["ok"] is False and resp.json()["error"] == "store_unavailable"
            # the client learns the store is down; host, port, database and user stay in the log
            assert resp.json()["message"].startswith("the bundle store is unavailable")
            for leak in ("127.0.0.1", "intel", "s3cret-pw"):
                assert leak not in resp.text, leak
        assert http.get(URL, params={"symbol": "1ABC"}).status_code == 400  # no store needed
        assert http.get("/healthz").json() == {"status": "ok"}
        metrics = http.get("/metrics").text
        assert "market_context_store_up 0.0" in metrics and "s3cret-pw" not in metrics


def test_store_is_retried_after_a_failed_open(store_dsn: str, published: dict) -> None:
    target = [UNREACHABLE]
    with running(lambda: BundleStore.from_dsn(target[0])) as http:
        assert http.get(URL, params={"symbol": "SPY"}).status_code == 503
        target[0] = store_dsn  # the store comes up: the next request opens it
        resp = http.get(URL, params={"symbol": "SPY"})
        assert resp.status_code == 200 and context_of(resp) == published["SPY"]


def test_research_brief_is_served_beside_the_bundle(client: httpx.Client, store_dsn: str) -> None:
    from intel_assets.domain.research import research_brief

    blocks = {d: b.to_wire() for d, b in zip(DOMAINS, make_bundle("IBM", T0, ALL_OK).domains.blocks())}
    brief = {"symbol": "IBM", "asOf": "2024-03-01T15:30:00Z", "brief": research_brief("IBM", blocks)}
    with BundleStore.from_dsn(store_dsn) as store:
        store.stage("research", {"IBM": brief, "BAD": {"symbol": "BAD", "brief": "not a brief"}})
    resp = client.get(f"{URL}/research", params={"symbol": "ibm"})
    assert resp.status_code == 200 and resp.json() == {"ok": True, "research": brief}
    assert resp.json()["research"]["brief"]["claims"]
    missing = client.get(f"{URL}/research", params={"symbol": "SPY"})
    assert missing.status_code == 404 and missing.json()["ok"] is False
    bad = client.get(f"{URL}/research", params={"symbol": "1X"})
    assert bad.status_code == 400 and SYMBOL_RULE in bad.json()["message"]
    corrupt = client.get(f"{URL}/research", params={"symbol": "BAD"})
    assert corrupt.status_code == 500 and corrupt.json()["error"] == "corrupt_bundle"


def test_one_domain_in_the_skill_output_contract(store_dsn: str, published: dict) -> None:
    """GET .../{domain}?symbol=S[&asOf=T]: one domain, snake_case, re-aged like the bundle."""
    later = T0 + timedelta(seconds=400)
    with running(lambda: BundleStore.from_dsn(store_dsn), at(later)) as http:
        tech = http.get(f"{URL}/technicals", params={"symbol": "IBM"}).json()
        then = http.get(f"{URL}/technicals", params={"symbol": "IBM", "asOf": T0.isoformat()}).json()
        news = http.get(f"{URL}/news", params={"symbol": "SPY"}).json()
        wrong = http.get(f"{URL}/sentiment", params={"symbol": "SPY"})
        unknown = http.get(f"{URL}/regime", params={"symbol": "ZZZZ"})
    assert tech["ok"] is True
    output = tech["output"]
    assert set(output) == {"context_version", "symbol", "domain", "as_of_utc", "state",
                           "freshness_seconds", "max_freshness_seconds", "source_count",
                           "quality_score", "payload", "citations", "risk_flags"}
    assert (output["symbol"], output["domain"], output["state"]) == ("IBM", "technicals", "stale")
    assert output["freshness_seconds"] == 405 and "technicals_stale" in output["risk_flags"]
    assert set(output["citations"][0]) == {"source", "published_at", "url"}
    assert then["output"]["state"] == "ok" and then["output"]["freshness_seconds"] == 5
    assert news["output"]["state"] == "missing" and news["output"]["as_of_utc"] is None
    assert wrong.status_code == 404 and wrong.json()["error"] == "invalid_domain"
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_latency_and_bundle_age_at_the_serving_clock(store_dsn: str, published: dict) -> None:
    later = T0 + timedelta(seconds=400)
    with running(lambda: BundleStore.from_dsn(store_dsn), at(later)) as http:
        for _ in range(3):
            assert http.get(URL, params={"symbol": "IBM"}).status_code == 200
        http.get(URL, params={"symbol": "ZZZZ"})
        samples = _samples(http.get("/metrics").text)
    path = ("path", URL)
    assert samples[("market_context_requests_total", frozenset({path, ("status", "200")}))] >= 3
    assert samples[("market_context_requests_total", frozenset({path, ("status", "404")}))] >= 1
    assert samples[("market_context_request_duration_seconds_count", frozenset({path}))] >= 4
    assert samples[("market_context_store_up", frozenset())] == 1.0
    ibm = ("symbol", "IBM")
    assert samples[("market_context_bundle_freshness_seconds", frozenset({ibm}))] == 405.0
    assert samples[("market_context_bundle_stale", frozenset({ibm}))] == 1.0
    assert samples[("market_context_domain_age_seconds",
                    frozenset({ibm, ("domain", "fundamentals")}))] == 405.0
    assert samples[("market_context_domain_symbols",
                    frozenset({("domain", "technicals"), ("state", "stale")}))] == 2.0
    assert ("market_context_domain_age_seconds", frozenset({("symbol", "SPY"), ("domain", "news")})) \
        not in samples  # a missing domain has no age
    assert samples[("market_context_bundle_quality_score", frozenset({ibm}))] < \
        published["IBM"].quality_score


def test_corrupt_stored_bundle_is_a_plain_500(tmp_path) -> None:
    """A body edited in the store behind our back is refused, never served half-valid."""
    import sqlite3

    dsn = f"sqlite:///{tmp_path / 'bundles.sqlite3'}"
    with BundleStore.from_dsn(dsn) as store:
        store.ensure_schema()
        store.publish([make_bundle("SPY", T0)])
    wire = make_bundle("SPY", T0).to_wire()
    wire["domains"]["research"] = dict(wire["domains"]["news"])
    with sqlite3.connect(tmp_path / "bundles.sqlite3") as conn:
        conn.execute("UPDATE bundle_latest SET body = ?, etag = 'x' WHERE symbol = 'SPY'",
                     (json.dumps(wire),))
    with running(lambda: BundleStore.from_dsn(dsn)) as http:
        resp = http.get(URL, params={"symbol": "SPY"})
    assert resp.status_code == 500 and resp.json()["error"] == "corrupt_bundle"
    assert "rematerialize" in resp.json()["message"] and resp.json()["ok"] is False


@pytest.mark.parametrize("raw", ["\u017fpy", "SPY\x1f", "\u00a0SPY", "SPY\u3000", " SPY", "\u00df"])
def test_only_ascii_symbols_are_accepted(client: httpx.Client, raw: str) -> None:
    """Unicode case folding ('\u017f'.upper() is 'S') and stripped control or space characters
    must not reach SPY's bundle (issue 12, finding 7)."""
    resp = client.get(URL, params={"symbol": raw})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_symbol", raw


def test_repeated_parameters_and_long_inputs_are_refused_briefly(client: httpx.Client) -> None:
    twice = client.get(f"{URL}?symbol=SPY&symbol=IBM")
    assert twice.status_code == 400 and "symbol is given 2 times" in twice.json()["message"]
    as_of = client.get(f"{URL}?symbol=SPY&asOf=2024-03-01T15:30:00Z&asOf=2024-03-01T15:31:00Z")
    assert as_of.status_code == 400 and as_of.json()["error"] == "invalid_as_of"
    long = client.get(URL, params={"symbol": "X" * 8000})
    assert long.status_code == 400 and len(long.text) < 400  # the input is not echoed back


def test_unknown_paths_and_methods_answer_in_the_error_shape(client: httpx.Client) -> None:
    missing = client.get("/api/torghut/nothing")
    assert missing.status_code == 404 and missing.json()["ok"] is False
    assert missing.headers["content-type"] == "application/json"
    posted = client.post(URL, params={"symbol": "SPY"})
    assert posted.status_code == 405 and posted.json()["error"] == "method_not_allowed"
    assert "GET" in posted.headers["allow"]


def test_oversized_request_head_is_431_and_does_not_stall_others(store_dsn: str,
                                                                published: dict) -> None:
    """A 1 MB header is refused with 431 before it is read whole; /healthz keeps answering
    meanwhile (served with the options `intel-assets serve` uses)."""
    import socket
    import time

    from intel_assets.serving.app import UVICORN_OPTIONS
    from intel_assets.serving.protocol import MAX_HEAD_BYTES

    app = create_app(lambda: BundleStore.from_dsn(store_dsn), at(T0))
    options = {k: v for k, v in UVICORN_OPTIONS.items() if k not in ("log_level", "access_log")}
    with asgi_in_background(app, **options) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            started = time.monotonic()
            answer = b""
            try:
                for _ in range(64):  # up to 1 MB, in 16 KiB pieces, until the server answers
                    raw.sendall(b"a" * 16384)
                    raw.settimeout(0.05)
                    try:
                        answer += raw.recv(4096)
                    except socket.timeout:
                        continue
                    if answer:
                        break
            except (BrokenPipeError, ConnectionResetError):
                pass
            raw.settimeout(5)
            try:
                answer += raw.recv(4096)
            except OSError:
                pass
        assert answer.startswith(b"HTTP/1.1 431"), answer[:80]
        assert b'"error": "headers_too_large"' in answer and time.monotonic() - started < 5
        with httpx.Client(base_url=url, timeout=5) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            small = http.get(URL, params={"symbol": "SPY"}, headers={"X-Pad": "a" * 1000})
            assert small.status_code == 200
    assert MAX_HEAD_BYTES == 16 * 1024
