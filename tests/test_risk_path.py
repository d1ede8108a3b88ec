"""Tests the risk-path regression check (intel_assets/torghut/risk_path.py): the recorded risk
decision of Torghut's rows, the real guardrail passing with no violation, and planted
regressions caught by the rule they break, on hand-built rows and on the LEAN week's decisions.

The recorded risk decision and the guardrail follow proompteng/lab 255d330fe:
services/torghut/app/trading/execution.py (a risk rejection recorded by ``mark_rejected`` with
its reasons), services/torghut/app/trading/scheduler.py (``_maybe_handle_market_context_block``
after the risk check) and services/torghut/app/trading/market_context.py (the context
policy)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from intel_assets.contracts.risk_path import RULES, RiskPathResult
from intel_assets.contracts.decisions import DecisionRow, parse_event_ts
from intel_assets.torghut.decision_record import with_guardrail_record
from intel_assets.torghut.guardrail import (
    DOMAIN_ERROR,
    FETCH_ERROR,
    STALE,
    DeterministicDecision,
    GuardrailOutcome,
    GuardrailPolicy,
)
from intel_assets.torghut.risk_path import (
    CONTEXTS,
    LAYERS,
    LLM_VERDICTS,
    SETTINGS_VARIANTS,
    decision_as_of,
    domain_error_context,
    fetch_error_context,
    fresh_context,
    recorded_risk_decision,
    risk_path_check,
    stale_context,
)
from intel_assets.torghut.settings import MarketContextSettings
from torghut_rows import decision_json

T0 = datetime(2013, 10, 8, 14, 30, tzinfo=timezone.utc)
PER_DECISION = len(SETTINGS_VARIANTS) * len(LAYERS) * (1 + len(CONTEXTS)) * len(LLM_VERDICTS)


def row(payload, status: str = "planned", symbol: str = "SPY", row_id: str | None = None
        ) -> DecisionRow:
    """A trade_decisions row as Torghut stores it."""
    return DecisionRow(row_id or str(uuid.uuid4()), "strategy", symbol, "1Min", payload, status,
                       T0, decision_hash=uuid.uuid4().hex)


def risk_rejected(symbol: str = "SPY", row_id: str | None = None) -> DecisionRow:
    """A decision the risk check refused, recorded with the real guardrail's outcome."""
    outcome = GuardrailPolicy().decide(None, DeterministicDecision(False, ("max_notional",)))
    payload = with_guardrail_record(decision_json(symbol, risk_reasons=["max_notional"]), outcome)
    return row(payload, "rejected", symbol, row_id)


def approved(symbol: str = "SPY", row_id: str | None = None) -> DecisionRow:
    outcome = GuardrailPolicy().decide(fresh_context(symbol, T0), DeterministicDecision(True))
    return row(with_guardrail_record(decision_json(symbol), outcome), "submitted", symbol, row_id)


WINDOW = [approved("SPY", "ok-spy"), approved("IBM", "ok-ibm"), risk_rejected("BAC", "risk-bac"),
          row(decision_json("AIG", qty="0", rejection_stage="validation",
                            risk_reasons=["qty must be positive"]), "rejected", "AIG",
              "validation-aig"),
          row(decision_json("SPY"), "planned", "SPY", "unrecorded-spy")]


def rules_of(result: RiskPathResult) -> set[str]:
    return set(result.violations_by_rule)


# ---- the recorded risk decision -----------------------------------------------------------

