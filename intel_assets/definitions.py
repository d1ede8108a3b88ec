"""Owns the one Definitions object: assets, checks, jobs, sensors and resources from settings.

Resources are chosen from settings (embedded chdb + SQLite by default, servers when
INTEL_CLICKHOUSE_URL / INTEL_BUNDLE_STORE_DSN are set); assets never branch on environment.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

from dagster import (
    AssetSelection,
    Definitions,
    BetaWarning,
    FreshnessPolicy,
    PreviewWarning,
    apply_freshness_policy,
    map_asset_specs,
    StaticPartitionsDefinition,
    define_asset_job,
    in_process_executor,
)

from intel_assets.assets.bundle import build_bundle_assets
from intel_assets.assets.technicals import MARKET_DATA_SOURCES, build_technicals_assets
from intel_assets.checks.contract import build_bundle_checks
from intel_assets.resources.clickhouse import ClickHouseResource
from intel_assets.resources.context import BundleStoreResource, ContextPolicyResource
from intel_assets.sensors.freshness import build_freshness_sensor
from intel_assets.settings import Settings, load_settings

REFRESH_JOB = "refresh_market_context"

# Single-run backfills and asset-spec mapping are marked beta/preview in Dagster 1.13; we
# rely on them knowingly (pinned Dagster), so keep them out of every command's output.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)


def build_definitions(settings: Settings) -> Definitions:
    partitions = StaticPartitionsDefinition(list(settings.symbols))
    technicals, regime = map_asset_specs(
        lambda spec: apply_freshness_policy(
            spec,
            FreshnessPolicy.time_window(
                fail_window=timedelta(seconds=settings.budget_seconds(spec.key.path[-1]))
            ),
        ),
        build_technicals_assets(partitions),
    )
    market_context_bundle, published_bundle = build_bundle_assets(partitions, [technicals, regime])
    checks = build_bundle_checks(market_context_bundle, partitions)

    refresh_job = define_asset_job(
        REFRESH_JOB,
        selection=AssetSelection.assets(technicals, regime, market_context_bundle, published_bundle),
        description="Refresh the market context of a symbol range in one run and publish it.",
    )
    freshness_sensor = build_freshness_sensor(
        refresh_job,
        [technicals.key, regime.key],
        list(settings.symbols),
        settings.technicals_budget_seconds,
        default_running=settings.as_of is None,  # a replay clock never goes stale: no refresh loop
    )
    return Definitions(
        assets=[*MARKET_DATA_SOURCES, technicals, regime, market_context_bundle, published_bundle],
        asset_checks=checks,
        jobs=[refresh_job],
        sensors=[freshness_sensor],
        # chdb admits one process per data path: run every step of a run in its process.
        executor=in_process_executor,
        resources={
            "clickhouse": ClickHouseResource(dsn=settings.clickhouse_dsn,
                                             database=settings.clickhouse_database),
            "bundle_store": BundleStoreResource(dsn=settings.store_dsn),
            "context_policy": ContextPolicyResource(
                as_of=settings.as_of.isoformat() if settings.as_of else None,
                lookback_days=settings.lookback_days,
                technicals_budget_seconds=settings.technicals_budget_seconds,
                regime_budget_seconds=settings.regime_budget_seconds,
                news_budget_seconds=settings.news_budget_seconds,
                fundamentals_budget_seconds=settings.fundamentals_budget_seconds,
            ),
        },
    )


defs = build_definitions(load_settings())
