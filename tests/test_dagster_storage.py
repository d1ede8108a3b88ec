"""The Dagster storage every dagster.yaml of ours names (intel_assets/dagster_storage.py), on a
real PostgreSQL: one planned event per asset for a range run, and failed partitions still
visible to the UI.

Dagster's own switch for one planned event per asset (DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_
EVENTS) hides the failed partitions of a failed range run: the UI's failed set is "planned in a
run that failed, never materialized by it", read per partition, and a subset event names none.
The control test shows that with dagster-postgres's own storage; when an upgrade makes it fail,
Dagster reports the failures itself and our override can go.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg2
import pytest
from dagster import AssetKey, AssetPartitionStatus, DagsterEventType, DagsterInstance

from intel_assets.cli.seed import seed
from intel_assets.dagster_storage import PartitionSubsetEventLogStorage
from intel_assets.definitions import build_definitions
from intel_assets.jobs import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from intel_assets.settings import load_settings

SYMBOLS = [f"SYN{i:03d}" for i in range(20)]
AS_OF = "2024-03-08T21:00:00+00:00"
#: A bundle store nobody listens on: the run's store resource cannot open, the run fails.
DEAD_STORE = "postgresql://postgres@127.0.0.1:9/nowhere?connect_timeout=2"


def _database(postgres_dsn: str) -> str:
    name = f"dagster_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(postgres_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return postgres_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://") + "/" + name


def _home(tmp_path: Path, storage_yaml: str) -> Path:
    home = tmp_path / f"dagster_{uuid.uuid4().hex[:6]}"
    home.mkdir()
    (home / "dagster.yaml").write_text(storage_yaml + "telemetry:\n  enabled: false\n")
    return home


def _intel_storage_home(tmp_path: Path, url: str, **config: object) -> Path:
    """A DAGSTER_HOME whose dagster.yaml names our storage class on ``url`` with ``config``."""
    extra = "".join(f"      {key}: {str(value).lower() if isinstance(value, bool) else value}\n"
                    for key, value in config.items())
    return _home(tmp_path, "storage:\n  custom:\n    module: intel_assets.dagster_storage\n"
                 "    class: IntelPostgresStorage\n    config:\n"
                 f'      postgres_url: "{url}"\n{extra}')


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, chdb_dsn):
    tmp = tmp_path_factory.mktemp("storage")
    settings = load_settings(home=tmp / "intel", clickhouse_url=chdb_dsn,
                             clickhouse_database=f"t_{uuid.uuid4().hex[:10]}",
                             universe=",".join(SYMBOLS), as_of=AS_OF, synthetic_days=1,
                             embedded_postgres=False)  # SQLite bundle store: not under test
    seed(settings, synthetic=True)
    return settings


def _refresh(settings, instance, *, store_dsn: str | None = None):
    """refresh_technicals over the 20 symbols in ONE run (range tags, as the sensor asks)."""
    job = build_definitions(settings).resolve_job_def("refresh_technicals")
    config = ({"resources": {"bundle_store": {"config": {"dsn": store_dsn}}}}
              if store_dsn else {})
    return job.execute_in_process(
        instance=instance, raise_on_error=False, run_config=config,
        tags={PARTITION_RANGE_START_TAG: SYMBOLS[0],
              PARTITION_RANGE_END_TAG: SYMBOLS[-1]})


def _statuses(instance, settings, asset: str) -> dict[str, AssetPartitionStatus]:
    """Per partition, the status Dagster's UI shows (the asset partition status cache)."""
    defs = build_definitions(settings)
    partitions_def = defs.resolve_assets_def(asset).partitions_def
    return instance.get_status_by_partition(AssetKey(asset), SYMBOLS, partitions_def)


def _planned_events(instance, run_id: str, asset: str) -> int:
    events = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    return sum(1 for e in events if e.dagster_event.asset_key == AssetKey(asset))


