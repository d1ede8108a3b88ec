"""Torghut's market-context bundle schema exactly as each pinned version parses it (test-only
restatement, written from the source, not copied):

* ``Bundle255d``: proompteng/lab 255d330fe (2026-02-26) services/torghut/app/trading/llm/
  schema.py — ``domains`` has exactly technicals, fundamentals, news and regime (all required,
  ``extra="forbid"``), each block's ``domain`` is one of the four.
* ``BundleHead``: proompteng/lab HEAD 6b69af37f6 (2026-08-22) same file — ``domains`` requires
  technicals and regime and ignores other keys (``extra="ignore"``); a block's ``domain`` must
  be technicals or regime.

Every model validates by alias only (no populate_by_name), as Torghut's do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Citation(_Strict):
    source: str
    published_at: datetime = Field(alias="publishedAt")
    url: Optional[str] = None


class _Domain(_Strict):
    state: Literal["ok", "stale", "missing", "error"]
    as_of: Optional[datetime] = Field(default=None, alias="asOf")
    freshness_seconds: Optional[int] = Field(default=None, alias="freshnessSeconds")
    max_freshness_seconds: int = Field(alias="maxFreshnessSeconds")
    source_count: int = Field(alias="sourceCount")
    quality_score: float = Field(ge=0.0, le=1.0, alias="qualityScore")
    payload: dict[str, Any] = Field(default_factory=dict)
    citations: list[Citation] = Field(default_factory=list)
    risk_flags: list[str] = Field(default_factory=list, alias="riskFlags")


class Domain255d(_Domain):
    domain: Literal["technicals", "fundamentals", "news", "regime"]


class DomainHead(_Domain):
    domain: Literal["technicals", "regime"]


class Domains255d(_Strict):
    technicals: Domain255d
    fundamentals: Domain255d
    news: Domain255d
    regime: Domain255d


class DomainsHead(BaseModel):
    model_config = ConfigDict(extra="ignore")
    technicals: DomainHead
    regime: DomainHead


class _Bundle(_Strict):
    context_version: str = Field(alias="contextVersion")
    symbol: str
    as_of_utc: datetime = Field(alias="asOfUtc")
    freshness_seconds: int = Field(alias="freshnessSeconds")
    quality_score: float = Field(ge=0.0, le=1.0, alias="qualityScore")
    source_count: int = Field(alias="sourceCount")
    risk_flags: list[str] = Field(default_factory=list, alias="riskFlags")


class Bundle255d(_Bundle):
    domains: Domains255d


class BundleHead(_Bundle):
    domains: DomainsHead
