"""Owns the technicals[symbol] and regime[symbol] assets: ClickHouse bars/quotes -> domain blocks."""


import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    PartitionsDefinition,
    asset,
)

from intel_assets.assets.common import GROUP, blocks_for_symbols, blocks_metadata, run_symbols
from intel_assets.contracts.bundle import DomainBlock
from intel_assets.domain.indicators import technicals_payload
from intel_assets.domain.quality import error_block, missing_block, observed_block
from intel_assets.domain.regime import regime_payload
from intel_assets.resources.clickhouse import ClickHouseResource
from intel_assets.resources.context import BundleStoreResource, ContextPolicyResource

#: Torghut's market-data tables, written by its ingestion; we read them.
MARKET_DATA_SOURCES = [
    AssetSpec(
        key=AssetKey(["clickhouse", name]),
        description=desc,
        group_name="market_data",
        kinds={"clickhouse"},
    )
    for name, desc in (
        ("ta_microbars", "Torghut minute bars (symbol, window_start/end, OHLCV, vwap, trade_count)."),
        ("ta_quotes", "Torghut top-of-book quotes (symbol, ts, bid/ask and sizes)."),
    )
]


def _technicals_core(payload: dict) -> list:
    return [
        payload.get("lastPrice"), payload.get("rsi14"), payload.get("ema20"), payload.get("ema50"),
        (payload.get("macd") or {}).get("macd"), payload.get("atr14"),
        (payload.get("bollinger") or {}).get("middle"), payload.get("realizedVolatility"),
        payload.get("vwapDistanceBps"), payload.get("spreadBps"), payload.get("volumeZScore"),
        (payload.get("returns") or {}).get("r1m"), (payload.get("returns") or {}).get("r1d"),
    ]


class MarketFrames:
    """Bars and quotes of a run's symbols, read once in one query each, split by symbol."""

    def __init__(self, bars: pd.DataFrame, quotes: pd.DataFrame) -> None:
        self._bars = dict(tuple(bars.groupby("symbol", sort=False)))
        self._quotes = dict(tuple(quotes.groupby("symbol", sort=False)))
        self._no_bars, self._no_quotes = bars.iloc[0:0], quotes.iloc[0:0]

    def bars(self, symbol: str) -> pd.DataFrame:
        return self._bars.get(symbol, self._no_bars)

    def quotes(self, symbol: str) -> pd.DataFrame:
        return self._quotes.get(symbol, self._no_quotes)


def market_frames(clickhouse: ClickHouseResource, symbols: list[str], now,
                  policy: ContextPolicyResource) -> MarketFrames:
    """The look-back window of bars and quotes up to the clock (never after it)."""
    with clickhouse.warehouse() as wh:
        since = now - policy.lookback
        return MarketFrames(wh.bars(symbols, since, now), wh.quotes(symbols, since, now))


def build_technicals_assets(partitions_def: PartitionsDefinition) -> list:
    @asset(
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[spec.key for spec in MARKET_DATA_SOURCES],
        group_name=GROUP,
        kinds={"python", "clickhouse"},
        description="Per-symbol technicals from minute bars and quotes as of the clock: returns, "
        "RSI(14), EMA(20/50), MACD, ATR(14), Bollinger(20,2), realized volatility, VWAP "
        "distance, spread and volume z-score (TA-Lib). Freshness budget 60 s.",
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
        frames = market_frames(clickhouse, symbols, now, context_policy)

        def build(symbol: str) -> DomainBlock:
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
            )

        blocks = blocks_for_symbols(
            context, symbols, build,
            lambda s, exc: error_block("technicals", budget, f"{type(exc).__name__}: {exc}"),
        )
        bundle_store.store.stage("technicals", {s: b.to_wire() for s, b in blocks.items()},
                                 run_id=context.run.run_id, as_of=now)
        return MaterializeResult(metadata={"as_of": now.isoformat(), **blocks_metadata(blocks)})

    @asset(
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[technicals, *[spec.key for spec in MARKET_DATA_SOURCES]],
        group_name=GROUP,
        kinds={"python"},
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
        frames = market_frames(clickhouse, symbols, now, context_policy)

        def build(symbol: str) -> DomainBlock:
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
            )

        blocks = blocks_for_symbols(
            context, symbols, build,
            lambda s, exc: error_block("regime", budget, f"{type(exc).__name__}: {exc}"),
        )
        bundle_store.store.stage("regime", {s: b.to_wire() for s, b in blocks.items()},
                                 run_id=context.run.run_id, as_of=now)
        return MaterializeResult(metadata={"as_of": now.isoformat(), **blocks_metadata(blocks)})

    return [technicals, regime]
