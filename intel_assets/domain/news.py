"""Owns the news domain: raw Alpaca articles -> validated, deduplicated, as-of-cut, scored news block.

Pipeline (pure; no I/O, no Dagster):
  1. validate each raw article at the boundary (required: id, headline, created_at, source,
     url); a bad one is rejected with a reason and counted (`rejectedArticles`), never a crash.
     Only when every article of a non-empty response is bad is the block an error.
  2. keep articles inside the window: since <= created_at <= as-of (no look-ahead).
  3. deduplicate by id, then by normalized headline + source (the earliest copy wins).
  4. split by the source allow-list: unlisted sources are counted (`unlistedSourceCount`)
     but neither scored nor cited.
  5. score each listed article (Loughran-McDonald on headline + summary; VADER as
     `vaderScore`) and aggregate with exponential recency decay:
       weight = 0.5 ** (age_hours / half_life_hours);  weightedScore = sum(w*s) / sum(w).
Every scored article is cited (source, publishedAt = created_at, url). The block's asOf is
the fetch time: "no news", fetched now, is fresh news. An empty window is state ok with flag
`news_empty`. A failed fetch reuses the previous block while its age is within the budget
(flags `news_stale`, `news_fetch_failed`), else the block is an error (`news_error`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from intel_assets.contracts.bundle import Citation, DomainBlock, DomainState
from intel_assets.domain.samples import SAMPLE_FLAG, any_sample
from intel_assets.domain.quality import (
    REUSE_PENALTY,
    age_seconds,
    error_block,
    observed_block,
    with_clock,
)
from intel_assets.domain.sentiment import LoughranMcDonaldScorer, SentimentScorer, VaderScorer

DOMAIN = "news"
REQUIRED_FIELDS = ("id", "headline", "created_at", "source", "url")
#: Alpaca's main source is Benzinga; "sample-wire" is the source of the packaged sample data.
DEFAULT_ALLOWED_SOURCES = ("benzinga", "reuters", "dow jones", "associated press", "bloomberg",
                           "sample-wire")
EMPTY_FLAG = "news_empty"
STALE_FLAG = "news_stale"
FETCH_FAILED_FLAG = "news_fetch_failed"
REJECTED_FLAG = "news_rejected_articles"
MAX_REPORTED_REJECTIONS = 10
_REPLACEMENT_CHAR = "\ufffd"  # what a lenient decoder leaves where bytes were not UTF-8


@dataclass(frozen=True)
class NewsSettings:
    """How articles are aggregated; every field is documented in the payload it produces."""

    half_life_hours: float = 6.0
    neutral_band: float = 0.1  # |score| <= band counts as neutral
    allowed_sources: tuple[str, ...] = DEFAULT_ALLOWED_SOURCES
    top_headlines: int = 5
    expected_sources: int = 3  # cited articles for full source coverage in the quality score

    def __post_init__(self) -> None:
        if self.half_life_hours <= 0:
            raise ValueError("half_life_hours must be positive")
        if not 0.0 <= self.neutral_band < 1.0:
            raise ValueError("neutral_band must be in [0, 1)")
        if self.top_headlines < 0 or self.expected_sources < 1:
            raise ValueError("top_headlines must be >= 0 and expected_sources >= 1")

    def allows(self, source: str) -> bool:
        return normalized_source(source) in {normalized_source(s) for s in self.allowed_sources}


@dataclass(frozen=True)
class Article:
    id: str
    headline: str
    summary: str
    source: str
    url: str
    created_at: datetime


@dataclass(frozen=True)
class Rejection:
    id: str | None
    reason: str

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "reason": self.reason}


@dataclass(frozen=True)
class ScoredArticle:
    article: Article
    score: float
    vader_score: float
    weight: float


def normalized_source(source: str) -> str:
    return " ".join(str(source).lower().split())


def normalized_headline(headline: str) -> str:
    """Lower-case words only: 'IBM: Q3 results!' and 'ibm q3 results' are the same headline."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", headline.lower()).split())


