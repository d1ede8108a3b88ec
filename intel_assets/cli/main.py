"""Owns the `intel-assets` console script: seed, materialize, demo, serve, bundle, ui, doctor,
parity, lean-runner, lean-replay, rollout."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from intel_assets.settings import LEAN_DEMO_AS_OF, Settings, SettingsError, load_settings

#: The first line of every dagster.yaml this command writes: such a file is rewritten when the
#: settings it was derived from change (a dagster.yaml of your own is never touched).
DAGSTER_YAML_MARKER = "# Written by intel-assets"


def storage_yaml(settings: Settings) -> str:
    """dagster.yaml's storage: the embedded PostgreSQL cluster of INTEL_HOME with batched event
    writes and one planned event per asset (intel_assets/dagster_storage.py), or SQLite files in
    DAGSTER_HOME with INTEL_EMBEDDED_POSTGRES=false."""
    from intel_assets.dagster_storage import DEFAULT_EVENT_BATCH_SIZE

    if not settings.embedded_postgres:
        return """# Storage: SQLite files in this folder (INTEL_EMBEDDED_POSTGRES=false). Dagster's SQLite
# event log writes events one at a time: a 500-symbol refresh takes ~90 s (benchmarks/README.md).
"""
    return f"""# Storage: the embedded PostgreSQL cluster of INTEL_HOME (started on demand by any process
# loading this instance; intel_assets/stores/local_postgres.py). The settings below are applied in every
# process that loads it (webserver, daemon, code servers, run workers): materializations written
# {DEFAULT_EVENT_BATCH_SIZE} to a statement (DAGSTER_EVENT_BATCH_SIZE), one planned event per asset
# for a range run, failed partitions still reported (intel_assets/dagster_storage.py).
storage:
  custom:
    module: intel_assets.dagster_storage
    class: IntelPostgresStorage
    config:
      embedded_home: {json.dumps(str(settings.home))}
      event_batch_size: {DEFAULT_EVENT_BATCH_SIZE}
      planned_partition_subset: true
"""


def dagster_yaml(settings: Settings) -> str:
    """The embedded instance's dagster.yaml: storage on the embedded PostgreSQL cluster (or
    SQLite), the run queue, the ClickHouse pool, and Dagster's run monitoring with limits derived
    from the freshness budgets (intel_assets/run_limits.py)."""
    from intel_assets.run_limits import CLICKHOUSE_POOL, monitoring_yaml, run_limits

    limits = run_limits(settings.technicals_budget_seconds, settings.max_staleness_seconds)
    embedded = settings.clickhouse_dsn.startswith("chdb://")
    pool = (f"""  # chdb admits one process per data path: at most one run with a step in a pool (only
  # '{CLICKHOUSE_POOL}': technicals, regime, the source observations) at a time; news,
  # fundamentals and parity runs run beside it, so a slow provider never delays technicals.
  pools:
    granularity: run
    default_limit: 1
""" if embedded else "")
    return f"""{DAGSTER_YAML_MARKER}: the embedded Dagster instance.
# Rewritten by intel-assets when its settings change; for a PostgreSQL server see
# deploy/dagster.yaml.
{storage_yaml(settings)}# Queued runs are looked at every second (Dagster's default: 5 s): a refresh the freshness sensor
# requests starts sooner (benchmark P5).
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
concurrency:
  runs:
    max_concurrent_runs: 4
{pool}# Runs execute on this machine: the launcher answers Dagster's run-worker health check from
# the worker's process, so run monitoring fails a killed run at its next poll (the queue and
# the pool move on); a run no code server can terminate is signalled directly.
run_launcher:
  module: intel_assets.run_launcher
  class: LocalRunLauncher
# Limits derived from the freshness budgets (technicals {settings.technicals_budget_seconds:g} s,
# max staleness {settings.max_staleness_seconds} s; intel_assets/run_limits.py); each refresh
# job also carries its own dagster/max_runtime tag.
{monitoring_yaml(limits)}telemetry:
  enabled: false
