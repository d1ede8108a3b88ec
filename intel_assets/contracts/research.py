"""Owns the research brief's wire shape: what research_brief[symbol] stages and the serving API's
/research answers (domain/research.py writes it; every claim cites its input)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from intel_assets.contracts.bundle import DomainName, WireModel

Uncertainty = Literal["low", "medium", "high"]


class ClaimCitation(WireModel):
    """One input a claim rests on: the domain and a ref found in that domain's block (its asOf,
    a cited article URL, or a filing accession)."""

    domain: DomainName
    ref: str = Field(min_length=1)


class Claim(WireModel):
    text: str = Field(min_length=1)
    citations: list[ClaimCitation] = Field(min_length=1)


class Brief(WireModel):
    """At most 120 words of claims, each cited, with an uncertainty and its reasons."""

    symbol: str
    claims: list[Claim]
    word_count: int = Field(ge=0, le=120)
    uncertainty: Uncertainty
    uncertainty_reasons: list[str]
    domain_states: dict[str, str] = Field(default_factory=dict)
    signals: dict[str, int] = Field(default_factory=dict)
    data_gaps: list[str] = Field(default_factory=list)
    writer: str
    dropped_claims: int = Field(default=0, ge=0)
    risk_flags: list[str] = Field(default_factory=list)


class ResearchBrief(WireModel):
    """What the research_brief asset stages per symbol: the brief as of the run's clock."""

    symbol: str
    as_of: AwareDatetime
    brief: Brief


__all__ = ["Brief", "Claim", "ClaimCitation", "ResearchBrief", "Uncertainty"]
