"""Shared benchmark plumbing: the temporary workspace, percentiles, sizes, progress output."""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from intel_assets.devtools.http_stub import free_port  # a free 127.0.0.1 port, one definition
from intel_assets.devtools.sample_keys import SAMPLE_ALPACA_KEYS

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent

#: Seed end: Friday 2024-03-08 16:00 New York (21:00 UTC), so one session = 390 full bars.
SEED_END = "2024-03-08T21:00:00+00:00"


def log(msg: str) -> None:
    """Progress goes to stderr; stdout carries only the figures table and the JSON line."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


#: Proxy for every non-loopback HTTP(S) request made through requests/httpx/urllib in the
#: benchmark and its children: a closed loopback port, so such a request fails at once and
#: nothing leaves 127.0.0.1 (e.g. a data source whose default URL is a live API).
DEAD_PROXY = "http://127.0.0.1:9"
LOOPBACK = "127.0.0.1,localhost,::1"


#: Dagster settings read from the environment that change what P1 measures: set by the
#: benchmark (--dagster-storage, --event-batch-size, --planned-partition-subset), never
#: inherited from the shell.
DAGSTER_ENV = ("DAGSTER_HOME", "DAGSTER_EVENT_BATCH_SIZE", "DAGSTER_EMIT_PLANNED_EVENTS_INDIVIDUALLY",
               "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS")


def isolate_environment() -> None:
    """UTC for chdb; no INTEL_*/ALPACA_*/DAGSTER_HOME from the caller's shell leaking into the
    settings (nor any live-API credentials into a run); non-loopback HTTP goes nowhere."""
    for key in [k for k in os.environ
                if k.startswith(("INTEL_", "ALPACA_", "APCA_", "DAGSTER_PG_")) or k in DAGSTER_ENV]:
        del os.environ[key]
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        os.environ[key] = os.environ[key.lower()] = DEAD_PROXY
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = LOOPBACK
    os.environ["TZ"] = "UTC"
    if hasattr(time, "tzset"):
        time.tzset()


@dataclass
class Workspace:
    """A throwaway INTEL_HOME (chdb data, SQLite bundle store) and DAGSTER_HOME."""

    root: Path
    symbols: list[str]
    as_of: datetime | None = None  # replay clock once seeded (newest synthetic bar end)
    seeded: bool = False
    refreshed: bool = False  # the whole universe has been materialized and published once
    extra_env: dict[str, str] = field(default_factory=dict)  # also set in os.environ
    #: Dagster storage: "embedded" (the embedded default: PostgreSQL cluster under INTEL_HOME,
    #: bundle store on it too), "sqlite" (INTEL_EMBEDDED_POSTGRES=false: SQLite files for both)
    #: or "postgres" (deploy/dagster.yaml on a throwaway server; bundle store on it too)
    storage: str = "embedded"
    pg: Any = None  # the throwaway cluster (intel_assets.devtools.pg_cluster.PgCluster) on "postgres"
    pg_db: str = "dagster"
    store_dsn: str | None = None  # INTEL_BUNDLE_STORE_DSN (None = the embedded default)
    dagster_dir: str = "dagster"

    @property
    def home(self) -> Path:
        return self.root / "intel"

    @property
    def dagster_home(self) -> Path:
        return self.root / self.dagster_dir

    @property
    def embedded_postgres(self) -> bool:
        return self.storage != "sqlite"

    def settings(self):
        from intel_assets.settings import load_settings

        return load_settings(
            home=self.home,
            universe=list(self.symbols),
            synthetic_days=1,
            as_of=(self.as_of.isoformat() if self.as_of else SEED_END),
            clickhouse_url=None,
            bundle_store_dsn=self.store_dsn,
            embedded_postgres=self.embedded_postgres,
        )

    def child_env(self) -> dict[str, str]:
        """The environment a run worker / server process gets: same homes, universe, clock."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTEL_")}
        env.update({
            "TZ": "UTC",
            "DAGSTER_HOME": str(self.dagster_home),
            "INTEL_HOME": str(self.home),
            "INTEL_UNIVERSE": ",".join(self.symbols),
            "INTEL_SYNTHETIC_DAYS": "1",
            "INTEL_AS_OF": (self.as_of.isoformat() if self.as_of else SEED_END),
            "INTEL_EMBEDDED_POSTGRES": "true" if self.embedded_postgres else "false",
            **({"INTEL_BUNDLE_STORE_DSN": self.store_dsn} if self.store_dsn else {}),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        })
        env.update(self.extra_env)
        return env

    def set_env(self, **values: str) -> None:
        """Environment for this process and every child (run workers, the server)."""
        self.extra_env.update(values)
        os.environ.update(values)

    def _pg_admin(self):
        """A connection to the `postgres` database of the cluster holding Dagster's storage."""
        import psycopg2

        if self.storage == "postgres":
            return psycopg2.connect(host="127.0.0.1", port=self.pg.port, user="postgres",
                                    dbname="postgres")
        from intel_assets.stores.local_postgres import database_url

        return psycopg2.connect(database_url(self.home, "postgres"))

    def dagster_storage_bytes(self) -> int:
        """Bytes of Dagster storage: files under DAGSTER_HOME, plus the PostgreSQL database."""
        size = dir_bytes(self.dagster_home)
        if self.storage != "sqlite":
            conn = self._pg_admin()
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_database_size(%s)", (self.pg_db,))
                    size += int(cur.fetchone()[0])
            finally:
                conn.close()
        return size

    def pg_stats(self) -> dict[str, int] | None:
        """Cumulative pg_stat_database counters of the Dagster database (None on SQLite)."""
        if self.storage == "sqlite":
            return None
        conn = self._pg_admin()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT xact_commit, sessions, tup_inserted, tup_updated "
                            "FROM pg_stat_database WHERE datname = %s", (self.pg_db,))
                row = cur.fetchone()
        finally:
            conn.close()
        return dict(zip(("commits", "sessions", "rows_inserted", "rows_updated"), map(int, row)))


