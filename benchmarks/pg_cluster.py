"""The benchmarks' throwaway PostgreSQL cluster (Dagster storage on PostgreSQL).

Starting and stopping is `intel_assets.devtools.pg_cluster` (the module the tests and
`intel-assets parity` use), called with `durable=True`: `fsync`, `synchronous_commit` and
`full_page_writes` stay at PostgreSQL's defaults (on). The tests turn all three off for
speed; a storage benchmark must not, or it measures a database that does not persist its
commits. The server listens on 127.0.0.1 only (plus a Unix socket in its folder), trust
authentication, no TLS; as root it runs as the `postgres` OS user.

What is left here is benchmark-only: the settings readout, database size, the
connection-cost probe, the server version, and stopping while keeping the folder.
Failures to start raise `PostgresUnavailableError` / `PostgresStartError` (RuntimeErrors).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from intel_assets.devtools.pg_cluster import PgCluster, start_pg_cluster

__all__ = ["PgCluster", "connect_cost_ms", "database_bytes", "settings", "start", "stop", "version"]

SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "wal_level", "shared_buffers",
            "server_version")


def start(parent: Path | None = None, extra_conf: dict[str, str] | None = None) -> PgCluster:
    """A durable cluster in a new folder `intel-bench-pg-*` under `parent` (default: the temp
    dir). Stop it with `stop(cluster, keep=...)`."""
    folder = Path(tempfile.mkdtemp(prefix="intel-bench-pg-", dir=parent))
    return start_pg_cluster(tmp=folder, extra_conf=extra_conf, durable=True)


def stop(cluster: PgCluster, keep: bool = False) -> None:
    """Stop the server; delete its folder unless `keep`."""
    cluster.stop(remove=not keep)


def _connect(cluster: PgCluster, db: str = "postgres"):
    import psycopg2

    return psycopg2.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname=db)


def version(cluster: PgCluster) -> str:
    out = subprocess.run([str(cluster.bindir / "postgres"), "--version"], capture_output=True, text=True)
    return out.stdout.strip()


def settings(cluster: PgCluster, names: tuple[str, ...] = SETTINGS) -> dict[str, str]:
    """pg_settings values (with their unit) of `names`."""
    conn = _connect(cluster)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)", (list(names),))
            return {n: f"{s}{(' x ' + u) if u else ''}" for n, s, u in cur.fetchall()}
    finally:
        conn.close()


def database_bytes(cluster: PgCluster, name: str) -> int:
    conn = _connect(cluster)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_database_size(%s)", (name,))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def connect_cost_ms(cluster: PgCluster, db: str = "postgres", n: int = 50) -> dict[str, float]:
    """Mean cost of a NEW connection (connect + SELECT 1 + close) and of one committed INSERT
    on a warm connection: dagster-postgres opens a connection per storage call (NullPool)."""
    t0 = time.perf_counter()
    for _ in range(n):
        conn = _connect(cluster, db)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        conn.close()
    connect_ms = (time.perf_counter() - t0) / n * 1000.0
    conn = _connect(cluster, db)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS bench_commit_wal (id serial primary key, v text)")
        conn.commit()
        t1 = time.perf_counter()
        for _ in range(n):
            with conn.cursor() as cur:
                cur.execute("INSERT INTO bench_commit_wal (v) VALUES ('x')")
            conn.commit()
        wal_commit_ms = (time.perf_counter() - t1) / n * 1000.0
        with conn.cursor() as cur:
            cur.execute("DROP TABLE bench_commit_wal")
        conn.commit()
    finally:
        conn.close()
    return {"new_connection_ms": round(connect_ms, 3),
            "durable_insert_commit_ms": round(wal_commit_ms, 3)}
