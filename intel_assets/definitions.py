"""Owns the code location's definitions: ``defs``, a lazily loaded ``@definitions`` function
that merges the market-context slice and, when TORGHUT_DB_DSN is set, the parity slice, both
built from settings.py when Dagster (or a caller) loads it; importing this module builds
nothing. Job names live in jobs.py.

The market-context slice merges one slice per source (technicals, news, fundamentals, bundle:
each a Definitions of its assets, checks, job and sensor), the full refresh job, one freshness
policy per domain budget applied over the domain selection, the executor and the resources.
Resources are chosen from settings (embedded chdb + the embedded PostgreSQL by default, servers
when INTEL_CLICKHOUSE_URL / INTEL_BUNDLE_STORE_DSN are set), and so is the executor
(INTEL_EXECUTOR: in-process on chdb, multiprocess on a ClickHouse server); assets never branch
on environment.
"""

import time
import warnings
from datetime import timedelta

from dagster import (
    AssetKey,
    AssetSelection,
    BetaWarning,
    Definitions,
    EnvVar,
    ExecutorDefinition,
    FreshnessPolicy,
    PreviewWarning,
    StaticPartitionsDefinition,
    apply_freshness_policy,
    definitions,
    in_process_executor,
    multiprocess_executor,
)

from intel_assets.assets.bundle import bundle_definitions
from intel_assets.assets.common import RefreshLoop
from intel_assets.assets.fundamentals import fundamentals_definitions
from intel_assets.assets.news import news_definitions
from intel_assets.assets.technicals import technicals_definitions, warehouse_sources_definitions
from intel_assets.domain.market_clock import clock_for
from intel_assets.domain.refresh_cadence import Cadence, CadenceError, cadence
from intel_assets.jobs import REFRESH_JOB
from intel_assets.parity_definitions import build_parity_definitions, parity_config
from intel_assets.providers.edgar import DEFAULT_BASE_URL, DEFAULT_TICKERS_URL
from intel_assets.resources.alpaca import AlpacaResource
from intel_assets.resources.bundle_store import BundleStoreResource
from intel_assets.resources.clickhouse import ClickHouseResource
from intel_assets.resources.context_policy import ContextPolicyResource
from intel_assets.resources.edgar import EdgarResource
from intel_assets.resources.news_config import NewsConfigResource
from intel_assets.run_limits import expected_run_seconds, run_limits
from intel_assets.settings import Settings, SettingsError, environment_holds, load_settings
from intel_assets.stores.clickhouse_tls import assert_clickhouse_contract
from intel_assets.stores.dsn_contract import BUNDLE_STORE_DSN_ENV, store_connect_dsn

#: The four domains, each refreshed on the cadence of its own budget.
DOMAIN_KEYS = tuple(AssetKey(d) for d in ("technicals", "regime", "news", "fundamentals"))

# Single-run backfills and asset-spec mapping are marked beta/preview in Dagster 1.13; we
# rely on them knowingly (pinned Dagster), so keep them out of every command's output.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)


def _from_env(name: str, value: str) -> EnvVar | str:
    """``EnvVar(name)`` when the environment holds exactly ``value`` (Dagster resolves it at run
    time and never writes it into run or job snapshots: DSNs may carry passwords), else the
    value itself (settings given in code, e.g. tests, or defaults without credentials)."""
    return EnvVar(name) if environment_holds(name, value) else value


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
    if settings.parity.enabled:
        parity = build_parity_definitions(**parity_config(
            settings.parity, default_lean_dir=settings.resolved_lean_dir, as_of=settings.as_of))
        defs = Definitions.merge(defs, parity)
    return defs


@definitions
def defs() -> Definitions:
    """The code location (workspace.yaml, ``dagster dev -m intel_assets.definitions``, the
    user-code image): built from the environment's settings when Dagster loads it."""
    return build_definitions(load_settings())


