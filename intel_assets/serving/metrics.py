"""Owns the serving API's Prometheus metrics: request latency and answers by path and status,
and, computed when /metrics is scraped, each published bundle's age and quality per domain at
the serving clock (so an alert sees context going stale even when nobody requests it).

Series (label sets are bounded: ``path`` by the routes, ``symbol`` by the published universe,
capped at ``max_symbols``; beyond the cap only the per-state counts are exported):

* ``market_context_request_duration_seconds{path}`` histogram (p99 for the canary SLO);
* ``market_context_requests_total{path, status}`` counter;
* ``market_context_bundle_freshness_seconds{symbol}``, ``market_context_bundle_quality_score
  {symbol}``, ``market_context_bundle_stale{symbol}`` (1 when flagged market_context_stale);
* ``market_context_domain_age_seconds{symbol, domain}`` (domains with data),
  ``market_context_domain_quality_score{symbol, domain}``;
* ``market_context_domain_symbols{domain, state}``: how many symbols are in each state;
* ``market_context_store_up``: 1 when the bundle store answered the scrape's read.

Only the serving process's own series: the Torghut consumer's counters (torghut/metrics.py) live
in Torghut's process and are always 0 here, so they are not exported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.requests import Request
from starlette.responses import Response

from intel_assets.contracts.bundle import DOMAINS, DomainState, MarketContextBundle
from intel_assets.domain.bundle import STALE_FLAG, bundle_seen_at

if TYPE_CHECKING:
    from intel_assets.stores.bundle_store import BundleStore, StoredBundle
    from intel_assets.serving.app import ServingConfig

SERVING_REGISTRY = CollectorRegistry()
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
REQUEST_SECONDS = Histogram(
    "market_context_request_duration_seconds",
    "Time to answer a serving API request, by route", ["path"], buckets=LATENCY_BUCKETS,
    registry=SERVING_REGISTRY)
REQUESTS = Counter(
    "market_context_requests_total", "Serving API answers by route and HTTP status",
    ["path", "status"], registry=SERVING_REGISTRY)
DEFAULT_MAX_SYMBOLS = 1000


class _BundleCollector:
    """Scrape-time gauges over the latest bundles, each re-aged to the serving clock."""

    def __init__(self, store: Callable[[], "BundleStore"], config: "ServingConfig",
                 parse: Callable[["StoredBundle"], MarketContextBundle], max_symbols: int) -> None:
        self._store, self._config, self._parse, self._max = store, config, parse, max_symbols

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("market_context_store_up",
                               "1 when the bundle store answered this scrape's read")
        try:
            latest = self._store().latest_all()
        except Exception:  # noqa: BLE001  the store being down is what this series reports
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        now = self._config.clock.now()
        bundles = [bundle_seen_at(self._parse(s), now, self._config.policy,
                                  self._config.market_clock) for s in latest]
        counts = GaugeMetricFamily("market_context_domain_symbols",
                                   "Published symbols by domain and state at the serving clock",
                                   labels=["domain", "state"])
        for domain in DOMAINS:
            for state in DomainState:
                n = sum(1 for b in bundles if getattr(b.domains, domain).state is state)
                counts.add_metric([domain, state.value], float(n))
        yield counts
        per_symbol = bundles[: self._max]
        fresh = GaugeMetricFamily("market_context_bundle_freshness_seconds",
                                  "Bundle freshnessSeconds at the serving clock", labels=["symbol"])
        quality = GaugeMetricFamily("market_context_bundle_quality_score",
                                    "Bundle qualityScore at the serving clock", labels=["symbol"])
        stale = GaugeMetricFamily("market_context_bundle_stale",
                                  "1 when the bundle is flagged market_context_stale",
                                  labels=["symbol"])
        age = GaugeMetricFamily("market_context_domain_age_seconds",
                                "Age of a domain's data at the serving clock",
                                labels=["symbol", "domain"])
        dq = GaugeMetricFamily("market_context_domain_quality_score",
                               "A domain's qualityScore at the serving clock",
                               labels=["symbol", "domain"])
        for bundle in per_symbol:
            fresh.add_metric([bundle.symbol], float(bundle.freshness_seconds))
            quality.add_metric([bundle.symbol], bundle.quality_score)
            stale.add_metric([bundle.symbol], 1.0 if STALE_FLAG in bundle.risk_flags else 0.0)
            for block in bundle.domains.blocks():
                if block.freshness_seconds is not None:
                    age.add_metric([bundle.symbol, block.domain], float(block.freshness_seconds))
                dq.add_metric([bundle.symbol, block.domain], block.quality_score)
        yield from (fresh, quality, stale, age, dq)


class ServingMetrics:
    """One app's metrics: shared request series plus its own scrape-time bundle collector."""

    def __init__(self, store: Callable[[], "BundleStore"], config: "ServingConfig",
                 parse: Callable[["StoredBundle"], MarketContextBundle],
                 max_symbols: int = DEFAULT_MAX_SYMBOLS) -> None:
        self._bundles = CollectorRegistry()
        self._bundles.register(_BundleCollector(store, config, parse, max_symbols))

    @staticmethod
    def observe(path: str, status: int, seconds: float) -> None:
        REQUEST_SECONDS.labels(path=path).observe(seconds)
        REQUESTS.labels(path=path, status=str(status)).inc()

    def response(self, request: Request) -> Response:
        """GET /metrics in the Prometheus text format."""
        body = generate_latest(SERVING_REGISTRY) + generate_latest(self._bundles)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


__all__ = ["LATENCY_BUCKETS", "REQUESTS", "REQUEST_SECONDS", "SERVING_REGISTRY", "ServingMetrics"]
