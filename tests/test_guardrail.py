"""Tests the Torghut guardrail (fail modes x degradation reasons), its counters, the rollout flags,
the LLM review request and /metrics, with context fetched over real HTTP from the serving app."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from helpers import make_bundle
from intel_assets.contracts.bundle import DOMAINS
from intel_assets.resources.bundle_store import BundleStore
from intel_assets.serving.app import create_app
from intel_assets.torghut.client import MarketContextClient, MarketContextResult
from intel_assets.torghut.flags import RolloutFlags, market_context_enabled, selected_execution_adapter
from intel_assets.torghut.guardrail import (
    DeterministicDecision,
    GuardrailPolicy,
    guard_trade,
    review_request,
)
from intel_assets.torghut.metrics import DEGRADED_REASONS, FAIL_MODES, REGISTRY
from intel_assets.torghut.review import (
    LLMDecisionContext,
    LLMPolicyContext,
    LLMPortfolioSnapshot,
    LLMReviewRequest,
)
from test_serving import running
from test_torghut_client import closed_port_url, publish, serve_asgi, tamper

T0 = datetime(2024, 3, 1, 15, 30, tzinfo=timezone.utc)
ALL_OK = {d: "ok" for d in DOMAINS}
APPROVED, REJECTED = DeterministicDecision(True), DeterministicDecision(False, ("max_notional",))
#: Published symbols, one per context condition; NOPE is never published (404).
SYMBOL_FOR = {"context_unavailable": "NOPE", "context_schema_invalid": "BAD",
              "context_stale": "STALE", "context_low_quality": "LOWQ"}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real serving app over a SQLite store holding one bundle per context condition."""
    dsn = f"sqlite:///{tmp_path_factory.mktemp('guardrail') / 'bundles.sqlite3'}"
    publish(dsn,
            make_bundle("OKAY", T0, ALL_OK),                             # quality 0.9, all fresh
            make_bundle("STALE", T0, {**ALL_OK, "technicals": "stale"}),  # quality 0.775
            make_bundle("LOWQ", T0),                                      # news/fundamentals missing: 0.45
            make_bundle("OLDF", T0, {**ALL_OK, "fundamentals": "stale"}),  # relies on 3-day-old data
            make_bundle("BAD", T0, ALL_OK))
    wire = make_bundle("BAD", T0, ALL_OK).to_wire()
    wire["domains"]["research"] = dict(wire["domains"]["news"])  # a fifth domain
    tamper(dsn, "BAD", json.dumps(wire))
    with serve_asgi(create_app(lambda: BundleStore.from_dsn(dsn))) as url:
        yield url


def fetched(base_url: str, symbol: str) -> MarketContextResult:
    with MarketContextClient(base_url) as client:
        return client.fetch(symbol)


def degraded(reason: str, mode: str) -> float:
    return REGISTRY.get_sample_value("torghut_market_context_degraded_total",
                                     {"reason": reason, "fail_mode": mode}) or 0.0


def all_degraded() -> dict[tuple[str, str], float]:
    return {(r, m): degraded(r, m) for r in DEGRADED_REASONS for m in FAIL_MODES}


def reviews(mode: str) -> float:
    return REGISTRY.get_sample_value("torghut_llm_reviews_total", {"mode": mode}) or 0.0


def decision(symbol: str = "OKAY") -> LLMDecisionContext:
    return LLMDecisionContext(strategy_id="momo-1", symbol=symbol, action="buy", qty=Decimal("10"),
                              order_type="limit", time_in_force="day", event_ts=T0, timeframe="1Min",
                              params={"limit_price": "101.5"})


REVIEW_ARGS = dict(
    portfolio=LLMPortfolioSnapshot(equity=Decimal("100000"), cash=Decimal("50000"),
                                   buying_power=Decimal("100000"), positions=[]),
    policy=LLMPolicyContext(adjustment_allowed=True, min_qty_multiplier=Decimal("0.5"),
                            max_qty_multiplier=Decimal("1"), allowed_order_types=["market", "limit"]),
    trading_mode="paper", prompt_version="v3",
)
EXPECTED = {  # fail mode -> (action, llm_review, rejected_by) for any degraded context
    "shadow": ("submit", "shadow", None),
    "skip": ("submit", "skipped", None),
    "fail_closed": ("reject", "skipped", "guardrail"),
}


