"""Owns the Prometheus registry and counters of the Torghut consumer (guardrail and client); the
serving API exposes them beside its own (intel_assets.serving.metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

#: One dedicated registry (not prometheus_client's global one): tests read it with
#: REGISTRY.get_sample_value(...) and the serving app appends it to its /metrics.
REGISTRY = CollectorRegistry()

DEGRADED_REASONS = ("context_unavailable", "context_stale", "context_low_quality",
                    "context_schema_invalid", "context_disabled")
FAIL_MODES = ("shadow", "skip", "fail_closed")
REVIEW_MODES = ("enforced", "shadow", "skipped")
FETCH_OUTCOMES = ("ok", "unavailable", "schema_invalid")

CONTEXT_DEGRADED = Counter(
    "torghut_market_context_degraded_total",
    "Trade decisions (past the deterministic risk check) whose market context was degraded or disabled",
    ["reason", "fail_mode"], registry=REGISTRY,
)
LLM_REVIEWS = Counter(
    "torghut_llm_reviews_total",
    "Guardrail verdicts on the LLM review: enforced (verdict applies), shadow (recorded only), skipped",
    ["mode"], registry=REGISTRY,
)
CONTEXT_FETCHES = Counter(
    "torghut_market_context_fetches_total",
    "Market-context fetches by the Torghut client, by outcome (ok includes 304 reuse)",
    ["outcome"], registry=REGISTRY,
)
# Every label combination exists from the start (at 0), so rate() and absent-series alerts work
# before the first degradation.
for _reason in DEGRADED_REASONS:
    for _mode in FAIL_MODES:
        CONTEXT_DEGRADED.labels(reason=_reason, fail_mode=_mode)
for _mode in REVIEW_MODES:
    LLM_REVIEWS.labels(mode=_mode)
for _outcome in FETCH_OUTCOMES:
    CONTEXT_FETCHES.labels(outcome=_outcome)
