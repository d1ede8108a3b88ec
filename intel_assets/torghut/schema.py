"""Owns the market-context bundle as Torghut's own schema parses it (the consumer's view).

Restated from proompteng/lab services/torghut/app/trading/llm/schema.py at 255d330fe
(2026-02-26: ``domains`` with exactly technicals, fundamentals, news and regime, every model
``extra="forbid"``) and at its head (2026-08-22: technicals and regime required, other domain
keys ignored). This model accepts what both accept: technicals and regime required,
fundamentals and news optional, nothing else. Fields are snake_case with camelCase aliases and
validate **by alias only**, as Torghut's models do (no ``populate_by_name``); dumping without
``by_alias`` gives the snake_case names Torghut puts in its LLM review request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field


class _TorghutModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TorghutCitation(_TorghutModel):
    source: str
    published_at: datetime = Field(alias="publishedAt")
    url: Optional[str] = None


class TorghutDomain(_TorghutModel):
    domain: Literal["technicals", "fundamentals", "news", "regime"]
    state: Literal["ok", "stale", "missing", "error"]
    as_of: Optional[datetime] = Field(default=None, alias="asOf")
    freshness_seconds: Optional[int] = Field(default=None, alias="freshnessSeconds")
    max_freshness_seconds: int = Field(alias="maxFreshnessSeconds")
    source_count: int = Field(alias="sourceCount")
    quality_score: float = Field(ge=0.0, le=1.0, alias="qualityScore")
    payload: dict[str, Any] = Field(default_factory=dict)
    citations: list[TorghutCitation] = Field(default_factory=list)
    risk_flags: list[str] = Field(default_factory=list, alias="riskFlags")


class TorghutDomains(_TorghutModel):
    technicals: TorghutDomain
    regime: TorghutDomain
    fundamentals: Optional[TorghutDomain] = None
    news: Optional[TorghutDomain] = None

    def present(self) -> dict[str, TorghutDomain]:
        """The domain blocks the bundle carries, by name."""
        return {name: block for name in ("technicals", "fundamentals", "news", "regime")
                if (block := getattr(self, name)) is not None}


class TorghutMarketContextBundle(_TorghutModel):
    context_version: str = Field(alias="contextVersion")
    symbol: str
    as_of_utc: datetime = Field(alias="asOfUtc")
    freshness_seconds: int = Field(alias="freshnessSeconds")
    quality_score: float = Field(ge=0.0, le=1.0, alias="qualityScore")
    source_count: int = Field(alias="sourceCount")
    risk_flags: list[str] = Field(default_factory=list, alias="riskFlags")
    domains: TorghutDomains


__all__ = ["TorghutCitation", "TorghutDomain", "TorghutDomains", "TorghutMarketContextBundle"]
