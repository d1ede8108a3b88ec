"""Owns the market-context guardrail as Torghut decides it: the deterministic risk check first,
then Torghut's market-context policy, then what a block does in each fail mode; its counters.

Restated from proompteng/lab 255d330fe services/torghut/app/trading/market_context.py
(``evaluate_market_context``) and services/torghut/app/trading/scheduler.py
(``_maybe_handle_market_context_block``, ``_handle_llm_unavailable``):

1. The deterministic risk check decides first. A trade it rejects is rejected whatever the
   context says; the context is not consulted (not fetched, not counted).
2. No bundle (``TRADING_MARKET_CONTEXT_URL`` unset, or our rollback flag
   ``TRADING_MARKET_CONTEXT_ENABLED=false``): blocked with ``market_context_required_missing``
   when ``TRADING_MARKET_CONTEXT_REQUIRED``, else the review runs without context.
   A failed fetch (timeout, refused, non-2xx, ``ok: false``, schema violation): blocked with
   ``market_context_fetch_error``.
3. A bundle is blocked when any domain it carries is ``error`` (adds
   ``market_context_domain_error``), its ``freshnessSeconds`` exceeds
   ``max_staleness_seconds`` (adds ``market_context_stale``), its ``qualityScore`` is below
   ``min_quality`` (adds ``market_context_quality_low``), or it carries a flag of
   ``BLOCKING_FLAGS``. The reason is the first of ``REASON_PRIORITY`` among the blocking flags.
4. A block skips the LLM review. ``shadow_only`` (the default): the deterministic decision goes
   on unchanged and the block counts in ``..._shadow_total`` too. ``fail_closed``: Torghut's LLM
   fail mode applies (``veto`` rejects the trade, ``pass_through`` lets it go on).

Difference from Torghut's head (2026-08-22), noted, not followed: it reads only technicals and
regime, ignores fundamentals/news flags, and lets a flagged bundle through unless the context
is required or fail-closed. The plan's date (255d330fe) is the rule here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from intel_assets.torghut.client import MarketContextResult
from intel_assets.torghut.flags import RolloutFlags
from intel_assets.torghut.metrics import (
    CONTEXT_BLOCKS,
    CONTEXT_REASONS,
    CONTEXT_SHADOW,
    LAST_FRESHNESS,
    LAST_QUALITY,
    LLM_REVIEWS,
)
from intel_assets.torghut.review import (
    LLMDecisionContext,
    LLMPolicyContext,
    LLMPortfolioSnapshot,
    LLMReviewRequest,
)
from intel_assets.torghut.schema import TorghutMarketContextBundle
from intel_assets.torghut.settings import MarketContextSettings

ReviewMode = Literal["enforced", "skipped"]
LLMVerdict = Literal["approve", "veto", "adjust"]
REQUIRED_MISSING = "market_context_required_missing"
FETCH_ERROR = "market_context_fetch_error"
DISABLED = "market_context_disabled"
DOMAIN_ERROR = "market_context_domain_error"
STALE = "market_context_stale"
QUALITY_LOW = "market_context_quality_low"
#: Torghut's order of precedence when several blocking flags apply.
REASON_PRIORITY = (REQUIRED_MISSING, FETCH_ERROR, DISABLED, DOMAIN_ERROR, STALE, QUALITY_LOW)
BLOCKING_FLAGS = frozenset({
    STALE, QUALITY_LOW, DISABLED, "fundamentals_error", "news_error", "technicals_error",
    "regime_error", "technicals_source_error", "regime_source_error", DOMAIN_ERROR,
})


@dataclass(frozen=True)
class MarketContextStatus:
    """Torghut's verdict on a bundle: may the LLM review use it, and if not, why."""

    allow_llm: bool
    reason: str | None
    risk_flags: list[str]


def evaluate_market_context(bundle: TorghutMarketContextBundle | None,
                            settings: MarketContextSettings) -> MarketContextStatus:
    """Step 2 (no bundle) and step 3 of the module docstring."""
    if bundle is None:
        if settings.required:
            return MarketContextStatus(False, REQUIRED_MISSING, [])
        return MarketContextStatus(True, None, [])
    flags = sorted(set(bundle.risk_flags))
    blocking = [flag for flag in flags if flag in BLOCKING_FLAGS]
    if any(block.state == "error" for block in bundle.domains.present().values()):
        flags.append(DOMAIN_ERROR)
        blocking.append(DOMAIN_ERROR)
    if bundle.freshness_seconds > settings.max_staleness_seconds:
        flags.append(STALE)
        blocking.append(STALE)
    if bundle.quality_score < settings.min_quality:
        flags.append(QUALITY_LOW)
        blocking.append(QUALITY_LOW)
    if not blocking:
        return MarketContextStatus(True, None, sorted(set(flags)))
    unique = sorted(set(blocking))
    reason = next((r for r in REASON_PRIORITY if r in unique), unique[0])
    return MarketContextStatus(False, reason, sorted(set(flags)))


