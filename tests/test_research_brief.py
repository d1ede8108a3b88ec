"""The research brief: <= 120 words, every claim cited, uncertainty from quality and disagreement, deterministic."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from intel_assets.contracts.bundle import Citation, DomainBlock
from intel_assets.domain.fundamentals import FilingProvenance, fundamentals_block
from intel_assets.domain.research import MAX_WORDS, Evidence, research_brief

NOW = datetime(2013, 10, 11, 19, 59, tzinfo=timezone.utc)
SAMPLE = Path(__file__).resolve().parent.parent / "intel_assets" / "devtools" / "sample_edgar"
URLS = ["https://example.com/intel-assets-sample/news/1", "https://example.com/intel-assets-sample/news/2"]


def _block(domain: str, payload: dict, state: str = "ok", quality: float = 0.9,
           citations: list[Citation] | None = None, budget: int = 60) -> dict:
    age = 5 if state == "ok" else budget * 4
    return DomainBlock(domain=domain, state=state, as_of=NOW - timedelta(seconds=age),
                       freshness_seconds=age, max_freshness_seconds=budget, source_count=1,
                       quality_score=quality, payload=payload, citations=citations or []).to_wire()


def technicals(state: str = "ok") -> dict:
    return _block("technicals", {"lastPrice": 186.73, "returns": {"r1d": 0.0041}, "rsi14": 58.2}, state)


def regime(direction: str = "up", state: str = "ok") -> dict:
    return _block("regime", {"trend": {"direction": direction}, "volatility": {"level": "normal"},
                             "liquidity": {"level": "deep"}}, state)


def news(score: float = 0.35, headline: str = "IBM wins a large cloud contract", count: int = 2) -> dict:
    heads = [{"headline": headline, "score": score, "url": URLS[0]},
             {"headline": "IBM shares edge higher", "score": 0.1, "url": URLS[1]}][:count]
    return _block("news", {"weightedScore": score, "articleCount": count, "neutralBand": 0.1,
                           "topHeadlines": heads},
                  citations=[Citation(source="sample-wire", published_at=NOW, url=u) for u in URLS[:count]],
                  budget=300)


def fundamentals() -> dict:
    facts = json.loads((SAMPLE / "companyfacts_CIK0000051143_IBM.json").read_text())
    subs = json.loads((SAMPLE / "submissions_CIK0000051143_IBM.json").read_text())
    return fundamentals_block(facts, subs, NOW, 86_400, provenance=FilingProvenance.of(
        "http://127.0.0.1:8766", facts, subs)).to_wire()  # our sample documents


def _all(**overrides) -> dict:
    blocks = {"technicals": technicals(), "regime": regime(), "news": news(), "fundamentals": fundamentals()}
    blocks.update(overrides)
    return {k: v for k, v in blocks.items() if v is not None}


def _assert_well_formed(brief: dict, blocks: dict) -> None:
    words = sum(len(c["text"].split()) for c in brief["claims"])
    assert brief["wordCount"] == words <= MAX_WORDS
    for claim in brief["claims"]:
        assert claim["citations"], f"uncited claim: {claim['text']}"
        for cite in claim["citations"]:
            block = blocks[cite["domain"]]
            refs = {block.get("asOf"), *(c["url"] for c in block.get("citations", [])),
                    (block.get("payload") or {}).get("latestFiling", {}).get("accession")}
            assert cite["ref"] in refs, f"{cite} is not in the {cite['domain']} block"


def test_agreeing_fresh_domains_give_a_cited_low_uncertainty_brief():
    blocks = _all()
    brief = research_brief("IBM", blocks)
    _assert_well_formed(brief, blocks)
    assert brief["uncertainty"] == "medium"  # sample IBM revenue fell 3.5 % while the trend is up
    assert brief["uncertaintyReasons"] == ["fundamentals growth and regime trend disagree"]
    texts = " ".join(c["text"] for c in brief["claims"])
    assert "TTM revenue $102.4B (-3.5% YoY)" in texts and "next 10-Q expected 2013-10-30" in texts
    fund = next(c for c in brief["claims"] if c["text"].startswith("Fundamentals"))
    assert fund["citations"] == [{"domain": "fundamentals", "ref": "SAMPLE-51143-13-000107"}]
    assert brief["riskFlags"] == ["sample_data"]  # built from sample filings and sample news
    news_claim = next(c for c in brief["claims"] if c["text"].startswith("News"))
    assert [c["ref"] for c in news_claim["citations"]] == URLS
    assert brief["signals"] == {"fundamentals": -1, "news": 1, "regime": 1}

    growing = copy.deepcopy(blocks)
    growing["fundamentals"]["payload"]["revenueGrowthYoY"] = 0.08
    calm = research_brief("IBM", growing)
    assert (calm["uncertainty"], calm["uncertaintyReasons"]) == ("low", [])


def test_news_against_the_trend_is_high_uncertainty_with_a_cited_conflict_claim():
    blocks = _all(regime=regime("down"))
    brief = research_brief("IBM", blocks)
    _assert_well_formed(brief, blocks)
    assert brief["uncertainty"] == "high"
    assert "news sentiment and regime trend disagree" in brief["uncertaintyReasons"]
    conflict = next(c for c in brief["claims"] if c["text"].startswith("Signals conflict"))
    assert conflict["text"] == "Signals conflict: news is bullish while the trend is down."
    assert {c["domain"] for c in conflict["citations"]} == {"news", "regime"}
    # A score inside the neutral band is not a view: no conflict.
    mild = research_brief("IBM", _all(regime=regime("down"), news=news(score=0.05)))
    assert "news sentiment and regime trend disagree" not in mild["uncertaintyReasons"]


def test_missing_or_errored_domains_make_uncertainty_high_and_are_not_claimed():
    blocks = _all(news=None, fundamentals=DomainBlock(
        domain="fundamentals", state="missing", max_freshness_seconds=86_400, quality_score=0.0,
        payload={"reason": "no SEC companyfacts for SPY"}, risk_flags=["fundamentals_missing"]).to_wire())
    brief = research_brief("SPY", blocks)
    _assert_well_formed(brief, blocks)
    assert brief["uncertainty"] == "high"
    assert brief["uncertaintyReasons"][0] == "no usable data: news, fundamentals"
    assert brief["dataGaps"] == ["news", "fundamentals"]
    assert brief["domainStates"] == {"technicals": "ok", "regime": "ok", "news": "absent",
                                     "fundamentals": "missing"}
    assert {c["domain"] for claim in brief["claims"] for c in claim["citations"]} == {"technicals", "regime"}
    empty = research_brief("SPY", {})
    assert (empty["claims"], empty["wordCount"], empty["uncertainty"]) == ([], 0, "high")


def test_stale_data_is_medium_and_labelled():
    growing = fundamentals()
    growing["payload"]["revenueGrowthYoY"] = 0.05
    brief = research_brief("IBM", _all(regime=regime("up", state="stale"), fundamentals=growing))
    assert brief["uncertainty"] == "medium"
    assert "stale: regime" in brief["uncertaintyReasons"]
    assert any(c["text"].startswith("Regime (stale):") for c in brief["claims"])


def test_long_inputs_stay_within_120_words():
    headline = " ".join(["word"] * 400)
    blocks = _all(news=news(headline=headline))
    brief = research_brief("IBM", blocks)
    _assert_well_formed(brief, blocks)
    assert brief["wordCount"] <= MAX_WORDS


class _CarelessWriter:
    """A writer like an LLM might be: one uncited, one invented source, one far too long."""

    name = "careless"

    def write(self, evidence: Evidence) -> list[dict]:
        as_of = evidence.blocks["regime"]["asOf"]
        return [
            {"text": "Momentum is strong.", "citations": []},
            {"text": "Analysts love it.", "citations": [{"domain": "news", "ref": "https://invented.example/x"}]},
            {"text": "Trend up per regime.", "citations": [{"domain": "regime", "ref": as_of}]},
            {"text": " ".join(["long"] * 130), "citations": [{"domain": "regime", "ref": as_of}]},
        ]


def test_any_writer_is_held_to_citations_and_the_word_limit():
    blocks = _all()
    brief = research_brief("IBM", blocks, writer=_CarelessWriter())
    assert brief["writer"] == "careless" and brief["droppedClaims"] == 3
    assert [c["text"] for c in brief["claims"]] == ["Trend up per regime."]
    _assert_well_formed(brief, blocks)


def test_the_brief_is_deterministic():
    blocks = _all(regime=regime("down"))
    first = research_brief("IBM", blocks)
    shuffled = {k: blocks[k] for k in reversed(list(blocks))}
    again = research_brief("IBM", json.loads(json.dumps(shuffled)))
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert blocks == _all(regime=regime("down"))  # inputs are not mutated


@pytest.mark.parametrize("garbage", [None, "ok", 3, {"state": "bogus"}, {"payload": {"weightedScore": 1}}])
def test_malformed_blocks_count_as_absent(garbage):
    brief = research_brief("IBM", _all(news=garbage))
    assert brief["domainStates"]["news"] == "absent" and brief["uncertainty"] == "high"
    assert "news" not in brief["signals"]
    assert all(c["domain"] != "news" for claim in brief["claims"] for c in claim["citations"])


def test_a_usable_block_without_refs_cannot_be_cited():
    brief = research_brief("IBM", _all(news={"state": "ok", "payload": None}))
    assert brief["domainStates"]["news"] == "ok"
    assert all(c["domain"] != "news" for claim in brief["claims"] for c in claim["citations"])
    assert brief["droppedClaims"] == 1 and brief["wordCount"] <= MAX_WORDS
