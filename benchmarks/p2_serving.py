"""P2 - serving: the HTTP API under a bounded closed-loop load, the 304 path, and the same
lookup through Dagster's event log and through the bundle store in process (the floor).

The server runs in its own process (benchmarks/p2_server.py, uvicorn on 127.0.0.1, a free
port); the load generator is this process: K threads, each with one keep-alive
http.client connection, GET /api/torghut/market-context?symbol=<random symbol>.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

from benchmarks.common import (
    BENCH_DIR,
    ROOT,
    ChildServer,
    Workspace,
    free_port,
    latency_summary,
    log,
)

PATH = "/api/torghut/market-context"
TARGET_P99_MS = 5.0


class Server(ChildServer):
    """The serving app in a subprocess we started; stopped by its own pid only."""

    def __init__(self, ws: Workspace) -> None:
        self.port = free_port()
        self.log_path = ws.root / "server.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "p2_server.py"), "--port", str(self.port),
             "--dsn", ws.settings().store_dsn],
            env=ws.child_env(), cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.started_s = self._wait_ready(30.0)

    def _wait_ready(self, timeout_s: float) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: "
                                   f"{self.log_path.read_text()[-1000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return time.perf_counter() - t0
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server not ready on port {self.port} after {timeout_s:.0f} s")


def _get(port: int, symbol: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", f"{PATH}?symbol={symbol}", headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def load_phase(server: Server, symbols: list[str], requests: int, concurrency: int,
               max_seconds: float, etags: dict[str, str] | None = None,
               expect: int = 200, seed: int = 1) -> dict[str, Any]:
    """`requests` GETs (or fewer if max_seconds passes first) from `concurrency` workers."""
    counter = itertools.count()
    lat: list[list[float]] = [[] for _ in range(concurrency)]
    app_us: list[list[int]] = [[] for _ in range(concurrency)]
    statuses: list[Counter] = [Counter() for _ in range(concurrency)]
    errors: list[int] = [0] * concurrency
    barrier = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def worker(idx: int) -> None:
        rng = random.Random(seed * 1000 + idx)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.connect()
        mine, mine_app, mine_status = lat[idx], app_us[idx], statuses[idx]
        barrier.wait()
        deadline = stop_at[0]
        perf = time.perf_counter
        while next(counter) < requests and perf() < deadline:
            symbol = rng.choice(symbols)
            headers = {"If-None-Match": f'"{etags[symbol]}"'} if etags else {}
            t0 = perf()
            try:
                conn.request("GET", f"{PATH}?symbol={symbol}", headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException):
                errors[idx] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                continue
            mine.append(perf() - t0)
            mine_status[resp.status] += 1
            header = resp.getheader("x-bench-app-us")
            if header is not None:
                mine_app.append(int(header))
            if resp.status == 200 and not body:
                errors[idx] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    cpu_server0, cpu_client0 = server.cpu_seconds(), time.process_time()
    stop_at[0] = time.perf_counter() + max_seconds
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    cpu_server1, cpu_client1 = server.cpu_seconds(), time.process_time()

    all_lat = [v for chunk in lat for v in chunk]
    all_app = sorted(v for chunk in app_us for v in chunk)
    status_counts: Counter = Counter()
    for c in statuses:
        status_counts.update(c)
    done = len(all_lat)
    out: dict[str, Any] = {
        "concurrency": concurrency,
        "requested": requests,
        "completed": done,
        "stopped_by_time_cap": done < requests,
        "elapsed_s": round(elapsed, 3),
        "req_per_s": round(done / elapsed, 1) if elapsed > 0 else None,
        "statuses": {str(k): v for k, v in sorted(status_counts.items())},
        "unexpected": sum(v for k, v in status_counts.items() if k != expect) + sum(errors),
        **latency_summary(all_lat),
    }
    if all_app:
        from benchmarks.common import percentile

        out["app_p50_ms"] = round(percentile(all_app, 50) / 1000.0, 3)
        out["app_p99_ms"] = round(percentile(all_app, 99) / 1000.0, 3)
    if cpu_server0 is not None and cpu_server1 is not None and done:
        out["server_cpu_ms_per_req"] = round((cpu_server1 - cpu_server0) / done * 1000.0, 3)
    if done:
        out["client_cpu_ms_per_req"] = round((cpu_client1 - cpu_client0) / done * 1000.0, 3)
    return out


def dagster_lookups(ws: Workspace, count: int, seed: int = 3) -> dict[str, Any]:
    """Latest materialization of market_context_bundle[symbol] from the event log + metadata."""
    from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

    rng = random.Random(seed)
    key = AssetKey("market_context_bundle")
    samples: list[float] = []
    metadata_chars = 0
    with DagsterInstance.get() as instance:
        def lookup(symbol: str) -> int:
            result = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=key, asset_partitions=[symbol]), limit=1)
            if not result.records:
                raise RuntimeError(f"no materialization of {key.to_user_string()}[{symbol}]")
            metadata = result.records[0].asset_materialization.metadata
            return sum(len(str(v.value)) for v in metadata.values())

        for symbol in rng.sample(ws.symbols, min(10, len(ws.symbols))):  # warm-up
            lookup(symbol)
        for _ in range(count):
            symbol = rng.choice(ws.symbols)
            t0 = time.perf_counter()
            metadata_chars = lookup(symbol)
            samples.append(time.perf_counter() - t0)
    return {**latency_summary(samples), "metadata_chars_per_event": metadata_chars,
            "asset": "market_context_bundle"}


def store_lookups(ws: Workspace, count: int, seed: int = 4) -> dict[str, Any]:
    """BundleStore.latest(symbol) in process: the floor under the HTTP path."""
    from intel_assets.stores.bundle_store import BundleStore

    rng = random.Random(seed)
    samples: list[float] = []
    store = BundleStore.from_dsn(ws.settings().store_dsn)
    try:
        for symbol in ws.symbols[:50]:  # warm-up: connection, page cache
            store.latest(symbol)
        for _ in range(count):
            symbol = rng.choice(ws.symbols)
            t0 = time.perf_counter()
            stored = store.latest(symbol)
            samples.append(time.perf_counter() - t0)
            if stored is None:
                raise RuntimeError(f"no published bundle for {symbol}")
    finally:
        store.close()
    return latency_summary(samples)


def run_p2(ws: Workspace, requests: int, concurrency: int, max_seconds: float,
           seq_requests: int, nm_requests: int, dagster_count: int,
           store_count: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    log("P2: starting the serving API (uvicorn subprocess on 127.0.0.1)")
    server = Server(ws)
    try:
        figures["server_start_s"] = round(server.started_s, 3)
        status, headers, body = _get(server.port, ws.symbols[0])
        wire = json.loads(body).get("context", {}) if status == 200 else {}
        figures["sanity"] = {"status": status, "symbol": wire.get("symbol"),
                             "body_bytes": len(body), "etag": headers.get("etag")}
        log("P2: warm-up (200 requests)")
        load_phase(server, ws.symbols, 200, 1, 10.0, seed=9)
        log(f"P2: sequential, 1 worker, {seq_requests} requests")
        figures["sequential"] = load_phase(server, ws.symbols, seq_requests, 1,
                                           min(max_seconds, 30.0), seed=1)
        log(f"P2: concurrent, {concurrency} workers, {requests} requests (cap {max_seconds:.0f} s)")
        figures["concurrent"] = load_phase(server, ws.symbols, requests, concurrency,
                                           max_seconds, seed=2)
        log("P2: collecting ETags for the 304 path")
        etags: dict[str, str] = {}
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for symbol in ws.symbols:
            conn.request("GET", f"{PATH}?symbol={symbol}")
            resp = conn.getresponse()
            resp.read()
            etags[symbol] = (resp.getheader("etag") or "").strip('"')
        conn.close()
        log(f"P2: If-None-Match (304), 1 worker, {nm_requests} requests")
        figures["not_modified"] = load_phase(server, ws.symbols, nm_requests, 1,
                                             min(max_seconds, 30.0), etags=etags, expect=304, seed=3)
    finally:
        server.stop()
    log(f"P2: {dagster_count} lookups through Dagster's event log")
    figures["dagster_event_log"] = dagster_lookups(ws, dagster_count)
    log(f"P2: {store_count} BundleStore.latest() lookups in process")
    figures["store_latest_in_process"] = store_lookups(ws, store_count)
    conc = figures["concurrent"]
    figures["target_p99_ms"] = TARGET_P99_MS
    figures["target_met"] = bool(conc.get("p99_ms", float("inf")) <= TARGET_P99_MS
                                 and conc["unexpected"] == 0)
    figures["target_met_sequential"] = bool(
        figures["sequential"].get("p99_ms", float("inf")) <= TARGET_P99_MS)
    return figures
