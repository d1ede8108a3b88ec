"""Owns the health shapes the serving API answers: Jangar's per-symbol market-context health
(what Torghut's client reads: ``overallState``) and our universe-wide view.

The per-symbol shape restates Jangar's ``TorghutMarketContextHealth`` (proompteng/lab
255d330fe services/jangar/src/server/torghut-market-context.ts): ``enabled``, ``cacheSeconds``,
``maxStalenessSeconds``, ``bundleFreshnessSeconds``, ``bundleQualityScore``,
``providerHealth[]``, ``ingestionHealth.clickhouse``, ``domainHealth[]`` and ``overallState``
(``down`` when disabled or a domain is ``error``, ``degraded`` when a domain is not ``ok``,
else ``ok``). We add ``symbol`` and ``asOfUtc`` (which bundle was judged); Torghut reads the
health as a plain mapping, so extra keys are harmless there.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from intel_assets.contracts.bundle import DomainName, DomainState, WireModel

OverallState = Literal["ok", "degraded", "down"]


class SourceHealth(WireModel):
    """The last poll of one source, as the assets recorded it (times are wall-clock UTC)."""

    configured: bool
    last_attempt_at: AwareDatetime | None = None
    last_success_at: AwareDatetime | None = None
    last_error: str | None = None
    consecutive_failures: int = Field(default=0, ge=0)
    latency_ms: float | None = Field(default=None, ge=0)


class ProviderHealth(SourceHealth):
    provider: Literal["fundamentals", "news"]


class IngestionHealth(WireModel):
    clickhouse: SourceHealth


class DomainHealth(WireModel):
    domain: DomainName
    state: DomainState
    freshness_seconds: int | None = None
    max_freshness_seconds: int
    quality_score: float = Field(ge=0.0, le=1.0)
    risk_flags: list[str] = Field(default_factory=list)


class MarketContextHealth(WireModel):
    """GET /api/torghut/market-context/health?symbol=S -> {"ok": true, "health": <this>}."""

    enabled: bool
    cache_seconds: int = Field(ge=0)
    max_staleness_seconds: int = Field(gt=0)
    bundle_freshness_seconds: int = Field(ge=0)
    bundle_quality_score: float = Field(ge=0.0, le=1.0)
    provider_health: list[ProviderHealth]
    ingestion_health: IngestionHealth
    domain_health: list[DomainHealth]
    overall_state: OverallState
    symbol: str
    as_of_utc: AwareDatetime | None = None


class DomainStates(WireModel):
    """One domain across the universe: counts per state and which symbols are not ok."""

    ok: int = 0
    stale: int = 0
    missing: int = 0
    error: int = 0
    oldest_as_of: AwareDatetime | None = None
    stale_symbols: list[str] = Field(default_factory=list)
    missing_symbols: list[str] = Field(default_factory=list)
    error_symbols: list[str] = Field(default_factory=list)


class UniverseHealth(WireModel):
    """GET /api/torghut/market-context/health/universe -> {"ok": true, "health": <this>}."""

    symbols: int = Field(ge=0)
    overall_state: OverallState
    newest_published_at: AwareDatetime | None = None
    stale_bundles: list[str] = Field(default_factory=list, description=(
        "symbols whose bundle carries market_context_stale at the reading clock"))
    domains: dict[DomainName, DomainStates]
    store_reachable: bool = True


__all__ = ["DomainHealth", "DomainStates", "IngestionHealth", "MarketContextHealth",
           "OverallState", "ProviderHealth", "SourceHealth", "UniverseHealth"]