def build_market_context_definitions(settings: Settings) -> Definitions:
    store_connect_dsn(settings)  # the TLS contract: a broken one stops the code location loading
    assert_clickhouse_contract(settings)  # and ClickHouse's (https + a verified CA in production)
    partitions = StaticPartitionsDefinition(list(settings.symbols))
    replay = settings.as_of.timestamp() if settings.as_of is not None else None
    loop = RefreshLoop(universe=tuple(settings.symbols), live=settings.as_of is None,
                       limits=run_limits(settings.technicals_budget_seconds,
                                         settings.max_staleness_seconds),
                       cadences={key.path[-1]: cadence_for(settings, key.path[-1])
                                 for key in DOMAIN_KEYS},
                       clock=lambda: clock_for(settings.as_of, settings.resolved_lean_dir,
                                               settings.market_calendar),
                       now=(lambda: replay) if replay is not None else time.time)
    refresh_all = loop.job(REFRESH_JOB, "Refresh every domain of a symbol range in one run and "
                           "publish it.", [key.path[-1] for key in DOMAIN_KEYS])
    merged = Definitions.merge(
        technicals_definitions(partitions, loop, settings.technicals_budget_seconds,
                               settings.technicals_refresh_seconds),
        news_definitions(partitions, loop, settings.news_budget_seconds),
        fundamentals_definitions(partitions, loop, settings.fundamentals_budget_seconds),
        bundle_definitions(partitions, DOMAIN_KEYS),
        Definitions(jobs=[refresh_all], executor=executor_for(settings),
                    resources=market_context_resources(settings)),
    )
    if settings.as_of is not None:
        # Replay clock: Dagster evaluates policies against the wall clock, so any policy on a
        # replay goes permanently red (issue 13); the replay is fresh by construction.
        return Definitions.merge(warehouse_sources_definitions(), merged)
    with_policies = merged.map_resolved_asset_specs(
        func=lambda spec: apply_freshness_policy(spec, freshness_policy(cadence_for(
            settings, spec.key.path[-1]))),
        selection=AssetSelection.assets(*POLICY_KEYS))
    return Definitions.merge(warehouse_sources_definitions(), with_policies)


#: The domains that get a Dagster freshness policy under a live clock. Not technicals/regime:
#: their data only moves in the regular session, and neither policy kind knows it. A time
#: window goes red every night, weekend and holiday; FreshnessPolicy.cron (Dagster 1.13,
#: CronFreshnessPolicyEvaluator) checks the last completed cron tick's window, which holds
#: overnight after a refresh at the close, but cron has no exchange calendar: it would go red
#: from the first tick of every holiday and from the early close of every half day. Their
#: per-symbol freshness is the sensor's (market-clock aware; its SkipReason names the next open).
POLICY_KEYS = tuple(key for key in DOMAIN_KEYS if key.path[-1] not in ("technicals", "regime"))


def cadence_for(settings: Settings, domain: str) -> Cadence:
    """The refresh cadence of ``domain`` (domain/refresh_cadence.py) from its budget and its
    expected run length (run_limits.py); technicals/regime take INTEL_TECHNICALS_REFRESH_SECONDS
    when set, refused in one line when it cannot fit the budget."""
    override = settings.technicals_refresh_seconds if domain in ("technicals", "regime") else None
    try:
        return cadence(settings.budget_seconds(domain), expected_run_seconds(domain), override)
    except CadenceError as exc:
        raise SettingsError(f"INTEL_TECHNICALS_REFRESH_SECONDS: {exc}") from None


def freshness_policy(plan: Cadence) -> FreshnessPolicy:
    """A time-window policy from a domain's cadence (domain/refresh_cadence.py): a healthy loop
    materializes within refresh + interval + run <= fail window, so it stays green."""
    return FreshnessPolicy.time_window(
        fail_window=timedelta(seconds=plan.fail_seconds),
        warn_window=timedelta(seconds=plan.warn_seconds) if plan.warn_seconds else None)


def market_context_resources(settings: Settings) -> dict:
    """The market-context slice's resources for ``settings``; a configured DSN or URL that
    carries credentials stays an EnvVar (no password in Dagster's storage)."""
    return {
        "clickhouse": ClickHouseResource(  # a server URL may carry a password
            dsn=_from_env("INTEL_CLICKHOUSE_URL", settings.clickhouse_dsn),
            database=settings.clickhouse_database),
        # the TLS contract was checked when the slice was built
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
        "alpaca": AlpacaResource(  # Dagster reads the keys at run time, never logs them
            api_key_id=EnvVar("ALPACA_API_KEY_ID") if settings.alpaca_api_key_id else None,
            api_secret_key=(EnvVar("ALPACA_API_SECRET_KEY") if settings.alpaca_api_secret_key
                            else None),
            data_url=settings.alpaca_data_url,
        ),
        "news_config": NewsConfigResource(),
        "edgar": EdgarResource(
            base_url=settings.edgar_base_url or DEFAULT_BASE_URL,
            tickers_url=settings.edgar_tickers_url or DEFAULT_TICKERS_URL,
            user_agent=settings.edgar_user_agent or "",
            cache_dir=str(settings.edgar_cache_dir),
        ),
    }
