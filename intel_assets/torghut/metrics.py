"""Owns the Prometheus registry and counters of the Torghut consumer (guardrail and client), named
as Torghut names them (proompteng/lab 255d330fe services/torghut/app/metrics.py and, for the two
gauges, its head's app/metrics/core.py). They belong to the consumer's process (Torghut's
/metrics); tests read them from REGISTRY. The serving API exports only its own series."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

#: One dedicated registry (not prometheus_client's global one): tests read it with
#: REGISTRY.get_sample_value(...).
REGISTRY = CollectorRegistry()

#: Torghut's market-context reasons, in its order of precedence.
REASONS = ("market_context_required_missing", "market_context_fetch_error",
           "market_context_disabled", "market_context_domain_error", "market_context_stale",
           "market_context_quality_low")
REVIEW_MODES = ("enforced", "skipped")
FETCH_OUTCOMES = ("ok", "unavailable", "schema_invalid")

CONTEXT_BLOCKS = Counter(
    "torghut_trading_llm_market_context_block",
    "LLM reviews blocked by the market-context policy", registry=REGISTRY)
CONTEXT_REASONS = Counter(
    "torghut_trading_llm_market_context_reason",
    "Count of LLM market-context fallbacks by reason.", ["reason"], registry=REGISTRY)
CONTEXT_SHADOW = Counter(
    "torghut_trading_llm_market_context_shadow",
    "Count of LLM market-context fallbacks in shadow mode (the trade went on), by reason.",
    ["reason"], registry=REGISTRY)
LAST_FRESHNESS = Gauge(
    "torghut_trading_market_context_last_freshness_seconds",
    "Freshness in seconds of the last observed market-context bundle.", registry=REGISTRY)
LAST_QUALITY = Gauge(
    "torghut_trading_market_context_last_quality_score",
    "Quality score of the last observed market-context bundle.", registry=REGISTRY)
LLM_REVIEWS = Counter(
    "torghut_llm_reviews",
    "Guardrail verdicts on the LLM review: enforced (the review runs) or skipped (blocked)",
    ["mode"], registry=REGISTRY)
CONTEXT_FETCHES = Counter(
    "torghut_market_context_fetches",
    "Market-context fetches by the Torghut client, by outcome (ok includes 304 reuse)",
    ["outcome"], registry=REGISTRY)

# Every label combination exists from the start (at 0), so rate() and absent-series alerts work
# before the first block. (prometheus_client appends _total to counter names.)
for _reason in REASONS:
    CONTEXT_REASONS.labels(reason=_reason)
    CONTEXT_SHADOW.labels(reason=_reason)
for _mode in REVIEW_MODES:
    LLM_REVIEWS.labels(mode=_mode)
for _outcome in FETCH_OUTCOMES:
    CONTEXT_FETCHES.labels(outcome=_outcome)
