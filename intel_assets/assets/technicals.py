"""Owns the technicals[symbol] and regime[symbol] assets (Torghut's ClickHouse tables -> domain
blocks) and the observable sources for those tables (their newest event_ts in Dagster's UI)."""


import re
import warnings
from datetime import datetime

import pandas as pd
from dagster import (
    Definitions,
    AssetExecutionContext,
    BetaWarning,
    AssetKey,
    AssetObservation,
    BackfillPolicy,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    ObserveResult,
    PartitionsDefinition,
    asset,
    observable_source_asset,
)

from intel_assets.assets.common import (
    clickhouse_table_schema,
    with_code_references,
    RefreshLoop,
    GROUP,
    blocks_for_symbols,
    blocks_metadata,
    provider_poll,
    run_symbols,
)
from intel_assets.contracts.bundle import DomainBlock
from intel_assets.dagster_internals import GLOBAL_CONCURRENCY_TAG
from intel_assets.domain.indicators import technicals_payload
from intel_assets.domain.quality import error_block, missing_block, observed_block
from intel_assets.domain.regime import regime_payload
from intel_assets.domain.ta_tables import MICROBARS, SIGNALS
from intel_assets.resources.clickhouse import ClickHouseResource
from intel_assets.stores.warehouse import (COLUMN_TYPES, REQUIRED_COLUMNS, SourceFreshness,
                                          Warehouse)
from intel_assets.resources.bundle_store import BundleStoreResource
from intel_assets.resources.context_policy import ContextPolicyResource
from intel_assets.jobs import REFRESH_TECHNICALS_JOB
from intel_assets.run_limits import CLICKHOUSE_POOL

SOURCE_GROUP = "market_data"
_SOURCE_DESCRIPTIONS = {
    MICROBARS: "Torghut's microbars (torghut.ta_microbars: 1-second bars from its Flink job, "
               "ReplacingMergeTree by ingest_ts; event_ts = window end). Read as 1-minute bars.",
    SIGNALS: "Torghut's signals (torghut.ta_signals): bid/ask in imbalance_bid_px/ask_px and its "
             "own indicators (rsi14, macd, ema, bollinger, vwap).",
}
SOURCE_KEYS = {table: AssetKey(["clickhouse", table]) for table in (MICROBARS, SIGNALS)}


def source_metadata(found: SourceFreshness, now: datetime) -> dict:
    """What an observation of one of Torghut's tables records (and its data version)."""
    metadata: dict = {"symbols": found.symbols, "rows_all_versions": found.rows}
    if found.newest_event_ts is not None:
        metadata["newest_event_ts"] = MetadataValue.timestamp(found.newest_event_ts)
        metadata["lag_seconds"] = MetadataValue.float(
            round((now - found.newest_event_ts).total_seconds(), 3))
    return metadata


def observed(wh: Warehouse, table: str, now: datetime) -> tuple[SourceFreshness, dict]:
    """One observation of a Torghut table: its freshness and metadata, with the column schema
    of the table as Torghut has it now (not as we declare it)."""
    found = wh.freshness(table)
    metadata = source_metadata(found, now)
    metadata["dagster/column_schema"] = clickhouse_table_schema(wh.columns(table),
                                                                REQUIRED_COLUMNS[table])
    return found, metadata


def _observable(table: str):
    def observe(clickhouse: ClickHouseResource, context_policy: ContextPolicyResource) -> ObserveResult:
        with clickhouse.warehouse() as wh:
            found, metadata = observed(wh, table, context_policy.clock().now())
        newest = found.newest_event_ts.isoformat() if found.newest_event_ts else "empty"
        return ObserveResult(data_version=DataVersion(newest), metadata=metadata)

    with warnings.catch_warnings():  # observable_source_asset is beta in Dagster 1.13; known
        warnings.simplefilter("ignore", BetaWarning)
        return observable_source_asset(
            key=SOURCE_KEYS[table], group_name=SOURCE_GROUP,
            description=_SOURCE_DESCRIPTIONS[table],
            metadata={"dagster/column_schema": clickhouse_table_schema(
                COLUMN_TYPES[table], REQUIRED_COLUMNS[table]), "dagster/table_name": f"torghut.{table}"},
            tags={"dagster/kind/clickhouse": "", "domain": "market_data", "layer": "source"},
            op_tags={GLOBAL_CONCURRENCY_TAG: CLICKHOUSE_POOL})(observe)  # no pool= argument here


#: Torghut's market-data tables, written by its ingestion; we read (and observe) them.
MARKET_DATA_SOURCES = [_observable(MICROBARS), _observable(SIGNALS)]