@dataclass(frozen=True)
class DeterministicDecision:
    """The deterministic risk check's answer for the trade (it always has the last word on rejects)."""

    approved: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class GuardrailOutcome:
    """What happens to the trade and to its LLM review."""

    action: Literal["submit", "reject"]  # submit: the guardrail lets the order go on
    llm_review: ReviewMode  # enforced: the review runs and its verdict applies; skipped: none
    fail_mode: str
    reason: str | None = None  # Torghut's market_context_* reason, None when context was fine
    rejected_by: Literal["deterministic", "guardrail"] | None = None
    market_context: TorghutMarketContextBundle | None = None  # what goes into the review
    risk_flags: tuple[str, ...] = ()
    detail: str = ""

    def final_action(self, llm_verdict: LLMVerdict | None = None) -> Literal["submit", "reject"]:
        """The order's fate once the LLM verdict (if any) is in: only an enforced veto rejects."""
        if self.action == "reject":
            return "reject"
        if self.llm_review == "enforced" and llm_verdict == "veto":
            return "reject"
        return "submit"


@dataclass(frozen=True)
class GuardrailPolicy:
    """Torghut's market-context policy with its settings (module docstring)."""

    settings: MarketContextSettings = field(default_factory=MarketContextSettings)

    @property
    def fail_mode(self) -> str:
        return self.settings.fail_mode

    def status(self, context: MarketContextResult | None) -> tuple[MarketContextStatus, str]:
        """Torghut's status of this fetch result, with a plain-words detail."""
        if context is None or context.outcome == "disabled":
            detail = "no market context fetched" if context is None else (context.detail or "")
            return evaluate_market_context(None, self.settings), detail
        if context.outcome != "ok" or context.bundle is None:
            return (MarketContextStatus(False, FETCH_ERROR, [FETCH_ERROR]),
                    f"{context.reason}: {context.detail}")
        bundle = context.bundle
        LAST_FRESHNESS.set(bundle.freshness_seconds)
        LAST_QUALITY.set(bundle.quality_score)
        status = evaluate_market_context(bundle, self.settings)
        detail = "" if status.allow_llm else (
            f"freshnessSeconds {bundle.freshness_seconds} (max "
            f"{self.settings.max_staleness_seconds}), qualityScore {bundle.quality_score} (min "
            f"{self.settings.min_quality}), flags {', '.join(status.risk_flags) or '-'}")
        return status, detail

    def decide(self, context_result: MarketContextResult | None,
               deterministic_decision: DeterministicDecision) -> GuardrailOutcome:
        """The guardrail outcome for one trade; counts blocks by reason as Torghut does."""
        if not deterministic_decision.approved:
            reasons = ", ".join(deterministic_decision.reasons) or "no reason given"
            return GuardrailOutcome("reject", "skipped", self.fail_mode, rejected_by="deterministic",
                                    detail=f"deterministic risk check rejected: {reasons}")
        status, detail = self.status(context_result)
        bundle = context_result.bundle if context_result is not None else None
        if status.allow_llm:
            outcome = GuardrailOutcome("submit", "enforced", self.fail_mode, market_context=bundle,
                                       risk_flags=tuple(status.risk_flags))
        else:
            shadow = self.settings.fail_mode == "shadow_only"
            CONTEXT_BLOCKS.inc()
            CONTEXT_REASONS.labels(reason=status.reason).inc()
            if shadow:
                CONTEXT_SHADOW.labels(reason=status.reason).inc()
            rejects = not shadow and self.settings.llm_fail_mode == "veto"
            outcome = GuardrailOutcome(
                "reject" if rejects else "submit", "skipped", self.fail_mode, status.reason,
                rejected_by="guardrail" if rejects else None, market_context=bundle,
                risk_flags=tuple(status.risk_flags), detail=detail)
        LLM_REVIEWS.labels(mode=outcome.llm_review).inc()
        return outcome


class ContextSource(Protocol):
    def fetch(self, symbol: str, as_of: datetime | None = None) -> MarketContextResult: ...


def guard_trade(symbol: str, deterministic_decision: DeterministicDecision, *,
                client: ContextSource | None, policy: GuardrailPolicy,
                flags: RolloutFlags | None = None, as_of: datetime | None = None) -> GuardrailOutcome:
    """The whole path for one trade: deterministic check, rollback flag, fetch, decide.

    The client is called only when the deterministic check approved, the market context is
    enabled (``flags``, or the environment when None) and a client is configured (Torghut has
    none without TRADING_MARKET_CONTEXT_URL). ``as_of``: the decision's event time, sent as
    ``asOf`` so the bundle is the one that stood then (Torghut's head does the same).
    """
    if not deterministic_decision.approved:
        return policy.decide(None, deterministic_decision)
    flags = flags if flags is not None else RolloutFlags.from_env()
    if not flags.market_context_enabled:
        return policy.decide(MarketContextResult.disabled(symbol), deterministic_decision)
    if client is None:
        return policy.decide(None, deterministic_decision)
    return policy.decide(client.fetch(symbol, as_of=as_of), deterministic_decision)


def review_request(outcome: GuardrailOutcome, *, decision: LLMDecisionContext,
                   portfolio: LLMPortfolioSnapshot, policy: LLMPolicyContext,
                   trading_mode: Literal["paper", "live"], prompt_version: str) -> LLMReviewRequest | None:
    """The LLM review request for this outcome (its market context included), or None when the
    review is skipped. ``model_dump(mode="json")`` gives Torghut's snake_case field names."""
    if outcome.llm_review == "skipped":
        return None
    return LLMReviewRequest(decision=decision, portfolio=portfolio, market_context=outcome.market_context,
                            policy=policy, trading_mode=trading_mode, prompt_version=prompt_version)