@pytest.mark.parametrize(("payload", "status", "approved_", "first_reason"), [
    (decision_json(), "planned", True, None),
    (decision_json(), "filled", True, None),
    (decision_json(market_context_guardrail={"rejected_by": "deterministic", "action": "reject"}),
     "planned", False, "guardrail_record_deterministic"),
    (decision_json(rejection_stage="risk", risk_reasons=["max_notional"]), "rejected", False,
     "torghut_risk"),
    (decision_json(rejection_stage="schema"), "rejected", False, "torghut_schema"),
    (decision_json(rejection_stage="validation"), "rejected", False, "torghut_validation"),
    (decision_json(risk_reasons=["max_position"]), "rejected", False, "torghut_rejected"),
    # a guardrail (context) rejection: risk approved it
    (decision_json(risk_reasons=["market_context_stale"], market_context_guardrail={
        "rejected_by": "guardrail", "action": "reject", "reason": "market_context_stale"}),
     "rejected", True, None),
    (decision_json(rejection_stage="llm", risk_reasons=["llm_veto"]), "rejected", True, None),
    (decision_json(rejection_stage="risk"), "planned", True, None),  # a stage without the status
    (decision_json(qty="-5"), "planned", False, "invalid_qty"),
    ("not an object", "planned", False, "malformed_decision"),
])
def test_recorded_risk_decision(payload, status: str, approved_: bool, first_reason) -> None:
    """Rejected by a deterministic guardrail record, a schema/validation/risk stage, Torghut's
    mark_rejected shape without a stage, or a schema problem; else approved."""
    decision = recorded_risk_decision(row(payload, status))
    assert decision.approved is approved_
    assert (decision.reasons[0] if decision.reasons else None) == first_reason
    if first_reason == "torghut_risk":
        assert decision.reasons == ("torghut_risk", "max_notional")


def test_decision_as_of_is_the_event_time() -> None:
    assert decision_as_of(row(decision_json(event_ts="2013-10-08T15:00:00Z"))) == \
        datetime(2013, 10, 8, 15, 0, tzinfo=timezone.utc)
    assert decision_as_of(row(decision_json(event_ts="garbage"))) == T0


def test_context_sources_block_for_the_reason_they_stand_for() -> None:
    """The probes are what their names say under Torghut's policy."""
    closed = GuardrailPolicy(MarketContextSettings(fail_mode="fail_closed"))
    ok = DeterministicDecision(True)
    fresh = closed.decide(fresh_context("SPY", T0), ok)
    assert (fresh.action, fresh.llm_review, fresh.reason) == ("submit", "enforced", None)
    assert fresh.market_context is not None and fresh.market_context.symbol == "SPY"
    assert fresh.market_context.as_of_utc == T0
    stale = closed.decide(stale_context("SPY", T0), ok)
    assert stale.reason == STALE and "market_context_quality_low" in stale.risk_flags
    assert closed.decide(domain_error_context("SPY", T0), ok).reason == DOMAIN_ERROR
    assert closed.decide(fetch_error_context("SPY", T0), ok).reason == FETCH_ERROR


# ---- the real guardrail passes ------------------------------------------------------------

def test_real_guardrail_passes_with_no_violation() -> None:
    result = risk_path_check(WINDOW)
    assert result.passed, result.summary
    assert (result.decisions_checked, result.risk_rejected, result.risk_approved) == (5, 2, 3)
    assert result.combinations_evaluated == 5 * PER_DECISION
    assert result.violation_count == 0 and result.violations == []
    assert result.summary.startswith("Risk-path check over 5 decisions (2 risk-rejected")
    assert "passed" in result.summary


def test_no_decisions_is_no_evidence() -> None:
    result = risk_path_check([])
    assert not result.passed and result.decisions_checked == 0
    assert "no evidence" in result.summary


def test_settings_and_contexts_can_be_chosen() -> None:
    result = risk_path_check(WINDOW[:1], settings_variants={"shadow": MarketContextSettings()},
                             contexts={"fresh": fresh_context})
    assert result.passed and result.combinations_evaluated == 1 * 2 * 2 * 4
    with pytest.raises(ValueError, match="'off'"):
        risk_path_check(WINDOW, contexts={"off": fresh_context})


# ---- planted regressions ------------------------------------------------------------------

