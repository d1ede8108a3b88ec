"""Reads a finished run's event log and breaks its wall time down: before the run starts,
per step (with the compute part and the materialization-event part), after it ends."""

from __future__ import annotations

from collections import Counter
from typing import Any


def run_event_stats(instance: Any, run_id: str, call_start_ts: float | None = None,
                    call_end_ts: float | None = None) -> dict[str, Any]:
    """Figures for one run from `instance.all_logs(run_id)`.

    call_start_ts / call_end_ts are time.time() around execute_in_process (or around the
    whole run-worker process); with them the time spent before RUN_START (run creation and
    the per-partition ASSET_MATERIALIZATION_PLANNED events) and after RUN_SUCCESS is reported.
    """
    from dagster import DagsterEventType as T
    from dagster import serialize_value

    logs = instance.all_logs(run_id)
    counts: Counter[str] = Counter()
    run_start = run_end = None
    first_ts = logs[0].timestamp if logs else None
    steps: dict[str, dict[str, Any]] = {}
    mat_bytes = 0
    log_messages = 0
    for entry in logs:
        event = entry.dagster_event
        if event is None:  # a context.log message stored in the event log
            log_messages += 1
            continue
        kind = event.event_type
        counts[kind.value] += 1
        ts = entry.timestamp
        if kind == T.RUN_START:
            run_start = ts
        elif kind in (T.RUN_SUCCESS, T.RUN_FAILURE):
            run_end = ts
        key = entry.step_key
        if key is None:
            continue
        step = steps.setdefault(key, {"step": key, "start": None, "end": None, "duration_s": None,
                                      "first_mat": None, "last_mat": None, "materializations": 0,
                                      "status": "?"})
        if kind == T.STEP_START:
            step["start"] = ts
        elif kind in (T.STEP_SUCCESS, T.STEP_FAILURE):
            step["end"] = ts
            step["status"] = "ok" if kind == T.STEP_SUCCESS else "FAILED"
            duration_ms = getattr(event.event_specific_data, "duration_ms", None)
            if duration_ms is not None:
                step["duration_s"] = duration_ms / 1000.0
        elif kind == T.ASSET_MATERIALIZATION:
            step["materializations"] += 1
            step["first_mat"] = ts if step["first_mat"] is None else step["first_mat"]
            step["last_mat"] = ts
            mat_bytes += len(serialize_value(entry))

    step_rows = []
    for step in sorted(steps.values(), key=lambda st: st["start"] or 0.0):
        if step["start"] is None:
            continue
        duration = step["duration_s"]
        if duration is None and step["end"] is not None:
            duration = step["end"] - step["start"]
        compute = (step["first_mat"] - step["start"]) if step["first_mat"] else duration
        emit = (step["last_mat"] - step["first_mat"]) if step["first_mat"] else 0.0
        # last ASSET_MATERIALIZATION -> STEP_SUCCESS. An event's timestamp is taken when it is
        # created, before it is stored; with DAGSTER_EVENT_BATCH_SIZE > 0 events are buffered
        # and the LAST batch is written after the last event's timestamp, so its write shows here.
        after = (step["end"] - step["last_mat"]) if step["last_mat"] and step["end"] else 0.0
        step_rows.append({
            "step": step["step"],
            "status": step["status"],
            "duration_s": round(duration or 0.0, 3),
            # STEP_START -> first ASSET_MATERIALIZATION: the asset body (queries, math, staging)
            "compute_s": round(compute or 0.0, 3),
            # first -> last ASSET_MATERIALIZATION: Dagster writing one event per partition
            "emit_events_s": round(emit, 3),
            "after_last_mat_s": round(after, 3),
            "materializations": step["materializations"],
        })

    out: dict[str, Any] = {
        "run_id": run_id,
        "events": sum(counts.values()),
        "log_messages": log_messages,
        "event_counts": dict(counts),
        "materialization_event_bytes": mat_bytes,
        "steps": step_rows,
        "steps_total_s": round(sum(s["duration_s"] for s in step_rows), 3),
    }
    if run_start is not None and run_end is not None:
        out["run_span_s"] = round(run_end - run_start, 3)  # RUN_START -> RUN_SUCCESS
        out["between_steps_s"] = round(out["run_span_s"] - out["steps_total_s"], 3)
    if call_start_ts is not None and run_start is not None:
        out["before_run_start_s"] = round(run_start - call_start_ts, 3)
        if first_ts is not None:
            out["planned_events_s"] = round(run_start - first_ts, 3)
    if call_end_ts is not None and run_end is not None:
        out["after_run_end_s"] = round(call_end_ts - run_end, 3)
    return out
