"""Owns the guardrail record Torghut writes into decision_json.market_context_guardrail.

The rollout gate's guardrail_daily asset reads exactly these keys (see
domain/rollout_metrics.py): ``reason`` (a context_* reason or null), ``fail_mode``,
``llm_review`` (enforced/shadow/skipped), ``action`` (submit/reject) and ``rejected_by``
(deterministic/guardrail or null). Torghut adds it to each decision it records::

    decision_json[GUARDRAIL_FIELD] = guardrail_record(outcome)
"""

from __future__ import annotations

from typing import Any

from intel_assets.contracts.guardrail import GUARDRAIL_FIELD, GuardrailRecord
from intel_assets.torghut.guardrail import GuardrailOutcome


def guardrail_record(outcome: GuardrailOutcome) -> GuardrailRecord:
    """The JSON-ready guardrail record of one trade decision's outcome."""
    return {"reason": outcome.reason, "fail_mode": outcome.fail_mode,
            "llm_review": outcome.llm_review, "action": outcome.action,
            "rejected_by": outcome.rejected_by}


def with_guardrail_record(decision_json: dict[str, Any], outcome: GuardrailOutcome
                          ) -> dict[str, Any]:
    """A copy of ``decision_json`` carrying the outcome under GUARDRAIL_FIELD."""
    return {**decision_json, GUARDRAIL_FIELD: guardrail_record(outcome)}


__all__ = ["GUARDRAIL_FIELD", "guardrail_record", "with_guardrail_record"]
