"""Owns the market-context guardrail: when context is usable, what each fail mode does, and its counters.

Order of authority: the deterministic risk check decides first. If it rejects, the trade is
rejected whatever the context says; the context is not consulted (not fetched, not counted).
Only a trade that passed it reaches the context rules below.

Context is *degraded* for one of these reasons (checked in this order):

* ``context_unavailable``: the fetch answered unavailable (timeout, refused, 5xx, 404, breaker
  open, ...);
* ``context_schema_invalid``: the body did not validate against the strict wire model;
* ``context_stale``: technicals or regime is not ``ok`` (stale, missing or error), or the
  bundle's ``freshnessSeconds`` (age of the oldest domain it relies on) exceeds
  ``max_staleness_seconds``. When ``now`` (the decision time) is passed, the bundle is also aged
  by ``now - asOfUtc``: technicals/regime whose age then exceeds their own
  ``maxFreshnessSeconds``, or a bundle whose aged freshness exceeds ``max_staleness_seconds``,
  are stale too (this catches a last-good bundle still served while the pipeline is down);
* ``context_low_quality``: ``qualityScore < min_quality``.

What a degraded context does, by fail mode: ``shadow`` -> the LLM review runs in shadow only
(its verdict never affects the order); ``skip`` -> no LLM review; ``fail_closed`` -> reject the
trade. ``context_disabled`` (TRADING_MARKET_CONTEXT_ENABLED off) is a deliberate rollback, not
a fault: the client is not called and the review runs as before the feature, with no context,
in every fail mode. Each degradation increments
``torghut_market_context_degraded_total{reason, fail_mode}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from intel_assets.contracts.bundle import DomainState, MarketContextBundle
from intel_assets.torghut.client import MarketContextResult
from intel_assets.torghut.flags import RolloutFlags
from intel_assets.torghut.metrics import CONTEXT_DEGRADED, FAIL_MODES, LLM_REVIEWS
from intel_assets.torghut.review import (
    LLMDecisionContext,
    LLMPolicyContext,
    LLMPortfolioSnapshot,
    LLMReviewRequest,
)

FailMode = Literal["shadow", "skip", "fail_closed"]
ReviewMode = Literal["enforced", "shadow", "skipped"]
LLMVerdict = Literal["approve", "veto", "adjust"]
CONTEXT_UNAVAILABLE = "context_unavailable"
CONTEXT_STALE = "context_stale"
CONTEXT_LOW_QUALITY = "context_low_quality"
CONTEXT_SCHEMA_INVALID = "context_schema_invalid"
CONTEXT_DISABLED = "context_disabled"
#: Domains a trade decision cannot do without: price action and regime.
REQUIRED_DOMAINS = ("technicals", "regime")
#: The largest domain budget (fundamentals, 24 h): a healthy bundle never exceeds it.
DEFAULT_MAX_STALENESS_SECONDS = 86_400


@dataclass(frozen=True)
class DeterministicDecision:
    """The deterministic risk check's answer for the trade (it always has the last word on rejects)."""

    approved: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class GuardrailOutcome:
    """What happens to the trade and to its LLM review."""

    action: Literal["submit", "reject"]  # submit: the guardrail lets the order go on
    llm_review: ReviewMode  # enforced: the verdict applies; shadow: recorded only; skipped: none
    fail_mode: FailMode
    reason: str | None = None  # the degradation reason (context_*), None when context was fine
    rejected_by: Literal["deterministic", "guardrail"] | None = None
    market_context: MarketContextBundle | None = None  # what goes into the review request
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
    """How degraded market context is treated; see the module docstring for the definitions."""

    fail_mode: FailMode
    min_quality: float = 0.5
    max_staleness_seconds: int = DEFAULT_MAX_STALENESS_SECONDS
    required_domains: tuple[str, ...] = field(default=REQUIRED_DOMAINS)

    def __post_init__(self) -> None:
        if self.fail_mode not in FAIL_MODES:
            raise ValueError(f"fail_mode {self.fail_mode!r} is not one of {', '.join(FAIL_MODES)}")
        if not 0.0 <= self.min_quality <= 1.0:
            raise ValueError("min_quality must be within 0..1")
        if self.max_staleness_seconds <= 0:
            raise ValueError("max_staleness_seconds must be positive")

    def degradation(self, context: MarketContextResult | None,
                    now: datetime | None = None) -> tuple[str | None, str]:
        """(reason, detail) for this context result; reason None means the context is usable."""
        if context is None or context.outcome == "unavailable":
            detail = "no market context was fetched" if context is None else \
                f"{context.reason}: {context.detail}"
            return CONTEXT_UNAVAILABLE, detail
        if context.outcome == "disabled":
            return CONTEXT_DISABLED, context.detail or "market context disabled"
        if context.outcome == "schema_invalid" or context.bundle is None:
            return CONTEXT_SCHEMA_INVALID, f"{context.reason}: {context.detail}"
        stale = self.staleness(context.bundle, now)
        if stale:
            return CONTEXT_STALE, "; ".join(stale)
        if context.bundle.quality_score < self.min_quality:
            return CONTEXT_LOW_QUALITY, f"qualityScore {context.bundle.quality_score} < {self.min_quality}"
        return None, ""

    def staleness(self, bundle: MarketContextBundle, now: datetime | None = None) -> list[str]:
        """Why the bundle is stale (empty list: it is not)."""
        elapsed = 0 if now is None else max(0, int((now - bundle.as_of_utc).total_seconds()))
        problems = []
        for name in self.required_domains:
            block = getattr(bundle.domains, name)
            if block.state is not DomainState.OK:
                problems.append(f"{name} is {block.state.value}")
            elif block.freshness_seconds is not None and \
                    block.freshness_seconds + elapsed > block.max_freshness_seconds:
                problems.append(f"{name} is {block.freshness_seconds + elapsed} s old at decision time "
                                f"(budget {block.max_freshness_seconds} s)")
        if bundle.freshness_seconds + elapsed > self.max_staleness_seconds:
            problems.append(f"bundle freshness {bundle.freshness_seconds + elapsed} s > "
                            f"{self.max_staleness_seconds} s")
        return problems

    def decide(self, context_result: MarketContextResult | None,
               deterministic_decision: DeterministicDecision, *,
               now: datetime | None = None) -> GuardrailOutcome:
        """The guardrail outcome for one trade; counts degradations and review modes."""
        if not deterministic_decision.approved:
            reasons = ", ".join(deterministic_decision.reasons) or "no reason given"
            return GuardrailOutcome("reject", "skipped", self.fail_mode, rejected_by="deterministic",
                                    detail=f"deterministic risk check rejected: {reasons}")
        reason, detail = self.degradation(context_result, now)
        bundle = context_result.bundle if context_result is not None else None
        if reason is None:
            outcome = GuardrailOutcome("submit", "enforced", self.fail_mode, market_context=bundle)
        elif reason == CONTEXT_DISABLED:
            outcome = GuardrailOutcome("submit", "enforced", self.fail_mode, reason, detail=detail)
        elif self.fail_mode == "shadow":  # a stale or low-quality bundle still informs the shadow
            outcome = GuardrailOutcome("submit", "shadow", self.fail_mode, reason,
                                       market_context=bundle, detail=detail)
        elif self.fail_mode == "skip":
            outcome = GuardrailOutcome("submit", "skipped", self.fail_mode, reason, detail=detail)
        else:
            outcome = GuardrailOutcome("reject", "skipped", self.fail_mode, reason,
                                       rejected_by="guardrail", detail=detail)
        if reason is not None:
            CONTEXT_DEGRADED.labels(reason=reason, fail_mode=self.fail_mode).inc()
        LLM_REVIEWS.labels(mode=outcome.llm_review).inc()
        return outcome


