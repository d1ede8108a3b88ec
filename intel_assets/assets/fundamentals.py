"""Owns the fundamentals[symbol] asset (SEC EDGAR companyfacts/submissions) and the research_brief[symbol] asset."""


from collections import Counter
from datetime import datetime, timezone

from dagster import (
    Definitions,
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    MaterializeResult,
    PartitionsDefinition,
    asset,
)
from pydantic import ValidationError

from intel_assets.assets.common import (
    with_code_references,
    RefreshLoop,
    GROUP,
    blocks_for_symbols,
    blocks_metadata,
    log_symbol_problems,
    add_partition_metadata,
    provider_poll,
    run_symbols,
)
from intel_assets.contracts.bundle import DomainBlock
from intel_assets.domain.fundamentals import DOMAIN, FilingProvenance, fundamentals_block
from intel_assets.domain.quality import error_block, missing_block, with_clock
from intel_assets.domain.research import DOMAINS as BRIEF_INPUTS
from intel_assets.domain.research import research_brief as write_brief
from intel_assets.jobs import REFRESH_FUNDAMENTALS_JOB
from intel_assets.resources.bundle_store import BundleStoreResource
from intel_assets.resources.context_policy import ContextPolicyResource
from intel_assets.providers.edgar import (
    EdgarClient,
    EdgarError,
    EdgarNotFoundError,
    EdgarUnknownTickerError,
    cik10,
)
from intel_assets.resources.edgar import EdgarResource

#: Staged kind of the research briefs (not a wire domain: Torghut's schema has exactly four).
RESEARCH_KIND = "research"


def fundamentals_for_symbol(client: EdgarClient, symbol: str, now: datetime,
                            budget_seconds: float,
                            provenance: FilingProvenance | None = None) -> DomainBlock:
    """Fetch one symbol's EDGAR documents and build its block; EDGAR failures become blocks.

    Unknown ticker -> missing (`fundamentals_missing`); companyfacts 404 -> missing (this is
    SPY's path: ETFs and funds are in SEC's ticker map but file no XBRL financial statements);
    any other HTTP or JSON failure -> error (`fundamentals_error`). A failed submissions fetch
    only loses the filing cadence (flag fundamentals_no_submissions). ``provenance`` (default:
    judged from the client's base URL) decides how filings are cited; sample documents are
    always cited as samples.
    """
    try:
        cik = client.cik_for(symbol)
    except EdgarUnknownTickerError as exc:
        return missing_block(DOMAIN, budget_seconds, f"no SEC filer for {symbol}: {exc}")
    except EdgarError as exc:  # the ticker map itself failed (once per run; see EdgarClient)
        return error_block(DOMAIN, budget_seconds, str(exc))
    try:
        facts = client.companyfacts(cik)
    except EdgarNotFoundError:
        return missing_block(DOMAIN, budget_seconds,
                             f"no SEC companyfacts for {symbol} (CIK {cik10(cik)}): ETFs and funds "
                             "file no XBRL financial statements")
    except EdgarError as exc:
        return error_block(DOMAIN, budget_seconds, str(exc))
    try:
        submissions = client.submissions(cik)
    except EdgarError:
        submissions = None
    if provenance is None or FilingProvenance.of("", facts, submissions).kind == "sample":
        provenance = FilingProvenance.of(client.base_url, facts, submissions)
    return fundamentals_block(facts, submissions, now=now, budget_seconds=budget_seconds,
                              fetched_at=now, provenance=provenance)


def _brief_inputs(staged: dict[str, dict[str, dict]], symbol: str, now: datetime) -> dict[str, dict]:
    """The staged wire blocks of a symbol, re-measured against the clock; unreadable ones = error."""
    blocks: dict[str, dict] = {}
    for kind in BRIEF_INPUTS:
        raw = staged[kind].get(symbol)
        if raw is None:
            continue
        try:
            blocks[kind] = with_clock(DomainBlock.model_validate(raw), now).to_wire()
        except ValidationError:
            blocks[kind] = {"domain": kind, "state": "error"}
    return blocks


def fundamentals_values(symbol: str, block: DomainBlock) -> dict[str, object]:
    """A fundamentals partition's key values: TTM revenue and its period end."""
    revenue = block.payload.get("ttmRevenue")
    return {"ttm_revenue": None if revenue is None else float(revenue),
            "period_end": block.payload.get("periodEnd")}


def brief_values(brief: dict) -> dict[str, object]:
    """A research brief partition's metadata: the brief's text (its claims), headline, counts."""
    claims = [c.get("text", "") for c in brief.get("claims", []) if isinstance(c, dict)]
    return {"brief": " ".join(claims) or "(no claims)",
            "headline": claims[0] if claims else "(no claims)",
            "uncertainty": brief.get("uncertainty"),
            "word_count": brief.get("wordCount"),
            "claims": len(claims),
            "data_gaps": ", ".join(brief.get("dataGaps", [])) or "-",
            "sample_data": bool(brief.get("riskFlags"))}


