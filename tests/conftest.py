"""Owns shared test fixtures: a throwaway PostgreSQL cluster, per-test store DSNs, bundle builders."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the package is used from the checkout, not installed
    sys.path.insert(0, str(ROOT))
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from helpers import LEAN_DIR, make_bundle  # noqa: E402
from intel_assets.devtools.pg_cluster import (  # noqa: E402
    PgCluster,
    PostgresStartError,
    PostgresUnavailableError,
)
from intel_assets.devtools.pg_cluster import start_pg_cluster as _start_pg_cluster  # noqa: E402

PG_DSN_ENV = "INTEL_TEST_PG_DSN"


def _no_postgres(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must exercise PostgreSQL but {reason}; install PostgreSQL server "
                    f"binaries or set {PG_DSN_ENV}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason} (install postgresql or set {PG_DSN_ENV})")


def start_pg_cluster(tmp: Path | None = None, extra_conf: dict[str, str] | None = None,
                     files: dict[str, bytes | str] | None = None,
                     hba: list[str] | None = None) -> PgCluster:
    """intel_assets.devtools.pg_cluster.start_pg_cluster, skipping (or failing in CI) when
    PostgreSQL cannot run here and failing the test when it does not start."""
    try:
        return _start_pg_cluster(tmp, extra_conf, files, hba)
    except PostgresUnavailableError as exc:
        _no_postgres(str(exc))
    except PostgresStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A DSN for an empty database: $INTEL_TEST_PG_DSN, or a throwaway local cluster."""
    if os.environ.get(PG_DSN_ENV):
        yield os.environ[PG_DSN_ENV]
        return
    cluster = start_pg_cluster()
    try:
        yield cluster.create_database("intel_test")
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

@pytest.fixture(scope="session")
def lean_dir() -> Path:
    """The LEAN sample data (INTEL_LEAN_DATA_DIR or ../shared/data/lean); skip when absent."""
    path = LEAN_DIR
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
    """A throwaway Torghut database on a fresh schema: Torghut's tables (restated DDL) and
    intel_parity_reports created, and the demo strategy's strategies row in place (every
    trade_decisions row needs its strategy: a uuid foreign key)."""
    from intel_assets.devtools.torghut_tables import ThrowawayTorghutDb
    from intel_assets.domain.strategy import strategy_row

    db = ThrowawayTorghutDb(postgres_schema_dsn)
    db.ensure_schema()
    db.insert_strategy(strategy_row())
    return db