def parse_timestamp(value: Any) -> datetime:
    """An RFC 3339 timestamp with a UTC offset (e.g. 2013-10-11T19:55:00Z) as aware UTC."""
    if not isinstance(value, str):
        raise ValueError(f"{_short(value)} is not a timestamp string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{_short(value)} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{_short(value)} has no UTC offset")
    return parsed.astimezone(timezone.utc)


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def validated_article(raw: Any) -> Article | Rejection:
    """The article, or a Rejection saying which rule the raw item broke."""
    if not isinstance(raw, Mapping):
        return Rejection(None, f"not a JSON object ({type(raw).__name__})")
    raw_id = raw.get("id")
    article_id = None if raw_id is None or isinstance(raw_id, bool) or raw_id == "" else str(raw_id)
    missing = [f for f in REQUIRED_FIELDS
               if raw.get(f) is None or (isinstance(raw.get(f), str) and not raw[f].strip())]
    if missing:
        return Rejection(article_id, f"missing required field(s): {', '.join(missing)}")
    if not isinstance(raw_id, (int, str)) or isinstance(raw_id, bool):
        return Rejection(None, f"id {_short(raw_id)} is not an integer or string")
    for name in ("headline", "source", "url", "summary"):
        value = raw.get(name, "")
        if value is not None and not isinstance(value, str):
            return Rejection(article_id, f"{name} is not a string ({type(value).__name__})")
        if isinstance(value, str) and _REPLACEMENT_CHAR in value:
            return Rejection(article_id, f"{name} holds undecodable (non-UTF-8) text")
    try:
        created_at = parse_timestamp(raw["created_at"])
    except ValueError as exc:
        return Rejection(article_id, f"created_at {exc}")
    url = raw["url"].strip()
    if not url.lower().startswith(("http://", "https://")):
        return Rejection(article_id, f"url {_short(url)} is not an http(s) URL")
    return Article(
        id=article_id or "", headline=" ".join(raw["headline"].split()),
        summary=" ".join((raw.get("summary") or "").split()), source=raw["source"].strip(),
        url=url, created_at=created_at,
    )


def validated_articles(raw_items: Iterable[Any]) -> tuple[list[Article], list[Rejection]]:
    articles: list[Article] = []
    rejections: list[Rejection] = []
    for raw in raw_items:
        result = validated_article(raw)
        (articles if isinstance(result, Article) else rejections).append(result)  # type: ignore[arg-type]
    return articles, rejections


def deduplicated(articles: Iterable[Article]) -> tuple[list[Article], int]:
    """(articles without repeats by id or by normalized headline + source, repeats dropped);
    the earliest copy is kept, so a re-post never displaces the original."""
    items = list(articles)
    seen_ids: set[str] = set()
    seen_keys: set[tuple[str, str]] = set()
    kept: list[Article] = []
    for article in sorted(items, key=lambda a: (a.created_at, a.id)):
        key = (normalized_headline(article.headline), normalized_source(article.source))
        if article.id in seen_ids or key in seen_keys:
            continue
        seen_ids.add(article.id)
        seen_keys.add(key)
        kept.append(article)
    return kept, len(items) - len(kept)


def decay_weight(age_seconds_: float, half_life_hours: float) -> float:
    """0.5 ** (age / half-life): 1 for a brand-new article, 0.5 one half-life later."""
    return 0.5 ** (max(0.0, age_seconds_) / (half_life_hours * 3600.0))


def default_scorers() -> tuple[SentimentScorer, SentimentScorer]:
    """(primary Loughran-McDonald, secondary VADER)."""
    return LoughranMcDonaldScorer(), VaderScorer()


def scored_articles(articles: Iterable[Article], now: datetime, settings: NewsSettings,
                    scorers: tuple[SentimentScorer, SentimentScorer]) -> list[ScoredArticle]:
    primary, secondary = scorers
    scored = []
    for article in articles:
        text = f"{article.headline}. {article.summary}" if article.summary else article.headline
        age = (now - article.created_at).total_seconds()
        scored.append(ScoredArticle(article, primary.score(text), secondary.score(text),
                                    decay_weight(age, settings.half_life_hours)))
    return scored


def _weighted(values: Iterable[tuple[float, float]]) -> float | None:
    pairs = list(values)
    total = sum(w for _, w in pairs)
    return None if total <= 0 else round(sum(s * w for s, w in pairs) / total, 4)


