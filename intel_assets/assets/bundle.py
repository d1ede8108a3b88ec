"""Owns market_context_bundle[symbol] (merge of the domains) and published_bundle[symbol]
(the upsert to the serving store, downstream of the blocking contract checks)."""


from collections.abc import Sequence

from dagster import (
    AssetKey,
    Definitions,
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    PartitionsDefinition,
    asset,
)

from intel_assets.assets.common import (GROUP, add_partition_metadata, log_run_summary,
                                        model_table_schema, run_symbols, with_code_references)
from intel_assets.assets.fundamentals import RESEARCH_KIND
from intel_assets.checks.contract import build_bundle_checks
from intel_assets.contracts.bundle import DOMAINS, DomainBlock, MarketContextBundle
from intel_assets.domain.bundle import keep_better, merge_bundle
from intel_assets.domain.quality import missing_block
from intel_assets.resources.bundle_store import BundleStoreResource
from intel_assets.resources.context_policy import ContextPolicyResource


#: The bundle's wire fields as Torghut parses them, and every domain block's (domains.*.x).
BUNDLE_SCHEMA = model_table_schema(
    MarketContextBundle, nested=[("domains.*.", DomainBlock)],
    descriptions={
        "freshnessSeconds": "age when published; the serving API re-measures it per request",
        "qualityScore": "0..1, from the domains' quality (README: Quality score)",
        "riskFlags": "degraded domains flagged (<domain>_stale, _missing, _error, ...)",
        "domains": "exactly technicals, regime, news, fundamentals",
        "domains.*.state": "ok | stale | missing | error; never omitted",
    })


def bundle_values(bundle: MarketContextBundle) -> dict[str, object]:
    """A bundle partition's metadata: its quality, age, each domain's state and quality, flags."""
    values: dict[str, object] = {"bundle_quality": float(bundle.quality_score),
                                 "age_s": bundle.freshness_seconds,
                                 "source_count": bundle.source_count,
                                 "risk_flags": ", ".join(bundle.risk_flags) or "-"}
    for domain in DOMAINS:
        block = getattr(bundle.domains, domain)
        values[f"{domain}_state"] = block.state.value
        values[f"{domain}_quality"] = float(block.quality_score)
    return values


def build_bundle_assets(partitions_def: PartitionsDefinition, domain_assets: list) -> list:
    @asset(
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        deps=domain_assets,
        group_name=GROUP,
        owners=["team:market-context"], tags={"domain": "bundle", "layer": "bundle"},
        kinds={"python"},
        description="The wire bundle per symbol: every domain (missing ones marked and "
        "flagged), freshness re-measured against the clock, quality scored.",
        metadata={"dagster/column_schema": BUNDLE_SCHEMA},
    )
    def market_context_bundle(
        context: AssetExecutionContext,
        bundle_store: BundleStoreResource,
        context_policy: ContextPolicyResource,
    ) -> MaterializeResult:
        symbols = run_symbols(context)
        now = context_policy.clock().now()
        store = bundle_store.store
        staged = {domain: store.staged(domain, symbols) for domain in DOMAINS}
        wanted = set(symbols)  # the latest published bundles, in one query: never lose good data
        published = {s.symbol: MarketContextBundle.model_validate_json(s.body)
                     for s in store.latest_all() if s.symbol in wanted}
        budgets = context_policy.budgets()
        bundles = []
        for symbol in symbols:
            blocks = {
                domain: DomainBlock.model_validate(staged[domain][symbol])
                for domain in DOMAINS
                if symbol in staged[domain]
            }
            before = published.get(symbol)
            for domain in DOMAINS:
                fresh = blocks.get(domain) or missing_block(
                    domain, budgets[domain], f"no {domain} data has been materialized")
                blocks[domain], why = keep_better(
                    getattr(before.domains, domain) if before else None, fresh, now,
                    budgets[domain])
                if why:
                    context.log.warning(f"{symbol} {domain}: {why}")
            bundles.append(merge_bundle(symbol, now, blocks, budgets))
        store.stage("bundle", {b.symbol: b.to_wire() for b in bundles},
                    run_id=context.run.run_id, as_of=now)
        add_partition_metadata(context, {b.symbol: bundle_values(b) for b in bundles})
        log_run_summary(context, "market_context_bundle",
                        {b.symbol: "flagged" if b.risk_flags else "clean" for b in bundles},
                        {b.symbol: b.quality_score for b in bundles})
        return MaterializeResult(metadata={"as_of": now.isoformat()})

    @asset(
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[market_context_bundle],
        group_name=GROUP,
        owners=["team:market-context"], tags={"domain": "bundle", "layer": "serving"},
        kinds={"python", "sql"},
        description="Publishes each checked bundle: in one transaction upserts the latest "
        "bundle per symbol (what Torghut reads) and appends to the bundle history.",
    )
    def published_bundle(
        context: AssetExecutionContext,
        bundle_store: BundleStoreResource,
    ) -> MaterializeResult:
        symbols = run_symbols(context)
        store = bundle_store.store
        staged = store.staged("bundle", symbols)
        absent = [s for s in symbols if s not in staged]
        if absent:
            raise RuntimeError(f"no staged bundle for {absent}; materialize market_context_bundle first")
        bundles = [MarketContextBundle.model_validate(staged[s]) for s in symbols]
        etags = store.publish(bundles, run_id=context.run.run_id)
        # The research brief is served from its staged row (the serving API's /research), so
        # publishing a bundle publishes the brief staged with it: each partition records which.
        briefs = store.staged(RESEARCH_KIND, symbols)
        add_partition_metadata(context, {
            b.symbol: {"etag": e, "bundle_as_of": b.as_of_utc.isoformat(),
                       "quality": float(b.quality_score),
                       "brief_published": b.symbol in briefs,
                       "brief_as_of": (briefs.get(b.symbol) or {}).get("asOf")}
            for b, e in zip(bundles, etags)})
        context.log.info(f"published {len(bundles)} bundle(s), {len(briefs)} with a research brief")
        return MaterializeResult()

    return [market_context_bundle, published_bundle]


def bundle_definitions(partitions_def: PartitionsDefinition,
                       domain_keys: Sequence[AssetKey]) -> Definitions:
    """The bundle slice: market_context_bundle from ``domain_keys``, its blocking checks and
    published_bundle (which a failed blocking check stops)."""
    market_context_bundle, published_bundle = build_bundle_assets(partitions_def, list(domain_keys))
    return Definitions(assets=with_code_references([market_context_bundle, published_bundle]),
                       asset_checks=build_bundle_checks(market_context_bundle, partitions_def))
