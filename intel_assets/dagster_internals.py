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

Runs the CLI starts (``intel-assets materialize``/``demo``) as runs of the code location's job,
so Dagster's UI lists them (the Overview timeline groups runs by their remote job origin and a
job's page filters runs by the ``.dagster/repository`` tag that origin adds; a plain
``execute_in_process`` run has neither):

* ``workspace_job_origins``: the RemoteJobOrigin of a job of a workspace.yaml code location
  (``location_origins_from_yaml_paths``, as ``dagster dev -w`` builds it, not loaded) and its
  JobPythonOrigin (the module's ``defs``), for ``DagsterInstance.create_run_for_job``.
* ``execute_in_process_as``: execute_in_process's own steps (Dagster's in-process executor,
  one process: chdb admits one per data path) on a run created with those origins, each event
  handed to a callback as it happens (the CLI's progress lines).

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


def workspace_job_origins(workspace_yaml: str, location_name: str, module_name: str,
                          job_name: str, attribute: str = "defs") -> tuple[Any, Any]:
    """(RemoteJobOrigin, JobPythonOrigin) of ``job_name`` in the code location
    ``location_name`` of ``workspace_yaml`` (the location's definitions: ``module_name``'s
    ``attribute``), as the webserver and the daemon of that workspace know the job."""
    import os
    import sys

    from dagster._core.remote_origin import RemoteRepositoryOrigin
    from dagster._core.definitions.repository_definition.valid_definitions import (
        SINGLETON_REPOSITORY_NAME,
    )
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    origins = {o.location_name: o for o in location_origins_from_yaml_paths([workspace_yaml])}
    if location_name not in origins:
        raise ValueError(f"{workspace_yaml} has no code location {location_name!r} "
                         f"(it has {sorted(origins)})")
    remote = RemoteRepositoryOrigin(origins[location_name], SINGLETON_REPOSITORY_NAME)
    python = RepositoryPythonOrigin(
        executable_path=sys.executable,
        code_pointer=ModuleCodePointer(module_name, attribute,
                                       os.path.dirname(os.path.abspath(workspace_yaml))))
    return remote.get_job_origin(job_name), python.get_job_origin(job_name)


def execute_in_process_as(job_def: Any, instance: Any, *, run_config: dict, tags: dict,
                          remote_job_origin: Any, job_code_origin: Any,
                          on_event: Any = None) -> Any:
    """``job_def.execute_in_process(instance=..., run_config=..., tags=...,
    raise_on_error=False)`` on a run carrying ``remote_job_origin``/``job_code_origin``; each
    DagsterEvent goes to ``on_event`` as it happens. Returns the ExecuteInProcessResult."""
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.api import (
        ExecuteRunWithPlanIterable,
        create_execution_plan,
        job_execution_iterator,
    )
    from dagster._core.execution.context_creation_job import (
        PlanOrchestrationContextManager,
        orchestration_context_event_generator,
    )
    from dagster._core.execution.execute_in_process_result import ExecuteInProcessResult

    ephemeral = job_def.as_ephemeral_job(resource_defs={}, input_values={})
    job = InMemoryJob(job_def=ephemeral)
    plan = create_execution_plan(job, run_config=run_config,
                                 instance_ref=instance.get_ref() if instance.is_persistent else None)
    run = instance.create_run_for_job(
        job_def=ephemeral, run_config=run_config, tags={**ephemeral.run_tags, **tags},
        execution_plan=plan, remote_job_origin=remote_job_origin,
        job_code_origin=job_code_origin)
    events = []
    for event in ExecuteRunWithPlanIterable(
        execution_plan=plan,
        iterator=job_execution_iterator,
        execution_context_manager=PlanOrchestrationContextManager(
            context_event_generator=orchestration_context_event_generator,
            job=job, execution_plan=plan, dagster_run=run, instance=instance,
            run_config=run_config, executor_defs=None, output_capture=None,
            raise_on_error=False),
    ):
        events.append(event)
        if on_event is not None:
            on_event(event)
    return ExecuteInProcessResult(job_def=ephemeral, event_list=events,
                                  dagster_run=instance.get_run_by_id(run.run_id),
                                  output_capture={})


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
           "RepositoryPythonOrigin", "WorkerStatus", "dagster_instance_config",
           "execute_in_process_as", "process_config", "resolve_to_config_type",
           "workspace_job_origins"]
