"""One run for one partition in a fresh Python process, as a daemon-launched run worker would:
import the code location (intel_assets.definitions builds Definitions from INTEL_* settings),
open the instance from DAGSTER_HOME, execute the refresh job for the partition in process.

Usage (from benchmarks/p1_refresh.py): python benchmarks/p1_partition_worker.py SYMBOL
Prints one JSON line with timings; exit status 0 when the run succeeded.
"""

import time

T_START = time.time()  # first thing: the parent subtracts its launch time to get startup cost
_P0 = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402


def main() -> int:
    symbol = sys.argv[1]
    from dagster import DagsterInstance

    from intel_assets.jobs import REFRESH_JOB
    from intel_assets.definitions import defs

    job = defs().resolve_job_def(REFRESH_JOB)
    p1 = time.perf_counter()
    with DagsterInstance.get() as instance:
        p2 = time.perf_counter()
        call_start = time.time()
        c0 = time.process_time()
        result = job.execute_in_process(
            instance=instance,
            partition_key=symbol,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            raise_on_error=False,
        )
        exec_cpu = time.process_time() - c0
        call_end = time.time()
        p3 = time.perf_counter()
    p4 = time.perf_counter()
    print(json.dumps({
        "symbol": symbol,
        "success": bool(result.success),
        "run_id": result.run_id,
        "t_start": T_START,
        "import_defs_s": p1 - _P0,      # import dagster + intel_assets, build Definitions
        "instance_s": p2 - p1,          # DagsterInstance.get() (SQLite storage)
        "execute_s": p3 - p2,           # execute_in_process for the one partition
        "instance_close_s": p4 - p3,
        "execute_cpu_s": exec_cpu,
        "call_start_ts": call_start,
        "call_end_ts": call_end,
        "t_end": time.time(),
    }), flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