@pytest.mark.parametrize("mode", FAIL_MODES)
@pytest.mark.parametrize("reason", sorted(SYMBOL_FOR))
def test_each_fail_mode_for_each_reason(base_url: str, mode: str, reason: str) -> None:
    symbol = SYMBOL_FOR[reason]
    context = fetched(base_url, symbol)
    before, review_before = all_degraded(), reviews(EXPECTED[mode][1])
    outcome = GuardrailPolicy(mode).decide(context, APPROVED)
    assert (outcome.action, outcome.llm_review, outcome.rejected_by) == EXPECTED[mode]
    assert outcome.reason == reason and outcome.fail_mode == mode and outcome.detail
    after = all_degraded()
    assert after[(reason, mode)] == before[(reason, mode)] + 1
    assert {k: v for k, v in after.items() if k != (reason, mode)} == \
        {k: v for k, v in before.items() if k != (reason, mode)}  # only the right labels moved
    assert reviews(EXPECTED[mode][1]) == review_before + 1
    request = review_request(outcome, decision=decision(symbol), **REVIEW_ARGS)
    if mode == "shadow":  # the review runs, but even a veto (or approval) leaves the order as it is
        assert request is not None
        assert outcome.final_action("veto") == outcome.final_action("approve") == "submit"
        usable_bundle = reason in ("context_stale", "context_low_quality")
        assert (request.market_context is not None) == usable_bundle
    else:
        assert request is None  # no LLM review at all
        assert outcome.final_action("approve") == EXPECTED[mode][0]


@pytest.mark.parametrize("mode", FAIL_MODES)
def test_healthy_context_goes_to_an_enforced_review(base_url: str, mode: str) -> None:
    context = fetched(base_url, "OKAY")
    before = all_degraded()
    outcome = GuardrailPolicy(mode).decide(context, APPROVED)
    assert (outcome.action, outcome.llm_review, outcome.reason) == ("submit", "enforced", None)
    assert all_degraded() == before
    assert outcome.final_action("veto") == "reject" and outcome.final_action("approve") == "submit"
    request = review_request(outcome, decision=decision(), **REVIEW_ARGS)
    assert request is not None and request.market_context == make_bundle("OKAY", T0, ALL_OK)


@pytest.mark.parametrize("mode", FAIL_MODES)
@pytest.mark.parametrize("symbol", ["OKAY", "STALE", "LOWQ", "BAD", "NOPE"])
def test_deterministic_reject_always_wins(base_url: str, mode: str, symbol: str) -> None:
    context = fetched(base_url, symbol)
    before = all_degraded()
    outcome = GuardrailPolicy(mode).decide(context, REJECTED)
    assert (outcome.action, outcome.rejected_by, outcome.llm_review) == ("reject", "deterministic", "skipped")
    assert "max_notional" in outcome.detail
    assert outcome.final_action("approve") == "reject"
    assert all_degraded() == before  # the context was never consulted


def test_deterministic_reject_skips_the_fetch(base_url: str) -> None:
    with MarketContextClient(base_url) as client:
        outcome = guard_trade("OKAY", REJECTED, client=client, policy=GuardrailPolicy("fail_closed"),
                              flags=RolloutFlags())
        assert outcome.rejected_by == "deterministic" and client.stats.fetches == 0


def test_guard_trade_fetches_when_enabled(base_url: str) -> None:
    with MarketContextClient(base_url) as client:
        outcome = guard_trade("STALE", APPROVED, client=client, policy=GuardrailPolicy("fail_closed"),
                              flags=RolloutFlags())
        assert client.stats.requests == 1
    assert (outcome.action, outcome.reason) == ("reject", "context_stale")
    assert "technicals is stale" in outcome.detail


def test_staleness_definition(base_url: str) -> None:
    ok, old = fetched(base_url, "OKAY"), fetched(base_url, "OLDF")
    policy = GuardrailPolicy("skip")
    assert policy.degradation(ok) == (None, "")
    assert policy.degradation(ok, now=T0 + timedelta(seconds=30))[0] is None  # technicals 35 s old
    reason, detail = policy.degradation(ok, now=T0 + timedelta(minutes=2))
    assert reason == "context_stale" and "technicals is 125 s old at decision time" in detail
    assert policy.degradation(ok, now=T0 - timedelta(hours=1))[0] is None  # clock skew: never negative
    reason, detail = policy.degradation(old)  # fundamentals 259200 s old: beyond the bundle budget
    assert reason == "context_stale" and "bundle freshness 259200 s > 86400 s" in detail
    assert GuardrailPolicy("skip", max_staleness_seconds=300_000).degradation(old)[0] is None


def test_quality_threshold_is_configurable(base_url: str) -> None:
    low = fetched(base_url, "LOWQ")
    assert low.bundle is not None and low.bundle.quality_score == 0.45
    assert GuardrailPolicy("fail_closed").decide(low, APPROVED).reason == "context_low_quality"
    assert GuardrailPolicy("fail_closed", min_quality=0.45).decide(low, APPROVED).action == "submit"
    with pytest.raises(ValueError, match="fail_mode 'open'"):
        GuardrailPolicy("open")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_quality"):
        GuardrailPolicy("skip", min_quality=1.5)


