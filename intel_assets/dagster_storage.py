"""Owns the Dagster storage class every dagster.yaml of ours names: dagster-postgres storage that
carries the event-write settings in its own configuration, so every Dagster process that loads
the instance (webserver, daemon, code servers, run workers, `execute_in_process` in the CLI)
applies them, and that keeps failed partitions visible with one planned event per asset.

Why (issue 11; benchmarks/README.md): a 500-symbol refresh writes 3,500 "materialization
planned" events and 3,500 materializations. dagster-postgres writes a batch of materializations
in one INSERT only when ``DAGSTER_EVENT_BATCH_SIZE`` is set in the run worker, and the planned
events collapse to one per asset only when the process creating the run reports
``supports_partition_subset_in_asset_materialization_planned_events`` (Dagster reads
``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS`` for it). Environment variables must reach
every process, run workers launched by the daemon through a code server included; configuration
in dagster.yaml does, because each of them builds its instance from it (run workers from the
instance ref, which carries this class and its config).

* ``event_batch_size`` (default 500): set as ``DAGSTER_EVENT_BATCH_SIZE`` in the process when the
  instance is built, unless the environment already sets it (an operator's explicit choice).
* ``planned_partition_subset`` (default true): the event log reports partition subsets in planned
  events. Dagster's own price for that switch is that a failed range run marks no partition
  failed: its failed set comes from planned events per partition without a materialization of
  the same run (``get_latest_asset_partition_materialization_attempts_without_materializations``)
  and a subset event has no partition. This class answers that query from the subset events too,
  so the UI's failed (and in-progress) partitions stay right (tests/test_dagster_storage.py).
  This relies on Dagster's storage internals: Dagster is pinned (pyproject) and the test fails
  when an upgrade changes them.
* ``embedded_home``: an INTEL_HOME whose embedded PostgreSQL cluster (intel_assets.stores.local_postgres)
  the storage starts or joins before connecting; ``postgres_url`` is then that cluster's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy
from dagster import (
    AssetKey,
    Bool,
    DagsterEventType,
    Field,
    Int,
    StringSource,
    deserialize_value,
)
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.storage import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

from intel_assets.settings import export_environment
from intel_assets.dagster_internals import (
    ConfigurableClassData,
    SqlEventLogStorageTable,
)

BATCH_ENV = "DAGSTER_EVENT_BATCH_SIZE"
DEFAULT_EVENT_BATCH_SIZE = 500
#: Subset planned events read per query page when answering the failed-partitions query.
_PAGE = 200


class PartitionSubsetEventLogStorage(PostgresEventLogStorage):
    """PostgresEventLogStorage that emits (``planned_partition_subset``) and reads planned events
    carrying a partition subset."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider: Any = None,
                 planned_partition_subset: bool = True) -> None:
        super().__init__(postgres_url, should_autocreate_tables, inst_data=inst_data,
                         token_provider=token_provider)
        self._planned_partition_subset = bool(planned_partition_subset)

    @property
    def supports_partition_subset_in_asset_materialization_planned_events(self) -> bool:
        return self._planned_partition_subset

    def get_latest_asset_partition_materialization_attempts_without_materializations(
        self, asset_key: AssetKey, after_storage_id: int | None = None
    ) -> Mapping[str, tuple[str, int]]:
        """Dagster's answer (planned events with a partition column) plus the partitions of
        planned events that carry a subset: for each partition, its newest planned event when no
        materialization of the partition is newer. {partition: (run_id, planned storage id)}."""
        found = dict(super().get_latest_asset_partition_materialization_attempts_without_materializations(
            asset_key, after_storage_id=after_storage_id))
        subset_planned = self._subset_planned_by_partition(asset_key, after_storage_id)
        if not subset_planned:
            return found
        materialized = self.get_latest_storage_id_by_partition(
            asset_key, DagsterEventType.ASSET_MATERIALIZATION, partitions=set(subset_planned))
        for partition, (run_id, storage_id) in subset_planned.items():
            if storage_id <= materialized.get(partition, 0):
                continue  # materialized since (by that run or a later one)
            if partition not in found or found[partition][1] < storage_id:
                found[partition] = (run_id, storage_id)
        return found

    def _subset_planned_by_partition(self, asset_key: AssetKey, after_storage_id: int | None
                                     ) -> dict[str, tuple[str, int]]:
        """{partition: (run_id, storage id)} of the newest subset planned event naming it."""
        newest: dict[str, tuple[str, int]] = {}
        table = SqlEventLogStorageTable
        upper: int | None = None
        while True:
            query = (sqlalchemy.select(table.c.id, table.c.run_id, table.c.event)
                     .where(table.c.asset_key == asset_key.to_string(),
                            table.c.dagster_event_type
                            == DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value,
                            table.c.partition.is_(None))
                     .order_by(table.c.id.desc()).limit(_PAGE))
            if after_storage_id:
                query = query.where(table.c.id > after_storage_id)
            if upper is not None:
                query = query.where(table.c.id < upper)
            with self.index_connection() as conn:
                rows = conn.execute(query).fetchall()
            for storage_id, run_id, body in rows:
                event = deserialize_value(body).dagster_event
                data = getattr(event, "event_specific_data", None)
                subset = getattr(data, "partitions_subset", None)
                if subset is None:
                    continue  # an unpartitioned asset's planned event
                for key in subset.get_partition_keys():
                    newest.setdefault(key, (run_id, storage_id))  # newest first
            if len(rows) < _PAGE:
                return newest
            upper = rows[-1][0]


