"""No database password at rest in Dagster's storage (issue 12, finding 4): with password-bearing
INTEL_BUNDLE_STORE_DSN and TORGHUT_DB_DSN, a real refresh run on a persistent Dagster home
writes neither password into any row of the embedded PostgreSQL cluster's databases or of any
SQLite database (zlib-compressed snapshot blobs decompressed), or into any other file. A positive
control proves the scan finds a password that is stored."""

from __future__ import annotations

import os
import sqlite3
import uuid
import zlib
from pathlib import Path

import pytest
from dagster import ConfigurableResource, DagsterInstance, Definitions, asset, define_asset_job

from intel_assets.cli.materialize import materialize
from intel_assets.cli.seed import seed
from intel_assets.settings import load_settings

SECRET = "hunter2-at-rest-" + uuid.uuid4().hex[:8]


def _texts(value) -> list[str]:
    """A stored value as text: itself, and its zlib-decompressed form when it is one."""
    if value is None:
        return []
    if isinstance(value, (bytes, memoryview)):
        raw = bytes(value)
        found = [raw.decode("utf-8", "replace")]
        try:
            found.append(zlib.decompress(raw).decode("utf-8", "replace"))
        except zlib.error:
            pass
        return found
    return [str(value)]


def places_holding(folder: Path, secret: str) -> list[str]:
    """Every file and (sqlite file, table, column) under ``folder`` whose content holds secret."""
    hits: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if data.startswith(b"SQLite format 3"):
            with sqlite3.connect(path) as conn:
                tables = [r[0] for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")]
                for table in tables:
                    cursor = conn.execute(f'SELECT * FROM "{table}"')
                    columns = [d[0] for d in cursor.description]
                    for row in cursor:
                        for column, value in zip(columns, row):
                            if any(secret in text for text in _texts(value)):
                                hits.append(f"{path.name}:{table}.{column}")
        elif any(secret in text for text in _texts(data)):
            hits.append(str(path.relative_to(folder)))
    return sorted(set(hits))


def rows_holding(home: Path, secret: str) -> list[str]:
    """Every (database, table, column) of INTEL_HOME's embedded PostgreSQL cluster (Dagster's
    storage and the bundle store of the embedded default) whose rows hold secret, read through
    the server (so TOAST-compressed values are seen decompressed; zlib blobs decompressed)."""
    import psycopg2

    from intel_assets.stores.local_postgres import DAGSTER_DB, STORE_DB, ensure_running

    cluster = ensure_running(home)
    hits: list[str] = []
    for database in (DAGSTER_DB, STORE_DB):
        conn = psycopg2.connect(cluster.url(database))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = 'public'")
                for (table,) in cur.fetchall():
                    cur.execute(f'SELECT * FROM "{table}"')
                    columns = [d[0] for d in cur.description]
                    for row in cur.fetchall():
                        for column, value in zip(columns, row):
                            if any(secret in text for text in _texts(value)):
                                hits.append(f"{database}:{table}.{column}")
        finally:
            conn.close()
    return sorted(set(hits))


def with_password(dsn: str, password: str) -> str:
    scheme, rest = dsn.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user.split(':')[0]}:{password}@{host}"


class Leaky(ConfigurableResource):
    dsn: str


@asset
def thing(leaky: Leaky) -> None:
    return None


def test_the_scan_finds_a_password_stored_as_resource_config(tmp_path: Path) -> None:
    """Positive control: a literal secret in resource config lands in the run storage."""
    defs = Definitions(assets=[thing], jobs=[define_asset_job("leaky_job", [thing])],
                       resources={"leaky": Leaky(dsn=f"postgresql://u:{SECRET}@h/db")})
    home = tmp_path / "dagster"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        assert defs.resolve_job_def("leaky_job").execute_in_process(instance=instance).success
    assert places_holding(home, SECRET), "the scan must see a stored secret"


def test_refresh_run_stores_no_database_password(tmp_path: Path, postgres_schema_dsn: str,
                                                 lean_dir: Path, chdb_dsn: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = with_password(postgres_schema_dsn, SECRET)
    monkeypatch.setenv("INTEL_BUNDLE_STORE_DSN", store)
    monkeypatch.setenv("TORGHUT_DB_DSN", store)  # the parity slice joins the definitions
    monkeypatch.setenv("INTEL_LEAN_DATA_DIR", str(lean_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    settings = load_settings(home=tmp_path / "home", clickhouse_url=chdb_dsn,
                             clickhouse_database=f"t_{uuid.uuid4().hex[:10]}",
                             universe="SYN000,SYN001", market_source="synthetic",
                             as_of="2024-03-08T21:00:00+00:00")
    seed(settings, synthetic=True)
    result = materialize(settings)
    assert result.success
    assert os.environ["INTEL_BUNDLE_STORE_DSN"] == store  # really used: the run published there
    from intel_assets.stores.bundle_store import BundleStore

    with BundleStore.from_dsn(store) as published:
        assert published.latest("SYN000") is not None
    assert places_holding(tmp_path / "dagster", SECRET) == []
    assert places_holding(tmp_path / "home", SECRET) == []
    assert rows_holding(tmp_path / "home", SECRET) == []  # the embedded default's PostgreSQL


def test_a_clickhouse_password_is_not_stored_either(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """INTEL_CLICKHOUSE_URL may be http://user:password@host:8123: the run fails to reach it
    (nothing listens) and publishes source errors, and the password is nowhere at rest."""
    monkeypatch.setenv("INTEL_CLICKHOUSE_URL", f"http://reader:{SECRET}@127.0.0.1:1")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    for name in ("INTEL_BUNDLE_STORE_DSN", "TORGHUT_DB_DSN"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(home=tmp_path / "home", universe="SYN000", market_source="synthetic",
                             as_of="2024-03-08T21:00:00+00:00")
    assert materialize(settings).success
    assert places_holding(tmp_path / "dagster", SECRET) == []
    assert places_holding(tmp_path / "home", SECRET) == []
    assert rows_holding(tmp_path / "home", SECRET) == []  # the embedded default's PostgreSQL