def use_postgres_storage(ws: Workspace, planned_partition_subset: bool = True) -> dict[str, Any]:
    """Dagster storage and the bundle store on a throwaway PostgreSQL server, configured like
    production.

    Starts the cluster (benchmarks/pg_cluster.py: intel_assets.devtools.pg_cluster with
    durable=True, fsync on), creates the databases `dagster` and `intel` (the bundle store),
    copies deploy/dagster.yaml VERBATIM into its own DAGSTER_HOME (`dagster-postgres/`; with
    planned_partition_subset False, that one setting turned off) and sets the DAGSTER_PG_*
    variables it reads, for this process and every child.
    Trust authentication without TLS over loopback: each new connection is cheaper than with
    production's scram + TLS, so per-connection costs are a lower bound.
    """
    from benchmarks import pg_cluster

    t0 = time.perf_counter()
    cluster = pg_cluster.start(parent=ws.root.parent)  # same file system as DAGSTER_HOME
    ws.pg = cluster
    ws.storage = "postgres"
    ws.dagster_dir = "dagster-postgres"
    ws.dagster_home.mkdir(parents=True, exist_ok=True)
    cluster.create_database(ws.pg_db)
    ws.store_dsn = cluster.create_database("intel")
    text = (ROOT / "deploy" / "dagster.yaml").read_text()
    if not planned_partition_subset:
        assert "planned_partition_subset: true" in text
        text = text.replace("planned_partition_subset: true", "planned_partition_subset: false")
    (ws.dagster_home / "dagster.yaml").write_text(text)
    ws.set_env(DAGSTER_HOME=str(ws.dagster_home), INTEL_BUNDLE_STORE_DSN=ws.store_dsn,
               DAGSTER_PG_USERNAME="postgres", DAGSTER_PG_PASSWORD="unused-trust-auth",
               DAGSTER_PG_HOST="127.0.0.1", DAGSTER_PG_PORT=str(cluster.port),
               DAGSTER_PG_DB=ws.pg_db)
    info: dict[str, Any] = {"start_s": round(time.perf_counter() - t0, 3),
                            "folder": str(cluster.folder), "dagster_yaml": "deploy/dagster.yaml",
                            "settings": pg_cluster.settings(cluster)}
    info.update(pg_cluster.connect_cost_ms(cluster))
    return info