class ContextSource(Protocol):
    def fetch(self, symbol: str) -> MarketContextResult: ...


def guard_trade(symbol: str, deterministic_decision: DeterministicDecision, *, client: ContextSource,
                policy: GuardrailPolicy, flags: RolloutFlags | None = None,
                now: datetime | None = None) -> GuardrailOutcome:
    """Run the whole path for one trade: deterministic check, rollout flag, fetch, decide.

    The client is called only when the deterministic check approved and the market context is
    enabled (`flags`, or the environment when None). Pass `now` = the decision's event time.
    """
    if not deterministic_decision.approved:
        return policy.decide(None, deterministic_decision, now=now)
    flags = flags if flags is not None else RolloutFlags.from_env()
    if not flags.market_context_enabled:
        return policy.decide(MarketContextResult.disabled(symbol), deterministic_decision, now=now)
    return policy.decide(client.fetch(symbol), deterministic_decision, now=now)


def review_request(outcome: GuardrailOutcome, *, decision: LLMDecisionContext,
                   portfolio: LLMPortfolioSnapshot, policy: LLMPolicyContext,
                   trading_mode: Literal["paper", "live"], prompt_version: str) -> LLMReviewRequest | None:
    """The LLM review request for this outcome (its market context included), or None when the
    review is skipped. Whether the verdict counts is `outcome.llm_review` (enforced or shadow)."""
    if outcome.llm_review == "skipped":
        return None
    return LLMReviewRequest(decision=decision, portfolio=portfolio, market_context=outcome.market_context,
                            policy=policy, trading_mode=trading_mode, prompt_version=prompt_version)
