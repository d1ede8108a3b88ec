"""Owns the bundle as seen at a clock: the merge of four domain blocks into one versioned,
freshness-scored wire bundle, used alike when a bundle is built (publish) and when it is read
(every request re-ages it), plus the kill-switch bundle.

Bundle fields (one definition, ``bundle_at``):

* ``asOfUtc``: the clock the bundle was built as of (its data is stamped at or before it).
* ``freshnessSeconds``: the age, at the reading clock, of the *required* domains (technicals and
  regime: the two Torghut's current schema requires and its policy reads), the older of the
  two. Slow domains (news 5 min, fundamentals 24 h) keep their own state and flags but do not
  set the bundle's freshness: Torghut blocks every review whose bundle is older than its
  ``TRADING_MARKET_CONTEXT_MAX_STALENESS_SECONDS`` (300 by default), so a 24-h fundamentals
  budget must not make every bundle "stale". When neither required domain has data, it is the
  age of the bundle's own clock.
* ``riskFlags``: every domain's flags (deduplicated, in domain order), then the bundle's own:
  ``market_context_stale`` when ``freshnessSeconds`` exceeds the policy's
  ``max_staleness_seconds``, ``market_context_disabled`` for the kill-switch bundle.
* ``qualityScore``: ``domain.quality.bundle_quality`` (weighted mean capped by the required
  domains); ``sourceCount``: the sum of the domains'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from intel_assets.contracts.bundle import (
    CONTEXT_VERSION,
    DOMAINS,
    DomainBlock,
    DomainBlocks,
    DomainState,
    MarketContextBundle,
)
from intel_assets.domain.quality import (
    REQUIRED_DOMAINS,
    age_seconds,
    bundle_quality,
    missing_block,
    with_clock,
)

STALE_FLAG = "market_context_stale"
DISABLED_FLAG = "market_context_disabled"
#: Bundle-level flags: derived from the blocks and the policy, never carried over when re-aging.
BUNDLE_FLAGS = (STALE_FLAG, DISABLED_FLAG)
#: The plan's JANGAR_MARKET_CONTEXT_MAX_STALENESS_SECONDS and Torghut's own default.
DEFAULT_MAX_STALENESS_SECONDS = 300


@dataclass(frozen=True)
class BundlePolicy:
    """How a bundle is judged at a clock: the staleness limit of its required domains."""

    max_staleness_seconds: int = DEFAULT_MAX_STALENESS_SECONDS

    def __post_init__(self) -> None:
        if self.max_staleness_seconds <= 0:
            raise ValueError("max_staleness_seconds must be a positive number of seconds")


def bundle_at(symbol: str, as_of_utc: datetime, blocks: Mapping[str, DomainBlock],
              now: datetime, policy: BundlePolicy = BundlePolicy()) -> MarketContextBundle:
    """The bundle of ``blocks`` (all four domains) built as of ``as_of_utc``, seen at ``now``:
    every block re-aged to ``now``, then freshness, flags and quality as the module says."""
    missing = [name for name in DOMAINS if name not in blocks]
    if missing:
        raise ValueError(f"bundle_at needs a block for every domain; missing {missing}")
    aged = {name: with_clock(blocks[name], now) for name in DOMAINS}
    required_ages = [aged[name].freshness_seconds for name in REQUIRED_DOMAINS
                     if aged[name].state in (DomainState.OK, DomainState.STALE)
                     and aged[name].freshness_seconds is not None]
    freshness = max(required_ages) if required_ages else age_seconds(now, as_of_utc)
    flags: list[str] = []
    for block in aged.values():
        flags.extend(f for f in block.risk_flags if f not in BUNDLE_FLAGS)
    if freshness > policy.max_staleness_seconds:
        flags.append(STALE_FLAG)
    return MarketContextBundle(
        context_version=CONTEXT_VERSION,
        symbol=symbol,
        as_of_utc=as_of_utc,
        freshness_seconds=freshness,
        quality_score=bundle_quality(aged.values()),
        source_count=sum(b.source_count for b in aged.values()),
        risk_flags=list(dict.fromkeys(flags)),
        domains=DomainBlocks(**aged),
    )


def merge_bundle(symbol: str, now: datetime, blocks: Mapping[str, DomainBlock],
                 budgets: Mapping[str, float],
                 policy: BundlePolicy = BundlePolicy()) -> MarketContextBundle:
    """The bundle for symbol built as of ``now``: a domain without a block is ``missing``."""
    merged = {
        name: blocks.get(name) or missing_block(name, budgets[name],
                                                f"no {name} data has been materialized")
        for name in DOMAINS
    }
    return bundle_at(symbol, now, merged, now, policy)


def bundle_seen_at(bundle: MarketContextBundle, now: datetime,
                   policy: BundlePolicy = BundlePolicy()) -> MarketContextBundle:
    """A published bundle as it stands at the reading clock ``now`` (what Torghut is served)."""
    blocks = {name: getattr(bundle.domains, name) for name in DOMAINS}
    return bundle_at(bundle.symbol, bundle.as_of_utc, blocks, now, policy)


def disabled_bundle(symbol: str, now: datetime, budgets: Mapping[str, float],
                    switch: str = "INTEL_MARKET_CONTEXT_ENABLED") -> MarketContextBundle:
    """The kill-switch bundle: every domain ``missing``, flagged ``market_context_disabled``."""
    reason = f"market context disabled by {switch}=false"
    blocks = {name: missing_block(name, budgets[name], reason) for name in DOMAINS}
    bundle = bundle_at(symbol, now, blocks, now)
    return bundle.model_copy(update={"risk_flags": [*bundle.risk_flags, DISABLED_FLAG]})


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
