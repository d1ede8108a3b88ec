"""Owns every import from Dagster's private modules (``dagster._...``): the few names Dagster
1.13 uses but does not export publicly. Everything else in the package imports ``dagster``'s
public API only; a Dagster upgrade that moves one of these breaks here, in one place.

Run tags and check statuses:

* ``ASSET_PARTITION_RANGE_START_TAG`` / ``ASSET_PARTITION_RANGE_END_TAG``: run tags of a
  single-run backfill over a partition range (Dagster writes and reads them; the public
  ``RunRequest(partition_key_range=...)`` sets them, but reading them back, or setting them on
  ``execute_in_process``, needs the names). intel_assets.jobs re-exports them.
* ``GLOBAL_CONCURRENCY_TAG``: the op tag naming a concurrency pool. ``@asset`` takes ``pool=``,
  ``observable_source_asset`` does not (1.13), so its observation op joins the ClickHouse pool
  through ``op_tags`` keyed by this name.
* ``COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES``: the statuses of a finished check
  evaluation (passed or failed, not planned). The only query for a check's evaluation history
  (the event log storage's) filters by them; no public API answers "latest completed".

Instance plugins (our dagster.yaml's storage class and run launcher implement Dagster's plugin
interfaces, which are not public):

* ``ConfigurableClassData``: the ``inst_data`` every configurable instance class receives.
* ``CheckRunHealthResult`` / ``WorkerStatus``: what ``RunLauncher.check_run_worker_health``
  returns (intel_assets.run_launcher).
* ``SqlEventLogStorageTable``: the event log's SQL table, which our failed-partitions query on
  subset planned events reads (intel_assets.dagster_storage). Imported on first use: it pulls in
  SQLAlchemy, which nothing else importing this module needs.

Tests only (tests/test_deploy.py checks our instance configs against Dagster's own schemas
without instantiating, and builds a run as a code server would; Dagster offers no public way):

* ``dagster_instance_config``: dagster.yaml validated as ``DagsterInstance.from_config`` reads it.
* ``process_config`` / ``resolve_to_config_type``: a config value checked against a class's
  ``config_type()``.
* ``JobPythonOrigin`` / ``RepositoryPythonOrigin`` / ``ModuleCodePointer``: a run's code origin.
"""

from typing import Any

from dagster._config import process_config, resolve_to_config_type
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.instance.config import dagster_instance_config
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.storage.asset_check_execution_record import (
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    GLOBAL_CONCURRENCY_TAG,
)
from dagster._serdes import ConfigurableClassData


def __getattr__(name: str) -> Any:
    """The names imported on first use (SqlEventLogStorageTable)."""
    if name == "SqlEventLogStorageTable":
        from dagster._core.storage.event_log.schema import SqlEventLogStorageTable

        return SqlEventLogStorageTable
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Not SqlEventLogStorageTable (module __getattr__): `import *` would load it eagerly.
__all__ = ["ASSET_PARTITION_RANGE_END_TAG", "ASSET_PARTITION_RANGE_START_TAG",
           "COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES", "GLOBAL_CONCURRENCY_TAG",
           "CheckRunHealthResult", "ConfigurableClassData", "JobPythonOrigin", "ModuleCodePointer",
           "RepositoryPythonOrigin", "WorkerStatus", "dagster_instance_config", "process_config",
           "resolve_to_config_type"]
