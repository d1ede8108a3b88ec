"""Owns LocalRunLauncher: Dagster's DefaultRunLauncher plus the run-worker health check that
Dagster's run monitoring asks a launcher for, for instances whose runs all execute on this
machine (the embedded mode: SQLite storage and chdb under INTEL_HOME).

DefaultRunLauncher cannot tell whether a run's worker is alive, so Dagster's run monitoring
could only end a killed run at its max runtime; meanwhile the run stays STARTED and holds its
place in the run queue and the ClickHouse pool (a ``kill -9`` of ``intel-assets materialize``
stalled every later run). Dagster's own launchers for Kubernetes, ECS and Docker answer the
health check from their pod or container; this one answers it from the worker's process:

* the worker's pid is the one Dagster records in the run's engine events ("Started process for
  run (pid: N)" from a launched worker, "Executing steps in process (pid: N)" from the
  in-process executor every run here uses, including ``execute_in_process`` from the CLI);
* the worker is alive when that process exists, is not a zombie, and started before the event
  was written (so a recycled pid is not mistaken for it; Linux /proc, else os.kill(pid, 0));
* no pid recorded yet: reported running (the start timeout and max runtime still apply).

Dagster's monitoring daemon then marks a run whose worker is gone FAILURE at its next poll, and
the queue moves on. ``terminate`` (max runtime exceeded, or the UI's Terminate) first asks the
code server as DefaultRunLauncher does; for a run no code server knows (an in-process CLI run, or
one whose code server is gone) it signals the local worker (SIGTERM, then SIGKILL after
``kill_grace_seconds``), so a hung run releases the chdb lock. Resume is not supported.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DefaultRunLauncher

from intel_assets.dagster_internals import (
    CheckRunHealthResult,
    ConfigurableClassData,
    WorkerStatus,
)

#: A process start time is known to the second (boot time) plus clock ticks: allow this slack.
_START_SLACK_SECONDS = 2.0


def worker_pid(instance: DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """(pid, event timestamp) of the newest engine event of the run that names its worker pid."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT,
                                           limit=50).records
    found = None
    for record in records:
        event = record.event_log_entry.dagster_event
        data = getattr(event, "engine_event_data", None) if event is not None else None
        pid = (data.metadata or {}).get("pid") if data is not None else None
        text = getattr(pid, "value", pid)
        if text is not None and str(text).isdigit():
            found = (int(str(text)), record.event_log_entry.timestamp)
    return found


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def process_alive(pid: int, started_by: float) -> tuple[bool, str]:
    """Whether process ``pid`` is alive and is the one that was running at ``started_by``."""
    stat = Path(f"/proc/{pid}/stat")
    boot = _boot_time()
    if boot is not None:
        try:
            text = stat.read_text()
        except FileNotFoundError:
            return False, f"process {pid} no longer exists"
        except OSError as exc:
            return True, f"process {pid} cannot be inspected ({exc}); assumed alive"
        fields = text[text.rindex(")") + 2:].split()
        state, ticks = fields[0], int(fields[19])
        if state in ("Z", "X"):
            return False, f"process {pid} has exited (state {state})"
        started = boot + ticks / os.sysconf("SC_CLK_TCK")
        if started > started_by + _START_SLACK_SECONDS:
            return False, (f"process {pid} exited; the pid now belongs to a process started "
                           f"{started - started_by:.0f} s after the run recorded it")
        return True, f"process {pid} is running"
    try:  # no /proc (not Linux): existence only
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, f"process {pid} no longer exists"
    except PermissionError:
        pass
    return True, f"process {pid} is running"


class LocalRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher with a process-based worker health check and a local terminate
    fallback (see the module doc). Config: ``kill_grace_seconds`` (default 10)."""

    def __init__(self, inst_data: ConfigurableClassData | None = None,
                 kill_grace_seconds: float = 10.0) -> None:
        super().__init__(inst_data=inst_data)
        self.kill_grace_seconds = float(kill_grace_seconds)

    @classmethod
    def config_type(cls) -> Any:
        from dagster import Field, Float

        return {"kill_grace_seconds": Field(Float, is_required=False, default_value=10.0)}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData,
                          config_value: Any) -> "LocalRunLauncher":
        return cls(inst_data=inst_data, **config_value)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        found = worker_pid(self._instance, run.run_id)
        if found is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker pid recorded yet")
        alive, message = process_alive(*found)
        status = WorkerStatus.RUNNING if alive else WorkerStatus.FAILED
        return CheckRunHealthResult(status, f"run worker: {message}")

    def get_run_worker_debug_info(self, run: DagsterRun,
                                  include_container_logs: bool | None = True) -> str | None:
        found = worker_pid(self._instance, run.run_id)
        return None if found is None else f"run worker pid {found[0]} on this machine"

    def terminate(self, run_id: str) -> bool:
        try:
            if super().terminate(run_id):
                return True
        except Exception:  # noqa: BLE001 - e.g. the code server that launched the run is gone
            pass
        return self._terminate_local(run_id)

    def _terminate_local(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        found = worker_pid(self._instance, run_id)
        if run is None or found is None or not process_alive(*found)[0]:
            return False
        pid = found[0]
        self._instance.report_engine_event(
            f"Sending SIGTERM to run worker process {pid} (no code server can terminate it).",
            run, cls=self.__class__)
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + self.kill_grace_seconds
            while time.monotonic() < deadline and process_alive(*found)[0]:
                time.sleep(0.2)
            if process_alive(*found)[0]:
                os.kill(pid, signal.SIGKILL)
                self._instance.report_engine_event(
                    f"Run worker process {pid} ignored SIGTERM for {self.kill_grace_seconds:g} s: "
                    "sent SIGKILL.", run, cls=self.__class__)
        except ProcessLookupError:
            pass
        except PermissionError:
            return False
        return True


__all__ = ["LocalRunLauncher", "process_alive", "worker_pid"]
