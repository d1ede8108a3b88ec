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
from typing import TYPE_CHECKING

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
    REUSE_PENALTY,
    age_seconds,
    bundle_quality,
    fetch_failed_flag,
    missing_block,
    with_clock,
)

if TYPE_CHECKING:
    from intel_assets.domain.market_clock import MarketClock

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
              now: datetime, policy: BundlePolicy = BundlePolicy(),
              clock: "MarketClock | None" = None) -> MarketContextBundle:
    """The bundle of ``blocks`` (all four domains) built as of ``as_of_utc``, seen at ``now``:
    every block re-aged to ``now`` (by the market ``clock`` when given: quality.with_clock),
    then freshness, flags and quality as the module says."""
    missing = [name for name in DOMAINS if name not in blocks]
    if missing:
        raise ValueError(f"bundle_at needs a block for every domain; missing {missing}")
    aged = {name: with_clock(blocks[name], now, clock) for name in DOMAINS}
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
                 policy: BundlePolicy = BundlePolicy(),
                 clock: "MarketClock | None" = None) -> MarketContextBundle:
    """The bundle for symbol built as of ``now``: a domain without a block is ``missing``."""
    merged = {
        name: blocks.get(name) or missing_block(name, budgets[name],
                                                f"no {name} data has been materialized")
        for name in DOMAINS
    }
    return bundle_at(symbol, now, merged, now, policy, clock)


def reused_block(previous: DomainBlock, reason: str, now: datetime,
                 source: str = "reusedFromAsOf") -> DomainBlock:
    """A block kept after its refresh failed or came back worse: re-measured at ``now`` (its own
    asOf), state ``stale``, flagged ``<domain>_stale`` + ``<domain>_fetch_failed``, quality x
    REUSE_PENALTY (once: a block reused before is not penalized again), the reason and where it
    came from (``source``: its original asOf) in the payload. The caller checks it is usable
    and within budget (``keep_better``, news.reused_or_error_block)."""
    domain = previous.domain
    stale, failed = f"{domain}_stale", fetch_failed_flag(domain)
    measured = with_clock(previous, now)
    already = failed in previous.risk_flags
    kept = [f for f in measured.risk_flags if f not in (stale, failed)]
    return measured.model_copy(update={
        "state": DomainState.STALE,
        "quality_score": measured.quality_score if already else round(
            measured.quality_score * REUSE_PENALTY, 4),
        "risk_flags": [stale, failed, *kept],
        "payload": {**measured.payload, "fetchError": reason,
                    source: measured.as_of.isoformat().replace("+00:00", "Z")},  # type: ignore[union-attr]
    })


#: Payload key of a block ``keep_better`` kept: the asOf of the published block it came from.
KEPT_FROM_PUBLISHED = "keptFromPublishedAsOf"


def keep_better(previous: DomainBlock | None, fresh: DomainBlock, now: datetime,
                budget_seconds: float) -> tuple[DomainBlock, str | None]:
    """Never lose good data: (the block to publish, why the published one was kept or None).

    The latest published block of the domain (``previous``) is kept instead of a refresh's
    ``fresh`` block when the refresh came back worse (``error``/``missing``, or a quality below
    what the kept block would score after REUSE_PENALTY) and the published block holds data
    (ok/stale, an asOf at or before ``now``: nothing from a later clock is reused) whose age at
    ``now`` is within ``budget_seconds``. The kept block is ``reused_block``'s: stale, flagged
    ``<domain>_fetch_failed``, its payload naming the refresh's problem and the published
    asOf. Past its budget the fresh block (an error, say) is published as it is."""
    if (previous is None or previous.domain != fresh.domain or previous.as_of is None
            or previous.state not in (DomainState.OK, DomainState.STALE)
            or previous.as_of > now or age_seconds(now, previous.as_of) > budget_seconds):
        return fresh, None
    if fresh.state in (DomainState.MISSING, DomainState.ERROR):
        problem = f"refresh {fresh.state.value}: {fresh.payload.get('reason', 'no reason given')}"
    else:
        problem = f"refresh scored {fresh.quality_score:.2f} ({fresh.state.value})"
    kept = reused_block(previous, problem, now, source=KEPT_FROM_PUBLISHED)
    if fresh.state not in (DomainState.MISSING, DomainState.ERROR) \
            and fresh.quality_score >= kept.quality_score:
        return fresh, None
    age = age_seconds(now, previous.as_of)
    return kept, (f"{problem}; kept the published block as of {previous.as_of.isoformat()} "
                  f"({age} s old, budget {budget_seconds:g} s) marked stale, quality "
                  f"{kept.quality_score:.2f}")


def bundle_seen_at(bundle: MarketContextBundle, now: datetime,
                   policy: BundlePolicy = BundlePolicy(),
                   clock: "MarketClock | None" = None) -> MarketContextBundle:
    """A published bundle as it stands at the reading clock ``now`` (what Torghut is served)."""
    blocks = {name: getattr(bundle.domains, name) for name in DOMAINS}
    return bundle_at(bundle.symbol, bundle.as_of_utc, blocks, now, policy, clock)


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
