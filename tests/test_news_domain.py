"""Tests the pure news domain: validation, dedup, no look-ahead, decay, allow-list, reuse, scorers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from intel_assets.contracts.bundle import DomainBlock, DomainState
from intel_assets.domain.quality import REUSE_PENALTY, with_clock
from intel_assets.domain.news import (
    NewsSettings,
    block_for_fetch,
    decay_weight,
    deduplicated,
    news_block,
    reused_or_error_block,
    validated_articles,
)
from intel_assets.domain.sentiment import (
    LoughranMcDonaldScorer,
    SentimentScorer,
    VaderScorer,
    bounded_score,
)

NOW = datetime(2013, 10, 11, 19, 59, tzinfo=timezone.utc)
BUDGET = 300.0


class TableScorer:
    """A deterministic SentimentScorer: the score of each known headline, else 0."""

    name = "table"

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table

    def score(self, text: str) -> float:
        return next((v for k, v in self.table.items() if text.startswith(k)), 0.0)


def raw(article_id: int, minutes_ago: float, headline: str, source: str = "benzinga", **extra) -> dict:
    created = NOW - timedelta(minutes=minutes_ago)
    stamp = created.isoformat().replace("+00:00", "Z")
    return {"id": article_id, "headline": headline, "author": "test", "created_at": stamp,
            "updated_at": stamp, "summary": "", "content": "", "url": f"https://example.com/{article_id}",
            "images": [], "symbols": ["IBM"], "source": source, **extra}


def block(articles: list, scorers=None, **kwargs) -> DomainBlock:
    return news_block(articles, now=NOW, budget_seconds=BUDGET,
                      scorers=scorers or (TableScorer({}), TableScorer({})), **kwargs)


def test_scorers_are_bounded_and_sign_finance_phrases_sensibly():
    lm, vader = LoughranMcDonaldScorer(), VaderScorer()
    assert isinstance(lm, SentimentScorer) and isinstance(vader, SentimentScorer)
    positive = "Company reports strong growth, record profit and improved margins"
    negative = "Shares plunge after the company reports a loss, a default and a lawsuit"
    for scorer in (lm, vader):
        scores = [scorer.score(t) for t in (positive, negative, "", "   ", "IBM to report on October 16")]
        assert all(-1.0 <= s <= 1.0 for s in scores)
        assert scores[0] > 0 > scores[1]
        assert scores[2] == scores[3] == 0.0
    assert lm.score("IBM to report on October 16") == 0.0  # no LM word: no signal
    assert bounded_score(3.5) == 1.0 and bounded_score(float("nan")) == 0.0 and bounded_score(None) == 0.0


def test_bad_articles_are_rejected_with_reasons_and_the_rest_still_scored():
    bad_time = raw(2, 5, "Naive time")
    bad_time["created_at"] = "2013-10-11T19:00:00"
    no_created = raw(3, 5, "No time")
    del no_created["created_at"]
    articles = [raw(1, 5, "Good"), bad_time, no_created, raw(4, 5, "Bad url", url="ftp://x"),
                raw(5, 5, "Mojibake \ufffd headline"), "not an object", raw(6, 5, "   ")]
    result = block(articles)
    reasons = {r["id"]: r["reason"] for r in result.payload["rejections"]}
    assert result.state is DomainState.OK and result.payload["articleCount"] == 1
    assert result.payload["rejectedArticles"] == 6
    assert reasons["2"] == "created_at '2013-10-11T19:00:00' has no UTC offset"
    assert reasons["3"] == "missing required field(s): created_at"
    assert reasons["4"].startswith("url 'ftp://x' is not an http(s) URL")
    assert "non-UTF-8" in reasons["5"] and reasons["6"] == "missing required field(s): headline"
    assert reasons[None] == "not a JSON object (str)"
    assert "news_rejected_articles" in result.risk_flags


def test_a_response_whose_every_article_is_bad_is_an_error():
    articles = [{k: v for k, v in raw(i, 5, f"h{i}").items() if k != "url"} for i in range(3)]
    result = block(articles)
    assert result.state is DomainState.ERROR and result.risk_flags == ["news_error"]
    assert result.payload["reason"] == "all 3 articles failed validation; first: missing required field(s): url"


def test_dedup_by_id_and_by_normalized_headline_and_source_keeps_the_earliest():
    articles, _ = validated_articles([
        raw(1, 30, "IBM to Report Q3 Results!"),
        raw(1, 30, "IBM to Report Q3 Results!"),           # same id again (page overlap)
        raw(2, 10, "ibm to report q3 results"),            # re-post: same headline + source
        raw(3, 10, "IBM to report Q3 results", source="Reuters"),  # another source: kept
    ])
    kept, dropped = deduplicated(articles)
    assert [a.id for a in kept] == ["1", "3"] and dropped == 2
    assert block([raw(1, 30, "A b"), raw(2, 10, "a, B!")]).payload["duplicateCount"] == 1


def test_articles_after_the_clock_or_before_the_window_are_never_used():
    since = NOW - timedelta(hours=24)
    articles = [raw(1, 1, "Up"), raw(2, -1, "Future"), raw(3, 25 * 60, "Too old"), raw(4, 0, "Exactly now")]
    result = block(articles, since=since, scorers=(TableScorer({"Future": -1.0}), TableScorer({})))
    assert result.payload["articleCount"] == 2 and result.payload["lookAheadExcluded"] == 1
    assert {c.url for c in result.citations} == {"https://example.com/1", "https://example.com/4"}
    assert result.payload["weightedScore"] == 0.0  # the future article's -1 never counted
    assert result.payload["newestArticleAt"] == "2013-10-11T19:59:00Z"
    assert result.payload["window"] == {"start": "2013-10-10T19:59:00Z", "end": "2013-10-11T19:59:00Z"}


def test_recency_decay_weights_by_half_life():
    assert decay_weight(0, 6) == 1.0 and decay_weight(6 * 3600, 6) == 0.5
    scorers = (TableScorer({"Good": 1.0, "Bad": -1.0}), TableScorer({"Good": 0.5, "Bad": -0.5}))
    articles = [raw(1, 0, "Good news"), raw(2, 6 * 60, "Bad news")]
    six = block(articles, scorers=scorers)
    assert six.payload["weightedScore"] == pytest.approx((1 - 0.5) / 1.5, abs=1e-4)
    assert six.payload["vaderWeightedScore"] == pytest.approx((0.5 - 0.25) / 1.5, abs=1e-4)
    one = block(articles, scorers=scorers, settings=NewsSettings(half_life_hours=1))
    assert one.payload["weightedScore"] == pytest.approx((1 - 1 / 64) / (1 + 1 / 64), abs=1e-4)
    assert [h["id"] for h in six.payload["topHeadlines"]] == ["1", "2"]
    assert six.payload["topHeadlines"][1]["weight"] == 0.5


def test_unlisted_sources_are_counted_but_neither_scored_nor_cited():
    scorers = (TableScorer({"Great": 1.0, "Awful": -1.0}), TableScorer({}))
    articles = [raw(1, 5, "Great quarter"), raw(2, 5, "Awful rumor", source="some-blog")]
    result = block(articles, scorers=scorers)
    assert result.payload["unlistedSourceCount"] == 1 and result.payload["articleCount"] == 1
    assert result.payload["weightedScore"] == 1.0
    assert [c.source for c in result.citations] == ["benzinga"] and result.source_count == 1
    widened = block(articles, scorers=scorers, settings=NewsSettings(allowed_sources=("Benzinga", "SOME-BLOG")))
    assert widened.source_count == 2 and widened.payload["weightedScore"] == 0.0


def test_an_empty_window_is_ok_and_flagged_news_empty():
    result = block([])
    assert result.state is DomainState.OK and result.source_count == 0 and result.citations == []
    assert result.risk_flags == ["news_empty"] and result.as_of == NOW and result.freshness_seconds == 0
    assert result.payload["weightedScore"] is None and result.payload["articleCount"] == 0
    assert result.quality_score == 0.0  # no sources: no information, though fresh


def test_counts_citations_and_wire_round_trip():
    scorers = (TableScorer({"Up": 0.6, "Down": -0.4, "Flat": 0.05}), TableScorer({}))
    articles = [raw(i, i, h) for i, h in enumerate(["Up", "Down", "Flat", "Up 2", "Up 3", "Up 4", "Up 5"], 1)]
    result = block(articles, scorers=scorers, settings=NewsSettings(neutral_band=0.1))
    p = result.payload
    assert (p["positive"], p["negative"], p["neutral"], p["articleCount"]) == (5, 1, 1, 7)
    assert len(p["topHeadlines"]) == 5 and result.source_count == 7 and result.quality_score > 0.9
    wire = result.to_wire()
    assert wire["citations"][0] == {"source": "benzinga", "publishedAt": "2013-10-11T19:58:00Z",
                                    "url": "https://example.com/1"}
    assert DomainBlock.model_validate(wire) == result


def test_failed_fetch_reuses_the_last_good_block_only_within_budget():
    good = news_block([raw(1, 5, "Strong profit")], now=NOW - timedelta(seconds=120),
                      budget_seconds=BUDGET).to_wire()
    reused = block_for_fetch(RuntimeError("HTTP 500"), previous=good, now=NOW, budget_seconds=BUDGET)
    # issue 12 finding 6: a reused block is stale with its original age and lowered quality
    assert reused.state is DomainState.STALE and reused.freshness_seconds == 120
    fresh_score = with_clock(DomainBlock.model_validate(good), NOW).quality_score
    assert reused.quality_score == pytest.approx(round(fresh_score * REUSE_PENALTY, 4))
    assert reused.risk_flags[:2] == ["news_stale", "news_fetch_failed"]
    again = block_for_fetch(RuntimeError("HTTP 500"), previous=reused.to_wire(),
                            now=NOW + timedelta(seconds=60), budget_seconds=BUDGET)
    assert again.state is DomainState.STALE and again.freshness_seconds == 180  # penalized once
    assert again.quality_score == pytest.approx(round(
        with_clock(DomainBlock.model_validate(good), NOW + timedelta(seconds=60)).quality_score
        * REUSE_PENALTY, 4), abs=1e-3)
    seen_later = with_clock(reused, NOW + timedelta(seconds=10))  # serving re-ages it: still stale
    assert seen_later.state is DomainState.STALE and "news_stale" in seen_later.risk_flags
    assert reused.payload["fetchError"] == "news fetch failed: HTTP 500"
    assert reused.payload["reusedFromAsOf"] == "2013-10-11T19:57:00Z" and reused.citations
    too_old = reused_or_error_block(good, "boom", NOW + timedelta(seconds=300), BUDGET)
    assert too_old.state is DomainState.ERROR and "420 s old" in too_old.payload["reason"]
    errored = block_for_fetch(RuntimeError("boom"), previous=too_old.to_wire(), now=NOW, budget_seconds=BUDGET)
    assert errored.state is DomainState.ERROR and errored.risk_flags == ["news_error"]
    assert block_for_fetch(RuntimeError("x"), previous=None, now=NOW, budget_seconds=BUDGET).state is DomainState.ERROR
    assert block_for_fetch(RuntimeError("x"), previous={"junk": 1}, now=NOW,
                           budget_seconds=BUDGET).payload["reason"] == "news fetch failed: x"
