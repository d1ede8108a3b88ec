"""Owns market-context health: one symbol's bundle judged as Jangar judges it, and the whole
published universe by domain (which symbols are stale, missing or errored), both from bundles
already re-aged to the reading clock (domain.bundle.bundle_seen_at)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from intel_assets.contracts.bundle import DOMAINS, DomainState, MarketContextBundle
from intel_assets.contracts.health import (
    DomainHealth,
    DomainStates,
    IngestionHealth,
    MarketContextHealth,
    OverallState,
    ProviderHealth,
    SourceHealth,
    UniverseHealth,
)
from intel_assets.domain.bundle import STALE_FLAG

#: Jangar's providers (its fundamentals and news sources); ClickHouse is its ingestion.
PROVIDERS = ("fundamentals", "news")


def overall_state(bundle: MarketContextBundle, enabled: bool = True) -> OverallState:
    """Jangar's rule: down when disabled or any domain errored, degraded when any is not ok."""
    states = [block.state for block in bundle.domains.blocks()]
    if not enabled or DomainState.ERROR in states:
        return "down"
    if any(state is not DomainState.OK for state in states):
        return "degraded"
    return "ok"


def _source(recorded: Mapping[str, Any] | None) -> dict[str, Any]:
    """A recorded poll, or an unconfigured source that was never polled."""
    if recorded is None:
        return {"configured": False}
    return {k: v for k, v in recorded.items() if k != "provider"}


def symbol_health(bundle: MarketContextBundle, *, enabled: bool, max_staleness_seconds: int,
                  sources: Mapping[str, Mapping[str, Any]], cache_seconds: int = 0
                  ) -> MarketContextHealth:
    """Health of one symbol's bundle (already seen at the reading clock) in Jangar's shape;
    ``sources`` maps news / fundamentals / clickhouse to their last recorded poll."""
    return MarketContextHealth(
        enabled=enabled,
        cache_seconds=cache_seconds,
        max_staleness_seconds=max_staleness_seconds,
        bundle_freshness_seconds=bundle.freshness_seconds,
        bundle_quality_score=bundle.quality_score,
        provider_health=[ProviderHealth(provider=name, **_source(sources.get(name)))
                         for name in PROVIDERS],
        ingestion_health=IngestionHealth(
            clickhouse=SourceHealth(**_source(sources.get("clickhouse")))),
        domain_health=[
            DomainHealth(domain=b.domain, state=b.state, freshness_seconds=b.freshness_seconds,
                         max_freshness_seconds=b.max_freshness_seconds,
                         quality_score=b.quality_score, risk_flags=b.risk_flags)
            for b in bundle.domains.blocks()
        ],
        overall_state=overall_state(bundle, enabled),
        symbol=bundle.symbol,
        as_of_utc=bundle.as_of_utc,
    )


def universe_health(bundles: Iterable[MarketContextBundle],
                    newest_published_at: datetime | None = None) -> UniverseHealth:
    """Per domain: counts by state, the oldest block asOf, and the symbols that are stale,
    missing or errored; plus the bundles flagged stale and the worst overall state."""
    bundles = sorted(bundles, key=lambda b: b.symbol)
    acc: dict[str, dict[str, Any]] = {
        d: {"ok": 0, "stale": 0, "missing": 0, "error": 0, "oldest_as_of": None,
            "stale_symbols": [], "missing_symbols": [], "error_symbols": []} for d in DOMAINS}
    worst: OverallState = "ok" if bundles else "degraded"
    rank = {"ok": 0, "degraded": 1, "down": 2}
    for bundle in bundles:
        state_of_bundle = overall_state(bundle)
        if rank[state_of_bundle] > rank[worst]:
            worst = state_of_bundle
        for block in bundle.domains.blocks():
            entry = acc[block.domain]
            entry[block.state.value] += 1
            if block.state is not DomainState.OK:
                entry[f"{block.state.value}_symbols"].append(bundle.symbol)
            if block.as_of is not None and (entry["oldest_as_of"] is None
                                            or block.as_of < entry["oldest_as_of"]):
                entry["oldest_as_of"] = block.as_of
    return UniverseHealth(
        symbols=len(bundles),
        overall_state=worst,
        newest_published_at=newest_published_at,
        stale_bundles=[b.symbol for b in bundles if STALE_FLAG in b.risk_flags],
        domains={d: DomainStates(**acc[d]) for d in DOMAINS},
    )


__all__ = ["PROVIDERS", "overall_state", "symbol_health", "universe_health"]