@pytest.mark.parametrize("mode", FAIL_MODES)
@pytest.mark.parametrize("value", ["false", "0", "no", "OFF", " False "])
def test_disabled_context_never_calls_the_client(monkeypatch: pytest.MonkeyPatch, mode: str,
                                                 value: str) -> None:
    monkeypatch.setenv("TRADING_MARKET_CONTEXT_ENABLED", value)
    before, review_before = degraded("context_disabled", mode), reviews("enforced")
    with MarketContextClient(closed_port_url()) as client:  # would fail if it were ever called
        outcome = guard_trade("OKAY", APPROVED, client=client, policy=GuardrailPolicy(mode))
        assert client.stats.fetches == 0 and client.stats.requests == 0
    assert (outcome.action, outcome.llm_review, outcome.reason) == ("submit", "enforced", "context_disabled")
    assert outcome.market_context is None
    assert degraded("context_disabled", mode) == before + 1 and reviews("enforced") == review_before + 1
    request = review_request(outcome, decision=decision(), **REVIEW_ARGS)
    assert request is not None and request.market_context is None
    assert request.to_payload()["market_context"] is None


def test_enabled_flag_values() -> None:
    assert RolloutFlags.from_env({}) == RolloutFlags(market_context_enabled=True, execution_adapter="alpaca")
    for value in ("true", "1", "yes", "on", "TRUE", ""):
        assert market_context_enabled({"TRADING_MARKET_CONTEXT_ENABLED": value}) is True
    with pytest.raises(ValueError, match="TRADING_MARKET_CONTEXT_ENABLED='maybe'.*false/0/no/off"):
        RolloutFlags.from_env({"TRADING_MARKET_CONTEXT_ENABLED": "maybe"})


def test_execution_adapter_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADING_EXECUTION_ADAPTER", raising=False)
    assert selected_execution_adapter() == "alpaca" and RolloutFlags.from_env().execution_adapter == "alpaca"
    monkeypatch.setenv("TRADING_EXECUTION_ADAPTER", "lean")
    assert selected_execution_adapter() == "lean" and RolloutFlags.from_env().execution_adapter == "lean"
    assert selected_execution_adapter({"TRADING_EXECUTION_ADAPTER": " LEAN "}) == "lean"
    assert selected_execution_adapter({"TRADING_EXECUTION_ADAPTER": "alpaca"}) == "alpaca"
    monkeypatch.setenv("TRADING_EXECUTION_ADAPTER", "ibkr")
    with pytest.raises(ValueError) as err:
        RolloutFlags.from_env()
    assert str(err.value) == ("TRADING_EXECUTION_ADAPTER='ibkr' is not supported; "
                              "set it to one of: alpaca, lean (default alpaca)")


def test_review_request_is_strict(base_url: str) -> None:
    bundle = fetched(base_url, "OKAY").bundle
    request = LLMReviewRequest(decision=decision(), market_context=bundle, **REVIEW_ARGS)
    payload = request.to_payload()
    assert set(payload) == {"decision", "portfolio", "market_context", "policy", "trading_mode",
                            "prompt_version"}
    assert payload["market_context"]["qualityScore"] == 0.9 and "asOfUtc" in payload["market_context"]
    assert LLMReviewRequest.model_validate(payload) == request
    with pytest.raises(ValidationError, match="extra_forbidden"):
        LLMReviewRequest.model_validate({**payload, "llm_override": True})
    fifth = {**payload["market_context"], "domains": {**payload["market_context"]["domains"],
                                                      "research": payload["market_context"]["domains"]["news"]}}
    with pytest.raises(ValidationError, match="domains.research"):
        LLMReviewRequest.model_validate({**payload, "market_context": fifth})
    with pytest.raises(ValidationError, match="market_context is for OKAY, the decision for IBM"):
        LLMReviewRequest(decision=decision("IBM"), market_context=bundle, **REVIEW_ARGS)
    with pytest.raises(ValidationError, match="min_qty_multiplier must not exceed"):
        LLMPolicyContext(adjustment_allowed=True, min_qty_multiplier=Decimal("2"),
                         max_qty_multiplier=Decimal("1"), allowed_order_types=["market"])


def test_metrics_endpoint_exposes_the_counters(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 'bundles.sqlite3'}"
    publish(dsn, make_bundle("SPY", T0, {**ALL_OK, "regime": "error"}))
    with running(lambda: BundleStore.from_dsn(dsn)) as http:
        with MarketContextClient(str(http.base_url)) as client:
            outcome = guard_trade("SPY", APPROVED, client=client, policy=GuardrailPolicy("shadow"),
                                  flags=RolloutFlags())
        assert outcome.reason == "context_stale" and "regime is error" in outcome.detail
        resp = http.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/plain; version=1.0.0; charset=utf-8"
    text = resp.text
    assert "# TYPE torghut_market_context_degraded_total counter" in text
    line = re.search(r'^torghut_market_context_degraded_total\{fail_mode="shadow",reason="context_stale"\} '
                     r"(\d+\.\d+)$", text, re.MULTILINE)
    assert line and float(line.group(1)) == degraded("context_stale", "shadow") >= 1
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("market_context_requests_total", (("status", "200"),))] >= 1  # serving side
    assert samples[("torghut_llm_reviews_total", (("mode", "shadow"),))] >= 1
    assert samples[("torghut_market_context_fetches_total", (("outcome", "ok"),))] >= 1
