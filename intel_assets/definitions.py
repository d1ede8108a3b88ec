"""Owns the one Definitions object: assets, checks, jobs, sensors and resources from settings.

Resources are chosen from settings (embedded chdb + SQLite by default, servers when
INTEL_CLICKHOUSE_URL / INTEL_BUNDLE_STORE_DSN are set), and so is the executor (INTEL_EXECUTOR:
in-process on chdb, multiprocess on a ClickHouse server); assets never branch on environment.
"""

import os
import warnings
from datetime import timedelta

from dagster import (
    AssetSelection,
    BetaWarning,
    Definitions,
    EnvVar,
    ExecutorDefinition,
    FreshnessPolicy,
    PreviewWarning,
    StaticPartitionsDefinition,
    apply_freshness_policy,
    define_asset_job,
    in_process_executor,
    map_asset_specs,
    multiprocess_executor,
)

from intel_assets.assets.bundle import build_bundle_assets
from intel_assets.assets.fundamentals import build_fundamentals_assets
from intel_assets.assets.news import build_news_assets
from intel_assets.assets.technicals import MARKET_DATA_SOURCES, build_technicals_assets
from intel_assets.checks.contract import build_bundle_checks
from intel_assets.parity_definitions import build_parity_definitions, parity_config_from_env
from intel_assets.resources.alpaca import AlpacaResource
from intel_assets.resources.news_config import NewsConfigResource
from intel_assets.resources.clickhouse import ClickHouseResource
from intel_assets.stores.clickhouse_tls import assert_clickhouse_contract
from intel_assets.resources.bundle_store import BundleStoreResource
from intel_assets.resources.context_policy import ContextPolicyResource
from intel_assets.stores.dsn_contract import BUNDLE_STORE_DSN_ENV, store_connect_dsn
from intel_assets.providers.edgar import DEFAULT_BASE_URL, DEFAULT_TICKERS_URL
from intel_assets.resources.edgar import EdgarResource
from intel_assets.run_limits import MAX_RUNTIME_TAG, run_limits
from intel_assets.sensors.freshness import build_freshness_sensor
from intel_assets.settings import Settings, SettingsError, load_settings

#: Refreshes every domain and publishes (demo, backfills, the UI's "materialize all").
REFRESH_JOB = "refresh_market_context"

# Single-run backfills and asset-spec mapping are marked beta/preview in Dagster 1.13; we
# rely on them knowingly (pinned Dagster), so keep them out of every command's output.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)


def _with_freshness_policies(settings: Settings, assets: list) -> list:
    """FreshnessPolicy.time_window with each domain's budget (the asset key names the domain)."""
    return map_asset_specs(
        lambda spec: apply_freshness_policy(
            spec,
            FreshnessPolicy.time_window(
                fail_window=timedelta(seconds=settings.budget_seconds(spec.key.path[-1]))
            ),
        ),
        assets,
    )


def _from_env(name: str, value: str) -> EnvVar | str:
    """``EnvVar(name)`` when the environment holds exactly ``value`` (Dagster resolves it at run
    time and never writes it into run or job snapshots: DSNs may carry passwords), else the
    value itself (settings given in code, e.g. tests, or defaults without credentials)."""
    return EnvVar(name) if os.environ.get(name) == value else value


def _secret(name: str) -> EnvVar | None:
    """An EnvVar when the variable is set (Dagster reads it at run time, never logs it)."""
    return EnvVar(name) if os.environ.get(name) else None


def executor_for(settings: Settings) -> ExecutorDefinition:
    """INTEL_EXECUTOR (settings.py): in_process with chdb (one process per data path),
    multiprocess with a ClickHouse server, or dagster-k8s's k8s_job_executor (a Job per step)."""
    choice = settings.resolved_executor
    if choice == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError:
            raise SettingsError(
                "INTEL_EXECUTOR=k8s needs dagster-k8s: pip install 'intel_assets[k8s]' (the "
                "user-code image has it) or set INTEL_EXECUTOR=multiprocess") from None
        return k8s_job_executor
    return multiprocess_executor if choice == "multiprocess" else in_process_executor


def build_definitions(settings: Settings) -> Definitions:
    """Market context always; the execution-parity slice too when TORGHUT_DB_DSN is set."""
    defs = build_market_context_definitions(settings)
    if os.environ.get("TORGHUT_DB_DSN", "").strip():
        parity = build_parity_definitions(
            **parity_config_from_env(default_lean_dir=settings.resolved_lean_dir,
                                     as_of=settings.as_of))
        defs = Definitions.merge(defs, parity)
    return defs


