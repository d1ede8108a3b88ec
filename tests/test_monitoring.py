"""The alert rules and the Grafana dashboard in deploy/monitoring use only series that are really
exported (scraped from a running serving app, plus the Torghut consumer's own registry, which
Torghut's process exports), so they cannot silently drift from the code."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import httpx
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from helpers import make_bundle
from intel_assets.devtools.asgi import asgi_in_background
from intel_assets.domain.clock import Clock
from intel_assets.stores.bundle_store import BundleStore
from intel_assets.serving.app import ServingConfig, create_app
from intel_assets.torghut.metrics import REGISTRY as CONSUMER_REGISTRY

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "monitoring"
SERIES = re.compile(r"\b((?:market_context|torghut)_[a-z0-9_]+)")
T0 = datetime(2024, 3, 1, 15, 30, tzinfo=timezone.utc)


def exported_series(tmp_path: Path) -> set[str]:
    dsn = f"sqlite:///{tmp_path / 'bundles.sqlite3'}"
    with BundleStore.from_dsn(dsn) as store:
        store.ensure_schema()
        store.publish([make_bundle("SPY", T0)])
    app = create_app(lambda: BundleStore.from_dsn(dsn), ServingConfig(clock=Clock(T0)))
    with asgi_in_background(app) as url:
        httpx.get(f"{url}/api/torghut/market-context", params={"symbol": "SPY"})
        text = httpx.get(f"{url}/metrics").text
    # The consumer's series come from Torghut's /metrics (its own process), not the serving API's.
    text += generate_latest(CONSUMER_REGISTRY).decode()
    return {sample.name for family in text_string_to_metric_families(text)
            for sample in family.samples}


def test_alert_rules_use_exported_series_and_explain_themselves(tmp_path: Path) -> None:
    rules = yaml.safe_load((DEPLOY / "market-context-alerts.yaml").read_text())
    exported = exported_series(tmp_path)
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {a["alert"] for a in alerts} >= {"MarketContextBundleStale", "MarketContextStoreDown",
                                            "MarketContextLatencyHigh"}
    for alert in alerts:
        used = set(SERIES.findall(alert["expr"]))
        assert used, alert["alert"]
        assert used <= exported, (alert["alert"], used - exported)
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]
        assert re.fullmatch(r"\d+m", alert["for"])


def test_dashboard_panels_query_exported_series(tmp_path: Path) -> None:
    dashboard = json.loads((DEPLOY / "market-context-dashboard.json").read_text())
    exported = exported_series(tmp_path)
    assert dashboard["uid"] == "intel-assets-market-context" and dashboard["panels"]
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used = set(SERIES.findall(target["expr"]))
            assert used and used <= exported, (panel["title"], used - exported)


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """One /metrics scrape: (sample name, sorted labels) -> value."""
    text = httpx.get(f"{url}/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_carry_per_symbol_domain_age_quality_and_latency_and_no_consumer_series(
        tmp_path: Path) -> None:
    """Issue 13, section 1, "/metrics": the serving API's scrape must carry bundle age and
    quality per symbol and domain and the request latency histogram, without the Torghut
    consumer's counters (always 0 in this process); and the age must grow with the serving
    clock between two scrapes with no republish (an alert sees data going stale)."""
    from intel_assets.contracts.bundle import DOMAINS

    dsn = f"sqlite:///{tmp_path / 'bundles.sqlite3'}"
    with BundleStore.from_dsn(dsn) as store:
        store.ensure_schema()
        every = {domain: "ok" for domain in DOMAINS}  # each domain with data
        store.publish([make_bundle("SPY", T0, every), make_bundle("IBM", T0, every)])
    later = T0.replace(minute=T0.minute + 5)
    scrapes = []
    for now in (T0, later):  # the same store, two serving clocks: nothing republished
        app = create_app(lambda: BundleStore.from_dsn(dsn), ServingConfig(clock=Clock(now)))
        with asgi_in_background(app) as url:
            assert httpx.get(f"{url}/api/torghut/market-context",
                             params={"symbol": "SPY"}).status_code == 200
            scrapes.append(scrape(url))
    first, second = scrapes
    assert not [name for name, _ in first if name.startswith("torghut_")]
    assert any(name == "market_context_request_duration_seconds_bucket"
               and dict(labels).get("path") == "/api/torghut/market-context"
               for name, labels in first)
    for symbol in ("SPY", "IBM"):
        for domain in DOMAINS:
            key = (("domain", domain), ("symbol", symbol))
            assert ("market_context_domain_quality_score", key) in first, key
            assert ("market_context_domain_age_seconds", key) in first, key
            grew = second[("market_context_domain_age_seconds", key)] - \
                first[("market_context_domain_age_seconds", key)]
            assert grew == 300.0, (key, grew)