def build_fundamentals_assets(partitions_def: PartitionsDefinition) -> list:
    @asset(
        name="fundamentals",
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        group_name=GROUP,
        owners=["team:market-context"], tags={"domain": "fundamentals", "layer": "context"},
        kinds={"python", "sec"},
        description="Per-symbol point-in-time fundamentals from SEC EDGAR companyfacts and "
        "submissions: TTM revenue/net income/diluted EPS, YoY growth, margins, shares, debt, "
        "equity, cash, deltas vs the previous filing and the next expected filing. Budget 24 h, "
        "cut to the expected next filing when sooner. ETFs (no companyfacts) are missing.",
    )
    def fundamentals(
        context: AssetExecutionContext,
        edgar: EdgarResource,
        bundle_store: BundleStoreResource,
        context_policy: ContextPolicyResource,
    ) -> MaterializeResult:
        symbols = run_symbols(context)
        now = context_policy.clock().now()
        budget = context_policy.fundamentals_budget_seconds
        try:
            client: EdgarClient | None = edgar.client()
            config_error = ""
        except EdgarError as exc:  # e.g. no contact User-Agent: every symbol reports it
            client, config_error = None, str(exc)
            context.log.error(config_error)

        def build(symbol: str) -> DomainBlock:
            if client is None and not edgar.user_agent.strip():  # not configured: no data
                return missing_block(DOMAIN, budget, config_error)
            if client is None:  # configured wrongly: an error the operator must fix
                return error_block(DOMAIN, budget, config_error)
            return fundamentals_for_symbol(client, symbol, now, budget)

        configured = client is not None or bool(edgar.user_agent.strip())
        with provider_poll(bundle_store.store, "fundamentals", configured) as poll:
            blocks = blocks_for_symbols(
                context, symbols, build,
                lambda s, exc: error_block(DOMAIN, budget, f"{type(exc).__name__}: {exc}"),
            )
            errors = {s: b for s, b in blocks.items() if b.state.value == "error"}
            if errors:
                first = next(iter(errors.values()))
                poll.failed(f"{len(errors)} of {len(symbols)} symbols failed: "
                            f"{first.payload.get('reason', 'error')}")
        bundle_store.store.stage(DOMAIN, {s: b.to_wire() for s, b in blocks.items()},
                                 run_id=context.run.run_id, as_of=now)
        stats = dict(client.stats) if client is not None else {}
        blocks_metadata(context, blocks, fundamentals_values)
        # the run's EDGAR traffic, once: not metadata (copied onto every partition's event)
        context.log.info(f"EDGAR: {stats.get('requests', 0)} request(s), "
                         f"{stats.get('notModified', 0)} not modified")
        return MaterializeResult(metadata={"as_of": now.isoformat()})

    @asset(
        name="research_brief",
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[AssetKey(kind) for kind in BRIEF_INPUTS],
        group_name=GROUP,
        owners=["team:market-context"], tags={"domain": "research", "layer": "brief"},
        kinds={"python"},
        description="Per-symbol research brief (staged kind 'research', served apart from the "
        "wire bundle): <= 120 words of deterministic claims over the technicals, regime, news "
        "and fundamentals blocks, each claim cited, with an uncertainty level from data quality "
        "and disagreement. No LLM is called.",
    )
    def research_brief(
        context: AssetExecutionContext,
        bundle_store: BundleStoreResource,
        context_policy: ContextPolicyResource,
    ) -> MaterializeResult:
        symbols = run_symbols(context)
        now = context_policy.clock().now()
        as_of = now.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        staged = {kind: bundle_store.store.staged(kind, symbols) for kind in BRIEF_INPUTS}
        briefs: dict[str, dict] = {}
        failures: dict[str, str] = {}
        for symbol in symbols:
            try:
                brief = write_brief(symbol, _brief_inputs(staged, symbol, now))
            except Exception as exc:  # noqa: BLE001 - isolated per symbol
                failures[symbol] = f"{type(exc).__name__}: {exc}"
                brief = {"symbol": symbol, "claims": [], "wordCount": 0, "uncertainty": "high",
                         "uncertaintyReasons": [f"brief failed: {type(exc).__name__}: {exc}"],
                         "writer": "none"}
            briefs[symbol] = {"symbol": symbol, "asOf": as_of, "brief": brief}
        log_symbol_problems(context, "research brief failed", failures)
        bundle_store.store.stage(RESEARCH_KIND, briefs, run_id=context.run.run_id, as_of=now)
        # Each symbol's brief, inline on its partition page (text metadata renders inline; md
        # would sit behind a "Show" button), the run's uncertainty counts as one log line.
        add_partition_metadata(context, {s: brief_values(item["brief"]) for s, item in briefs.items()})
        levels = Counter(b["brief"]["uncertainty"] for b in briefs.values())
        context.log.info(f"research_brief: {len(briefs)} symbol(s), uncertainty "
                         + ", ".join(f"{lv} {levels.get(lv, 0)}" for lv in ("low", "medium", "high")))
        return MaterializeResult(metadata={"as_of": as_of})

    return [fundamentals, research_brief]


def fundamentals_definitions(partitions_def: PartitionsDefinition, loop: RefreshLoop,
                             budget_seconds: float) -> Definitions:
    """The fundamentals slice: fundamentals and the research brief (every refresh ends with
    it), the fundamentals refresh job and its per-symbol freshness sensor."""
    fundamentals, research_brief = build_fundamentals_assets(partitions_def)
    job = loop.job(REFRESH_FUNDAMENTALS_JOB, "Refresh SEC fundamentals of a symbol range and "
                   "republish.", [DOMAIN])
    return Definitions(assets=with_code_references([fundamentals, research_brief]), jobs=[job],
                       sensors=[loop.sensor("fundamentals_freshness_sensor", job, [DOMAIN],
                                            budget_seconds)])
