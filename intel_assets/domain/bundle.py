"""Owns the merge of four domain blocks into one versioned, freshness-scored wire bundle."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from intel_assets.contracts.bundle import (
    CONTEXT_VERSION,
    DOMAINS,
    DomainBlock,
    DomainBlocks,
    DomainState,
    MarketContextBundle,
)
from intel_assets.domain.quality import bundle_quality, missing_block, with_clock


def merge_bundle(
    symbol: str,
    now: datetime,
    blocks: Mapping[str, DomainBlock],
    budgets: Mapping[str, float],
) -> MarketContextBundle:
    """The bundle for symbol as of now.

    Every domain appears: one without a block is `missing`. Each block's freshness is measured
    again against `now`. Bundle fields:
      freshnessSeconds = age of the oldest domain the bundle relies on (ok or stale), 0 if none;
      sourceCount      = sum of the domains' source counts;
      riskFlags        = every domain's flags (deduplicated, in domain order);
      qualityScore     = domain.quality.bundle_quality over the four domains.
    """
    merged: dict[str, DomainBlock] = {}
    for name in DOMAINS:
        block = blocks.get(name)
        if block is None:
            block = missing_block(name, budgets[name], f"no {name} data has been materialized")
        merged[name] = with_clock(block, now)
    present = [b for b in merged.values() if b.state in (DomainState.OK, DomainState.STALE)]
    flags: list[str] = []
    for block in merged.values():
        flags.extend(block.risk_flags)
    return MarketContextBundle(
        context_version=CONTEXT_VERSION,
        symbol=symbol,
        as_of_utc=now,
        freshness_seconds=max((b.freshness_seconds or 0 for b in present), default=0),
        quality_score=bundle_quality(merged.values()),
        source_count=sum(b.source_count for b in merged.values()),
        risk_flags=list(dict.fromkeys(flags)),
        domains=DomainBlocks(**merged),
    )


def unflagged_domains(bundle: MarketContextBundle) -> list[str]:
    """Domains that are stale, missing or errored yet lack their <domain>_<state> flag."""
    problems = []
    for block in bundle.domains.blocks():
        if block.state is DomainState.OK:
            continue
        flag = f"{block.domain}_{block.state.value}"
        if flag not in block.risk_flags or flag not in bundle.risk_flags:
            problems.append(f"{block.domain} is {block.state.value} but not flagged {flag}")
    return problems
