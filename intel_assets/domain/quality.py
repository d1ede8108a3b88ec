"""Owns freshness states and quality scores of domain blocks and bundles (documented formula).

Domain quality  q = freshness_decay(age, budget) x completeness x source_coverage
  freshness_decay = 1 - 0.5 * age/budget while age <= budget (1.0 fresh, 0.5 at the budget),
                    then 0.5 * budget/age (keeps falling once stale);
  completeness    = share of the domain's expected payload values that are present;
  source_coverage = min(1, sources used / sources expected).
A missing or errored domain scores 0. A block reused after its provider failed (flagged
``<domain>_fetch_failed``) is ``stale`` whatever its age, and scores REUSE_PENALTY x q: the data
may still be young, but nobody could confirm it.

Bundle quality   Q = min( sum(w_d * q_d) / sum(w_d) over all four domains (DOMAIN_WEIGHTS),
                          q_technicals, q_regime )
The weighted mean says how complete the context is (a bundle whose news and fundamentals are
missing scores at most 0.5); the cap by the required domains (REQUIRED_DOMAINS, the two
Torghut's current schema requires and whose lower score its policy reads) means a bundle
without usable price context can never pass a quality floor on the strength of news and
fundamentals alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from intel_assets.contracts.bundle import DomainBlock, DomainState

#: Quality factor of a block reused after a failed fetch (see the module docstring).
REUSE_PENALTY = 0.5


def fetch_failed_flag(domain: str) -> str:
    return f"{domain}_fetch_failed"


#: Domains a trade decision cannot do without (price action and regime).
REQUIRED_DOMAINS: tuple[str, ...] = ("technicals", "regime")
DOMAIN_WEIGHTS: Mapping[str, float] = {
    "technicals": 0.35,
    "regime": 0.15,
    "news": 0.25,
    "fundamentals": 0.25,
}


def age_seconds(now: datetime, as_of: datetime) -> int:
    """Whole seconds from as_of to now (never negative: data from the future is a bug)."""
    return max(0, int((now - as_of).total_seconds()))


def freshness_decay(age: float, budget: float) -> float:
    if budget <= 0:
        raise ValueError("a freshness budget must be positive")
    if age <= budget:
        return 1.0 - 0.5 * (age / budget)
    return 0.5 * budget / age


def completeness(values: Iterable[Any]) -> float:
    """Share of values that are present (not None and not NaN)."""
    items = list(values)
    if not items:
        return 0.0
    present = sum(
        1 for v in items if v is not None and not (isinstance(v, float) and math.isnan(v))
    )
    return present / len(items)


def domain_quality(age: float, budget: float, complete: float, sources: int, expected: int) -> float:
    coverage = min(1.0, sources / expected) if expected > 0 else 1.0
    return round(max(0.0, min(1.0, freshness_decay(age, budget) * complete * coverage)), 4)


def observed_block(
    *,
    domain: str,
    now: datetime,
    as_of: datetime,
    budget_seconds: float,
    payload: dict[str, Any],
    core_values: Iterable[Any],
    sources: int,
    expected_sources: int,
    citations: list | None = None,
    risk_flags: Iterable[str] = (),
) -> DomainBlock:
    """A block for data observed at as_of: state ok/stale by budget, quality by the formula."""
    age = age_seconds(now, as_of)
    state = DomainState.OK if age <= budget_seconds else DomainState.STALE
    flags = list(dict.fromkeys(risk_flags))
    if state is DomainState.STALE:
        flags.insert(0, f"{domain}_stale")
    return DomainBlock(
        domain=domain,
        state=state,
        as_of=as_of,
        freshness_seconds=age,
        max_freshness_seconds=math.ceil(budget_seconds),
        source_count=sources,
        quality_score=domain_quality(age, budget_seconds, completeness(core_values), sources,
                                     expected_sources),
        payload=payload,
        citations=citations or [],
        risk_flags=flags,
    )


def _unobserved_block(domain: str, state: DomainState, budget_seconds: float,
                      reason: str, extra_flags: Iterable[str] = ()) -> DomainBlock:
    """A block without data: scored 0, flagged <domain>_<state>, the reason in the payload."""
    return DomainBlock(
        domain=domain,
        state=state,
        max_freshness_seconds=math.ceil(budget_seconds),
        quality_score=0.0,
        payload={"reason": reason},
        risk_flags=list(dict.fromkeys([f"{domain}_{state.value}", *extra_flags])),
    )


def missing_block(domain: str, budget_seconds: float, reason: str) -> DomainBlock:
    """A domain with no data: never omitted, scored 0 and flagged <domain>_missing."""
    return _unobserved_block(domain, DomainState.MISSING, budget_seconds, reason)


def error_block(domain: str, budget_seconds: float, reason: str,
                extra_flags: Iterable[str] = ()) -> DomainBlock:
    """A domain whose source failed: scored 0 and flagged <domain>_error (plus e.g.
    <domain>_source_error when the data source itself could not be read)."""
    return _unobserved_block(domain, DomainState.ERROR, budget_seconds, reason, extra_flags)


def with_clock(block: DomainBlock, now: datetime) -> DomainBlock:
    """Re-measure a stored block's freshness against a later clock (state, score, flags)."""
    if block.as_of is None or block.state in (DomainState.MISSING, DomainState.ERROR):
        return block
    age = age_seconds(now, block.as_of)
    if age == block.freshness_seconds and fetch_failed_flag(block.domain) not in block.risk_flags:
        return block
    budget = block.max_freshness_seconds
    old = freshness_decay(block.freshness_seconds or 0, budget)
    rest = block.quality_score / old if old > 0 else 0.0
    reused = fetch_failed_flag(block.domain) in block.risk_flags  # stale whatever its age
    state = DomainState.OK if age <= budget and not reused else DomainState.STALE
    flags = [f for f in block.risk_flags if f != f"{block.domain}_stale"]
    if state is DomainState.STALE:
        flags.insert(0, f"{block.domain}_stale")
    return block.model_copy(
        update={
            "state": state,
            "freshness_seconds": age,
            "quality_score": round(max(0.0, min(1.0, freshness_decay(age, budget) * rest)), 4),
            "risk_flags": flags,
        }
    )


def bundle_quality(blocks: Iterable[DomainBlock]) -> float:
    """The module docstring's Q over these blocks (a required domain absent from them does
    not cap the score)."""
    blocks = list(blocks)
    total = sum(DOMAIN_WEIGHTS[b.domain] for b in blocks)
    if total == 0:
        return 0.0
    weighted = sum(DOMAIN_WEIGHTS[b.domain] * b.quality_score for b in blocks) / total
    caps = [b.quality_score for b in blocks if b.domain in REQUIRED_DOMAINS]
    return round(min([weighted, *caps]), 4)
