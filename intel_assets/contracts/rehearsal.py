"""Owns the rollback rehearsal's evidence: RehearsalRecord (what ``intel-assets rollout
rehearse-rollback`` found, stored in intel_rollout_rehearsals), and its per-intent rows.

A rehearsal replays a day's intents through Torghut's execution routing with the LEAN route on,
flips ``TRADING_EXECUTION_ADAPTER=alpaca`` and ``TRADING_MARKET_CONTEXT_ENABLED=false`` mid
window and counts, from the venues' own order lists (by client_order_id):

* ``lost``: an intent the guardrail let through with no order at either venue;
* ``doubled``: an intent with more than one order (at one venue or across both);
* ``misrouted``: an intent with exactly one order, at the wrong venue (LEAN before the flip and
  for the in-flight retry, Alpaca after the flip).

``passed`` is true exactly when ``problems`` is empty. Times are timezone-aware (UTC).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

Phase = Literal["before_flip", "after_flip", "in_flight_retry"]
VenueName = Literal["lean", "alpaca"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InFlightRetry(_Model):
    """The dangerous case: the last intent before the flip, submitted to LEAN with its answer
    lost, retried after the flip under the same client_order_id."""

    client_order_id: str
    intent_id: str
    venue: VenueName | None = Field(
        description="the one venue holding its order after the retry (None: none, or several)")
    venues: dict[str, int] = Field(default_factory=dict,
                                   description="orders under its client_order_id per venue")
    first_outcome: str = Field(
        description="the router's answer to the submit whose answer was lost")
    retry_outcome: str = Field(description="the router's answer to the retry after the flip")


class RehearsalIntent(_Model):
    """One intent of the rehearsal: what the router saw and did, what the venues hold."""

    client_order_id: str
    intent_id: str
    symbol: str
    decision_time: AwareDatetime
    phase: Phase
    flags_adapter: str | None = Field(description="TRADING_EXECUTION_ADAPTER as the router read it")
    flags_context_enabled: bool | None = Field(
        description="TRADING_MARKET_CONTEXT_ENABLED as the router read it")
    route: str | None = Field(description="the venue the flags chose")
    outcome: str = Field(description="the router's answer (submitted, duplicate_avoided, ...)")
    router_venue: str | None = Field(description="the venue the router says holds the order")
    context_consulted: bool
    guardrail_action: str | None = None
    expected_venue: VenueName | None = Field(
        description="None: the guardrail did not let it through")
    orders: dict[str, int] = Field(default_factory=dict,
                                   description="orders under its client_order_id per venue")
    verdict: Literal["ok", "lost", "doubled", "misrouted", "leaked"] = Field(
        description="leaked: an order for an intent the guardrail rejected")


class RehearsalRecord(_Model):
    """The rollback rehearsal's evidence (one run); required before rollout phase 4."""

    run_id: str = Field(description="uuid4 of this rehearsal")
    day: date = Field(description="the LEAN data day whose strategy decisions were replayed")
    started_at: AwareDatetime
    finished_at: AwareDatetime
    passed: bool
    intents: int = Field(ge=0, description="intents replayed (each once, the retry not counted)")
    before_flip: int = Field(ge=0, description="intents routed before the flip (the in-flight one "
                             "included)")
    after_flip: int = Field(ge=0, description="intents routed after the flip (the retry excluded)")
    lost: int = Field(ge=0)
    doubled: int = Field(ge=0)
    misrouted: int = Field(ge=0)
    context_fetches_before: int = Field(ge=0, description="market-context fetches before the flip")
    context_fetches_after: int = Field(ge=0, description="market-context fetches after the flip")
    in_flight_retry: InFlightRetry | None = None
    env_before: dict[str, str] = Field(default_factory=dict)
    env_after: dict[str, str] = Field(default_factory=dict)
    venues: dict[str, str] = Field(default_factory=dict, description="what answered as each venue")
    guardrail_rejected: int = Field(default=0, ge=0)
    guardrail_before: dict[str, int] = Field(
        default_factory=dict, description="the guardrail's reason per intent before the flip "
        "(ok = context fine), e.g. market_context_fetch_error when no bundle was served")
    rows: list[RehearsalIntent] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list, description="plain sentences; empty = passed")

    @model_validator(mode="after")
    def _passed_means_no_problems(self) -> "RehearsalRecord":
        if self.passed == bool(self.problems):
            raise ValueError("passed must be true exactly when problems is empty")
        if self.finished_at < self.started_at:
            raise ValueError("finished_at is before started_at")
        return self


__all__ = ["InFlightRetry", "Phase", "RehearsalIntent", "RehearsalRecord", "VenueName"]