def test_a_failed_range_run_marks_its_partitions_failed(tmp_path, seeded, postgres_dsn,
                                                        monkeypatch):
    monkeypatch.delenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", raising=False)
    url = _database(postgres_dsn)
    home = _intel_storage_home(tmp_path, url, event_batch_size=500, planned_partition_subset=True)
    with DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, PartitionSubsetEventLogStorage)
        ok = _refresh(seeded, instance)
        assert ok.success
        assert _planned_events(instance, ok.run_id, "technicals") == 1  # not 20: one per asset
        assert set(_statuses(instance, seeded, "technicals").values()) == {
            AssetPartitionStatus.MATERIALIZED}

        failed = _refresh(seeded, instance, store_dsn=DEAD_STORE)  # the store is down
        assert not failed.success
        assert _planned_events(instance, failed.run_id, "technicals") == 1
        for asset in ("technicals", "regime", "market_context_bundle", "published_bundle"):
            statuses = _statuses(instance, seeded, asset)
            assert statuses == {s: AssetPartitionStatus.FAILED for s in SYMBOLS}, asset

        again = _refresh(seeded, instance)  # recovered: the failures clear
        assert again.success
        assert set(_statuses(instance, seeded, "technicals").values()) == {
            AssetPartitionStatus.MATERIALIZED}


def test_a_failed_single_partition_run_still_counts(tmp_path, seeded, postgres_dsn):
    """A one-partition run's planned event names its partition (no subset): Dagster's own path,
    kept by the override."""
    url = _database(postgres_dsn)
    home = _intel_storage_home(tmp_path, url)
    with DagsterInstance.from_config(str(home)) as instance:
        job = build_definitions(seeded).resolve_job_def("refresh_technicals")
        assert _refresh(seeded, instance).success
        one = job.execute_in_process(
            instance=instance, partition_key="SYN007", raise_on_error=False,
            run_config={"resources": {"bundle_store": {"config": {"dsn": DEAD_STORE}}}})
        assert not one.success
        statuses = _statuses(instance, seeded, "technicals")
        assert statuses["SYN007"] == AssetPartitionStatus.FAILED
        assert {s for s, v in statuses.items() if v == AssetPartitionStatus.FAILED} == {"SYN007"}


def test_control_dagster_postgres_alone_hides_the_failures(tmp_path, seeded, postgres_dsn,
                                                           monkeypatch):
    """Why the override exists: dagster-postgres with Dagster's subset switch shows a failed
    20-symbol range run as 0 failed partitions."""
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    url = _database(postgres_dsn)
    home = _home(tmp_path, f'storage:\n  postgres:\n    postgres_url: "{url}"\n')
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert _refresh(seeded, instance).success
        failed = _refresh(seeded, instance, store_dsn=DEAD_STORE)
        assert not failed.success
        assert _planned_events(instance, failed.run_id, "technicals") == 1
        statuses = _statuses(instance, seeded, "technicals")
        assert AssetPartitionStatus.FAILED not in statuses.values()  # hidden: the upstream gap


def test_the_batch_size_reaches_the_process_that_loads_the_instance(tmp_path, postgres_dsn):
    """Every process building its instance from our dagster.yaml gets DAGSTER_EVENT_BATCH_SIZE
    (a fresh interpreter, as a run worker or the daemon is), unless its environment sets one."""
    import os
    import subprocess
    import sys

    url = _database(postgres_dsn)
    home = _intel_storage_home(tmp_path, url, event_batch_size=321)
    code = ("import os; from dagster import DagsterInstance; i = DagsterInstance.get(); "
            "print(os.environ.get('DAGSTER_EVENT_BATCH_SIZE'), "
            "i.event_log_storage.supports_partition_subset_in_asset_materialization_planned_events)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    env["DAGSTER_HOME"] = str(home)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["321", "True"]
    env["DAGSTER_EVENT_BATCH_SIZE"] = "50"  # an operator's explicit value wins
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.split() == ["50", "True"], out.stderr[-2000:]
