"""Owns the stale-data probe: a deterministic bundle built through domain.quality and domain.bundle.

For each domain, a bundle whose four domains are fresh (aged a tenth of their budget) is compared
with the same bundle where only that domain is aged twice its budget. The probe records the
stale block's state, whether ``<domain>_stale`` is in the block and in the bundle, what
``unflagged_domains`` finds, and both bundle quality scores; the gate's phase-1 criterion
requires stale, flagged twice, nothing unflagged, and a lower quality.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from intel_assets.contracts.bundle import DOMAINS, DomainBlock
from intel_assets.contracts.gates import DEFAULT_PROBE_BUDGETS, StaleProbe
from intel_assets.domain.bundle import merge_bundle, unflagged_domains
from intel_assets.domain.quality import observed_block

PROBE_SYMBOL = "PROBE"


def _block(domain: str, now: datetime, age: int, budget: int) -> DomainBlock:
    return observed_block(domain=domain, now=now, as_of=now - timedelta(seconds=age),
                          budget_seconds=budget, payload={"probe": True}, core_values=[1.0],
                          sources=1, expected_sources=1)


def stale_probe(now: datetime, budgets: Mapping[str, int] | None = None) -> list[StaleProbe]:
    """One StaleProbe per domain (fresh bundle vs that domain aged 2x its budget) as of ``now``."""
    budget = {**DEFAULT_PROBE_BUDGETS, **(budgets or {})}
    fresh_age = {d: max(1, budget[d] // 10) for d in DOMAINS}
    fresh_blocks = {d: _block(d, now, fresh_age[d], budget[d]) for d in DOMAINS}
    fresh = merge_bundle(PROBE_SYMBOL, now, fresh_blocks, budget)
    probes = []
    for domain in DOMAINS:
        stale_age = 2 * budget[domain]
        stale = merge_bundle(PROBE_SYMBOL, now, {
            **fresh_blocks, domain: _block(domain, now, stale_age, budget[domain])}, budget)
        block = getattr(stale.domains, domain)
        flag = f"{domain}_stale"
        probes.append(StaleProbe(
            domain=domain, budget_seconds=budget[domain], fresh_age_seconds=fresh_age[domain],
            stale_age_seconds=stale_age, stale_state=block.state.value, flag=flag,
            flagged_in_block=flag in block.risk_flags, flagged_in_bundle=flag in stale.risk_flags,
            unflagged=unflagged_domains(stale), fresh_bundle_quality=fresh.quality_score,
            stale_bundle_quality=stale.quality_score))
    return probes


__all__ = ["PROBE_SYMBOL", "stale_probe"]
