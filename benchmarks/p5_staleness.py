"""P5 - end-to-end staleness with a live clock: how old is the technicals context Torghut is
served while new minute bars keep landing in ClickHouse?

Set-up (as `make ui` runs, on a throwaway INTEL_HOME): a synthetic market of N symbols (one
session) is seeded into the embedded chdb; `intel-assets ui` starts the Dagster webserver, the
daemon (sensors on: live clock), the sample news/EDGAR servers and the serving API, on the
embedded default storage; `benchmarks/p5_feed.py` appends, at every wall-clock minute boundary,
the minute bar that just closed for every symbol (and its quote). After a warm-up (the first
refresh has published every symbol and a first fed bar has been served), a sampler asks the
serving API for a random symbol's technicals once a second for the measured minutes.

Two ages per sample (time t, served technicals ``asOf`` = its newest bar's end):

* **lag behind the feed** (the figure the target is about): 0 when the served block already
  holds the newest bar landed by t; else t minus the landing time of the first bar the served
  block lacks: how long the context served has been behind the data in ClickHouse.
* **freshnessSeconds** as served (t - asOf): lag plus the age of the newest bar itself, which
  with minute bars is 0-60 s however fast the pipeline is (p95 >= ~57 s by construction).

Run timings come from Dagster's run records of ``refresh_technicals`` in the window: queue wait
(created -> started: the sensor tick is before creation), run length (started -> ended), and the
spacing between runs. Prints figures, never asserts.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.common import BENCH_DIR, ROOT, free_port, log, percentile

TARGET_P95_S = 30.0


def _get(url: str, timeout: float = 5.0) -> tuple[int, dict | None]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    try:
        with opener.open(url, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return 0, None


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _summary(values: list[float]) -> dict[str, float | int]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    return {"n": len(ordered), "p50_s": round(percentile(ordered, 50), 2),
            "p95_s": round(percentile(ordered, 95), 2), "max_s": round(ordered[-1], 2),
            "mean_s": round(sum(ordered) / len(ordered), 2)}


def lag_behind_feed(t: float, served_as_of: float, landings: list[tuple[float, float]]) -> float:
    """Seconds the served block has been behind the newest bar landed by t (0 = current).
    ``landings``: (bar_end, landed) ascending."""
    missing = [landed for bar_end, landed in landings if landed <= t and bar_end > served_as_of]
    return max(0.0, t - min(missing)) if missing else 0.0


def run_p5(symbols: int, minutes: float, env_overrides: dict[str, str], keep: bool = False
           ) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="intel-bench-p5-"))
    home = root / "intel"
    universe = [f"SYN{i:03d}" for i in range(symbols)]
    serve_port, ui_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTEL_", "DAGSTER_"))}
    env.update({"TZ": "UTC", "INTEL_HOME": str(home), "INTEL_UNIVERSE": ",".join(universe),
                "INTEL_MARKET_SOURCE": "synthetic", "INTEL_SYNTHETIC_DAYS": "1",
                "INTEL_SERVE_PORT": str(serve_port),
                # P5 measures the pipeline, not the session: on XNYS the loop idles outside the
                # regular session (as it should), so at night nothing would be refreshed at all
                "INTEL_MARKET_CALENDAR": "24/7",
                # and the live clock, not the replay clock `ui` takes from the seeded market
                "INTEL_AS_OF": "live",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))})
    env.update(env_overrides)
    figures: dict[str, Any] = {"symbols": symbols, "minutes": minutes, "settings": env_overrides,
                               "target_p95_s": TARGET_P95_S}
    ui = feed = None
    ui_log = open(root / "ui.log", "w")
    feed_log = root / "feed.jsonl"
    try:
        t0 = time.perf_counter()
        seeded = subprocess.run([sys.executable, "-m", "intel_assets.cli", "seed", "--synthetic"],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        if seeded.returncode != 0:
            raise RuntimeError(f"seed failed: {seeded.stderr[-1000:]}")
        figures["seed_s"] = round(time.perf_counter() - t0, 1)
        log(f"P5: seeded {symbols} symbols in {figures['seed_s']} s; starting `intel-assets ui` "
            f"(serving on 127.0.0.1:{serve_port})")
        ui = subprocess.Popen([sys.executable, "-m", "intel_assets.cli", "ui", "--port",
                               str(ui_port)], cwd=ROOT, env=env, stdout=ui_log,
                              stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{serve_port}/api/torghut/market-context"
        started = time.monotonic()
        while _get(f"{base}/technicals?symbol={universe[-1]}")[0] != 200:
            if ui.poll() is not None:
                raise RuntimeError(f"intel-assets ui exited {ui.returncode}: "
                                   f"{(root / 'ui.log').read_text()[-1500:]}")
            if time.monotonic() - started > 600:
                raise RuntimeError("no technicals served 10 minutes after start")
            time.sleep(1.0)
        figures["first_publish_s"] = round(time.monotonic() - started, 1)
        log(f"P5: first bundles served after {figures['first_publish_s']} s; starting the feed")
        from intel_assets.settings import load_settings

        settings = load_settings(home=home)
        feed = subprocess.Popen([sys.executable, str(BENCH_DIR / "p5_feed.py"),
                                 settings.clickhouse_dsn, settings.clickhouse_database,
                                 ",".join(universe), str(feed_log)],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=open(root / "feed.err", "w"))
        # Warm-up: until a fed bar has been served once (the pipeline is in its steady state).
        started = time.monotonic()
        while True:
            landed = _landings(feed_log)
            status, body = _get(f"{base}/technicals?symbol={random.choice(universe)}")
            if landed and body and _epoch(body["output"]["as_of_utc"]) >= landed[0][0]:
                break
            if time.monotonic() - started > 300:
                raise RuntimeError("no fed bar served within 5 minutes of the first landing")
            time.sleep(1.0)
        figures["warmup_s"] = round(time.monotonic() - started, 1)
        log(f"P5: warm-up done after {figures['warmup_s']} s; measuring {minutes:g} minutes")
        samples: list[tuple[float, float, float]] = []  # (t, asOf, freshnessSeconds)
        statuses: dict[str, int] = {}
        window_start = time.time()
        end = time.monotonic() + minutes * 60
        while time.monotonic() < end:
            tick = time.monotonic()
            status, body = _get(f"{base}/technicals?symbol={random.choice(universe)}")
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == 200 and body:
                out = body["output"]
                samples.append((time.time(), _epoch(out["as_of_utc"]),
                                float(out["freshness_seconds"])))
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        window_end = time.time()
        landings = _landings(feed_log)
        lags = [lag_behind_feed(t, as_of, landings) for t, as_of, _ in samples]
        figures.update({
            "samples": len(samples), "statuses": statuses,
            "lag_behind_feed": _summary(lags),
            "served_freshness": _summary([f for _, _, f in samples]),
            "feed": {"bars_landed": len(landings),
                     "write_s": _summary([w for w in _write_times(feed_log)])},
            "runs": _run_stats(home, window_start, window_end),
        })
        lag = figures["lag_behind_feed"]
        figures["target_met"] = bool(lag.get("n")) and lag["p95_s"] <= TARGET_P95_S
        log(f"P5: lag behind feed p50 {lag.get('p50_s')} s, p95 {lag.get('p95_s')} s, "
            f"max {lag.get('max_s')} s")
    finally:
        if feed is not None and feed.poll() is None:
            feed.send_signal(signal.SIGTERM)
            try:
                feed.wait(timeout=60)
            except subprocess.TimeoutExpired:
                feed.kill()
                feed.wait()
        if ui is not None and ui.poll() is None:
            try:
                os.killpg(ui.pid, signal.SIGINT)  # ui stops its children (its Ctrl-C path)
                ui.wait(timeout=90)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(ui.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                ui.wait()
        ui_log.close()
        from intel_assets.stores.local_postgres import Cluster, release

        release(home)
        cluster = Cluster(home)
        if cluster.server_pid() is not None:
            cluster.stop()
        if keep:
            log(f"P5: kept {root}")
        else:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
    return figures


def _landings(path: Path) -> list[tuple[float, float]]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted((r["bar_end"], r["landed"]) for r in rows)


def _write_times(path: Path) -> list[float]:
    return [json.loads(line)["write_s"] for line in path.read_text().splitlines() if line.strip()]


def _run_stats(home: Path, start: float, end: float) -> dict[str, Any]:
    """refresh_technicals runs created in the window, from Dagster's run records."""
    from dagster import DagsterInstance, RunsFilter

    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        records = instance.get_run_records(RunsFilter(job_name="refresh_technicals"))
    runs = sorted((r for r in records if start <= r.create_timestamp.timestamp() <= end),
                  key=lambda r: r.create_timestamp)
    created = [r.create_timestamp.timestamp() for r in runs]
    waits = [r.start_time - r.create_timestamp.timestamp() for r in runs if r.start_time]
    lengths = [r.end_time - r.start_time for r in runs if r.start_time and r.end_time]
    status: dict[str, int] = {}
    for r in runs:
        status[r.dagster_run.status.value] = status.get(r.dagster_run.status.value, 0) + 1
    return {"count": len(runs), "statuses": status,
            "created_to_started": _summary(waits), "started_to_ended": _summary(lengths),
            "between_creations": _summary([b - a for a, b in zip(created, created[1:])])}