class ContextOverridesRisk(GuardrailPolicy):
    """Regression 1: a fresh, high-quality context overrides a deterministic reject."""

    def decide(self, context_result, deterministic_decision):
        if not deterministic_decision.approved and context_result is not None \
                and context_result.ok and self.status(context_result)[0].allow_llm:
            return GuardrailOutcome("submit", "enforced", self.fail_mode,
                                    market_context=context_result.bundle)
        return super().decide(context_result, deterministic_decision)


def test_context_overriding_a_risk_reject_is_caught() -> None:
    result = risk_path_check(WINDOW, policy_factory=ContextOverridesRisk)
    assert not result.passed
    assert {"risk_rejected_final", "deterministic_identical"} <= rules_of(result)
    caught = [v for v in result.violations if v.rule == "risk_rejected_final"]
    assert {v.decision_id for v in caught} == {"risk-bac", "validation-aig"}
    first = caught[0]
    assert first.combination.startswith("decide/") and "/fresh/llm=" in first.combination
    assert first.expected == "reject (risk rejected)" and first.got.startswith("submit")
    # only where the fresh context reaches the policy; the real path never hands it one
    assert all("/fresh" in v.combination for v in result.violations)
    assert "FAILED" in result.summary and "risk-bac" in result.summary


def fetch_first(symbol, deterministic_decision, *, client, policy, flags=None, as_of=None):
    """Regression 2: the path fetches the context before the risk check decides."""
    context = client.fetch(symbol, as_of=as_of) if client is not None else None
    if not deterministic_decision.approved:
        return policy.decide(None, deterministic_decision)
    if flags is not None and not flags.market_context_enabled:
        return policy.decide(None, deterministic_decision)
    return policy.decide(context, deterministic_decision)


def test_fetching_before_the_risk_check_is_caught() -> None:
    result = risk_path_check(WINDOW, trade_path=fetch_first)
    assert not result.passed
    assert {"risk_rejected_not_fetched", "off_not_fetched"} == rules_of(result)
    not_fetched = [v for v in result.violations if v.rule == "risk_rejected_not_fetched"]
    assert {v.decision_id for v in not_fetched} == {"risk-bac", "validation-aig"}
    assert all(v.combination.startswith("path/") and v.got == "1 fetches" for v in not_fetched)


class ShadowRejectsStale(GuardrailPolicy):
    """Regression 3: shadow_only rejects the trade on a stale context."""

    def decide(self, context_result, deterministic_decision):
        outcome = super().decide(context_result, deterministic_decision)
        if self.fail_mode == "shadow_only" and outcome.reason == STALE:
            return replace(outcome, action="reject", rejected_by="guardrail")
        return outcome


def test_shadow_only_rejecting_on_stale_context_is_caught() -> None:
    result = risk_path_check(WINDOW, policy_factory=ShadowRejectsStale)
    assert rules_of(result) == {"context_reject_only_fail_closed_veto"}
    assert {v.decision_id for v in result.violations} == {"ok-spy", "ok-ibm", "unrecorded-spy"}
    assert {v.combination for v in result.violations} == {
        "path/shadow_only/stale_low_quality", "decide/shadow_only/stale_low_quality"}
    assert result.violations[0].got.startswith("action reject, rejected_by guardrail")


class PassThroughRejects(GuardrailPolicy):
    """fail_closed with pass_through must let a blocked trade go on; this one vetoes it."""

    def decide(self, context_result, deterministic_decision):
        return super().decide(context_result, deterministic_decision) if \
            self.settings.llm_fail_mode == "veto" else GuardrailPolicy(
                replace(self.settings, llm_fail_mode="veto")).decide(context_result,
                                                                     deterministic_decision)


def test_pass_through_rejecting_is_caught() -> None:
    result = risk_path_check(WINDOW, policy_factory=PassThroughRejects)
    assert rules_of(result) == {"context_reject_only_fail_closed_veto"}
    assert all("/fail_closed_pass_through/" in v.combination for v in result.violations)


