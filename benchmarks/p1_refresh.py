"""P1 - refresh cost: the whole universe in ONE Dagster run vs one run per partition.

(a) single run: execute_in_process of the refresh job with the partition-range tags on a
    persistent DagsterInstance (SQLite storage in a temp DAGSTER_HOME, or PostgreSQL storage
    on a throwaway cluster with --dagster-storage postgres); wall, process CPU,
    per-step durations and the event-log breakdown.
(b) one run per partition, each in a NEW Python process (benchmarks/p1_partition_worker.py:
    import the code location, open the instance, execute one partition), sequential because
    chdb admits one process per data path; plus the same per-partition run in process.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

from benchmarks.common import BENCH_DIR, ROOT, Workspace, log, mean, median
from benchmarks.run_stats import run_event_stats

TARGET_SINGLE_RUN_S = 10.0
LOG_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _range_tags(first: str, last: str) -> dict[str, str]:
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def seed(ws: Workspace) -> dict[str, Any]:
    """Seed the synthetic market (1 session) into the embedded chdb; replay at its newest bar."""
    from intel_assets.cli.seed import seed as seed_market

    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # seed_market narrates on stdout
        newest = seed_market(ws.settings(), synthetic=True)
    ws.as_of = newest
    ws.seeded = True
    return {
        "symbols": len(ws.symbols),
        "bars_per_symbol": 390,
        "replay_as_of": newest.isoformat(),
        "seed_s": round(time.perf_counter() - started, 3),
    }


def _store_summary(ws: Workspace) -> dict[str, Any]:
    from intel_assets.contracts.bundle import MarketContextBundle
    from intel_assets.domain.context_health import universe_health
    from intel_assets.stores.bundle_store import BundleStore

    store = BundleStore.from_dsn(ws.settings().store_dsn)
    try:  # the states as published (not re-aged to the wall clock)
        health = universe_health([MarketContextBundle.model_validate_json(s.body)
                                  for s in store.latest_all()])
    finally:
        store.close()
    states = ("ok", "stale", "missing", "error")
    return {
        "published_symbols": health.symbols,
        "technicals_ok": health.domains["technicals"].ok,
        "domain_states": {d: {s: getattr(c, s) for s in states if getattr(c, s)}
                          for d, c in health.domains.items()},
    }


def single_run(ws: Workspace, instance: Any) -> dict[str, Any]:
    """The whole universe in one run (range tags); wall, CPU, event-log breakdown."""
    from intel_assets.jobs import REFRESH_JOB
    from intel_assets.definitions import build_definitions

    settings = ws.settings()
    t0 = time.perf_counter()
    job = build_definitions(settings).resolve_job_def(REFRESH_JOB)
    build_s = time.perf_counter() - t0
    size_before = ws.dagster_storage_bytes()
    pg_before = ws.pg_stats()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, wall0, call_start = time.process_time(), time.perf_counter(), time.time()
    result = job.execute_in_process(
        instance=instance,
        tags=_range_tags(ws.symbols[0], ws.symbols[-1]),
        run_config=LOG_CONFIG,
        raise_on_error=False,
    )
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    call_end = time.time()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    pg_delta = None
    if pg_before is not None:
        time.sleep(1.0)  # backends flush their statistics at exit or within 1 s (PostgreSQL 15)
        pg_after = ws.pg_stats()
        pg_delta = {k: pg_after[k] - pg_before[k] for k in pg_after}
    ws.refreshed = ws.refreshed or result.success
    figures: dict[str, Any] = {
        "success": bool(result.success),
        "partitions": len(ws.symbols),
        "build_definitions_s": round(build_s, 3),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "cpu_user_s": round(ru1.ru_utime - ru0.ru_utime, 3),
        "cpu_sys_s": round(ru1.ru_stime - ru0.ru_stime, 3),
        "peak_rss_mb": round(ru1.ru_maxrss / 1024.0, 1),  # whole process, Linux KiB
        "dagster_storage": ws.storage,
        "event_batch_size": int(os.environ.get("DAGSTER_EVENT_BATCH_SIZE") or 0),
        "dagster_storage_growth_mb": round((ws.dagster_storage_bytes() - size_before) / 1e6, 1),
        "per_symbol_ms": round(wall / len(ws.symbols) * 1000.0, 2),
    }
    figures.update(run_event_stats(instance, result.run_id, call_start, call_end))
    # each partition's event carries its own metadata (issue 13): the size of one event
    mats = figures.get("event_counts", {}).get("ASSET_MATERIALIZATION", 0)
    figures["materialization_event_bytes_each"] = (
        round(figures["materialization_event_bytes"] / mats) if mats else None)
    if pg_delta is not None:
        # PostgreSQL activity in the Dagster database during the call, from pg_stat_database
        # (the probes connect to the `postgres` database, so they are not counted).
        figures["pg_activity"] = pg_delta
    figures.update(_store_summary(ws))
    figures["target_wall_s"] = TARGET_SINGLE_RUN_S
    figures["target_met"] = bool(result.success and wall <= TARGET_SINGLE_RUN_S)
    return figures


def pick_partitions(symbols: list[str], count: int) -> list[str]:
    """`count` partitions spread evenly over the universe."""
    count = max(0, min(count, len(symbols)))
    return [symbols[i * len(symbols) // count] for i in range(count)] if count else []


def inprocess_partition_runs(ws: Workspace, instance: Any, symbols: list[str]) -> dict[str, Any]:
    """One run per partition inside this (warm) process: no process launch, no imports."""
    from intel_assets.jobs import REFRESH_JOB
    from intel_assets.definitions import build_definitions

    job = build_definitions(ws.settings()).resolve_job_def(REFRESH_JOB)
    walls, cpus, ok = [], [], 0
    for symbol in symbols:
        c0, w0 = time.process_time(), time.perf_counter()
        result = job.execute_in_process(instance=instance, partition_key=symbol,
                                        run_config=LOG_CONFIG, raise_on_error=False)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        ok += bool(result.success)
    n = len(ws.symbols)
    return {
        "runs": len(symbols),
        "succeeded": ok,
        "mean_s": round(mean(walls), 3),
        "median_s": round(median(walls), 3),
        "min_s": round(min(walls), 3) if walls else None,
        "max_s": round(max(walls), 3) if walls else None,
        "mean_cpu_s": round(mean(cpus), 3),
        f"extrapolated_{n}_runs_s": round(mean(walls) * n, 1),
    }


def subprocess_partition_runs(ws: Workspace, instance: Any, symbols: list[str],
                              timeout_s: float = 180.0) -> dict[str, Any]:
    """One run per partition, each in a new Python process, sequentially."""
    worker = str(BENCH_DIR / "p1_partition_worker.py")
    env = ws.child_env()
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    for i, symbol in enumerate(symbols, 1):
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        launch_ts, w0 = time.time(), time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, worker, symbol], env=env, cwd=ROOT,
                                  capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            failures.append(f"{symbol}: worker exceeded {timeout_s:.0f} s (killed)")
            continue
        wall = time.perf_counter() - w0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
        if line is None:
            failures.append(f"{symbol}: exit {proc.returncode}: {proc.stderr.strip()[-400:]}")
            continue
        child = json.loads(line)
        if not child["success"]:
            failures.append(f"{symbol}: run {child['run_id']} failed")
        row = {
            "symbol": symbol,
            "success": child["success"],
            "wall_s": wall,
            "cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
            "startup_s": child["t_start"] - launch_ts,      # interpreter start until our first line
            "import_defs_s": child["import_defs_s"],
            "instance_s": child["instance_s"],
            "execute_s": child["execute_s"],
            "exit_s": wall - (child["t_start"] - launch_ts) - (child["t_end"] - child["t_start"]),
            "run_id": child["run_id"],
            "call_start_ts": child["call_start_ts"],
            "call_end_ts": child["call_end_ts"],
        }
        rows.append(row)
        log(f"  partition run {i}/{len(symbols)} {symbol}: {wall:.2f} s "
            f"(execute {child['execute_s']:.2f} s)")
    walls = [r["wall_s"] for r in rows]
    n = len(ws.symbols)
    out: dict[str, Any] = {
        "runs": len(symbols),
        "succeeded": sum(1 for r in rows if r["success"]),
        "failures": failures,
        "mean_s": round(mean(walls), 3),
        "median_s": round(median(walls), 3),
        "min_s": round(min(walls), 3) if walls else None,
        "max_s": round(max(walls), 3) if walls else None,
        "mean_cpu_s": round(mean([r["cpu_s"] for r in rows]), 3),
        f"extrapolated_{n}_runs_s": round(mean(walls) * n, 1),
        f"extrapolated_{n}_runs_median_s": round(median(walls) * n, 1),
    }
    for key in ("startup_s", "import_defs_s", "instance_s", "execute_s", "exit_s"):
        out[f"mean_{key}"] = round(mean([r[key] for r in rows]), 3)
    # Within execute: the event-log breakdown, averaged over the runs.
    stats = [run_event_stats(instance, r["run_id"], r["call_start_ts"], r["call_end_ts"]) for r in rows]
    for key in ("before_run_start_s", "steps_total_s", "between_steps_s", "after_run_end_s", "events"):
        vals = [s[key] for s in stats if key in s]
        if vals:
            out[f"mean_{key}"] = round(mean(vals), 3)
    step_means: dict[str, list[float]] = {}
    for s in stats:
        for step in s["steps"]:
            step_means.setdefault(step["step"], []).append(step["duration_s"])
    out["mean_step_s"] = {k: round(mean(v), 3) for k, v in step_means.items()}
    return out


def run_p1(ws: Workspace, partition_runs: int, inprocess_runs: int) -> dict[str, Any]:
    """P1 on a seeded workspace (see seed())."""
    from dagster import DagsterInstance

    figures: dict[str, Any] = {}
    with DagsterInstance.get() as instance:
        log(f"P1(a): refreshing all {len(ws.symbols)} partitions in ONE run (execute_in_process)")
        figures["single_run"] = single_run(ws, instance)
        log(f"P1(a): {figures['single_run']['wall_s']:.2f} s wall, "
            f"success={figures['single_run']['success']}")
        if inprocess_runs > 0:
            inproc = pick_partitions(ws.symbols, inprocess_runs)
            log(f"P1(b'): {len(inproc)} one-partition runs in this process")
            figures["per_partition_in_process"] = inprocess_partition_runs(ws, instance, inproc)
        chosen = pick_partitions(ws.symbols, partition_runs)
        if chosen:
            log(f"P1(b): {len(chosen)} one-partition runs, each in a new Python process")
            figures["per_partition_subprocess"] = subprocess_partition_runs(ws, instance, chosen)
    return figures


def deploy_single_run(ws: Workspace, planned_partition_subset: bool = True
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    """P1 (a) on the PostgreSQL deploy config in the same seeded workspace (chdb admits one data
    path per process): deploy/dagster.yaml on a throwaway durable server, the bundle store on it
    too. The workspace is put back on its own storage afterwards (P2 reads that one)."""
    from dagster import DagsterInstance

    from benchmarks.common import use_postgres_storage

    saved = (ws.storage, ws.dagster_dir, ws.store_dsn, os.environ.get("DAGSTER_HOME"))
    info = use_postgres_storage(ws, planned_partition_subset)
    try:
        with DagsterInstance.get() as instance:
            figures = single_run(ws, instance)
    finally:
        ws.storage, ws.dagster_dir, ws.store_dsn, home = saved
        os.environ["DAGSTER_HOME"] = home or str(ws.dagster_home)
        ws.extra_env["DAGSTER_HOME"] = os.environ["DAGSTER_HOME"]
        for key in ("INTEL_BUNDLE_STORE_DSN",):
            os.environ.pop(key, None)
            ws.extra_env.pop(key, None)
    return figures, info
