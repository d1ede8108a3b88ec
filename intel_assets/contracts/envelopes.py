"""Owns the serving API's answer envelopes (Jangar's ``{ok, ...}``) and the skill output contract.

Every answer is ``{"ok": true, <key>: <shape>}`` or ``{"ok": false, "message", "error"}``
(restated from proompteng/lab 255d330fe services/jangar/src/routes/api/torghut/market-context/).
``SkillOutput`` is the plan's skill output contract (Workstream A: ``context_version``,
``as_of_utc``, ``symbol``, ``freshness_seconds``, ``source_count``, ``quality_score``,
``payload``, ``citations``), snake_case as the plan lists it, plus ``domain``, ``state`` and
``risk_flags`` so an agent can see a stale or missing domain; one domain of a bundle re-aged at
the reading clock.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from intel_assets.contracts.bundle import (
    CONTEXT_VERSION,
    DomainBlock,
    DomainName,
    DomainState,
    MarketContextBundle,
    WireModel,
)
from intel_assets.contracts.health import MarketContextHealth, UniverseHealth
from intel_assets.contracts.research import ResearchBrief

ErrorCode = Literal["invalid_symbol", "invalid_as_of", "invalid_domain", "not_found",
                    "method_not_allowed", "headers_too_large", "store_unavailable",
                    "corrupt_bundle", "internal_error", "http_error"]


class ErrorEnvelope(WireModel):
    """Every refusal: plain words in ``message`` (what Torghut shows), a stable ``error`` code."""

    ok: Literal[False] = False
    message: str
    error: ErrorCode


class ContextEnvelope(WireModel):
    ok: Literal[True] = True
    context: MarketContextBundle


class HealthEnvelope(WireModel):
    ok: Literal[True] = True
    health: MarketContextHealth


class UniverseHealthEnvelope(WireModel):
    ok: Literal[True] = True
    health: UniverseHealth


class ResearchEnvelope(WireModel):
    ok: Literal[True] = True
    research: ResearchBrief


class SkillCitation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    published_at: AwareDatetime
    url: str | None = None


class SkillOutput(BaseModel):
    """One domain in the skill output contract (snake_case keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    context_version: str = CONTEXT_VERSION
    symbol: str
    domain: DomainName
    as_of_utc: AwareDatetime | None = Field(description="when the domain's data is as of "
                                                        "(null for a missing or errored domain)")
    state: DomainState
    freshness_seconds: int | None = Field(ge=0)
    max_freshness_seconds: int = Field(gt=0)
    source_count: int = Field(ge=0)
    quality_score: float = Field(ge=0.0, le=1.0)
    payload: dict[str, Any]
    citations: list[SkillCitation]
    risk_flags: list[str]

    @classmethod
    def of(cls, symbol: str, block: DomainBlock) -> "SkillOutput":
        """The skill output of one (already re-aged) domain block."""
        return cls(symbol=symbol, domain=block.domain, as_of_utc=block.as_of, state=block.state,
                   freshness_seconds=block.freshness_seconds,
                   max_freshness_seconds=block.max_freshness_seconds,
                   source_count=block.source_count, quality_score=block.quality_score,
                   payload=block.payload,
                   citations=[SkillCitation(source=c.source, published_at=c.published_at, url=c.url)
                              for c in block.citations],
                   risk_flags=block.risk_flags)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class SkillEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ok: Literal[True] = True
    output: SkillOutput


__all__ = ["ContextEnvelope", "ErrorCode", "ErrorEnvelope", "HealthEnvelope",
           "ResearchEnvelope", "SkillCitation", "SkillEnvelope", "SkillOutput",
           "UniverseHealthEnvelope"]
