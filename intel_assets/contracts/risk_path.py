"""Owns the risk-path regression check's result: RiskPathViolation and RiskPathResult.

The check (intel_assets/torghut/risk_path.py) replays a window's decisions through the
market-context guardrail with the context off and on and proves the deterministic risk decision
is never changed by the context or the LLM; its rules are named in ``RULES``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: Every rule the check applies, with what it demands (the names violations carry).
RULES: dict[str, str] = {
    "evaluated": "every combination yields an outcome and a final action (nothing raises)",
    "deterministic_identical": "every outcome, context off or on, carries rejected_by "
    "'deterministic' exactly when the recorded risk decision rejected",
    "risk_rejected_final": "a risk-rejected decision is rejected in every combination under "
    "every LLM verdict (approve included)",
    "risk_rejected_not_fetched": "the market context of a risk-rejected decision is never fetched",
    "off_not_fetched": "with the market context off (rollback flag) nothing is fetched",
    "llm_only_vetoes": "an LLM verdict only turns a submit into a reject (veto, review "
    "enforced); approve/adjust/none keep the guardrail's action and a skipped review ignores "
    "the verdict",
    "context_cannot_approve": "for a risk-approved decision, context on never submits what "
    "context off rejects",
    "context_reject_only_fail_closed_veto": "context on may reject what context off submits only "
    "under fail_closed with llm_fail_mode veto, as a guardrail block (rejected_by 'guardrail' "
    "with a reason); in shadow_only and fail_closed/pass_through the action is off's",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskPathViolation(_Model):
    """One broken rule for one decision in one combination."""

    decision_id: str
    combination: str = Field(description="layer/settings/context[/llm=verdict], e.g. "
                             "'path/fail_closed_veto/fresh/llm=approve'")
    expected: str
    got: str
    rule: str = Field(description="a key of RULES")


class RiskPathResult(_Model):
    """What the check found over one window's decisions."""

    decisions_checked: int = Field(ge=0)
    risk_rejected: int = Field(ge=0, description="decisions whose recorded risk decision rejected")
    risk_approved: int = Field(ge=0)
    combinations_evaluated: int = Field(
        ge=0, description="final actions checked: decisions x layers x settings variants x "
        "(context off + each context) x LLM verdicts")
    violation_count: int = Field(ge=0, description="all violations found (violations may list "
                                 "only the first of them)")
    violations_by_rule: dict[str, int] = Field(default_factory=dict)
    violations: list[RiskPathViolation] = Field(default_factory=list)
    passed: bool = Field(description="decisions were checked and no rule was broken")
    summary: str


__all__ = ["RULES", "RiskPathResult", "RiskPathViolation"]
