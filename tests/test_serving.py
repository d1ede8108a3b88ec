"""Tests the serving app over real HTTP (uvicorn + httpx) on SQLite and PostgreSQL stores."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

import httpx
import pytest

from helpers import make_bundle
from intel_assets.devtools.asgi import asgi_in_background
from intel_assets.contracts.bundle import DOMAINS, WIRE_TOP_LEVEL_KEYS, MarketContextBundle
from intel_assets.contracts.symbols import SYMBOL_RULE
from intel_assets.resources.bundle_store import BundleStore
from intel_assets.serving.app import create_app

T0 = datetime(2024, 3, 1, 15, 30, tzinfo=timezone.utc)
URL = "/api/torghut/market-context"
UNREACHABLE = "postgresql://intel:s3cret-pw@127.0.0.1:1/intel"


@contextmanager
def running(store_factory: Callable[[], BundleStore]) -> Iterator[httpx.Client]:
    """Serve create_app(store_factory) with uvicorn on a free local port; yield a client."""
    with asgi_in_background(create_app(store_factory)) as url:
        with httpx.Client(base_url=url, timeout=20) as client:
            yield client


@pytest.fixture
def published(store_dsn: str) -> dict[str, str]:
    """SPY (default states) and IBM (published twice, all ok); returns symbol -> latest ETag."""
    with BundleStore.from_dsn(store_dsn) as store:
        store.ensure_schema()
        store.publish([make_bundle("SPY", T0), make_bundle("IBM", T0 - timedelta(hours=1))])
        etags = store.publish([make_bundle("IBM", T0, {d: "ok" for d in DOMAINS})])
        return {"SPY": store.latest("SPY").etag, "IBM": etags[0]}  # type: ignore[union-attr]


@pytest.fixture
def client(store_dsn: str, published: dict[str, str]) -> Iterator[httpx.Client]:
    with running(lambda: BundleStore.from_dsn(store_dsn)) as http:
        yield http


def test_latest_bundle_verbatim_with_etag(client: httpx.Client, store_dsn: str,
                                          published: dict[str, str]) -> None:
    resp = client.get(URL, params={"symbol": "SPY"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["etag"] == f'"{published["SPY"]}"'
    assert resp.headers["cache-control"] == "no-cache"
    bundle = MarketContextBundle.model_validate(resp.json())
    assert bundle == make_bundle("SPY", T0)
    assert set(resp.json()) == WIRE_TOP_LEVEL_KEYS
    with BundleStore.from_dsn(store_dsn) as store:
        assert resp.text == store.latest("SPY").body  # type: ignore[union-attr]


def test_if_none_match_gives_304(client: httpx.Client, published: dict[str, str]) -> None:
    etag = f'"{published["IBM"]}"'
    for header in (etag, f"W/{etag}", f'"0000", {etag}', "*"):
        resp = client.get(URL, params={"symbol": "IBM"}, headers={"If-None-Match": header})
        assert resp.status_code == 304, header
        assert resp.content == b"" and resp.headers["etag"] == etag
    stale = client.get(URL, params={"symbol": "IBM"}, headers={"If-None-Match": '"0000"'})
    assert stale.status_code == 200 and stale.headers["etag"] == etag
    other = client.get(URL, params={"symbol": "SPY"}, headers={"If-None-Match": etag})
    assert other.status_code == 200  # another symbol's ETag never matches


def test_lower_case_symbol_is_accepted(client: httpx.Client, published: dict[str, str]) -> None:
    resp = client.get(URL, params={"symbol": "ibm"})
    assert resp.status_code == 200 and resp.json()["symbol"] == "IBM"
    assert resp.headers["etag"] == f'"{published["IBM"]}"'


@pytest.mark.parametrize("params", [{"symbol": ""}, {}, {"symbol": "1ABC"},
                                    {"symbol": "TOO_LONG_SYMBOL_XXXX"}])
def test_invalid_symbol_is_400_with_rule(client: httpx.Client, params: dict[str, str]) -> None:
    resp = client.get(URL, params=params)
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"] == "invalid_symbol" and SYMBOL_RULE in body["detail"]


def test_unknown_symbol_is_404(client: httpx.Client) -> None:
    resp = client.get(URL, params={"symbol": "ZZZZ"})
    assert resp.status_code == 404
    assert resp.json()["error"] == "not_found"
    assert resp.json()["detail"].startswith("no bundle published for ZZZZ;")


def test_health_reports_domain_counts(client: httpx.Client) -> None:
    resp = client.get(f"{URL}/health")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "degraded" and body["storeReachable"] is True
    assert body["symbols"] == 2 and set(body["domains"]) == set(DOMAINS)
    assert body["domains"]["technicals"] == {"ok": 2, "stale": 0, "missing": 0, "error": 0,
                                             "oldestAsOf": "2024-03-01T15:29:55Z"}
    assert (body["domains"]["news"]["ok"], body["domains"]["news"]["missing"]) == (1, 1)
    assert datetime.fromisoformat(body["newestPublishedAt"]).tzinfo is not None
    assert client.get("/healthz").json() == {"status": "ok"}


def test_health_ok_when_every_block_is_ok(store_dsn: str) -> None:
    with BundleStore.from_dsn(store_dsn) as store:
        store.ensure_schema()
        store.publish([make_bundle("SPY", T0, {d: "ok" for d in DOMAINS})])
    with running(lambda: BundleStore.from_dsn(store_dsn)) as http:
        body = http.get(f"{URL}/health").json()
    assert body["status"] == "ok" and body["symbols"] == 1


def test_concurrent_requests(client: httpx.Client, published: dict[str, str]) -> None:
    def fetch(i: int) -> tuple[int, str]:
        resp = client.get(URL, params={"symbol": "SPY" if i % 2 else "IBM"})
        return resp.status_code, resp.headers["etag"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(fetch, range(64)))
    assert results == [(200, f'"{published["SPY" if i % 2 else "IBM"]}"') for i in range(64)]


def test_unreachable_store_is_503_without_secrets() -> None:
    with running(lambda: BundleStore.from_dsn(UNREACHABLE)) as http:
        resp = http.get(URL, params={"symbol": "SPY"})
        assert resp.status_code == 503
        assert resp.json()["error"] == "store_unavailable"
        assert "127.0.0.1:1" in resp.json()["detail"] and "s3cret-pw" not in resp.text
        health = http.get(f"{URL}/health")
        assert health.status_code == 503 and health.json()["storeReachable"] is False
        assert "s3cret-pw" not in health.text
        assert http.get(URL, params={"symbol": "1ABC"}).status_code == 400  # no store needed
        assert http.get("/healthz").status_code == 200


def test_store_is_retried_after_a_failed_open(store_dsn: str, published: dict[str, str]) -> None:
    target = [UNREACHABLE]
    with running(lambda: BundleStore.from_dsn(target[0])) as http:
        assert http.get(URL, params={"symbol": "SPY"}).status_code == 503
        target[0] = store_dsn  # the store comes up: the next request opens it
        resp = http.get(URL, params={"symbol": "SPY"})
        assert resp.status_code == 200 and resp.headers["etag"] == f'"{published["SPY"]}"'


def test_research_brief_is_served_beside_the_bundle(client: httpx.Client, store_dsn: str) -> None:
    brief = {"symbol": "IBM", "asOf": "2024-03-01T15:30:00Z",
             "brief": {"claims": [{"text": "IBM trend up.", "citations": [
                 {"domain": "regime", "ref": "2024-03-01T15:30:00Z"}]}], "uncertainty": "low"}}
    with BundleStore.from_dsn(store_dsn) as store:
        store.stage("research", {"IBM": brief})
    resp = client.get(f"{URL}/research", params={"symbol": "ibm"})
    assert resp.status_code == 200
    assert resp.json() == brief
    missing = client.get(f"{URL}/research", params={"symbol": "SPY"})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    bad = client.get(f"{URL}/research", params={"symbol": "1X"})
    assert bad.status_code == 400 and SYMBOL_RULE in bad.json()["detail"]
