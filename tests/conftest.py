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
from dataclasses import dataclass
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


@dataclass
class PgCluster:
    """A running throwaway PostgreSQL cluster: TCP on 127.0.0.1:port, socket in `folder`."""

    port: int
    folder: Path
    data: Path
    log: Path
    bindir: Path
    prefix: list[str]

    @property
    def dsn(self) -> str:
        """Superuser DSN (trust authentication) for the `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        """Stop the server (immediate) and delete its folder."""
        subprocess.run([*self.prefix, str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data),
                        "-m", "immediate"], cwd=self.folder, capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_pg_cluster(tmp: Path | None = None, extra_conf: dict[str, str] | None = None,
                     files: dict[str, bytes | str] | None = None,
                     hba: list[str] | None = None) -> PgCluster:
    """Start a throwaway cluster (skip/fail like postgres_dsn when impossible); call .stop().

    `tmp`: an empty folder to hold the cluster, or None for a new temporary one.
    `extra_conf`: postgresql.conf settings ({"ssl": "on"}; values written as given, so quote
    strings: {"ssl_cert_file": "'server.crt'"}). `files`: written into the data folder, owned by
    the server's user, mode 0600 (e.g. {"server.key": pem}). `hba`: pg_hba.conf lines placed
    before initdb's trust lines.
    """
    bindir = _pg_bindir()
    if bindir is None:
        _no_postgres("no PostgreSQL server binaries (initdb, pg_ctl) were found")
    prefix: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="intel-pg-")) if tmp is None else Path(tmp)
    owner: tuple[int, int] | None = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the postgres user
        try:
            pg_user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(tmp, ignore_errors=True)
            _no_postgres("running as root and there is no 'postgres' OS user to run the server")
        owner = (pg_user.pw_uid, pg_user.pw_gid)
        os.chown(tmp, *owner)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log, port = tmp / "data", tmp / "server.log", _free_port()

    def run(*args: str) -> None:
        proc = subprocess.run([*prefix, *args], cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            shutil.rmtree(tmp, ignore_errors=True)
            pytest.fail(f"{' '.join(args[:2])} failed ({proc.returncode}): {proc.stdout}"
                        f"{proc.stderr}\n{server_log}", pytrace=False)

    run(str(bindir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres", "-E", "UTF8",
        "--no-sync")
    for name, content in (files or {}).items():
        path = data / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        path.chmod(0o600)
        if owner is not None:
            os.chown(path, *owner)
    if extra_conf:
        with open(data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in extra_conf.items())
    if hba:
        hba_path = data / "pg_hba.conf"
        hba_path.write_text("\n".join(hba) + "\n" + hba_path.read_text())
    options = (f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off")
    run(str(bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data), "-l", str(log), "-o", options)
    return PgCluster(port=port, folder=tmp, data=data, log=log, bindir=bindir, prefix=prefix)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A DSN for an empty database: $INTEL_TEST_PG_DSN, or a throwaway local cluster."""
    if os.environ.get(PG_DSN_ENV):
        yield os.environ[PG_DSN_ENV]
        return
    cluster = start_pg_cluster()
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE intel_test")
        conn.close()
        yield f"postgresql://postgres@127.0.0.1:{cluster.port}/intel_test"
    finally:
        cluster.stop()


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


# ---- Torghut's database (parity) ---------------------------------------------------------


@pytest.fixture
def torghut_db(postgres_schema_dsn: str):
    """A TorghutDb on a fresh schema with Torghut's tables and intel_parity_reports created."""
    from intel_assets.resources.torghut_db import TorghutDb

    db = TorghutDb(postgres_schema_dsn)
    db.ensure_schema()
    return db
