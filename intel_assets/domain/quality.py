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

Market hours (an optional ``domain.market_clock.MarketClock``): technicals and regime
(SESSION_DOMAINS) only move in the regular session. When the session is closed and a block's
newest bar belongs to the latest session (as_of >= last close - budget), the block is ``ok``,
flagged ``market_closed``, its payload carries ``session`` {marketClosed, lastClose, nextOpen,
sessionAgeSeconds}, and freshness_decay takes the *session-time* age (regular-session seconds
between as_of and now): a block published at the close keeps its quality overnight.
``freshness_seconds`` stays the wall-clock age. In session (or without a clock) nothing changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from intel_assets.contracts.bundle import DomainBlock, DomainState

if TYPE_CHECKING:
    from intel_assets.domain.market_clock import MarketClock, Session

#: Quality factor of a block reused after a failed fetch (see the module docstring).
REUSE_PENALTY = 0.5


def fetch_failed_flag(domain: str) -> str:
    return f"{domain}_fetch_failed"


#: Domains whose data only moves in the regular session (see "Market hours" above).
SESSION_DOMAINS: tuple[str, ...] = ("technicals", "regime")
MARKET_CLOSED_FLAG = "market_closed"
#: The payload key of a market_closed block's session (Torghut's payload is free-form).
SESSION_KEY = "session"


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


def closed_session(domain: str, as_of: datetime, now: datetime, budget_seconds: float,
                   clock: "MarketClock | None") -> "Session | None":
    """The clock's session when it is closed at ``now`` and ``domain``'s data at ``as_of`` is the
    latest session's last bar (as_of >= last close - budget); else None (judge by wall age)."""
    if clock is None or domain not in SESSION_DOMAINS:
        return None
    session = clock.session(now)
    if (session.is_open or session.last_close is None
            or as_of < session.last_close - timedelta(seconds=budget_seconds)):
        return None
    return session


def _session_age(clock: "MarketClock", as_of: datetime, now: datetime) -> int:
    return max(0, int(clock.session_seconds_between(as_of, now)))


def _session_payload(payload: dict[str, Any], session: "Session", age: int) -> dict[str, Any]:
    return {**payload, SESSION_KEY: {
        "marketClosed": True,
        "lastClose": session.last_close.isoformat() if session.last_close else None,
        "nextOpen": session.next_open.isoformat(),
        "sessionAgeSeconds": age,
    }}


def _decay_age(block: DomainBlock) -> float:
    """The age a stored block's quality was decayed by (session-time when market_closed)."""
    if MARKET_CLOSED_FLAG in block.risk_flags:
        session = block.payload.get(SESSION_KEY)
        if isinstance(session, dict) and "sessionAgeSeconds" in session:
            return float(session["sessionAgeSeconds"])
    return float(block.freshness_seconds or 0)


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
    clock: "MarketClock | None" = None,
) -> DomainBlock:
    """A block for data observed at as_of: state ok/stale by budget, quality by the formula
    (with a market ``clock``: the module's "Market hours" rule outside the session)."""
    age = age_seconds(now, as_of)
    decay_age = age
    state = DomainState.OK if age <= budget_seconds else DomainState.STALE
    flags = list(dict.fromkeys(risk_flags))
    closed = closed_session(domain, as_of, now, budget_seconds, clock)
    if closed is not None and clock is not None:
        decay_age = _session_age(clock, as_of, now)
        state = DomainState.OK
        payload = _session_payload(payload, closed, decay_age)
        flags = [*(f for f in flags if f != MARKET_CLOSED_FLAG), MARKET_CLOSED_FLAG]
    if state is DomainState.STALE:
        flags.insert(0, f"{domain}_stale")
    return DomainBlock(
        domain=domain,
        state=state,
        as_of=as_of,
        freshness_seconds=age,
        max_freshness_seconds=math.ceil(budget_seconds),
        source_count=sources,
        quality_score=domain_quality(decay_age, budget_seconds, completeness(core_values),
                                     sources, expected_sources),
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


def with_clock(block: DomainBlock, now: datetime,
               clock: "MarketClock | None" = None) -> DomainBlock:
    """Re-measure a stored block's freshness against a later clock (state, score, flags); with
    a market ``clock``, technicals and regime follow the module's "Market hours" rule."""
    if block.as_of is None or block.state in (DomainState.MISSING, DomainState.ERROR):
        return block
    age = age_seconds(now, block.as_of)
    reused = fetch_failed_flag(block.domain) in block.risk_flags  # stale whatever its age
    was_closed = MARKET_CLOSED_FLAG in block.risk_flags
    if age == block.freshness_seconds and not reused and clock is None:
        return block
    budget = block.max_freshness_seconds
    old = freshness_decay(_decay_age(block), budget)
    rest = block.quality_score / old if old > 0 else 0.0
    payload = block.payload
    if was_closed:
        payload = {k: v for k, v in payload.items() if k != SESSION_KEY}
    flags = [f for f in block.risk_flags
             if f not in (f"{block.domain}_stale", MARKET_CLOSED_FLAG)]
    closed = None if reused else closed_session(block.domain, block.as_of, now, budget, clock)
    decay_age: float = age
    if closed is not None and clock is not None:
        decay_age = _session_age(clock, block.as_of, now)
        state = DomainState.OK
        payload = _session_payload(payload, closed, int(decay_age))
        flags.append(MARKET_CLOSED_FLAG)
    else:
        state = DomainState.OK if age <= budget and not reused else DomainState.STALE
    if state is DomainState.STALE:
        flags.insert(0, f"{block.domain}_stale")
    return block.model_copy(
        update={
            "state": state,
            "freshness_seconds": age,
            "quality_score": round(max(0.0, min(1.0, freshness_decay(decay_age, budget) * rest)),
                                   4),
            "payload": payload,
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
