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
from intel_assets.domain.bundle import (
    BundlePolicy,
    bundle_seen_at,
    disabled_bundle,
    merge_bundle,
    unflagged_domains,
)
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
    # regime (required) is missing: its 0 caps the weighted mean of 0.35 x q_technicals
    assert bundle.quality_score == 0.0
    assert unflagged_domains(bundle) == []


def test_unflagged_domain_is_detected():
    bundle = merge_bundle("SPY", NOW, {}, BUDGETS)
    quiet = bundle.domains.news.model_copy(update={"risk_flags": []})
    tampered = bundle.model_copy(update={"domains": bundle.domains.model_copy(update={"news": quiet})})
    assert unflagged_domains(tampered) == ["news is missing but not flagged news_missing"]


def _block(domain: str, age_s: int, core=(1.0, 2.0)) -> DomainBlock:
    return observed_block(domain=domain, now=NOW, as_of=NOW - timedelta(seconds=age_s),
                          budget_seconds=BUDGETS[domain], payload={"x": 1}, core_values=core,
                          sources=1, expected_sources=1)


def test_bundle_quality_is_weighted_mean_capped_by_required_domains():
    blocks = [missing_block(d, BUDGETS[d], "none") for d in DOMAINS]
    assert bundle_quality(blocks) == 0.0
    full = {d: _block(d, 0) for d in DOMAINS}
    assert bundle_quality(full.values()) == 1.0
    half_news = {**full, "news": _block("news", 0, core=(1.0, None))}  # q_news = 0.5
    assert bundle_quality(half_news.values()) == pytest.approx(1 - DOMAIN_WEIGHTS["news"] * 0.5)
    # technicals at half quality: weighted 0.825 capped to 0.5
    half_tech = {**full, "technicals": _block("technicals", 0, core=(1.0, None))}
    assert bundle_quality(half_tech.values()) == 0.5
    # news and fundamentals perfect, price context missing: never passes a quality floor
    no_price = {**full, "technicals": blocks[0], "regime": blocks[1]}
    assert bundle_quality(no_price.values()) == 0.0


def test_bundle_freshness_is_the_age_of_the_required_domains():
    """A 20-hour-old fundamentals block (within its 24-h budget) must not make the bundle old:
    Torghut blocks any bundle older than 300 s (proompteng/lab 255d330fe
    services/torghut/app/trading/market_context.py, evaluate_market_context)."""
    blocks = {"technicals": _block("technicals", 12), "regime": _block("regime", 30),
              "news": _block("news", 200), "fundamentals": _block("fundamentals", 72_000)}
    bundle = merge_bundle("SPY", NOW, blocks, BUDGETS)
    assert bundle.freshness_seconds == 30
    assert bundle.domains.fundamentals.state.value == "ok"
    assert "market_context_stale" not in bundle.risk_flags
    nothing = merge_bundle("SPY", NOW, {"news": _block("news", 10)}, BUDGETS)
    assert nothing.freshness_seconds == 0  # no required data: the age of the bundle's clock
    later = bundle_seen_at(nothing, NOW + timedelta(seconds=500))
    assert later.freshness_seconds == 500 and "market_context_stale" in later.risk_flags


def test_bundle_seen_later_turns_stale_and_back():
    """Freshness is measured when the bundle is read, never frozen at publish time."""
    blocks = {d: _block(d, 5) for d in DOMAINS}
    published = merge_bundle("IBM", NOW, blocks, BUDGETS)
    assert published.risk_flags == [] and published.freshness_seconds == 5
    assert bundle_seen_at(published, NOW) == published
    policy = BundlePolicy(max_staleness_seconds=300)
    seen = bundle_seen_at(published, NOW + timedelta(seconds=400), policy)
    assert seen.as_of_utc == published.as_of_utc  # still the instant it was built as of
    assert seen.freshness_seconds == 405
    assert [seen.domains.technicals.state.value, seen.domains.regime.state.value,
            seen.domains.news.state.value, seen.domains.fundamentals.state.value] == \
        ["stale", "stale", "stale", "ok"]
    assert seen.risk_flags == ["technicals_stale", "regime_stale", "news_stale",
                               "market_context_stale"]
    # required domains 405 s old against a 60 s budget: 0.5 * 60 / 405
    assert seen.domains.technicals.quality_score == pytest.approx(round(0.5 * 60 / 405, 4))
    assert seen.quality_score == seen.domains.technicals.quality_score
    back = bundle_seen_at(seen, NOW)  # re-aging depends on the clock alone (up to the 4-place
    assert back.model_copy(update={"quality_score": published.quality_score}) == \
        published.model_copy(update={"domains": back.domains})  # rounding of the scores)
    for again, first in zip(back.domains.blocks(), published.domains.blocks()):
        assert (again.state, again.freshness_seconds, again.risk_flags) == \
            (first.state, first.freshness_seconds, first.risk_flags)
        assert again.quality_score == pytest.approx(first.quality_score, abs=1e-3)
    tight = bundle_seen_at(published, NOW + timedelta(seconds=50), BundlePolicy(30))
    assert "market_context_stale" in tight.risk_flags and tight.domains.technicals.state.value == "ok"


def test_disabled_bundle_is_all_missing_and_flagged():
    bundle = disabled_bundle("SPY", NOW, BUDGETS)
    assert [b.state.value for b in bundle.domains.blocks()] == ["missing"] * 4
    assert bundle.risk_flags[-1] == "market_context_disabled"
    assert bundle.quality_score == 0.0 and bundle.source_count == 0
    assert "INTEL_MARKET_CONTEXT_ENABLED=false" in bundle.domains.news.payload["reason"]
    MarketContextBundle.model_validate(bundle.to_wire(), by_alias=True, by_name=False)


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
