"""Tests the Torghut consumer's guardrail as Torghut decides it (reasons, their priority, fail
modes, counters), the rollout flags, the LLM review request and /metrics, with context fetched
over real HTTP from the serving app.

Restates proompteng/lab 255d330fe services/torghut/app/trading/market_context.py
(evaluate_market_context, _BLOCKING_RISK_FLAGS, _REASON_PRIORITY), services/torghut/app/
trading/scheduler.py (_maybe_handle_market_context_block, _handle_llm_unavailable) and
services/torghut/app/metrics.py (torghut_trading_llm_market_context_{reason,shadow}_total).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import pytest

from helpers import make_block, make_bundle
from intel_assets.contracts.bundle import DOMAINS
from intel_assets.domain.bundle import bundle_at
from intel_assets.domain.clock import Clock
from intel_assets.stores.bundle_store import BundleStore
from intel_assets.serving.app import ServingConfig, create_app
from intel_assets.torghut.client import MarketContextClient, MarketContextResult
from intel_assets.torghut.flags import RolloutFlags, market_context_enabled, selected_execution_adapter
from intel_assets.torghut.guardrail import (
    REASON_PRIORITY,
    DeterministicDecision,
    GuardrailPolicy,
    evaluate_market_context,
    guard_trade,
    review_request,
)
from intel_assets.torghut.metrics import REASONS, REGISTRY
from intel_assets.torghut.review import LLMDecisionContext, LLMPolicyContext, LLMPortfolioSnapshot
from intel_assets.torghut.schema import TorghutMarketContextBundle
from intel_assets.torghut.settings import MarketContextSettings
from test_torghut_client import closed_port_url, publish, serve_asgi

T0 = datetime(2024, 3, 1, 15, 30, tzinfo=timezone.utc)
ALL_OK = {d: "ok" for d in DOMAINS}
APPROVED, REJECTED = DeterministicDecision(True), DeterministicDecision(False, ("max_notional",))
#: A symbol per blocking reason that the serving app itself produces; NOPE is never published.
SYMBOL_FOR = {"market_context_fetch_error": "NOPE", "market_context_domain_error": "ERR",
              "market_context_stale": "OLD", "market_context_quality_low": "LOWQ"}
SHADOW, CLOSED = MarketContextSettings(), MarketContextSettings(fail_mode="fail_closed")


def low_quality(symbol: str) -> object:
    """Fresh, but technicals only 30 % complete: the bundle scores 0.3 < 0.4."""
    blocks = {d: make_block(d, "ok", T0) for d in DOMAINS}
    blocks["technicals"] = blocks["technicals"].model_copy(update={"quality_score": 0.3})
    return bundle_at(symbol, T0, blocks, T0)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    dsn = f"sqlite:///{tmp_path_factory.mktemp('guardrail') / 'bundles.sqlite3'}"
    publish(dsn,
            make_bundle("OKAY", T0, ALL_OK),
            make_bundle("ERR", T0, {**ALL_OK, "news": "error"}),
            make_bundle("OLD", T0 - timedelta(minutes=10), ALL_OK),  # 605 s old when served at T0
            low_quality("LOWQ"))
    return dsn


@pytest.fixture(scope="module")
def base_url(store_path: str) -> Iterator[str]:
    """The real serving app at a replay clock T0 over the store."""
    app = create_app(lambda: BundleStore.from_dsn(store_path), ServingConfig(clock=Clock(T0)))
    with serve_asgi(app) as url:
        yield url


def fetched(base_url: str, symbol: str) -> MarketContextResult:
    with MarketContextClient(base_url) as client:
        return client.fetch(symbol)


def counted(name: str, reason: str) -> float:
    return REGISTRY.get_sample_value(f"torghut_trading_llm_market_context_{name}_total",
                                     {"reason": reason}) or 0.0


def all_counts() -> dict[tuple[str, str], float]:
    return {(n, r): counted(n, r) for n in ("reason", "shadow") for r in REASONS}


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
EXPECTED = {  # settings -> (action, rejected_by) for any blocked context; the review is skipped
    "shadow_only": ("submit", None),
    "fail_closed/veto": ("reject", "guardrail"),
    "fail_closed/pass_through": ("submit", None),
}
SETTINGS = {"shadow_only": SHADOW, "fail_closed/veto": CLOSED,
            "fail_closed/pass_through": MarketContextSettings(fail_mode="fail_closed",
                                                              llm_fail_mode="pass_through")}


@pytest.mark.parametrize("mode", sorted(EXPECTED))
@pytest.mark.parametrize("reason", sorted(SYMBOL_FOR))
def test_each_fail_mode_for_each_reason(base_url: str, mode: str, reason: str) -> None:
    context = fetched(base_url, SYMBOL_FOR[reason])
    before = all_counts()
    outcome = GuardrailPolicy(SETTINGS[mode]).decide(context, APPROVED)
    assert (outcome.action, outcome.rejected_by) == EXPECTED[mode]
    assert outcome.llm_review == "skipped" and outcome.reason == reason and outcome.detail
    shadow = mode == "shadow_only"
    moved = {("reason", reason)} | ({("shadow", reason)} if shadow else set())
    after = all_counts()
    for key in after:
        assert after[key] == before[key] + (1 if key in moved else 0), key
    assert review_request(outcome, decision=decision(SYMBOL_FOR[reason]), **REVIEW_ARGS) is None
    assert outcome.final_action("approve") == EXPECTED[mode][0]


def test_reason_priority_and_blocking_flags() -> None:
    """Several problems at once: Torghut reports the first of its priority list."""
    assert REASON_PRIORITY == tuple(REASONS)
    wire = make_bundle("SPY", T0 - timedelta(minutes=10), {**ALL_OK, "regime": "error"}).to_wire()
    bundle = TorghutMarketContextBundle.model_validate(wire)
    status = evaluate_market_context(bundle, SHADOW)
    assert not status.allow_llm and status.reason == "market_context_domain_error"
    assert {"regime_error", "market_context_domain_error"} <= set(status.risk_flags)
    flagged = TorghutMarketContextBundle.model_validate(
        {**make_bundle("SPY", T0, ALL_OK).to_wire(), "riskFlags": ["market_context_disabled",
                                                                   "technicals_stale"]})
    assert evaluate_market_context(flagged, SHADOW).reason == "market_context_disabled"
    benign = TorghutMarketContextBundle.model_validate(
        {**make_bundle("SPY", T0, ALL_OK).to_wire(), "riskFlags": ["fundamentals_partial"]})
    allowed = evaluate_market_context(benign, SHADOW)
    assert allowed.allow_llm and allowed.risk_flags == ["fundamentals_partial"]
    assert evaluate_market_context(None, SHADOW).allow_llm
    assert evaluate_market_context(None, MarketContextSettings(required=True)).reason == \
        "market_context_required_missing"


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_healthy_context_goes_to_an_enforced_review(base_url: str, mode: str) -> None:
    context = fetched(base_url, "OKAY")
    before = all_counts()
    outcome = GuardrailPolicy(SETTINGS[mode]).decide(context, APPROVED)
    assert (outcome.action, outcome.llm_review, outcome.reason) == ("submit", "enforced", None)
    assert all_counts() == before
    assert outcome.final_action("veto") == "reject" and outcome.final_action("approve") == "submit"
    request = review_request(outcome, decision=decision(), **REVIEW_ARGS)
    assert request is not None and request.market_context == context.bundle
    assert REGISTRY.get_sample_value("torghut_trading_market_context_last_quality_score") == \
        context.bundle.quality_score  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", sorted(EXPECTED))
@pytest.mark.parametrize("symbol", ["OKAY", "OLD", "LOWQ", "ERR", "NOPE"])
def test_deterministic_reject_always_wins(base_url: str, mode: str, symbol: str) -> None:
    context = fetched(base_url, symbol)
    before = all_counts()
    outcome = GuardrailPolicy(SETTINGS[mode]).decide(context, REJECTED)
    assert (outcome.action, outcome.rejected_by, outcome.llm_review) == ("reject", "deterministic", "skipped")
    assert "max_notional" in outcome.detail and outcome.final_action("approve") == "reject"
    assert all_counts() == before  # the context was never consulted


def test_deterministic_reject_skips_the_fetch(base_url: str) -> None:
    with MarketContextClient(base_url) as client:
        outcome = guard_trade("OKAY", REJECTED, client=client, policy=GuardrailPolicy(CLOSED),
                              flags=RolloutFlags())
        assert outcome.rejected_by == "deterministic" and client.stats.fetches == 0


def test_guard_trade_fetches_as_of_the_decision(store_path: str) -> None:
    """guard_trade sends the decision time as asOf: a bundle that stood then is judged, aged to
    then. OLD (built at T0 - 10 min) is fresh as of T0 - 10 min and stale as of T0."""
    app = create_app(lambda: BundleStore.from_dsn(store_path), ServingConfig())  # live clock
    with serve_asgi(app) as url, MarketContextClient(url) as client:
        then = guard_trade("OLD", APPROVED, client=client, policy=GuardrailPolicy(CLOSED),
                           flags=RolloutFlags(), as_of=T0 - timedelta(minutes=10))
        now = guard_trade("OLD", APPROVED, client=client, policy=GuardrailPolicy(CLOSED),
                          flags=RolloutFlags(), as_of=T0)
        live = guard_trade("OKAY", APPROVED, client=client, policy=GuardrailPolicy(CLOSED),
                           flags=RolloutFlags())
        assert client.stats.requests == 3
    assert (then.action, then.reason, then.llm_review) == ("submit", None, "enforced")
    assert (now.action, now.reason) == ("reject", "market_context_stale")
    assert "freshnessSeconds 605" in now.detail
    assert (live.action, live.reason) == ("reject", "market_context_stale")  # 2024 data, 2026 clock


def test_serving_kill_switch_blocks_with_market_context_disabled(store_path: str) -> None:
    app = create_app(lambda: BundleStore.from_dsn(store_path),
                     ServingConfig(clock=Clock(T0), enabled=False))
    with serve_asgi(app) as url:
        context = fetched(url, "OKAY")
    outcome = GuardrailPolicy(SHADOW).decide(context, APPROVED)
    assert outcome.reason == "market_context_disabled" and outcome.action == "submit"


def test_quality_and_staleness_thresholds_are_configurable(base_url: str) -> None:
    low, old = fetched(base_url, "LOWQ"), fetched(base_url, "OLD")
    assert low.bundle is not None and low.bundle.quality_score == 0.3
    assert GuardrailPolicy(CLOSED).decide(low, APPROVED).reason == "market_context_quality_low"
    assert GuardrailPolicy(MarketContextSettings(fail_mode="fail_closed", min_quality=0.3)
                           ).decide(low, APPROVED).action == "submit"
    # Torghut's own limit at 900 s does not help: our server flagged the 605-s-old bundle
    # market_context_stale (INTEL_MAX_STALENESS_SECONDS=300), a flag Torghut always blocks on.
    lenient = MarketContextSettings(max_staleness_seconds=900, min_quality=0.0)
    assert old.bundle is not None and "market_context_stale" in old.bundle.risk_flags
    assert GuardrailPolicy(lenient).decide(old, APPROVED).reason == "market_context_stale"
    unflagged = TorghutMarketContextBundle.model_validate(
        {**old.bundle.model_dump(mode="json", by_alias=True), "riskFlags": []})
    assert GuardrailPolicy(lenient).decide(MarketContextResult("OLD", "ok", unflagged),
                                           APPROVED).reason is None


def test_settings_from_env_use_torghuts_names_and_defaults() -> None:
    assert MarketContextSettings.from_env({}) == MarketContextSettings(
        url=None, timeout_seconds=3, required=False, fail_mode="shadow_only", min_quality=0.4,
        max_staleness_seconds=300, llm_fail_mode="veto")
    env = {"TRADING_MARKET_CONTEXT_URL": "http://intel:8080/api/torghut/market-context",
           "TRADING_MARKET_CONTEXT_TIMEOUT_SECONDS": "5", "TRADING_MARKET_CONTEXT_REQUIRED": "true",
           "TRADING_MARKET_CONTEXT_FAIL_MODE": "FAIL_CLOSED",
           "TRADING_MARKET_CONTEXT_MIN_QUALITY": "0.6",
           "TRADING_MARKET_CONTEXT_MAX_STALENESS_SECONDS": "120", "LLM_FAIL_MODE": "pass_through"}
    assert MarketContextSettings.from_env(env) == MarketContextSettings(
        url=env["TRADING_MARKET_CONTEXT_URL"], timeout_seconds=5, required=True,
        fail_mode="fail_closed", min_quality=0.6, max_staleness_seconds=120,
        llm_fail_mode="pass_through")
    for name, value, message in [
            ("TRADING_MARKET_CONTEXT_FAIL_MODE", "skip", "must be one of shadow_only, fail_closed"),
            ("TRADING_MARKET_CONTEXT_MIN_QUALITY", "1.5", "must be within 0..1"),
            ("TRADING_MARKET_CONTEXT_REQUIRED", "maybe", "is not a boolean"),
            ("TRADING_MARKET_CONTEXT_MAX_STALENESS_SECONDS", "soon", "is not a number")]:
        with pytest.raises(ValueError, match=f"{name}=.*{message}"):
            MarketContextSettings.from_env({name: value})


@pytest.mark.parametrize("value", ["false", "0", "no", "OFF", " False "])
def test_rollback_flag_never_calls_the_client(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """TRADING_MARKET_CONTEXT_ENABLED=false acts as Torghut without TRADING_MARKET_CONTEXT_URL:
    no fetch; the review runs without context, or is blocked if context is required."""
    monkeypatch.setenv("TRADING_MARKET_CONTEXT_ENABLED", value)
    before = all_counts()
    with MarketContextClient(closed_port_url()) as client:  # would fail if it were ever called
        optional = guard_trade("OKAY", APPROVED, client=client, policy=GuardrailPolicy(SHADOW))
        required = guard_trade("OKAY", APPROVED, client=client, policy=GuardrailPolicy(
            MarketContextSettings(required=True, fail_mode="fail_closed")))
        assert client.stats.fetches == 0 and client.stats.requests == 0
    assert (optional.action, optional.llm_review, optional.reason) == ("submit", "enforced", None)
    assert optional.market_context is None
    assert (required.action, required.reason) == ("reject", "market_context_required_missing")
    assert counted("reason", "market_context_required_missing") == \
        before[("reason", "market_context_required_missing")] + 1
    request = review_request(optional, decision=decision(), **REVIEW_ARGS)
    assert request is not None and request.to_payload()["market_context"] is None
    unconfigured = guard_trade("OKAY", APPROVED, client=None, policy=GuardrailPolicy(SHADOW),
                               flags=RolloutFlags())
    assert unconfigured.llm_review == "enforced" and unconfigured.market_context is None


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


def test_review_request_carries_snake_case_context(base_url: str) -> None:
    """Torghut dumps LLMReviewRequest with model_dump(mode="json"): field names, not aliases."""
    bundle = fetched(base_url, "OKAY").bundle
    outcome = GuardrailPolicy(SHADOW).decide(fetched(base_url, "OKAY"), APPROVED)
    request = review_request(outcome, decision=decision(), **REVIEW_ARGS)
    assert request is not None
    payload = request.to_payload()
    assert set(payload) == {"decision", "portfolio", "market_context", "policy", "trading_mode",
                            "prompt_version"}
    context = payload["market_context"]
    assert set(context) == {"context_version", "symbol", "as_of_utc", "freshness_seconds",
                            "quality_score", "source_count", "risk_flags", "domains"}
    assert set(context["domains"]["technicals"]) >= {"as_of", "freshness_seconds",
                                                     "max_freshness_seconds", "quality_score"}
    assert context["quality_score"] == bundle.quality_score  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="market_context is for OKAY, the decision for IBM"):
        review_request(outcome, decision=decision("IBM"), **REVIEW_ARGS)
    with pytest.raises(ValueError, match="min_qty_multiplier must not exceed"):
        LLMPolicyContext(adjustment_allowed=True, min_qty_multiplier=Decimal("2"),
                         max_qty_multiplier=Decimal("1"), allowed_order_types=["market"])


def test_consumer_counters_are_the_consumers_and_serving_exports_only_its_own(tmp_path: Path) -> None:
    """The consumer's counters (Torghut's names) are in its own registry, what Torghut's /metrics
    exports; the serving API's /metrics carries only the serving process's series (issue 13:
    consumer counters are always 0 in the serving process; issue 15: serving owns its metrics)."""
    from prometheus_client import generate_latest

    from intel_assets.torghut.metrics import REGISTRY

    dsn = f"sqlite:///{tmp_path / 'bundles.sqlite3'}"
    publish(dsn, make_bundle("SPY", T0, {**ALL_OK, "regime": "error"}))
    app = create_app(lambda: BundleStore.from_dsn(dsn), ServingConfig(clock=Clock(T0)))
    with serve_asgi(app) as url:
        with MarketContextClient(url) as client:
            outcome = guard_trade("SPY", APPROVED, client=client, policy=GuardrailPolicy(SHADOW),
                                  flags=RolloutFlags())
        assert outcome.reason == "market_context_domain_error"
        import httpx
        resp = httpx.get(f"{url}/metrics")
    consumer = generate_latest(REGISTRY).decode()
    assert "# TYPE torghut_trading_llm_market_context_reason_total counter" in consumer
    line = re.search(r'^torghut_trading_llm_market_context_shadow_total\{reason='
                     r'"market_context_domain_error"\} (\d+\.\d+)$', consumer, re.MULTILINE)
    assert line and float(line.group(1)) == counted("shadow", "market_context_domain_error") >= 1
    assert re.search(r"^torghut_trading_market_context_last_freshness_seconds 5\.0$", consumer,
                     re.MULTILINE)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert "torghut_" not in text, "the consumer's series are not the serving process's"
    assert re.search(r'^market_context_requests_total\{path="/api/torghut/market-context",'
                     r'status="200"\} \d', text, re.MULTILINE)
