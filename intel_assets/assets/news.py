"""Owns the news[symbol] asset: Alpaca news in the window before the clock -> scored, cited news blocks."""


from collections import Counter

from dagster import (
    Definitions,
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    PartitionsDefinition,
    asset,
)

from intel_assets.assets.common import (
    with_code_references,
    RefreshLoop,
    GROUP,
    blocks_for_symbols,
    blocks_metadata,
    log_symbol_problems,
    provider_poll,
    run_symbols,
)
from intel_assets.contracts.bundle import DomainBlock
from intel_assets.domain.news import DOMAIN, block_for_fetch, default_scorers
from intel_assets.domain.quality import error_block, missing_block
from intel_assets.jobs import REFRESH_NEWS_JOB
from intel_assets.resources.alpaca import AlpacaResource, NewsFetchError
from intel_assets.resources.news_config import NewsConfigResource
from intel_assets.resources.bundle_store import BundleStoreResource
from intel_assets.resources.context_policy import ContextPolicyResource


def news_values(block: DomainBlock, failure: NewsFetchError | None) -> dict[str, object]:
    """A news partition's key values: sentiment score, article count, citations, fetch failure."""
    p = block.payload
    score = p.get("weightedScore")
    return {"sentiment_score": None if score is None else float(score),
            "article_count": p.get("articleCount"),
            "articles_cited": block.source_count,
            "fetch_failure": failure.kind if failure is not None else None}


def build_news_assets(partitions_def: PartitionsDefinition) -> list:
    @asset(
        name="news",
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        group_name=GROUP,
        owners=["team:market-context"], tags={"domain": "news", "layer": "context"},
        kinds={"python", "alpaca"},
        description="Per-symbol news from Alpaca for the window before the clock (default 24 h): "
        "validated, deduplicated, no look-ahead, Loughran-McDonald sentiment (VADER second) "
        "with recency decay, allow-listed sources cited. A failed fetch reuses the last good "
        "block while within the news budget (flag news_stale), else the block is an error.",
    )
    def news(
        context: AssetExecutionContext,
        alpaca: AlpacaResource,
        news_config: NewsConfigResource,
        bundle_store: BundleStoreResource,
        context_policy: ContextPolicyResource,
    ) -> MaterializeResult:
        symbols = run_symbols(context)
        now = context_policy.clock().now()
        since = now - news_config.window
        budget = context_policy.news_budget_seconds
        settings = news_config.settings()
        previous = bundle_store.store.staged(DOMAIN, symbols)  # read before this run stages
        with provider_poll(bundle_store.store, "news") as poll:
            fetched = alpaca.fetch_news(symbols, since, now,
                                        limit_per_symbol=news_config.limit_per_symbol)
            failures = {s: r for s, r in fetched.items() if isinstance(r, NewsFetchError)}
            poll.configured = not failures or any(f.kind != "config" for f in failures.values())
            faults = [f for f in failures.values() if f.kind != "config"]
            if faults:
                poll.failed(f"{len(faults)} of {len(symbols)} symbols failed ({faults[0].kind}): "
                            f"{faults[0]}")
        log_symbol_problems(context, "news fetch failed",
                            {s: f"({f.kind}) {f}" for s, f in failures.items()})
        scorers = default_scorers()

        def build(symbol: str) -> DomainBlock:
            result = fetched.get(symbol)
            if result is None:
                result = NewsFetchError(symbol, "unexpected", "the fetch returned nothing for this symbol")
            if isinstance(result, NewsFetchError) and result.kind == "config":
                return missing_block(DOMAIN, budget, str(result))  # no provider configured
            return block_for_fetch(result, previous=previous.get(symbol), now=now,
                                   budget_seconds=budget, since=since, settings=settings,
                                   scorers=scorers)

        blocks = blocks_for_symbols(
            context, symbols, build,
            lambda s, exc: error_block(DOMAIN, budget, f"{type(exc).__name__}: {exc}"),
        )
        bundle_store.store.stage(DOMAIN, {s: b.to_wire() for s, b in blocks.items()},
                                 run_id=context.run.run_id, as_of=now)
        blocks_metadata(context, blocks, lambda s, b: news_values(b, failures.get(s)))
        if failures:  # the run's failure kinds, once (not copied onto every partition's event)
            context.log.info("news fetch failure kinds: " + ", ".join(
                f"{k}={n}" for k, n in sorted(Counter(f.kind for f in failures.values()).items())))
        return MaterializeResult(metadata={"as_of": now.isoformat(),
                                           "window_start": since.isoformat()})

    return [news]


def news_definitions(partitions_def: PartitionsDefinition, loop: RefreshLoop,
                     budget_seconds: float) -> Definitions:
    """The news slice: news, its refresh job and its per-symbol freshness sensor."""
    [news] = build_news_assets(partitions_def)
    job = loop.job(REFRESH_NEWS_JOB, "Refresh news of a symbol range and republish.", [DOMAIN])
    return Definitions(assets=with_code_references([news]), jobs=[job],
                       sensors=[loop.sensor("news_freshness_sensor", job, [DOMAIN], budget_seconds)])
