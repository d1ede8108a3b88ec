"""Owns shared test fixtures: a throwaway PostgreSQL cluster, per-test store DSNs, bundle builders."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the package is used from the checkout, not installed
    sys.path.insert(0, str(ROOT))
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from helpers import make_bundle  # noqa: E402

PG_DSN_ENV = "INTEL_TEST_PG_DSN"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bindir() -> Path | None:
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(versions, key=lambda p: int(Path(p).parent.name)
                                             if Path(p).parent.name.isdigit() else 0, reverse=True)]
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    return next((c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()), None)


def _no_postgres(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must exercise PostgreSQL but {reason}; install PostgreSQL server "
                    f"binaries or set {PG_DSN_ENV}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason} (install postgresql or set {PG_DSN_ENV})")


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A DSN for an empty database: $INTEL_TEST_PG_DSN, or a throwaway local cluster."""
    if os.environ.get(PG_DSN_ENV):
        yield os.environ[PG_DSN_ENV]
        return
    bindir = _pg_bindir()
    if bindir is None:
        _no_postgres("no PostgreSQL server binaries (initdb, pg_ctl) were found")
    prefix: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="intel-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the postgres user
        try:
            pg_user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(tmp, ignore_errors=True)
            _no_postgres("running as root and there is no 'postgres' OS user to run the server")
        os.chown(tmp, pg_user.pw_uid, pg_user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log, port = tmp / "data", tmp / "server.log", _free_port()

    def run(*args: str) -> None:
        proc = subprocess.run([*prefix, *args], cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{' '.join(args[:2])} failed ({proc.returncode}): {proc.stdout}"
                        f"{proc.stderr}\n{server_log}", pytrace=False)

    run(str(bindir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres", "-E", "UTF8",
        "--no-sync")
    options = (f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off")
    run(str(bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data), "-l", str(log), "-o", options)
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE intel_test")
        conn.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/intel_test"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate"],
                       cwd=tmp, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def postgres_schema_dsn(postgres_dsn: str) -> Iterator[str]:
    """postgres_dsn scoped to a fresh schema (via search_path), dropped after the test."""
    import psycopg2

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(postgres_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
    joiner = "&" if "?" in postgres_dsn else "?"
    try:
        yield f"{postgres_dsn}{joiner}options=-csearch_path%3D{schema}"
    finally:
        with admin.cursor() as cur:  # stores are closed by now; never wait forever on a lock
            cur.execute("SET lock_timeout = '10s'")
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A DSN for an empty bundle store, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'bundles.sqlite3'}"
    return request.getfixturevalue("postgres_schema_dsn")


@pytest.fixture
def bundle_factory() -> Callable[..., object]:
    """tests.helpers.make_bundle(symbol, as_of, states=None) -> MarketContextBundle."""
    return make_bundle


# ---- shared data and the embedded ClickHouse engine --------------------------------------

SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def lean_dir() -> Path:
    """The LEAN sample data (INTEL_LEAN_DATA_DIR or ../shared/data/lean); skip when absent."""
    path = Path(os.environ.get("INTEL_LEAN_DATA_DIR") or SHARED_DATA / "lean")
    if not (path / "equity" / "usa" / "minute").is_dir():
        pytest.skip(f"shared LEAN data absent at {path}: set INTEL_LEAN_DATA_DIR to a LEAN Data folder")
    return path


@pytest.fixture(scope="session")
def chdb_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One embedded ClickHouse (chdb) data path for the whole test process.

    chdb admits one data path per process, so tests share this engine and isolate themselves
    by using a database of their own.
    """
    os.environ["TZ"] = "UTC"
    return f"chdb://{tmp_path_factory.mktemp('chdb') / 'clickhouse'}"
