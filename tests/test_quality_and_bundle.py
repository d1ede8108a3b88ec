"""Quality formula, freshness states and the bundle merge (pure domain logic)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from intel_assets.contracts.bundle import (
    DOMAINS,
    WIRE_TOP_LEVEL_KEYS,
    DomainBlock,
    MarketContextBundle,
)
from intel_assets.domain.bundle import merge_bundle, unflagged_domains
from intel_assets.domain.quality import (
    DOMAIN_WEIGHTS,
    bundle_quality,
    freshness_decay,
    missing_block,
    observed_block,
    with_clock,
)

NOW = datetime(2013, 10, 11, 19, 59, tzinfo=timezone.utc)
BUDGETS = {"technicals": 60, "regime": 60, "news": 300, "fundamentals": 86_400}


def _tech(age_s: int, core=(1.0, 2.0, 3.0, 4.0), sources=2) -> DomainBlock:
    return observed_block(domain="technicals", now=NOW, as_of=NOW - timedelta(seconds=age_s),
                          budget_seconds=60, payload={"lastPrice": 1.0}, core_values=core,
                          sources=sources, expected_sources=2)


def test_freshness_decay_is_documented_shape():
    assert freshness_decay(0, 60) == 1.0
    assert freshness_decay(30, 60) == 0.75
    assert freshness_decay(60, 60) == 0.5
    assert freshness_decay(120, 60) == 0.25
    with pytest.raises(ValueError):
        freshness_decay(1, 0)


def test_block_quality_multiplies_freshness_completeness_and_coverage():
    assert _tech(0).quality_score == 1.0
    assert _tech(30).quality_score == 0.75
    assert _tech(0, core=(1.0, None, float("nan"), 4.0)).quality_score == 0.5
    assert _tech(0, sources=1).quality_score == 0.5


def test_stale_block_is_flagged_and_scored_lower():
    fresh, stale = _tech(59), _tech(61)
    assert fresh.state.value == "ok" and fresh.risk_flags == []
    assert stale.state.value == "stale" and stale.risk_flags == ["technicals_stale"]
    assert stale.quality_score < fresh.quality_score


def test_with_clock_remeasures_age_state_and_quality():
    block = _tech(0)
    later = with_clock(block, NOW + timedelta(seconds=120))
    assert later.freshness_seconds == 120
    assert later.state.value == "stale"
    assert "technicals_stale" in later.risk_flags
    assert later.quality_score == pytest.approx(0.25)
    back = with_clock(later, NOW)
    assert back.state.value == "ok" and back.risk_flags == [] and back.quality_score == 1.0


def test_merge_never_omits_a_domain_and_flags_missing_ones():
    bundle = merge_bundle("SPY", NOW, {"technicals": _tech(10)}, BUDGETS)
    wire = bundle.to_wire()
    assert set(wire) == WIRE_TOP_LEVEL_KEYS
    assert list(wire["domains"]) == list(DOMAINS)
    for name in ("regime", "news", "fundamentals"):
        assert wire["domains"][name]["state"] == "missing"
        assert f"{name}_missing" in wire["riskFlags"]
    assert bundle.freshness_seconds == 10
    expected = DOMAIN_WEIGHTS["technicals"] * bundle.domains.technicals.quality_score
    assert bundle.quality_score == pytest.approx(round(expected, 4))
    assert unflagged_domains(bundle) == []


def test_unflagged_domain_is_detected():
    bundle = merge_bundle("SPY", NOW, {}, BUDGETS)
    quiet = bundle.domains.news.model_copy(update={"risk_flags": []})
    tampered = bundle.model_copy(update={"domains": bundle.domains.model_copy(update={"news": quiet})})
    assert unflagged_domains(tampered) == ["news is missing but not flagged news_missing"]


def test_bundle_quality_is_weighted_mean():
    blocks = [missing_block(d, BUDGETS[d], "none") for d in DOMAINS]
    assert bundle_quality(blocks) == 0.0
    assert bundle_quality([_tech(0)] + blocks[1:]) == pytest.approx(0.35)


def test_wire_contract_is_strict_like_torghut():
    wire = merge_bundle("SPY", NOW, {"technicals": _tech(10)}, BUDGETS).to_wire()
    MarketContextBundle.model_validate(wire, by_alias=True, by_name=False)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        MarketContextBundle.model_validate({**wire, "research": {}})
    domains = dict(wire["domains"])
    domains["research"] = dict(domains["news"], domain="news")
    with pytest.raises(ValidationError):
        MarketContextBundle.model_validate({**wire, "domains": domains})
    swapped = dict(wire["domains"], news=wire["domains"]["regime"])
    with pytest.raises(ValidationError, match="holds a block for domain 'regime'"):
        MarketContextBundle.model_validate({**wire, "domains": swapped})
    with pytest.raises(ValidationError):
        MarketContextBundle.model_validate({**wire, "freshnessSeconds": 1.5})
    with pytest.raises(ValidationError):
        MarketContextBundle.model_validate({**wire, "qualityScore": 1.2})
    cited = dict(wire["domains"]["technicals"], citations=[{"source": "x", "url": None}])
    with pytest.raises(ValidationError, match="publishedAt"):
        MarketContextBundle.model_validate({**wire, "domains": dict(wire["domains"], technicals=cited)})
