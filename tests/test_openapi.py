"""The serving API's OpenAPI 3.1 document describes what the app really answers: every status of
every route, fetched over real HTTP, validates against the schema the document gives for it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator

from helpers import make_bundle
from intel_assets.contracts.bundle import DOMAINS
from intel_assets.devtools.asgi import asgi_in_background
from intel_assets.domain.clock import Clock
from intel_assets.domain.research import research_brief
from intel_assets.stores.bundle_store import BundleStore
from intel_assets.serving.app import ServingConfig, create_app

T0 = datetime(2024, 3, 1, 15, 30, tzinfo=timezone.utc)
API = "/api/torghut/market-context"
ALL_OK = {d: "ok" for d in DOMAINS}


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> tuple[str, dict]:
    dsn = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'bundles.sqlite3'}"
    ibm = make_bundle("IBM", T0, ALL_OK)
    with BundleStore.from_dsn(dsn) as store:
        store.ensure_schema()
        store.publish([make_bundle("SPY", T0), ibm])
        blocks = {d: b.to_wire() for d, b in zip(DOMAINS, ibm.domains.blocks())}
        store.stage("research", {"IBM": {"symbol": "IBM", "asOf": "2024-03-01T15:30:00Z",
                                         "brief": research_brief("IBM", blocks)}})
        store.record_provider_attempt("news", configured=True, success=True, latency_ms=3)
    app = create_app(lambda: BundleStore.from_dsn(dsn),
                     ServingConfig(clock=Clock(T0 + timedelta(seconds=90))))
    with asgi_in_background(app) as url:
        document = httpx.get(f"{url}/openapi.json").json()
        yield url, document


def check(document: dict, path: str, resp: httpx.Response) -> None:
    responses = document["paths"][path]["get"]["responses"]
    assert str(resp.status_code) in responses, (path, resp.status_code, resp.text[:200])
    spec = responses[str(resp.status_code)]
    if "content" not in spec:
        assert resp.content == b""
        return
    media = resp.headers["content-type"].split(";")[0]
    assert media in spec["content"], (path, media)
    schema = spec["content"][media]["schema"]
    if media != "application/json":
        return
    validator = Draft202012Validator({**schema, "components": document["components"]})
    errors = sorted(validator.iter_errors(resp.json()), key=str)
    assert not errors, (path, resp.status_code, [e.message for e in errors[:3]])


def test_document_is_openapi_31_built_from_the_contracts(served) -> None:
    _, document = served
    assert document["openapi"].startswith("3.1")
    assert {"ContextEnvelope", "ErrorEnvelope", "HealthEnvelope", "SkillEnvelope",
            "MarketContextBundle", "DomainBlock"} <= set(document["components"]["schemas"])
    bundle = document["components"]["schemas"]["MarketContextBundle"]
    assert set(bundle["required"]) >= {"asOfUtc", "freshnessSeconds", "qualityScore", "domains"}
    assert bundle["additionalProperties"] is False  # Torghut rejects unknown keys; so do we


@pytest.mark.parametrize("path, params, headers, status", [
    (API, {"symbol": "IBM"}, {}, 200),
    (API, {"symbol": "spy", "asOf": "2024-03-01T15:30:30Z"}, {}, 200),
    (API, {"symbol": "1X"}, {}, 400),
    (API, {"symbol": "SPY", "asOf": "2024-03-01"}, {}, 400),
    (API, {"symbol": "ZZZZ"}, {}, 404),
    (API, {"symbol": "SPY", "asOf": "2020-01-01T00:00:00Z"}, {}, 404),
    (f"{API}/health", {}, {}, 200),
    (f"{API}/health", {"symbol": "ibm"}, {}, 200),
    (f"{API}/health", {"symbol": "-"}, {}, 400),
    (f"{API}/health/universe", {}, {}, 200),
    (f"{API}/research", {"symbol": "IBM"}, {}, 200),
    (f"{API}/research", {"symbol": "AIG"}, {}, 404),
    (API + "/{domain}", {"symbol": "IBM"}, {}, 200),
    ("/healthz", {}, {}, 200),
    ("/metrics", {}, {}, 200),
])
def test_real_answers_match_the_document(served, path, params, headers, status) -> None:
    url, document = served
    real = path.replace("{domain}", "fundamentals")
    resp = httpx.get(f"{url}{real}", params=params, headers=headers)
    assert resp.status_code == status, resp.text[:300]
    check(document, path, resp)


def test_304_and_503_match_the_document(served, tmp_path: Path) -> None:
    url, document = served
    first = httpx.get(f"{url}{API}", params={"symbol": "IBM"})
    again = httpx.get(f"{url}{API}", params={"symbol": "IBM"},
                      headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    check(document, API, again)
    down = create_app(lambda: BundleStore.from_dsn("postgresql://x:y@127.0.0.1:1/z"))
    with asgi_in_background(down) as bad:
        for path in (API, f"{API}/health", f"{API}/health/universe", f"{API}/research"):
            resp = httpx.get(f"{bad}{path}", params={"symbol": "SPY"})
            assert resp.status_code == 503
            check(document, path, resp)


def test_root_page_links_the_document_and_the_health_endpoints(served) -> None:
    url, _ = served
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for link in ('href="/openapi.json"', 'href="/api/torghut/market-context/health"',
                 'href="/metrics"'):
        assert link in page.text


@pytest.mark.parametrize("as_of", ["0000-00-00T00:00:00Z", "2024-13-01T00:00:00Z",
                                   "2024-02-30T10:00:00+00:00"])
def test_well_shaped_but_impossible_instants_are_400(served, as_of) -> None:
    """Found by schemathesis (make contract): these matched the asOf pattern and crashed."""
    url, document = served
    resp = httpx.get(f"{url}{API}", params={"symbol": "SPY", "asOf": as_of})
    assert resp.status_code == 400 and "is not a real instant" in resp.json()["message"]
    check(document, API, resp)