def make_workspace(n_symbols: int, storage: str = "embedded",
                   planned_partition_subset: bool = True) -> Workspace:
    """A workspace whose DAGSTER_HOME holds the dagster.yaml `intel-assets` writes: the embedded
    default (PostgreSQL cluster under INTEL_HOME), or with storage "sqlite" the SQLite one."""
    root = Path(tempfile.mkdtemp(prefix="intel-bench-"))
    ws = Workspace(root=root, symbols=[f"SYN{i:03d}" for i in range(n_symbols)], storage=storage)
    ws.dagster_home.mkdir(parents=True)
    os.environ["DAGSTER_HOME"] = str(ws.dagster_home)
    from intel_assets.cli.dagster_home import prepare_dagster_home

    prepare_dagster_home(ws.settings())  # writes dagster.yaml (queued coordinator, no telemetry)
    if not planned_partition_subset and storage == "embedded":
        path = ws.dagster_home / "dagster.yaml"
        path.write_text(path.read_text().replace("planned_partition_subset: true",
                                                 "planned_partition_subset: false"))
    return ws


class ChildServer:
    """A server in a subprocess the benchmark started (``proc``, logging to ``_log``): its CPU
    from /proc, and stopped by its own pid: SIGINT, then SIGKILL if it is still up after 10 s."""

    proc: Any
    _log: IO[str]

    def cpu_seconds(self) -> float | None:
        return proc_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # still running: kill our own child
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


class NewsServer(ChildServer):
    """The packaged sample Alpaca-compatible news server (intel_assets.devtools.alpaca_server)
    in a subprocess on 127.0.0.1, wired like `make demo` wires it: INTEL_ALPACA_DATA_URL plus
    sample keys. Started by us, stopped by its own pid."""

    def __init__(self, ws: Workspace) -> None:
        import socket
        import subprocess

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(ws.root / "news-server.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "intel_assets.devtools.alpaca_server", "--port", str(self.port),
             "--as-of", (ws.as_of.isoformat() if ws.as_of else SEED_END)],
            env=ws.child_env(), cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"news server exited with {self.proc.returncode}: "
                                   f"{(ws.root / 'news-server.log').read_text()[-800:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"news server not listening on {self.url} after 20 s")
                time.sleep(0.05)
        ws.set_env(INTEL_ALPACA_DATA_URL=self.url, **SAMPLE_ALPACA_KEYS)

    @staticmethod
    def available() -> bool:
        import importlib.util

        try:
            return importlib.util.find_spec("intel_assets.devtools.alpaca_server") is not None
        except ModuleNotFoundError:
            return False

def remove_workspace(ws: Workspace, keep: bool = False) -> None:
    """Stop the PostgreSQL cluster if any (its folder kept with `keep`), delete the homes
    unless `keep`."""
    if ws.pg is not None:
        from benchmarks import pg_cluster

        pg_cluster.stop(ws.pg, keep=keep)
    from intel_assets.stores.local_postgres import Cluster, release

    release(ws.home)  # the embedded cluster (if any): stopped now, not at its idle timeout
    embedded = Cluster(ws.home)
    if embedded.server_pid() is not None:
        embedded.stop()
    if not keep:
        shutil.rmtree(ws.root, ignore_errors=True)


def dir_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, name))
            except OSError:
                pass
    return total


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean in milliseconds, plus the sample count."""
    values = sorted(seconds)
    if not values:
        return {"n": 0}
    ms = lambda v: round(v * 1000.0, 3)  # noqa: E731
    return {
        "n": len(values),
        "p50_ms": ms(percentile(values, 50)),
        "p95_ms": ms(percentile(values, 95)),
        "p99_ms": ms(percentile(values, 99)),
        "max_ms": ms(values[-1]),
        "mean_ms": ms(sum(values) / len(values)),
    }


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def median(values: list[float]) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def proc_cpu_seconds(pid: int) -> float | None:
    """user+system CPU seconds of a (child) process, all threads, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None
