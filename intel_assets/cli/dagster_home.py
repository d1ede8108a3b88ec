"""Owns the embedded Dagster instance's home: DAGSTER_HOME under INTEL_HOME, its dagster.yaml
(storage, run queue, the ClickHouse pool, run monitoring) and the pool's limit stored up front."""

from __future__ import annotations

import json
from pathlib import Path

from intel_assets.settings import Settings, export_environment

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
{storage_yaml(settings)}# Queued runs are looked at every second (Dagster's default: 5 s): a refresh the freshness
# sensor requests starts sooner (benchmark P5).
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


def prepare_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME under INTEL_HOME (with dagster.yaml) unless DAGSTER_HOME is set; a
    dagster.yaml this command wrote earlier is brought up to date, any other is left alone."""
    home = settings.dagster_home_in_use
    home.mkdir(parents=True, exist_ok=True)
    path, wanted = home / "dagster.yaml", dagster_yaml(settings)
    current = path.read_text() if path.exists() else None
    if current is None or (current.startswith(DAGSTER_YAML_MARKER) and current != wanted):
        path.write_text(wanted)
    export_environment({"DAGSTER_HOME": str(home)})
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