def _technicals_core(payload: dict) -> list:
    return [
        payload.get("lastPrice"), payload.get("rsi14"), payload.get("ema20"), payload.get("ema50"),
        (payload.get("macd") or {}).get("macd"), payload.get("atr14"),
        (payload.get("bollinger") or {}).get("middle"), payload.get("realizedVolatility"),
        payload.get("vwapDistanceBps"), payload.get("spreadBps"), payload.get("volumeZScore"),
        (payload.get("returns") or {}).get("r1m"), (payload.get("returns") or {}).get("r1d"),
    ]


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def technicals_values(symbol: str, block: DomainBlock) -> dict[str, object]:
    """A technicals partition's key values (typed metadata: the partition page plots them)."""
    p = block.payload
    return {"last_price": _float(p.get("lastPrice")), "rsi14": _float(p.get("rsi14")),
            "spread_bps": _float(p.get("spreadBps"))}


def regime_values(symbol: str, block: DomainBlock) -> dict[str, object]:
    """A regime partition's levels: trend direction, volatility and liquidity level."""
    p = block.payload
    return {"trend": (p.get("trend") or {}).get("direction"),
            "trend_strength": _float((p.get("trend") or {}).get("strength")),
            "volatility_level": (p.get("volatility") or {}).get("level"),
            "liquidity_level": (p.get("liquidity") or {}).get("level")}


class MarketFrames:
    """Minute bars and latest quotes of a run's symbols, read once in one query each."""

    def __init__(self, bars: pd.DataFrame, quotes: pd.DataFrame) -> None:
        self._bars = dict(tuple(bars.groupby("symbol", sort=False)))
        self._quotes = dict(tuple(quotes.groupby("symbol", sort=False)))
        self._no_bars, self._no_quotes = bars.iloc[0:0], quotes.iloc[0:0]

    def bars(self, symbol: str) -> pd.DataFrame:
        return self._bars.get(symbol, self._no_bars)

    def quotes(self, symbol: str) -> pd.DataFrame:
        return self._quotes.get(symbol, self._no_quotes)


def read_frames(wh: Warehouse, symbols: list[str], now: datetime,
                policy: ContextPolicyResource) -> MarketFrames:
    """The look-back window of minute bars and the latest quotes up to the clock (never after)."""
    since = now - policy.lookback
    return MarketFrames(wh.minute_bars(symbols, since, now), wh.latest_signals(symbols, since, now))


_CREDENTIALS = re.compile(r"//([^:/@\s]+):[^@\s]*@")


def read_or_source_error(context: AssetExecutionContext, clickhouse: ClickHouseResource,
                         store, symbols: list[str], now: datetime, policy: ContextPolicyResource,
                         observe: bool) -> MarketFrames | str:
    """The run's frames, or why ClickHouse could not be read (recorded as a failed poll): as
    Jangar does, a source failure becomes <domain>_source_error blocks, not a failed run."""
    with provider_poll(store, "clickhouse") as poll:
        try:
            with clickhouse.warehouse() as wh:
                frames = read_frames(wh, symbols, now, policy)
                if observe:  # source freshness, seen by this refresh
                    for table, key in SOURCE_KEYS.items():
                        context.log_event(AssetObservation(
                            asset_key=key, metadata=observed(wh, table, now)[1]))
                return frames
        except Exception as exc:  # noqa: BLE001 - any failure to read the source is reported
            reason = _CREDENTIALS.sub(r"//\1:***@", f"ClickHouse read failed: {exc}")
            poll.failed(reason)
            context.log.error(f"{reason}; every symbol's block is an error this run")
            return reason


