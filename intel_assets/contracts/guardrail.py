"""Owns the guardrail record Torghut writes into ``decision_json.market_context_guardrail``: the
shape our consumer (torghut/decision_record.py) writes and the rollout gate's guardrail_daily
(domain/rollout_metrics.py) reads.

Keys: ``reason`` (a market_context_* reason or null), ``fail_mode``, ``llm_review``
(enforced/shadow/skipped), ``action`` (submit/reject) and ``rejected_by`` (deterministic/guardrail
or null).
"""

from __future__ import annotations

from typing import TypedDict

#: The decision_json key holding the guardrail record.
GUARDRAIL_FIELD = "market_context_guardrail"


class GuardrailRecord(TypedDict):
    reason: str | None
    fail_mode: str
    llm_review: str
    action: str
    rejected_by: str | None


__all__ = ["GUARDRAIL_FIELD", "GuardrailRecord"]