def news_block(
    raw_articles: Iterable[Any],
    *,
    now: datetime,
    budget_seconds: float,
    since: datetime | None = None,
    settings: NewsSettings = NewsSettings(),
    scorers: tuple[SentimentScorer, SentimentScorer] | None = None,
) -> DomainBlock:
    """The news block as of `now` (the fetch time) from one symbol's raw articles."""
    raw_list = list(raw_articles)
    valid, rejections = validated_articles(raw_list)
    if raw_list and not valid:
        return error_block(DOMAIN, budget_seconds,
                           f"all {len(raw_list)} articles failed validation; first: {rejections[0].reason}")
    future = [a for a in valid if a.created_at > now]
    in_window = [a for a in valid if a.created_at <= now and (since is None or a.created_at >= since)]
    unique, duplicates = deduplicated(in_window)
    listed = [a for a in unique if settings.allows(a.source)]
    unlisted = len(unique) - len(listed)
    scored = scored_articles(listed, now, settings, scorers or default_scorers())
    band = settings.neutral_band
    ranked = sorted(scored, key=lambda s: (s.weight * abs(s.score), s.article.created_at), reverse=True)
    newest = max((s.article.created_at for s in scored), default=None)
    payload: dict[str, Any] = {
        "weightedScore": _weighted((s.score, s.weight) for s in scored),
        "vaderWeightedScore": _weighted((s.vader_score, s.weight) for s in scored),
        "articleCount": len(scored),
        "positive": sum(1 for s in scored if s.score > band),
        "negative": sum(1 for s in scored if s.score < -band),
        "neutral": sum(1 for s in scored if -band <= s.score <= band),
        "topHeadlines": [
            {"id": s.article.id, "headline": s.article.headline, "score": s.score,
             "vaderScore": s.vader_score, "weight": round(s.weight, 4), "source": s.article.source,
             "createdAt": _iso(s.article.created_at), "url": s.article.url}
            for s in ranked[: settings.top_headlines]
        ],
        "newestArticleAt": None if newest is None else _iso(newest),
        "unlistedSourceCount": unlisted,
        "duplicateCount": duplicates,
        "lookAheadExcluded": len(future),
        "rejectedArticles": len(rejections),
        "rejections": [r.to_wire() for r in rejections[:MAX_REPORTED_REJECTIONS]],
        "window": {"start": None if since is None else _iso(since), "end": _iso(now)},
        "halfLifeHours": settings.half_life_hours,
        "neutralBand": band,
        "scorer": "loughran_mcdonald",
        "secondaryScorer": "vader",
    }
    citations = [Citation(source=s.article.source, published_at=s.article.created_at, url=s.article.url)
                 for s in sorted(scored, key=lambda s: s.article.created_at, reverse=True)]
    flags = ([EMPTY_FLAG] if not scored else []) + ([REJECTED_FLAG] if rejections else [])
    if any_sample(citations):  # our packaged sample articles (domain/samples.py)
        flags.append(SAMPLE_FLAG)
    return observed_block(
        domain=DOMAIN, now=now, as_of=now, budget_seconds=budget_seconds, payload=payload,
        core_values=[payload["weightedScore"], payload["vaderWeightedScore"], payload["newestArticleAt"]],
        sources=len(citations), expected_sources=settings.expected_sources, citations=citations,
        risk_flags=flags,
    )


def reused_or_error_block(previous: Mapping[str, Any] | None, reason: str, now: datetime,
                          budget_seconds: float) -> DomainBlock:
    """After a failed fetch: the previous news block, with its own (original) asOf, re-measured
    at `now` while its age <= budget: state stale, flagged news_stale + news_fetch_failed, its
    quality x REUSE_PENALTY (domain/quality.py); otherwise an error block."""
    block: DomainBlock | None = None
    if previous:
        try:
            block = DomainBlock.model_validate(previous)
        except ValidationError:
            block = None
    usable = (block is not None and block.domain == DOMAIN and block.as_of is not None
              and block.state in (DomainState.OK, DomainState.STALE))
    if not usable:
        return error_block(DOMAIN, budget_seconds, reason)
    age = age_seconds(now, block.as_of)  # type: ignore[union-attr, arg-type]
    if age > budget_seconds:
        return error_block(DOMAIN, budget_seconds,
                           f"{reason}; the last good news block is {age} s old (budget {budget_seconds:g} s)")
    measured = with_clock(block, now)  # type: ignore[arg-type]
    kept = [f for f in measured.risk_flags if f not in (STALE_FLAG, FETCH_FAILED_FLAG)]
    already = FETCH_FAILED_FLAG in (block.risk_flags if block else [])  # reused before: once
    return measured.model_copy(update={
        "state": DomainState.STALE,
        "quality_score": measured.quality_score if already else round(
            measured.quality_score * REUSE_PENALTY, 4),
        "risk_flags": [STALE_FLAG, FETCH_FAILED_FLAG, *kept],
        "payload": {**measured.payload, "fetchError": reason, "reusedFromAsOf": _iso(measured.as_of)},  # type: ignore[arg-type]
    })


def block_for_fetch(
    result: Sequence[Any] | BaseException,
    *,
    previous: Mapping[str, Any] | None,
    now: datetime,
    budget_seconds: float,
    since: datetime | None = None,
    settings: NewsSettings = NewsSettings(),
    scorers: tuple[SentimentScorer, SentimentScorer] | None = None,
) -> DomainBlock:
    """One symbol's block from its fetch result: articles -> news_block; a failure -> the
    previous block while within budget, else an error block."""
    if isinstance(result, BaseException):
        return reused_or_error_block(previous, f"news fetch failed: {result}", now, budget_seconds)
    return news_block(result, now=now, budget_seconds=budget_seconds, since=since,
                      settings=settings, scorers=scorers)
