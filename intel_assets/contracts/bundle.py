"""Owns the wire format Torghut parses: DomainBlock, Citation and MarketContextBundle (camelCase).

Torghut validates with strict models that reject unknown keys, so every model here forbids
extra fields and serializes by alias. Build bundles only through these models.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
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


class Citation(WireModel):
    source: str = Field(min_length=1)
    published_at: AwareDatetime | None = None
    url: str | None = None

    _as_utc = field_validator("published_at")(classmethod(lambda cls, v: _utc(v)))


class DomainBlock(WireModel):
    domain: str = Field(min_length=1, pattern=r"^[a-z][a-z_]*$")
    state: DomainState
    as_of: AwareDatetime | None = None
    freshness_seconds: float | None = Field(default=None, ge=0)
    max_freshness_seconds: float = Field(gt=0)
    source_count: int = Field(default=0, ge=0)
    quality_score: float = Field(ge=0.0, le=1.0)
    payload: dict[str, Any] = Field(default_factory=dict)
    citations: list[Citation] = Field(default_factory=list)
    risk_flags: list[str] = Field(default_factory=list)

    _as_utc = field_validator("as_of")(classmethod(lambda cls, v: _utc(v)))


class MarketContextBundle(WireModel):
    context_version: str = CONTEXT_VERSION
    symbol: str = Field(pattern=SYMBOL_RULE)
    as_of_utc: AwareDatetime
    freshness_seconds: float = Field(ge=0)
    quality_score: float = Field(ge=0.0, le=1.0)
    source_count: int = Field(ge=0)
    risk_flags: list[str] = Field(default_factory=list)
    domains: dict[str, DomainBlock]

    _as_utc = field_validator("as_of_utc")(classmethod(lambda cls, v: _utc(v)))

    @field_validator("domains")
    @classmethod
    def _keys_match_blocks(cls, domains: dict[str, DomainBlock]) -> dict[str, DomainBlock]:
        for key, block in domains.items():
            if key != block.domain:
                raise ValueError(f"domains[{key!r}] holds a block for domain {block.domain!r}")
        return domains


WIRE_TOP_LEVEL_KEYS = frozenset(
    {"contextVersion", "symbol", "asOfUtc", "freshnessSeconds", "qualityScore", "sourceCount",
     "riskFlags", "domains"}
)
