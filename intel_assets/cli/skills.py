"""Owns `intel-assets skills`: the plan's quant skill pack, skills/<name>/SKILL.md, generated from
the schemas and the demo's published data so the files never drift from what the API answers.

Each SKILL.md says what the skill returns, the exact request to our serving API that yields it,
the JSON Schema file (schemas/) it conforms to, its freshness budget and risk-flag rules, and
one real example answer: the command serves the demo's bundle store (after `make demo`) with
the real app at the replay clock and records what the documented request returns. `--check`
regenerates into memory and fails, naming the files, when skills/ differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO / "skills"
EXAMPLE_SYMBOL = "IBM"
API = "/api/torghut/market-context"

#: Flags a domain may carry, with their meaning (the domain modules emit them).
FLAGS = {
    "technicals": {
        "technicals_stale": "older than its 60 s budget at the reading clock",
        "technicals_missing": "no bars in the look-back window",
        "technicals_error": "the block could not be built",
        "technicals_source_error": "ClickHouse could not be read (with technicals_error)",
        "technicals_no_quotes": "no bid/ask in ta_signals: no spread",
        "technicals_crossed_quote": "the latest quote is crossed (ask < bid)",
        "technicals_insufficient_history": "fewer than 50 minute bars (EMA-50 undefined)",
    },
    "regime": {
        "regime_stale": "older than its 60 s budget",
        "regime_missing": "no technicals or bars to classify",
        "regime_error": "the block could not be built",
        "regime_source_error": "ClickHouse could not be read",
        "regime_insufficient_history": "too few bars for the volatility percentile",
        "regime_high_volatility": "realized volatility in the top band",
        "regime_thin_liquidity": "wide spread or thin volume",
        "regime_liquidity_volume_only": "liquidity judged on volume alone (no spread)",
    },
    "news": {
        "news_stale": "older than its 300 s budget (e.g. a failed fetch reused the last block)",
        "news_missing": "no news provider configured",
        "news_error": "the fetch failed and no block within budget could be reused",
        "news_empty": "no article in the 24-h window (the block is ok)",
        "news_fetch_failed": "the latest fetch failed; the block is an earlier one",
        "news_rejected_articles": "some articles failed validation (counted in the payload)",
        "sample_data": "built from intel_assets' packaged sample news",
    },
    "fundamentals": {
        "fundamentals_stale": "older than its budget (24 h, cut to the next expected filing)",
        "fundamentals_missing": "no SEC filer, or no XBRL financial statements (ETFs, funds)",
        "fundamentals_error": "a malformed or failed EDGAR document",
        "fundamentals_partial": "some core concepts are missing (listed in payload.missing)",
        "fundamentals_no_submissions": "no submissions document: no filing cadence",
        "fundamentals_filing_overdue": "the next expected filing date has passed",
        "fundamentals_unverified_source": "documents not from SEC's API: counted, not cited",
        "sample_data": "built from intel_assets' packaged sample filings",
    },
}
BUNDLE_FLAGS = {
    "market_context_stale": "technicals/regime older than INTEL_MAX_STALENESS_SECONDS (300 s)",
    "market_context_disabled": "the kill switch INTEL_MARKET_CONTEXT_ENABLED=false is on",
    "<domain>_<state>": "every flag of every domain is repeated in the bundle's riskFlags",
}


@dataclass(frozen=True)
class Skill:
    name: str
    description: str
    returns: str
    requests: tuple[str, ...]
    schema: str
    domains: tuple[str, ...]


SKILLS = (
    Skill("market-context", "The decision-time market-context bundle of one symbol: technicals, "
          "regime, news and fundamentals, versioned, timestamped and freshness-scored.",
          "Jangar's envelope {ok: true, context: <bundle>} in Torghut's strict schema (camelCase)",
          (f"{API}?symbol={EXAMPLE_SYMBOL}",), "market-context-envelope.schema.json",
          ("technicals", "regime", "news", "fundamentals")),
    Skill("news-sentiment", "Recent news of one symbol scored for finance sentiment (Loughran-"
          "McDonald, VADER second) with recency decay, every scored article cited.",
          "the news domain in the skill output contract (snake_case)",
          (f"{API}/news?symbol={EXAMPLE_SYMBOL}",), "skill-envelope.schema.json", ("news",)),
    Skill("fundamentals", "Point-in-time fundamentals of one symbol from SEC EDGAR companyfacts "
          "and submissions: TTM revenue and income, growth, margins, balance items, next filing.",
          "the fundamentals domain in the skill output contract (snake_case)",
          (f"{API}/fundamentals?symbol={EXAMPLE_SYMBOL}",), "skill-envelope.schema.json",
          ("fundamentals",)),
    Skill("technicals-regime", "Technical indicators of one symbol from Torghut's 1-second "
          "microbars aggregated to minutes, and the trend / volatility / liquidity regime.",
          "the technicals and the regime domains, each in the skill output contract",
          (f"{API}/technicals?symbol={EXAMPLE_SYMBOL}", f"{API}/regime?symbol={EXAMPLE_SYMBOL}"),
          "skill-envelope.schema.json", ("technicals", "regime")),
    Skill("research-brief", "A short cited research brief of one symbol synthesized from the four "
          "domains: at most 120 words, every claim citing its input, with an uncertainty.",
          "{ok: true, research: {symbol, asOf, brief}}", (f"{API}/research?symbol={EXAMPLE_SYMBOL}",),
          "research-brief.schema.json", ("technicals", "regime", "news", "fundamentals")),
)


def _budgets(settings) -> dict[str, int]:
    return {d: int(settings.budget_seconds(d)) for d in ("technicals", "regime", "news",
                                                         "fundamentals")}


def skill_text(skill: Skill, examples: dict[str, dict], budgets: dict[str, int],
               as_of: str) -> str:
    lines = ["---", f"name: {skill.name}", f"description: {skill.description}", "---", "",
             f"# {skill.name}", "", skill.description, "",
             "<!-- generated by `intel-assets skills` from schemas/ and the demo data; "
             "do not edit by hand -->", "", "## Returns", "", skill.returns + ".", "",
             "## Request", "", "```"]
    lines += [f"GET {request}[&asOf=<RFC 3339 instant>]" for request in skill.requests]
    lines += ["```", "", f"Schema: [`schemas/{skill.schema}`](../../schemas/{skill.schema}). "
              "Errors are `{ok: false, message, error}` "
              "([`schemas/error-envelope.schema.json`](../../schemas/error-envelope.schema.json)).",
              "", "## Freshness", ""]
    lines += [f"- {d}: {budgets[d]} s budget; `freshness_seconds` (bundle: `freshnessSeconds`) "
              "is measured when you ask, never frozen at publish time" for d in skill.domains]
    lines += ["- a domain past its budget is `stale`; with `asOf` the answer is the newest data "
              "built as of that instant, aged to it", "", "## Risk flags", ""]
    for domain in skill.domains:
        for flag, meaning in FLAGS[domain].items():
            lines.append(f"- `{flag}`: {meaning}")
    if skill.name == "market-context":
        lines += [f"- `{flag}`: {meaning}" for flag, meaning in BUNDLE_FLAGS.items()]
    lines += ["", "A missing or errored domain is never omitted: it is marked in `state` and "
              "flagged; treat `sample_data` as not real market data.", "",
              f"## Example (demo data, replay clock {as_of})", ""]
    for request in skill.requests:
        lines += [f"`GET {request}`", "", "```json",
                  json.dumps(examples[request], indent=2), "```", ""]
    return "\n".join(lines)


def generated_skills(settings) -> dict[str, str]:
    """relative path -> SKILL.md text, from the store the settings name (the demo's)."""
    from intel_assets.devtools.asgi import asgi_in_background
    from intel_assets.stores.bundle_store import BundleStore
    from intel_assets.serving.app import create_app, serving_config

    if settings.as_of is None:
        raise SystemExit("error: set INTEL_AS_OF (make demo's replay clock) so the examples are "
                         "deterministic, e.g. INTEL_AS_OF=2013-10-11T15:59:00-04:00")
    from intel_assets.stores.local_postgres import ensure_for

    ensure_for(settings)  # the embedded cluster holds the demo's bundles: started or joined
    app = create_app(lambda: BundleStore.from_dsn(settings.store_dsn), serving_config(settings))
    examples: dict[str, dict] = {}
    with asgi_in_background(app) as url:
        for skill in SKILLS:
            for request in skill.requests:
                answer = httpx.get(f"{url}{request}", timeout=10)
                if answer.status_code != 200:
                    raise SystemExit(f"error: GET {request} answered {answer.status_code} "
                                     f"{answer.text[:200]}; run `make demo` first")
                examples[request] = answer.json()
    as_of = settings.as_of.isoformat()
    return {f"{s.name}/SKILL.md": skill_text(s, examples, _budgets(settings), as_of) + "\n"
            for s in SKILLS}


def drift(folder: Path, settings) -> list[str]:
    expected = generated_skills(settings)
    return [f"{path}: {'differs' if (folder / path).is_file() else 'missing'}"
            for path, text in expected.items()
            if not (folder / path).is_file() or (folder / path).read_text() != text]


def main(argv: list[str]) -> int:
    from intel_assets.cli.common import demo_settings

    parser = argparse.ArgumentParser(prog="intel-assets skills", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR, help="folder (default skills/)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on drift")
    args = parser.parse_args(argv)
    settings = demo_settings()
    if args.check:
        problems = drift(args.out, settings)
        for problem in problems:
            print(f"skills drift: {problem}; run `make demo` then `intel-assets skills`",
                  file=sys.stderr)
        return 1 if problems else 0
    for path, text in generated_skills(settings).items():
        (args.out / path).parent.mkdir(parents=True, exist_ok=True)
        (args.out / path).write_text(text)
    print(f"wrote {len(SKILLS)} skills to {args.out}")
    return 0
