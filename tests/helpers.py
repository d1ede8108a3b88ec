"""Owns test builders: valid wire bundles with chosen per-domain states."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from intel_assets.contracts.bundle import DOMAINS, Citation, DomainBlock, MarketContextBundle
from intel_assets.domain.bundle import bundle_at

#: The shared reference data beside the repo; INTEL_LEAN_DATA_DIR / INTEL_EDGAR_DATA_DIR override.
#: Tests that need them skip with a reason when they are absent.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LEAN_DIR = Path(os.environ.get("INTEL_LEAN_DATA_DIR") or SHARED_DATA / "lean")
EDGAR_DIR = Path(os.environ.get("INTEL_EDGAR_DATA_DIR") or SHARED_DATA / "edgar")

#: Default states: two observed domains, two missing ones.
DEFAULT_STATES = {"technicals": "ok", "regime": "ok", "news": "missing", "fundamentals": "missing"}
MAX_FRESHNESS = {"technicals": 60, "regime": 60, "news": 300, "fundamentals": 86_400}


def make_block(domain: str, state: str, as_of: datetime) -> DomainBlock:
    """One valid block; ok/stale blocks carry an asOf, a citation and a payload."""
    budget = MAX_FRESHNESS[domain]
    if state in ("ok", "stale"):
        age = 5 if state == "ok" else budget * 3
        block_as_of = as_of - timedelta(seconds=age)
        return DomainBlock(
            domain=domain, state=state, as_of=block_as_of, freshness_seconds=age,
            max_freshness_seconds=budget, source_count=1,
            quality_score=0.9 if state == "ok" else 0.4,
            payload={"value": 1.5, "label": f"{domain}-{state}"},
            citations=[Citation(source=f"test-{domain}", published_at=block_as_of)],
            risk_flags=[] if state == "ok" else [f"{domain}_stale"],
        )
    return DomainBlock(
        domain=domain, state=state, max_freshness_seconds=budget, quality_score=0.0,
        risk_flags=[f"{domain}_{state}"],
    )


def make_bundle(symbol: str, as_of: datetime, states: dict[str, str] | None = None) -> MarketContextBundle:
    """A valid bundle for `symbol` built as of `as_of` (domain.bundle.bundle_at, the one
    definition of freshness, flags and quality); `states` overrides DEFAULT_STATES per domain."""
    chosen = {**DEFAULT_STATES, **(states or {})}
    blocks = {domain: make_block(domain, chosen[domain], as_of) for domain in DOMAINS}
    return bundle_at(symbol, as_of, blocks, as_of)