def build_technicals_assets(partitions_def: PartitionsDefinition) -> list:
    @asset(
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[spec.key for spec in MARKET_DATA_SOURCES],
        group_name=GROUP,
        owners=["team:market-context"], tags={"domain": "technicals", "layer": "context"},
        kinds={"python", "clickhouse"},
        pool=CLICKHOUSE_POOL,  # chdb: one process per data path (dagster.yaml limits the pool)
        description="Per-symbol technicals as of the clock from Torghut's ta_microbars (1-second "
        "bars aggregated to 1-minute) and ta_signals (bid/ask): returns, RSI(14), EMA(20/50), "
        "MACD, ATR(14), Bollinger(20,2), realized volatility, VWAP distance, spread and volume "
        "z-score (TA-Lib), beside Torghut's own signal values. Freshness budget 60 s.",
    )
    def technicals(
        context: AssetExecutionContext,
        clickhouse: ClickHouseResource,
        bundle_store: BundleStoreResource,
        context_policy: ContextPolicyResource,
    ) -> MaterializeResult:
        symbols = run_symbols(context)
        now = context_policy.clock().now()
        budget = context_policy.technicals_budget_seconds
        frames = read_or_source_error(context, clickhouse, bundle_store.store, symbols, now,
                                      context_policy, observe=True)

        def build(symbol: str) -> DomainBlock:
            if isinstance(frames, str):
                return error_block("technicals", budget, frames, ["technicals_source_error"])
            sym_bars = frames.bars(symbol)
            if sym_bars.empty:
                return missing_block(
                    "technicals", budget,
                    f"no bars for {symbol} in the {context_policy.lookback_days} days before {now.isoformat()}",
                )
            sym_quotes = frames.quotes(symbol)
            payload, flags = technicals_payload(sym_bars, sym_quotes)
            return observed_block(
                domain="technicals", now=now,
                as_of=sym_bars["window_end"].iloc[-1].to_pydatetime(),
                budget_seconds=budget, payload=payload, core_values=_technicals_core(payload),
                sources=1 + (0 if sym_quotes.empty else 1), expected_sources=2, risk_flags=flags,
                clock=context_policy.market_clock(),
            )

        blocks = blocks_for_symbols(
            context, symbols, build,
            lambda s, exc: error_block("technicals", budget, f"{type(exc).__name__}: {exc}"),
        )
        bundle_store.store.stage("technicals", {s: b.to_wire() for s, b in blocks.items()},
                                 run_id=context.run.run_id, as_of=now)
        blocks_metadata(context, blocks, technicals_values)
        return MaterializeResult(metadata={"as_of": now.isoformat()})

    @asset(
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[technicals, *[spec.key for spec in MARKET_DATA_SOURCES]],
        group_name=GROUP,
        owners=["team:market-context"], tags={"domain": "regime", "layer": "context"},
        kinds={"python"},
        pool=CLICKHOUSE_POOL,
        description="Per-symbol regime: trend (direction, strength), volatility level by "
        "percentile, liquidity (spread, volume); thresholds in the payload. Budget 60 s.",
    )
    def regime(
        context: AssetExecutionContext,
        clickhouse: ClickHouseResource,
        bundle_store: BundleStoreResource,
        context_policy: ContextPolicyResource,
    ) -> MaterializeResult:
        symbols = run_symbols(context)
        now = context_policy.clock().now()
        budget = context_policy.regime_budget_seconds
        staged = bundle_store.store.staged("technicals", symbols)
        frames = read_or_source_error(context, clickhouse, bundle_store.store, symbols, now,
                                      context_policy, observe=False)

        def build(symbol: str) -> DomainBlock:
            if isinstance(frames, str):
                return error_block("regime", budget, frames, ["regime_source_error"])
            tech = staged.get(symbol)
            sym_bars = frames.bars(symbol)
            if tech is None or sym_bars.empty:
                return missing_block("regime", budget, f"no technicals or bars for {symbol}")
            technicals_block = DomainBlock.model_validate(tech)
            sym_quotes = frames.quotes(symbol)
            payload, flags = regime_payload(sym_bars, sym_quotes, technicals_block.payload)
            levels = [payload["trend"]["direction"], payload["volatility"]["level"],
                      payload["liquidity"]["level"]]
            return observed_block(
                domain="regime", now=now, as_of=sym_bars["window_end"].iloc[-1].to_pydatetime(),
                budget_seconds=budget, payload=payload,
                core_values=[None if v == "unknown" else v for v in levels],
                sources=technicals_block.source_count, expected_sources=2, risk_flags=flags,
                clock=context_policy.market_clock(),
            )

        blocks = blocks_for_symbols(
            context, symbols, build,
            lambda s, exc: error_block("regime", budget, f"{type(exc).__name__}: {exc}"),
        )
        bundle_store.store.stage("regime", {s: b.to_wire() for s, b in blocks.items()},
                                 run_id=context.run.run_id, as_of=now)
        blocks_metadata(context, blocks, regime_values)
        return MaterializeResult(metadata={"as_of": now.isoformat()})

    return [technicals, regime]


def technicals_definitions(partitions_def: PartitionsDefinition, loop: RefreshLoop,
                           budget_seconds: float, refresh_seconds: float | None) -> Definitions:
    """The technicals slice: technicals and regime, their refresh job and the per-symbol
    freshness sensor (evaluating every half of ``refresh_seconds``). The warehouse tables they
    read are warehouse_sources_definitions (observable sources: no freshness policy maps them)."""
    technicals, regime = build_technicals_assets(partitions_def)
    domains = [technicals.key.path[-1], regime.key.path[-1]]
    job = loop.job(REFRESH_TECHNICALS_JOB, "Refresh technicals and regime of a symbol range and "
                   "republish.", domains)
    return Definitions(assets=with_code_references([technicals, regime]), jobs=[job],
                       sensors=[loop.sensor("symbol_freshness_sensor", job, domains,
                                            budget_seconds, refresh_seconds)])


def warehouse_sources_definitions() -> Definitions:
    """The ClickHouse tables technicals read (ta_microbars, ta_signals), observable sources."""
    return Definitions(assets=with_code_references(MARKET_DATA_SOURCES))