class IntelPostgresStorage(DagsterPostgresStorage):
    """dagster-postgres storage with the event-write settings in dagster.yaml (module doc).

    Config: everything ``storage: postgres:`` takes (``postgres_url`` or ``postgres_db``, ...),
    plus ``event_batch_size`` (int, 500), ``planned_partition_subset`` (bool, true) and
    ``embedded_home`` (an INTEL_HOME: start or join its embedded cluster first)."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider: Any = None,
                 event_batch_size: int = DEFAULT_EVENT_BATCH_SIZE,
                 planned_partition_subset: bool = True) -> None:
        if event_batch_size > 0:
            export_environment({BATCH_ENV: str(int(event_batch_size))}, only_unset=True)
        self.postgres_url = postgres_url
        self.should_autocreate_tables = bool(should_autocreate_tables)
        self.event_batch_size = int(event_batch_size)
        self.planned_partition_subset = bool(planned_partition_subset)
        self._inst_data = inst_data
        self._run_storage = PostgresRunStorage(postgres_url, should_autocreate_tables,
                                               token_provider=token_provider)
        self._event_log_storage = PartitionSubsetEventLogStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider,
            planned_partition_subset=planned_partition_subset)
        self._schedule_storage = PostgresScheduleStorage(postgres_url, should_autocreate_tables,
                                                         token_provider=token_provider)
        # DagsterStorage's initializer, not DagsterPostgresStorage's (it would build its own stores)
        super(DagsterPostgresStorage, self).__init__()

    @classmethod
    def config_type(cls) -> Any:
        return {
            **DagsterPostgresStorage.config_type(),  # what `storage: postgres:` takes
            "event_batch_size": Field(Int, is_required=False,
                                      default_value=DEFAULT_EVENT_BATCH_SIZE),
            "planned_partition_subset": Field(Bool, is_required=False, default_value=True),
            "embedded_home": Field(StringSource, is_required=False),
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Mapping[str, Any]) -> "IntelPostgresStorage":
        config = dict(config_value)
        if config.get("embedded_home"):
            from intel_assets.stores.local_postgres import DAGSTER_DB, ensure_running

            cluster = ensure_running(config["embedded_home"])
            config.pop("postgres_db", None)
            config["postgres_url"] = cluster.url(DAGSTER_DB, driver="postgresql+psycopg2")
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config),
            should_autocreate_tables=config.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config),
            event_batch_size=config.get("event_batch_size", DEFAULT_EVENT_BATCH_SIZE),
            planned_partition_subset=config.get("planned_partition_subset", True),
        )


__all__ = ["IntelPostgresStorage", "PartitionSubsetEventLogStorage"]