"""


def _say(msg: str) -> None:
    print(msg, flush=True)


def prepare_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME under INTEL_HOME (with dagster.yaml) unless DAGSTER_HOME is set; a
    dagster.yaml this command wrote earlier is brought up to date, any other is left alone."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    path, wanted = home / "dagster.yaml", dagster_yaml(settings)
    current = path.read_text() if path.exists() else None
    if current is None or (current.startswith(DAGSTER_YAML_MARKER) and current != wanted):
        path.write_text(wanted)
    os.environ["DAGSTER_HOME"] = str(home)
    _initialize_clickhouse_pool(home)
    return home


def _initialize_clickhouse_pool(home: Path) -> None:
    """Store the ClickHouse pool's limit (from dagster.yaml's pools default_limit) now. Dagster
    1.13 stores it only when a queued run first names the pool, and the dequeue pass that does so
    still reads the keys it fetched before: that first run would start beside a running one."""
    from dagster import DagsterInstance

    from intel_assets.run_limits import CLICKHOUSE_POOL

    with DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        # Once only: on PostgreSQL, Dagster's re-initialization of an existing limit fails (its
        # insert is retried as an update inside the transaction the failed insert aborted).
        if CLICKHOUSE_POOL not in {p.name for p in storage.get_pool_limits()}:
            storage.initialize_concurrency_limit_to_default(CLICKHOUSE_POOL)


def demo_settings() -> Settings:
    """Settings for the demo and the UI: a LEAN data set replays at its last session minute."""
    settings = load_settings()
    if settings.as_of is None and settings.resolved_lean_dir is not None:
        settings = load_settings(as_of=LEAN_DEMO_AS_OF)
        _say(f"replay clock: INTEL_AS_OF={LEAN_DEMO_AS_OF} (LEAN data; set INTEL_AS_OF to change)")
    return settings


# ---- seed -------------------------------------------------------------------------------------

def seed(settings: Settings, synthetic: bool = False) -> datetime:
    """Load market data into Torghut's ClickHouse tables (ta_microbars as 1-minute bars,
    window_size PT1M; bid/ask in ta_signals); return the newest bar end loaded."""
    import pandas as pd

    from intel_assets.domain.market_data import load_lean_minute, synthetic_market
    from intel_assets.domain.ta_tables import microbar_rows, signal_rows
    from intel_assets.stores.warehouse import open_warehouse

    lean_dir = None if synthetic else settings.resolved_lean_dir
    started = time.perf_counter()
    with open_warehouse(settings.clickhouse_dsn, settings.clickhouse_database) as wh:
        wh.ensure_schema()
        if lean_dir is not None:
            _say(f"seeding LEAN minute data from {lean_dir} for {', '.join(settings.symbols)}")
            newest = None
            for i, symbol in enumerate(settings.symbols, 1):
                bars, quotes = load_lean_minute(
                    lean_dir, symbol,
                    on_day=(lambda s, d: print(f"  {s} {d.isoformat()}", end="\r", flush=True))
                    if sys.stdout.isatty() else None,
                )
                wh.write_microbars(microbar_rows(bars, source="lean"))  # 1-minute bars, PT1M
                wh.write_signals(signal_rows(quotes, source="lean"))
                newest = max(filter(None, [newest, bars["window_end"].max()]))
                _say(f"  [{i}/{len(settings.symbols)}] {symbol}: {len(bars):,} bars, {len(quotes):,} quotes")
        else:
            end = (settings.as_of or datetime.now(timezone.utc)).astimezone(timezone.utc)
            _say(f"seeding a synthetic market: {len(settings.symbols)} symbols x "
                 f"{settings.synthetic_days} sessions ending by {end.isoformat()}")
            bars, quotes = synthetic_market(settings.symbols, settings.synthetic_days, end,
                                            seed=settings.synthetic_seed)
            wh.write_microbars(microbar_rows(bars, source="synthetic"))
            wh.write_signals(signal_rows(quotes, source="synthetic"))
            newest = bars["window_end"].max()
            _say(f"  {len(bars):,} bars, {len(quotes):,} quotes")
    _say(f"seeded in {time.perf_counter() - started:.1f} s")
    return pd.Timestamp(newest).to_pydatetime()


# ---- materialize ------------------------------------------------------------------------------

def materialize(settings: Settings, symbols: list[str] | None = None, log_level: str = "WARNING"):
    """Refresh and publish the universe (or a contiguous symbol range) in ONE Dagster run."""
    from dagster import DagsterInstance

    from intel_assets.definitions import REFRESH_JOB, build_definitions
    from intel_assets.jobs import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

    prepare_dagster_home(settings)
    defs = build_definitions(settings)
    chosen = symbols or list(settings.symbols)
    unknown = [s for s in chosen if s not in settings.symbols]
    if unknown:
        raise SettingsError(f"{unknown} not in the universe {list(settings.symbols)}; set INTEL_UNIVERSE")
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def(REFRESH_JOB).execute_in_process(
            instance=instance,
            tags={PARTITION_RANGE_START_TAG: chosen[0], PARTITION_RANGE_END_TAG: chosen[-1]},
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            raise_on_error=False,
        )
    return result


def open_store(settings: Settings):
    """The bundle store, opened with the DSN the TLS contract checked (sslrootcert added)."""
    from intel_assets.stores.local_postgres import ensure_for
    from intel_assets.stores.bundle_store import BundleStore
    from intel_assets.stores.dsn_contract import store_connect_dsn

    ensure_for(settings)  # the embedded cluster: started, or joined while it runs
    return BundleStore.from_dsn(store_connect_dsn(settings))


def _summary(settings: Settings) -> list[dict]:
    store = open_store(settings)
    try:
        rows = []
        for symbol in settings.symbols:
            stored = store.latest(symbol)
            rows.append({"symbol": symbol, "bundle": None if stored is None else json.loads(stored.body)})
        return rows
    finally:
        store.close()


def print_summary(rows: list[dict]) -> None:
    from intel_assets.contracts.bundle import DOMAINS

    head = f"{'symbol':<8} {'quality':>7}  " + "  ".join(f"{d:<12}" for d in DOMAINS) + "  risk flags"
    _say(head)
    _say("-" * len(head))
    from intel_assets.domain.samples import SAMPLE_FLAG

    sample = False
    for row in rows:
        b = row["bundle"]
        if b is None:
            _say(f"{row['symbol']:<8} {'-':>7}  (no bundle published)")
            continue
        cells = []
        for d in DOMAINS:
            block = b["domains"][d]
            marked = SAMPLE_FLAG in block["riskFlags"]
            sample |= marked
            cells.append(f"{block['state'] + (' (sample)' if marked else ''):<12}")
        flags = [f for f in b["riskFlags"] if f != SAMPLE_FLAG]
        _say(f"{b['symbol']:<8} {b['qualityScore']:>7.2f}  {'  '.join(cells)}  {', '.join(flags) or '-'}")
    if sample:
        _say("(sample) = built from intel_assets' packaged sample data (sample news, sample filings;"
             " flagged sample_data), not real market data. README: 'Sample and real data'.")


DEMO_SESSIONS = 5  # the demo publishes the replay as of the same minute of this many sessions


def demo_instants(as_of: datetime, sessions: int = DEMO_SESSIONS) -> list[datetime]:
    """The replay clock's minute on each of the ``sessions`` weekdays ending at its New York
    date, oldest first: what `intel-assets demo` publishes, so history has point-in-time
    content (?asOf=) and the latest bundle is the last instant."""
    from datetime import timedelta

    from intel_assets.domain.market_data import NEW_YORK

    local = as_of.astimezone(NEW_YORK)
    instants, day = [], local
    while len(instants) < sessions:
        if day.weekday() < 5:
            instants.append(day)
        day -= timedelta(days=1)
    return [moment.astimezone(timezone.utc) for moment in reversed(instants)]


def demo() -> int:
    settings = demo_settings()
    newest = seed(settings)
    if settings.as_of is None:  # synthetic market: replay at its newest bar
        settings = load_settings(as_of=newest.isoformat())
        _say(f"replay clock: {newest.isoformat()} (newest synthetic bar)")
    from intel_assets.cli.local_stack import sample_providers

    sessions = DEMO_SESSIONS if settings.resolved_lean_dir is not None else min(
        DEMO_SESSIONS, settings.synthetic_days)
    instants = demo_instants(settings.as_of, sessions)
    results = []
    with sample_providers(settings) as settings:
        _say(f"materializing {len(settings.symbols)} symbols in one run per instant, as of "
             f"{', '.join(i.isoformat() for i in instants)} (DAGSTER_HOME="
             f"{prepare_dagster_home(settings)})")
        for instant in instants:  # oldest first: the last instant is what Torghut reads now
            started = time.perf_counter()
            result = materialize(settings.model_copy(update={"as_of": instant}))
            results.append(result)
            _say(f"  as of {instant.isoformat()}: run {result.run_id} "
                 f"{'succeeded' if result.success else 'FAILED'} in "
                 f"{time.perf_counter() - started:.1f} s")
    print_summary(_summary(settings))
    base = f"http://{settings.serve_host}:{settings.serve_port}/api/torghut/market-context"
    _say(f"\nserve it at the replay clock: INTEL_AS_OF={settings.as_of.isoformat()} "
         f"intel-assets serve\n  latest:         {base}?symbol={settings.symbols[0]}"
         f"\n  point in time:  {base}?symbol={settings.symbols[0]}&asOf="
         f"{instants[len(instants) // 2].isoformat().replace('+00:00', 'Z')}"
         "\n(`intel-assets serve` alone uses the live clock: these replay bundles are then stale "
         "and flagged market_context_stale, as Torghut would see them)")
    return 0 if all(r.success for r in results) else 1


# ---- serve / bundle / ui ----------------------------------------------------------------------

def serve_cmd(settings: Settings, host: str | None, port: int | None) -> int:
    from intel_assets.stores.bundle_store import BundleStore
    from intel_assets.stores.dsn_contract import store_connect_dsn
    from intel_assets.serving.app import create_app, serve, serving_config

    dsn = store_connect_dsn(settings)  # fails fast (DsnContractError) on a broken TLS contract
    from intel_assets.stores.local_postgres import ensure_for

    ensure_for(settings)  # the embedded cluster: started, or joined (and kept up while we serve)
    config = serving_config(settings)
    app = create_app(lambda: BundleStore.from_dsn(dsn), config)
    host, port = host or settings.serve_host, port if port is not None else settings.serve_port
    clock = f"replay clock {settings.as_of.isoformat()}" if settings.as_of else "live clock"
    _say(f"serving http://{host}:{port}/api/torghut/market-context?symbol=... (store {_safe(dsn)}, "
         f"{clock}, stale after {config.policy.max_staleness_seconds} s"
         + ("" if config.enabled else ", DISABLED by INTEL_MARKET_CONTEXT_ENABLED=false") + ")")
    serve(app, host, port)
    return 0


def bundle_cmd(settings: Settings, symbol: str) -> int:
    from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol

    try:
        symbol = normalize_symbol(symbol)
    except InvalidSymbolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = open_store(settings)
    try:
        stored = store.latest(symbol)
    finally:
        store.close()
    if stored is None:
        print(f"error: no bundle published for {symbol}; run `intel-assets demo` or materialize it",
              file=sys.stderr)
        return 1
    from intel_assets.contracts.bundle import MarketContextBundle
    from intel_assets.domain.bundle import bundle_seen_at
    from intel_assets.serving.app import serving_config

    config = serving_config(settings)  # what the serving API would answer now
    bundle = bundle_seen_at(MarketContextBundle.model_validate_json(stored.body),
                            config.clock.now(), config.policy)
    print(json.dumps(bundle.to_wire(), indent=2))
    return 0


def ui_cmd(settings: Settings, port: int) -> int:
    """Dagster webserver + daemon (workspace.yaml) and the serving API, on 127.0.0.1."""
    from intel_assets.cli.local_stack import run_ui

    return run_ui(settings, port, prepare_dagster_home(settings))


def parity_cmd(argv: list[str]) -> int:
    """Replay a day of Torghut decisions through both venues, print TCA and drift; with --week,
    run the rollout gate end to end over the LEAN week and print its verdict. A Torghut database
    that cannot be used is one plain error line (exit 2), never a traceback."""
    from intel_assets.stores.torghut_db import TorghutDbError

    try:
        return _parity(argv)
    except TorghutDbError as exc:
        raise SettingsError(str(exc)) from None


def _parity(argv: list[str]) -> int:
    from intel_assets.devtools.pg_cluster import PostgresUnavailableError, start_pg_cluster
    from intel_assets.cli.parity import run_parity_demo

    parser = argparse.ArgumentParser(
        prog="intel-assets parity",
        description="Replay a LEAN data day of Torghut's trade_decisions through the Alpaca paper "
        "and LEAN adapters, print per-adapter TCA and drift. With TORGHUT_DB_DSN: the decisions "
        "Torghut wrote, read only (results go to intel_* tables). Without it: a throwaway local "
        "PostgreSQL with Torghut's tables, seeded by a rule-based strategy.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--day", default="2013-10-08", help="a LEAN data day (default 2013-10-08)")
    mode.add_argument("--week", action="store_true", help="the LEAN week 2013-10-07..11 with "
                      "guardrail records from the Torghut consumer on this home's bundle store, "
                      "parity per day, guardrail_daily, rollout_baseline (first two days) and "
                      "rollout_gate as of 2013-10-11 on this home's Dagster instance; prints the "
                      "phase reached, every criterion and its evidence")
    args = parser.parse_args(argv)
    settings = load_settings()
    lean_dir = settings.resolved_lean_dir
    if lean_dir is None:
        raise SettingsError("parity replays LEAN data: set INTEL_LEAN_DATA_DIR to a LEAN Data folder")
    store_dsn = None
    if args.week:
        from intel_assets.stores.dsn_contract import store_connect_dsn
        from intel_assets.torghut.flags import RolloutFlags

        store_dsn = store_connect_dsn(settings)  # fails fast (DsnContractError) like serve
        try:
            RolloutFlags.from_env()
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
    dsn = os.environ.get("TORGHUT_DB_DSN", "").strip()
    seed = not dsn  # only a throwaway or the demo's database is ever seeded
    if args.week and not dsn and settings.embedded_postgres:
        from intel_assets.cli.rollout import DEMO_DB, torghut_dsn_for

        dsn, _ = torghut_dsn_for(settings)  # persistent: `intel-assets rollout ...` reads it
        _say(f"Torghut DB: the demo database {DEMO_DB} of the embedded PostgreSQL (kept for "
             "`intel-assets rollout status/approve`; set TORGHUT_DB_DSN to use yours)")
    with ExitStack() as stack:
        if not dsn:
            try:
                cluster = stack.enter_context(start_pg_cluster())
            except PostgresUnavailableError as exc:
                raise SettingsError(f"{exc}; or set TORGHUT_DB_DSN to a PostgreSQL database") from None
            dsn = cluster.create_database("torghut")
            _say(f"Torghut DB: throwaway PostgreSQL on 127.0.0.1:{cluster.port} (set TORGHUT_DB_DSN "
                 "to use yours)")
        if args.week:  # on this home's persistent Dagster instance (the demo's)
            from dagster import DagsterInstance

            from intel_assets.drills.parity_week import run_parity_week
            from intel_assets.stores.bundle_store import BundleStore

            home = prepare_dagster_home(settings)
            _say(f"Dagster instance: DAGSTER_HOME={home} (persistent: the gate reads the "
                 "contract-check evaluations `intel-assets demo` recorded there)")
            from intel_assets.drills.parity_week import DEMO_CANARY_SYMBOLS
            from intel_assets.parity_definitions import rollout_policy_from_env

            canary = rollout_policy_from_env(
                default_symbols=DEMO_CANARY_SYMBOLS if seed else ()).canary_symbols
            with DagsterInstance.get() as instance:
                outcome = run_parity_week(lean_dir, dsn, lambda: BundleStore.from_dsn(store_dsn),
                                          _safe(store_dsn), instance, seed=seed,
                                          dagster_home=str(home), canary_symbols=canary)
            for problem in outcome.problems:
                print(f"evidence incomplete: {problem}", file=sys.stderr)
            return 0 if not outcome.problems else 1
        report = run_parity_demo(lean_dir, dsn, args.day, seed=seed)
    problems = report.evidence_problems()
    for problem in problems:
        print(f"evidence incomplete: {problem}", file=sys.stderr)
    return 0 if not problems else 1


def _safe(dsn: str) -> str:
    """A DSN fit to print: every password masked (in the userinfo and in the query), as the
    bundle store's redact_dsn masks it everywhere else."""
    from intel_assets.stores.bundle_store import redact_dsn

    return redact_dsn(dsn)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="intel-assets", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_seed = sub.add_parser("seed", help="load LEAN minute data (or a synthetic market) into ClickHouse")
    p_seed.add_argument("--synthetic", action="store_true", help="ignore LEAN data; seed a synthetic market")
    p_mat = sub.add_parser("materialize", help="refresh + publish the universe in one Dagster run")
    p_mat.add_argument("symbols", nargs="*", help="a contiguous range of the universe (default: all)")
    sub.add_parser("demo", help="seed, materialize every asset in one run, publish, print a summary")
    p_serve = sub.add_parser("serve", help="serve bundles to Torghut over HTTP")
    p_serve.add_argument("--host")
    p_serve.add_argument("--port", type=int)
    p_bundle = sub.add_parser("bundle", help="print the latest published bundle of SYMBOL")
    p_bundle.add_argument("symbol")
    p_ui = sub.add_parser("ui", help="Dagster webserver + daemon and the serving API on 127.0.0.1")
    p_ui.add_argument("--port", type=int, default=3000)
    # Subcommands with options of their own (each answers --help).
    sub.add_parser("postgres", add_help=False,
                   help="the embedded PostgreSQL cluster of INTEL_HOME: status, start, stop")
    sub.add_parser("doctor", add_help=False,
                   help="check every configured dependency and explain failures")
    sub.add_parser("parity", add_help=False,
                   help="seed decisions, replay them through Alpaca and LEAN, print TCA and drift")
    sub.add_parser("schema", add_help=False,
                   help="write JSON Schemas of every wire shape to schemas/ (--check: drift)")
    sub.add_parser("skills", add_help=False,
                   help="write skills/*/SKILL.md from the schemas and the demo data (--check)")
    sub.add_parser("fundamentals", add_help=False,
                   help="point-in-time fundamentals of SYMBOL from real SEC files on disk")
    sub.add_parser("lean-runner", add_help=False,
                   help="serve the reference LEAN runner (Torghut's LEAN runner contract v2)")
    sub.add_parser("lean-replay", add_help=False,
                   help="replay LEAN regression algorithms (NAME or all) and compare with LEAN")
    sub.add_parser("rollout", add_help=False,
                   help="rollout sign-offs (approve, revoke), the gate's status, rollback drill")
    args, rest = parser.parse_known_args(argv)
    if args.cmd == "postgres":
        from intel_assets.stores.local_postgres import main as postgres_main

        return postgres_main(rest)
    if args.cmd == "doctor":
        from intel_assets.cli.doctor import main_doctor

        return main_doctor(rest)
    if args.cmd == "schema":
        from intel_assets.cli.schema import main as schema_main

        return schema_main(rest)
    if args.cmd == "skills":
        from intel_assets.cli.skills import main as skills_main

        return skills_main(rest)
    if args.cmd == "fundamentals":
        from intel_assets.cli.fundamentals import main as fundamentals_main

        return fundamentals_main(rest)
    if args.cmd == "lean-runner":
        from intel_assets.execution.lean_runner import main as lean_runner_main

        return lean_runner_main(rest)
    if args.cmd == "lean-replay":
        from intel_assets.execution.lean_replay import main as lean_replay_main

        return lean_replay_main(rest)
    if args.cmd == "rollout":
        from intel_assets.cli.rollout import main as rollout_main

        return rollout_main(rest)
    if rest and args.cmd != "parity":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    from intel_assets.stores.local_postgres import EmbeddedPostgresError
    from intel_assets.parity_definitions import ParityConfigError
    from intel_assets.stores.bundle_store import StoreConfigError, StoreUnavailableError
    from intel_assets.stores.warehouse import WarehouseError
    from intel_assets.stores.dsn_contract import DsnContractError

    try:
        if args.cmd in ("materialize", "demo", "serve", "bundle", "ui"):
            _warn_about_tls(load_settings())
        if args.cmd == "seed":
            seed(load_settings(), synthetic=args.synthetic)
            return 0
        if args.cmd == "materialize":
            settings = demo_settings()
            result = materialize(settings, [s.upper() for s in args.symbols] or None)
            print_summary(_summary(settings))
            return 0 if result.success else 1
        if args.cmd == "demo":
            return demo()
        if args.cmd == "serve":
            return serve_cmd(load_settings(), args.host, args.port)
        if args.cmd == "bundle":
            return bundle_cmd(load_settings(), args.symbol)
        if args.cmd == "ui":
            return ui_cmd(demo_settings(), args.port)
        if args.cmd == "parity":
            return parity_cmd(rest)
    except (SettingsError, DsnContractError, ParityConfigError, StoreConfigError,
            StoreUnavailableError, WarehouseError, EmbeddedPostgresError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # one line with the fix, never a traceback
        return 2
    return 2


def _warn_about_tls(settings: Settings) -> None:
    """Outside production, say at start what the TLS contract would refuse in production
    (in production such a DSN or ClickHouse URL stops the command with an error instead)."""
    from intel_assets.stores.clickhouse_tls import assert_clickhouse_contract
    from intel_assets.stores.dsn_contract import (
        TORGHUT_DB_DSN_ENV,
        TORGHUT_DB_SSLROOTCERT_ENV,
        assert_store_contract,
        check_dsn_tls,
        production_mode,
    )

    # The embedded store is reached over its own Unix socket only: no TLS to warn about.
    contracts = [] if settings.embedded_store else [assert_store_contract(settings)]
    torghut = os.environ.get(TORGHUT_DB_DSN_ENV, "").strip()
    if torghut:
        contracts.append(check_dsn_tls(torghut, name=TORGHUT_DB_DSN_ENV,
                                       production=production_mode(),
                                       sslrootcert_env=TORGHUT_DB_SSLROOTCERT_ENV))
    contracts.append(assert_clickhouse_contract(settings))  # https + a verified CA in production
    for contract in contracts:
        for warning in (contract.warnings if contract is not None else ()):
            print(f"warning: {warning} (refused when INTEL_ENV=production)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
