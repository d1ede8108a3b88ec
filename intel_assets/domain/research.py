"""Owns the research brief: a deterministic, cited, <= 120-word synthesis of a symbol's four domain blocks.

Input: the wire blocks (camelCase dicts) of technicals, regime, news and fundamentals; any may
be absent, missing, errored or stale. Output (`research_brief`):
  claims       [{text, citations: [{domain, ref}]}]; ref = the block asOf (technicals, regime,
               news without articles), an article url (news) or a filing accession (fundamentals).
               Every claim cites; a writer's claim citing a ref the blocks do not contain, or
               citing nothing, is dropped (`droppedClaims`); claims past 120 words are dropped.
  uncertainty  high when a domain is missing/errored, when news and regime point opposite ways
               (news weightedScore beyond its neutralBand vs trend up/down), or when the
               weighted quality (DOMAIN_WEIGHTS over the four blocks, absent = 0) is < 0.4;
               medium when a domain is stale, the weighted quality is < 0.7, or fundamentals
               (revenue growth beyond +-2 %) oppose the regime trend; else low.
  wordCount, uncertaintyReasons, domainStates, signals, dataGaps, writer.
The default writer is deterministic (templates over the payloads); any other `BriefWriter`
(e.g. an LLM) goes through the same citation and length guards. Nothing here calls a model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from intel_assets.domain.quality import DOMAIN_WEIGHTS
from intel_assets.domain.samples import SAMPLE_FLAG

MAX_WORDS = 120
DOMAINS = ("technicals", "regime", "news", "fundamentals")
USABLE = ("ok", "stale")
GROWTH_BAND = 0.02
MAX_HEADLINE_WORDS = 10


@dataclass(frozen=True)
class Evidence:
    """What a writer may use: usable payloads, states, signals and the refs it may cite."""

    symbol: str
    blocks: Mapping[str, dict]  # usable (ok/stale) blocks only
    states: Mapping[str, str]  # every domain: ok/stale/missing/error/absent
    refs: Mapping[str, frozenset[str]]  # domain -> citable refs
    signals: Mapping[str, int]  # domain -> +1 bullish / -1 bearish / 0 neutral (when known)


class BriefWriter(Protocol):
    """Turns evidence into claims [{text, citations: [{domain, ref}]}]; guarded by research_brief."""

    name: str

    def write(self, evidence: Evidence) -> list[dict]: ...


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _money(value: float) -> str:
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{'-' if value < 0 else ''}${abs(value) / size:.1f}{unit}"
    return f"${value:,.0f}"


def _refs(domain: str, block: dict) -> frozenset[str]:
    refs = {str(block["asOf"])} if block.get("asOf") else set()
    payload = block.get("payload") or {}
    for citation in block.get("citations") or []:
        url = citation.get("url") if isinstance(citation, dict) else None
        if url:
            refs.add(url)
            if domain == "fundamentals" and url.endswith("-index.htm"):
                refs.add(url.rsplit("/", 1)[-1].removesuffix("-index.htm"))  # the accession
    for item in payload.get("topHeadlines") or []:
        if isinstance(item, dict) and item.get("url"):
            refs.add(item["url"])
    latest = payload.get("latestFiling") or {}
    if isinstance(latest, dict) and latest.get("accession"):
        refs.add(latest["accession"])
    return frozenset(refs)


def _signals(blocks: Mapping[str, dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    news = (blocks.get("news") or {}).get("payload") or {}
    score, band = _num(news.get("weightedScore")), _num(news.get("neutralBand")) or 0.0
    if score is not None and (news.get("articleCount") or 0) > 0:
        out["news"] = 1 if score > band else -1 if score < -band else 0
    direction = (((blocks.get("regime") or {}).get("payload") or {}).get("trend") or {}).get("direction")
    if direction in ("up", "down", "flat"):
        out["regime"] = {"up": 1, "down": -1, "flat": 0}[direction]
    growth = _num(((blocks.get("fundamentals") or {}).get("payload") or {}).get("revenueGrowthYoY"))
    if growth is not None:
        out["fundamentals"] = 1 if growth > GROWTH_BAND else -1 if growth < -GROWTH_BAND else 0
    return out


def gather(symbol: str, blocks: Mapping[str, Any]) -> Evidence:
    """Evidence from the wire blocks; a block that is not a dict counts as absent."""
    states, usable, refs = {}, {}, {}
    for domain in DOMAINS:
        block = blocks.get(domain)
        state = block.get("state") if isinstance(block, dict) else None
        states[domain] = state if state in ("ok", "stale", "missing", "error") else "absent"
        if states[domain] in USABLE:
            usable[domain] = block
            refs[domain] = _refs(domain, block)
    return Evidence(symbol, usable, states, refs, _signals(usable))


def _cite(domain: str, ref: str | None) -> list[dict]:
    return [{"domain": domain, "ref": ref}] if ref else []


class DeterministicWriter:
    """Template sentences over the payloads; the default writer (no model, same input, same text)."""

    name = "deterministic"

    def write(self, evidence: Evidence) -> list[dict]:
        claims = [c for c in (self._technicals(evidence), self._regime(evidence), self._news(evidence),
                              self._fundamentals(evidence), self._conflict(evidence)) if c]
        return claims

    @staticmethod
    def _stale(evidence: Evidence, domain: str) -> str:
        return " (stale)" if evidence.states[domain] == "stale" else ""

    def _technicals(self, ev: Evidence) -> dict | None:
        block = ev.blocks.get("technicals")
        if block is None:
            return None
        p = block.get("payload") or {}
        parts = []
        if _num(p.get("lastPrice")) is not None:
            parts.append(f"last {p['lastPrice']:.2f}")
        r1d = _num((p.get("returns") or {}).get("r1d"))
        if r1d is not None:
            parts.append(f"1-day {r1d:+.1%}")
        if _num(p.get("rsi14")) is not None:
            parts.append(f"RSI(14) {p['rsi14']:.0f}")
        if not parts:
            return None
        return {"text": f"{ev.symbol} technicals{self._stale(ev, 'technicals')}: {', '.join(parts)}.",
                "citations": _cite("technicals", block.get("asOf"))}

    def _regime(self, ev: Evidence) -> dict | None:
        block = ev.blocks.get("regime")
        if block is None:
            return None
        p = block.get("payload") or {}
        trend = (p.get("trend") or {}).get("direction", "unknown")
        vol = (p.get("volatility") or {}).get("level", "unknown")
        liq = (p.get("liquidity") or {}).get("level", "unknown")
        return {"text": f"Regime{self._stale(ev, 'regime')}: trend {trend}, {vol} volatility, {liq} liquidity.",
                "citations": _cite("regime", block.get("asOf"))}

    def _news(self, ev: Evidence) -> dict | None:
        block = ev.blocks.get("news")
        if block is None:
            return None
        p = block.get("payload") or {}
        count, score = p.get("articleCount") or 0, _num(p.get("weightedScore"))
        if not count or score is None:
            return {"text": f"No scored news in the window{self._stale(ev, 'news')}.",
                    "citations": _cite("news", block.get("asOf"))}
        tilt = {1: "bullish", -1: "bearish", 0: "neutral"}[ev.signals.get("news", 0)]
        heads = [h for h in p.get("topHeadlines") or [] if isinstance(h, dict) and h.get("url")]
        text = f"News{self._stale(ev, 'news')} {tilt}: weighted score {score:+.2f} over {count} articles"
        if heads and heads[0].get("headline"):
            words = str(heads[0]["headline"]).split()
            more = "..." if len(words) > MAX_HEADLINE_WORDS else ""
            text += f"; top: \"{' '.join(words[:MAX_HEADLINE_WORDS])}{more}\""
        cites = [c for h in heads[:2] for c in _cite("news", h["url"])] or _cite("news", block.get("asOf"))
        return {"text": text + ".", "citations": cites}

    def _fundamentals(self, ev: Evidence) -> dict | None:
        block = ev.blocks.get("fundamentals")
        if block is None:
            return None
        p = block.get("payload") or {}
        parts = []
        if _num(p.get("ttmRevenue")) is not None:
            growth = _num(p.get("revenueGrowthYoY"))
            parts.append(f"TTM revenue {_money(p['ttmRevenue'])}"
                         + (f" ({growth:+.1%} YoY)" if growth is not None else ""))
        if _num(p.get("netMargin")) is not None:
            parts.append(f"net margin {p['netMargin']:.1%}")
        nxt = p.get("nextExpectedFiling") or {}
        if nxt.get("form") and nxt.get("expectedDate"):
            parts.append(f"next {nxt['form']} expected {nxt['expectedDate']}")
        if not parts:
            return None
        accession = (p.get("latestFiling") or {}).get("accession")
        return {"text": f"Fundamentals{self._stale(ev, 'fundamentals')}: {'; '.join(parts)}.",
                "citations": _cite("fundamentals", accession or block.get("asOf"))}

    def _conflict(self, ev: Evidence) -> dict | None:
        news, regime = ev.signals.get("news", 0), ev.signals.get("regime", 0)
        if news * regime >= 0:
            return None
        words = {1: "bullish", -1: "bearish"}
        trend = {1: "up", -1: "down"}[regime]
        news_ref = sorted(r for r in ev.refs["news"] if r.startswith("http")) or [ev.blocks["news"].get("asOf")]
        return {"text": f"Signals conflict: news is {words[news]} while the trend is {trend}.",
                "citations": [*_cite("news", news_ref[0]), *_cite("regime", ev.blocks["regime"].get("asOf"))]}


def _guard(claims: Any, evidence: Evidence) -> tuple[list[dict], int]:
    """Keep claims whose every citation names a usable domain and a ref it contains; cap words."""
    kept: list[dict] = []
    dropped, words = 0, 0
    for claim in claims if isinstance(claims, list) else []:
        text = claim.get("text") if isinstance(claim, dict) else None
        cites = claim.get("citations") if isinstance(claim, dict) else None
        ok = isinstance(text, str) and text.strip() and isinstance(cites, list) and cites and all(
            isinstance(c, dict) and isinstance(c.get("domain"), str)
            and str(c.get("ref")) in evidence.refs.get(c["domain"], ())
            for c in cites)
        n = len(text.split()) if ok else 0
        if not ok or words + n > MAX_WORDS:
            dropped += 1
            continue
        words += n
        kept.append({"text": text.strip(),
                     "citations": [{"domain": c["domain"], "ref": str(c["ref"])} for c in cites]})
    return kept, dropped


def uncertainty(evidence: Evidence, blocks: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(low|medium|high, reasons) from data quality and disagreement; see the module doc."""
    high, medium = [], []
    gaps = [d for d, s in evidence.states.items() if s in ("missing", "error", "absent")]
    if gaps:
        high.append(f"no usable data: {', '.join(gaps)}")
    news, regime, fund = (evidence.signals.get(k, 0) for k in ("news", "regime", "fundamentals"))
    if news * regime < 0:
        high.append("news sentiment and regime trend disagree")
    quality = sum(DOMAIN_WEIGHTS[d] * (_num((blocks.get(d) or {}).get("qualityScore")) or 0.0)
                  if d in evidence.blocks else 0.0 for d in DOMAINS) / sum(DOMAIN_WEIGHTS.values())
    if quality < 0.4:
        high.append(f"weighted data quality {quality:.2f} < 0.40")
    elif quality < 0.7:
        medium.append(f"weighted data quality {quality:.2f} < 0.70")
    stale = [d for d, s in evidence.states.items() if s == "stale"]
    if stale:
        medium.append(f"stale: {', '.join(stale)}")
    if fund * regime < 0:
        medium.append("fundamentals growth and regime trend disagree")
    if high:
        return "high", high + medium
    return ("medium", medium) if medium else ("low", [])


def research_brief(symbol: str, blocks: Mapping[str, Any], writer: BriefWriter | None = None) -> dict:
    """The brief for one symbol from its domain wire blocks (any may be missing or stale)."""
    evidence = gather(symbol, blocks)
    writer = writer or DeterministicWriter()
    claims, dropped = _guard(writer.write(evidence), evidence)
    level, reasons = uncertainty(evidence, blocks)
    return {
        "symbol": symbol,
        "claims": claims,
        "wordCount": sum(len(c["text"].split()) for c in claims),
        "uncertainty": level,
        "uncertaintyReasons": reasons,
        "domainStates": dict(evidence.states),
        "signals": dict(sorted(evidence.signals.items())),
        "dataGaps": [d for d, s in evidence.states.items() if s not in USABLE],
        "writer": writer.name,
        "droppedClaims": dropped,
        "riskFlags": [SAMPLE_FLAG] if any(
            SAMPLE_FLAG in (b.get("riskFlags") or []) for b in blocks.values()
            if isinstance(b, dict)) else [],
    }