class ApprovingOutcome(GuardrailOutcome):
    """An LLM 'approve' that submits whatever the guardrail said."""

    def final_action(self, llm_verdict=None):
        return "submit" if llm_verdict == "approve" else super().final_action(llm_verdict)


class LLMApproves(GuardrailPolicy):
    def decide(self, context_result, deterministic_decision):
        outcome = super().decide(context_result, deterministic_decision)
        return ApprovingOutcome(**{f: getattr(outcome, f) for f in outcome.__dataclass_fields__})


def test_llm_approve_submitting_a_risk_reject_is_caught() -> None:
    result = risk_path_check(WINDOW, policy_factory=LLMApproves)
    assert {"risk_rejected_final", "llm_only_vetoes"} == rules_of(result)
    assert all(v.combination.endswith("/llm=approve") for v in result.violations)
    assert "risk-bac" in {v.decision_id for v in result.violations
                          if v.rule == "risk_rejected_final"}


class Raises(GuardrailPolicy):
    def decide(self, context_result, deterministic_decision):
        if context_result is not None and context_result.outcome == "unavailable":
            raise RuntimeError("boom")
        return super().decide(context_result, deterministic_decision)


def test_a_raising_policy_is_a_violation_not_a_crash() -> None:
    result = risk_path_check(WINDOW[:1], policy_factory=Raises)
    assert rules_of(result) == {"evaluated"}
    assert result.violations[0].got == "RuntimeError: boom"
    assert {v.combination for v in result.violations} == {
        f"{layer}/{name}/fetch_error" for layer in LAYERS for name in SETTINGS_VARIANTS}


def test_violations_are_capped_but_all_counted() -> None:
    result = risk_path_check(WINDOW, policy_factory=ContextOverridesRisk, max_violations=3)
    assert len(result.violations) == 3
    assert result.violation_count == sum(result.violations_by_rule.values()) > 3
    assert set(result.violations_by_rule) <= set(RULES)


# ---- a real-sized window: the LEAN week's decisions -----------------------------------------

def lean_week_rows(lean_dir: Path) -> list[DecisionRow]:
    """The strategy's decisions of 2013-10-07..11 as Torghut records them: every 5th refused by
    the risk check, the others approved, each with the real guardrail's record."""
    from intel_assets.domain.strategy import strategy_decisions
    from lean_week import WEEK

    rows: list[DecisionRow] = []
    policy = GuardrailPolicy()
    for day in WEEK:
        for raw in strategy_decisions(lean_dir, day):
            refused = len(rows) % 5 == 4
            at = parse_event_ts(raw["decision_json"]["event_ts"])
            decision = DeterministicDecision(not refused, ("max_notional",) if refused else ())
            payload = dict(raw["decision_json"])
            if refused:
                payload["risk_reasons"] = ["max_notional"]
            outcome = policy.decide(None if refused else fresh_context(raw["symbol"], at),
                                    decision)
            rows.append(DecisionRow(
                raw["id"], raw["strategy_id"], raw["symbol"], raw["timeframe"],
                with_guardrail_record(payload, outcome), "rejected" if refused else "submitted",
                at, alpaca_account_label=raw["alpaca_account_label"],
                rationale=raw["rationale"], decision_hash=raw["decision_hash"]))
    return rows


def test_lean_week_passes_and_a_planted_regression_is_caught(lean_dir: Path) -> None:
    rows = lean_week_rows(lean_dir)
    if not rows:
        pytest.skip("the LEAN week produced no strategy decisions")
    refused = {r.id for r in rows if r.status == "rejected"}
    result = risk_path_check(rows)
    assert result.passed, result.summary
    assert result.decisions_checked == len(rows) and result.risk_rejected == len(refused)
    assert result.combinations_evaluated == len(rows) * PER_DECISION
    planted = risk_path_check(rows, policy_factory=ContextOverridesRisk,
                              max_violations=len(rows) * PER_DECISION)
    assert not planted.passed
    assert {v.decision_id for v in planted.violations if v.rule == "risk_rejected_final"} == refused