def build_market_context_definitions(settings: Settings) -> Definitions:
    store_connect_dsn(settings)  # the TLS contract: a broken one stops the code location loading
    assert_clickhouse_contract(settings)  # and ClickHouse's (https + a verified CA in production)
    partitions = StaticPartitionsDefinition(list(settings.symbols))
    fundamentals_assets = build_fundamentals_assets(partitions)
    technicals, regime, news, fundamentals = _with_freshness_policies(
        settings,
        [*build_technicals_assets(partitions), *build_news_assets(partitions),
         fundamentals_assets[0]],
    )
    research_brief = fundamentals_assets[1]
    market_context_bundle, published_bundle = build_bundle_assets(
        partitions, [technicals, regime, news, fundamentals]
    )
    checks = build_bundle_checks(market_context_bundle, partitions)
    # Every refresh ends with the brief, the bundle and its publication.
    publish = [research_brief, market_context_bundle, published_bundle]

    limits = run_limits(settings.technicals_budget_seconds, settings.max_staleness_seconds)

    def refresh_job(name: str, description: str, *domains):
        # Dagster's run monitoring ends a run past its max runtime (derived in run_limits.py)
        runtime = limits.max_runtime_seconds(d.key.path[-1] for d in domains)
        return define_asset_job(name, selection=AssetSelection.assets(*domains, *publish),
                                description=description, tags={MAX_RUNTIME_TAG: str(runtime)})

    refresh_all = refresh_job(REFRESH_JOB, "Refresh every domain of a symbol range in one run "
                              "and publish it.", technicals, regime, news, fundamentals)
    refresh_technicals = refresh_job("refresh_technicals", "Refresh technicals and regime of a "
                                     "symbol range and republish.", technicals, regime)
    refresh_news = refresh_job("refresh_news", "Refresh news of a symbol range and republish.", news)
    refresh_fundamentals = refresh_job("refresh_fundamentals", "Refresh SEC fundamentals of a "
                                       "symbol range and republish.", fundamentals)
    live = settings.as_of is None  # a replay clock never goes stale: no refresh loop
    universe = list(settings.symbols)
    sensors = [
        build_freshness_sensor("symbol_freshness_sensor", refresh_technicals,
                               [technicals.key, regime.key], universe,
                               settings.technicals_budget_seconds, default_running=live,
                               refresh_seconds=settings.technicals_refresh_seconds),
        build_freshness_sensor("news_freshness_sensor", refresh_news, [news.key], universe,
                               settings.news_budget_seconds, default_running=live),
        build_freshness_sensor("fundamentals_freshness_sensor", refresh_fundamentals,
                               [fundamentals.key], universe,
                               settings.fundamentals_budget_seconds, default_running=live),
    ]
    return Definitions(
        assets=[*MARKET_DATA_SOURCES, technicals, regime, news, fundamentals, *publish],
        asset_checks=checks,
        jobs=[refresh_all, refresh_technicals, refresh_news, refresh_fundamentals],
        sensors=sensors,
        executor=executor_for(settings),
        resources={
            "clickhouse": ClickHouseResource(  # a server URL may carry a password
                dsn=_from_env("INTEL_CLICKHOUSE_URL", settings.clickhouse_dsn),
                database=settings.clickhouse_database),
            # A configured DSN stays an EnvVar (no password in Dagster's storage); the TLS
            # contract was checked above (a broken one stops the code location loading).
            "bundle_store": BundleStoreResource(
                dsn=_from_env(BUNDLE_STORE_DSN_ENV, settings.store_dsn),
                # the embedded cluster is started (or joined) when a run opens the store
                embedded_home=str(settings.home) if settings.embedded_store else None),
            "context_policy": ContextPolicyResource(
                as_of=settings.as_of.isoformat() if settings.as_of else None,
                lookback_days=settings.lookback_days,
                technicals_budget_seconds=settings.technicals_budget_seconds,
                regime_budget_seconds=settings.regime_budget_seconds,
                news_budget_seconds=settings.news_budget_seconds,
                fundamentals_budget_seconds=settings.fundamentals_budget_seconds,
            ),
            "alpaca": AlpacaResource(
                api_key_id=_secret("ALPACA_API_KEY_ID"),
                api_secret_key=_secret("ALPACA_API_SECRET_KEY"),
                data_url=settings.alpaca_data_url,
            ),
            "news_config": NewsConfigResource(),
            "edgar": EdgarResource(
                base_url=settings.edgar_base_url or DEFAULT_BASE_URL,
                tickers_url=settings.edgar_tickers_url or DEFAULT_TICKERS_URL,
                user_agent=settings.edgar_user_agent or "",
                cache_dir=str(settings.edgar_cache_dir),
            ),
        },
    )


defs = build_definitions(load_settings())
