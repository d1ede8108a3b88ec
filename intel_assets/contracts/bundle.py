"""Owns the wire format Torghut parses: DomainBlock, Citation and MarketContextBundle (camelCase).

Torghut validates with strict models that reject unknown keys, so every model here forbids
extra fields and serializes by alias. Torghut's schema fixes the domain set to exactly
technicals, fundamentals, news and regime, counts freshness in whole seconds and requires a
`publishedAt` on every citation; these models hold us to the same rules. Build bundles only
through these models.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from intel_assets.contracts.symbols import SYMBOL_RULE

CONTEXT_VERSION = "torghut.market-context.v1"


class DomainState(str, Enum):
    OK = "ok"
    STALE = "stale"
    MISSING = "missing"
    ERROR = "error"


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict Torghut receives (camelCase keys, ISO-8601 UTC times)."""
        return self.model_dump(mode="json", by_alias=True)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(timezone.utc)


DomainName = Literal["technicals", "fundamentals", "news", "regime"]
#: The domains of every bundle, in wire order; none is ever omitted.
DOMAINS: tuple[str, ...] = ("technicals", "regime", "news", "fundamentals")


class Citation(WireModel):
    source: str = Field(min_length=1)
    published_at: AwareDatetime
    url: str | None = None

    _as_utc = field_validator("published_at")(classmethod(lambda cls, v: _utc(v)))


class DomainBlock(WireModel):
    domain: DomainName
    state: DomainState
    as_of: AwareDatetime | None = None
    freshness_seconds: int | None = Field(default=None, ge=0)
    max_freshness_seconds: int = Field(gt=0)
    source_count: int = Field(default=0, ge=0)
    quality_score: float = Field(ge=0.0, le=1.0)
    payload: dict[str, Any] = Field(default_factory=dict)
    citations: list[Citation] = Field(default_factory=list)
    risk_flags: list[str] = Field(default_factory=list)

    _as_utc = field_validator("as_of")(classmethod(lambda cls, v: _utc(v)))


class DomainBlocks(WireModel):
    """Exactly the four domains; each key holds the block of that domain."""

    technicals: DomainBlock
    regime: DomainBlock
    news: DomainBlock
    fundamentals: DomainBlock

    @model_validator(mode="after")
    def _keys_match_blocks(self) -> "DomainBlocks":
        for name in DOMAINS:
            block = getattr(self, name)
            if block.domain != name:
                raise ValueError(f"domains.{name} holds a block for domain {block.domain!r}")
        return self

    def blocks(self) -> list[DomainBlock]:
        return [getattr(self, name) for name in DOMAINS]


class MarketContextBundle(WireModel):
    context_version: str = CONTEXT_VERSION
    symbol: str = Field(pattern=SYMBOL_RULE)
    as_of_utc: AwareDatetime
    freshness_seconds: int = Field(ge=0)
    quality_score: float = Field(ge=0.0, le=1.0)
    source_count: int = Field(ge=0)
    risk_flags: list[str] = Field(default_factory=list)
    domains: "DomainBlocks"

    _as_utc = field_validator("as_of_utc")(classmethod(lambda cls, v: _utc(v)))


WIRE_TOP_LEVEL_KEYS = frozenset(
    {"contextVersion", "symbol", "asOfUtc", "freshnessSeconds", "qualityScore", "sourceCount",
     "riskFlags", "domains"}
)
