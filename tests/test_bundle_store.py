"""Tests the bundle store against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import uuid
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg2
import pytest

from helpers import make_bundle
from intel_assets.contracts.bundle import WIRE_TOP_LEVEL_KEYS, MarketContextBundle
from intel_assets.contracts.symbols import InvalidSymbolError
from intel_assets.stores.bundle_store import (
    BundleStore,
    StoreConfigError,
    StoreUnavailableError,
    StoredBundle,
    redact_dsn,
)

T0 = datetime(2024, 3, 1, 15, 30, tzinfo=timezone.utc)


@pytest.fixture
def store(store_dsn: str):
    opened = BundleStore.from_dsn(store_dsn)
    opened.ensure_schema()
    yield opened
    opened.close()


def test_stage_and_staged_round_trip(store: BundleStore) -> None:
    items = {"SPY": {"state": "ok", "payload": {"rsi": 55.5, "tags": ["a", "b"]}},
             "ibm": {"state": "missing", "payload": {}}}
    store.stage("technicals", items, run_id="run-1", as_of=T0)
    store.stage("regime", {"SPY": {"trend": "up"}}, run_id="run-1", as_of=T0)

    got = store.staged("technicals", ["SPY", "IBM", "BAC"])
    assert got == {"SPY": items["SPY"], "IBM": items["ibm"]}  # BAC absent, ibm upper-cased
    assert store.staged("regime", ["spy"]) == {"SPY": {"trend": "up"}}
    assert store.staged("news", ["SPY"]) == {}
    assert store.staged("technicals", []) == {}

    store.stage("technicals", {"SPY": {"state": "stale"}}, run_id="run-2")  # upsert replaces
    assert store.staged("technicals", ["SPY", "IBM"]) == {"SPY": {"state": "stale"}, "IBM": items["ibm"]}


def test_staged_many_symbols_spans_parameter_chunks(store: BundleStore) -> None:
    items = {f"S{i:04d}": {"i": i} for i in range(1200)}
    store.stage("technicals", items, as_of=T0)
    got = store.staged("technicals", list(items) + ["NOPE"])
    assert len(got) == 1200 and got["S1199"] == {"i": 1199}


def test_stage_rejects_bad_input(store: BundleStore) -> None:
    with pytest.raises(InvalidSymbolError, match="must match"):
        store.stage("technicals", {"1ABC": {}})
    with pytest.raises(ValueError, match="timezone-aware"):
        store.stage("technicals", {"SPY": {}}, as_of=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="non-empty"):
        store.stage("", {"SPY": {}})
    assert store.staged("technicals", ["SPY"]) == {}


def test_publish_upserts_latest_and_appends_history(store: BundleStore) -> None:
    first = make_bundle("SPY", T0)
    second = make_bundle("SPY", T0 + timedelta(minutes=1), {"news": "ok", "fundamentals": "stale"})
    [etag1] = store.publish([first], run_id="run-1")
    [etag2] = store.publish([second], run_id="run-2")
    assert etag1 != etag2 and len(etag2) == 32

    latest = store.latest("spy")
    assert isinstance(latest, StoredBundle)
    assert latest.etag == etag2 == hashlib.sha256(latest.body.encode()).hexdigest()[:32]
    assert latest.body == json.dumps(second.to_wire(), separators=(",", ":"), sort_keys=True)
    assert MarketContextBundle.model_validate_json(latest.body) == second
    assert set(json.loads(latest.body)) == WIRE_TOP_LEVEL_KEYS
    assert latest.as_of_utc == second.as_of_utc and latest.quality_score == second.quality_score
    assert latest.published_at.tzinfo is not None

    history = store.history("SPY")
    assert [h.etag for h in history] == [etag2, etag1]  # newest first
    assert store.history("SPY", limit=1)[0].etag == etag2
    assert store.history("IBM") == []


def test_publish_batch_is_one_transaction(store: BundleStore) -> None:
    kept = make_bundle("IBM", T0)
    store.publish([kept])
    good = make_bundle("SPY", T0)
    replacement = make_bundle("IBM", T0 + timedelta(minutes=5), {"news": "ok"})
    broken = make_bundle("BAC", T0).model_copy(update={"as_of_utc": None})  # violates NOT NULL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic warns serializing the None datetime
        with pytest.raises((sqlite3.IntegrityError, psycopg2.IntegrityError)):
            store.publish([good, broken, replacement])
    with pytest.raises(TypeError, match="MarketContextBundle"):
        store.publish([good, {"symbol": "BAC"}])  # type: ignore[list-item]

    assert store.latest("SPY") is None and store.history("SPY") == []
    assert store.latest("BAC") is None
    still = store.latest("IBM")
    assert still is not None and MarketContextBundle.model_validate_json(still.body) == kept
    assert len(store.history("IBM")) == 1


def test_latest_unknown_and_before_schema(store_dsn: str) -> None:
    with BundleStore.from_dsn(store_dsn) as fresh:  # no ensure_schema yet: reads answer empty
        assert fresh.latest("SPY") is None
        assert fresh.history("SPY") == []
        assert fresh.staged("technicals", ["SPY"]) == {}
        assert fresh.latest_all() == [] and fresh.provider_health() == {}
        assert fresh.as_of("SPY", T0) is None
        fresh.ensure_schema()
        fresh.ensure_schema()  # idempotent
        assert fresh.latest("ZZZZ") is None
        assert fresh.publish([]) == []


def test_point_in_time_read_from_history(store: BundleStore) -> None:
    """as_of(symbol, T): the newest bundle built as of T or earlier; never a newer one."""
    instants = [T0 + timedelta(minutes=m) for m in (0, 30, 60)]
    store.publish([make_bundle("SPY", t) for t in instants])
    store.publish([make_bundle("IBM", T0 + timedelta(minutes=45))])
    assert store.as_of("SPY", T0 - timedelta(microseconds=1)) is None
    for probe, expected in ((T0, 0), (T0 + timedelta(minutes=29, seconds=59), 0),
                            (T0 + timedelta(minutes=30), 1), (T0 + timedelta(days=1), 2)):
        found = store.as_of("SPY", probe)
        assert found is not None and found.as_of_utc == instants[expected], probe
        assert found.as_of_utc <= probe
    republished = make_bundle("SPY", instants[1], {"news": "ok"})  # same instant, published again
    store.publish([republished])
    again = store.as_of("SPY", instants[1] + timedelta(minutes=1))
    assert again is not None and MarketContextBundle.model_validate_json(again.body) == republished
    with pytest.raises(ValueError, match="timezone-aware"):
        store.as_of("SPY", datetime(2024, 3, 1))


def test_latest_never_moves_back_in_time(store: BundleStore) -> None:
    """A backfill of an earlier instant goes to history but keeps the newer latest."""
    newer, older = make_bundle("SPY", T0 + timedelta(hours=1)), make_bundle("SPY", T0)
    store.publish([newer])
    store.publish([older])
    latest = store.latest("SPY")
    assert latest is not None and latest.as_of_utc == newer.as_of_utc
    assert [h.as_of_utc for h in store.history("SPY")] == [T0, T0 + timedelta(hours=1)]
    assert [b.symbol for b in store.latest_all()] == ["SPY"]


def test_provider_health_counts_consecutive_failures(store: BundleStore) -> None:
    t = [T0 + timedelta(seconds=k) for k in range(4)]
    store.record_provider_attempt("news", configured=True, success=True, latency_ms=20, at=t[0])
    store.record_provider_attempt("news", configured=True, success=False, error="HTTP 503",
                                  latency_ms=30, at=t[1])
    store.record_provider_attempt("news", configured=True, success=False, error="timeout", at=t[2])
    news = store.provider_health()["news"]
    assert news == {"provider": "news", "configured": True, "lastAttemptAt": "2024-03-01T15:30:02Z",
                    "lastSuccessAt": "2024-03-01T15:30:00Z", "lastError": "timeout",
                    "consecutiveFailures": 2, "latencyMs": None}
    store.record_provider_attempt("news", configured=True, success=True, latency_ms=8, at=t[3])
    news = store.provider_health()["news"]
    assert (news["consecutiveFailures"], news["lastError"], news["lastSuccessAt"]) == \
        (0, None, "2024-03-01T15:30:03Z")
    store.record_provider_attempt("fundamentals", configured=False, success=True, latency_ms=3)
    assert store.provider_health()["fundamentals"] == {
        "provider": "fundamentals", "configured": False, "lastAttemptAt": None,
        "lastSuccessAt": None, "lastError": None, "consecutiveFailures": 0, "latencyMs": None}
    with pytest.raises(ValueError, match="provider must be one of"):
        store.record_provider_attempt("twitter", configured=True, success=True)


def test_concurrent_readers_share_per_thread_connections(store: BundleStore) -> None:
    [etag] = store.publish([make_bundle("SPY", T0)])
    seen: list[str] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(40):
                seen.append(store.latest("SPY").etag)  # type: ignore[union-attr]
        except BaseException as exc:  # noqa: BLE001  collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and seen == [etag] * 480
    store.close()  # closes connections made by other threads too
    with pytest.raises(StoreUnavailableError):
        store.ping()


def test_sqlite_creates_parent_dir_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "bundles.sqlite3"
    for dsn in (f"sqlite:///{path}", f"sqlite:///{str(path).lstrip('/')}"):
        with BundleStore.from_dsn(dsn) as store:
            store.ensure_schema()
            store.ping()
            assert repr(store).startswith("BundleStore(SQLite")
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("", "empty"),
        ("mysql://user:hunter2@db:3306/x", "postgresql://user"),
        ("http://example.com/", "sqlite:////absolute/path"),
        ("sqlite://relative.db", "absolute path"),
        ("sqlite:///:memory:", "no :memory:"),
        ("sqlite:///tmp/dir/", "absolute path"),
        ("postgresql://user:hunter2@host:notaport/db", "not a valid PostgreSQL URI"),
    ],
)
def test_bad_dsn_says_what_to_write(dsn: str, expected: str) -> None:
    with pytest.raises(StoreConfigError, match=expected) as info:
        BundleStore.from_dsn(dsn)
    assert isinstance(info.value, ValueError)
    assert "hunter2" not in str(info.value)


def test_unreachable_postgres_raises_plain_error_without_password() -> None:
    with pytest.raises(StoreUnavailableError) as info:
        BundleStore.from_dsn("postgresql://intel:s3cret-pw@127.0.0.1:1/intel")
    message = str(info.value)
    assert "127.0.0.1:1" in message and "intel" in message
    assert "s3cret-pw" not in message and "Traceback" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_postgres_wrong_password_not_echoed(postgres_dsn: str) -> None:
    # trust auth accepts any password; an unknown database still fails after connecting
    dsn = postgres_dsn.replace("postgres@", "postgres:t0p-secret@").rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(StoreUnavailableError) as info:
        BundleStore.from_dsn(dsn)
    assert "no_such_db" in str(info.value) and "t0p-secret" not in str(info.value)


def test_postgres_reuses_pooled_connections(postgres_schema_dsn: str, postgres_dsn: str) -> None:
    app_name = f"intel_pool_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(postgres_dsn)
    admin.autocommit = True

    def backends() -> set[int]:
        with admin.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app_name,))
            return {pid for (pid,) in cur.fetchall()}

    with BundleStore.from_dsn(f"{postgres_schema_dsn}&application_name={app_name}",
                              max_connections=4) as store:
        store.ensure_schema()
        store.publish([make_bundle("SPY", T0)])
        before = backends()
        for _ in range(50):
            assert store.latest("SPY") is not None
        assert backends() == before and len(before) == 1  # sequential calls: one connection

        found: list[bool] = []

        def reader() -> None:
            for _ in range(30):
                found.append(store.latest("SPY") is not None)

        threads = [threading.Thread(target=reader) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert found == [True] * 300
        after_load = backends()
        assert 1 <= len(after_load) <= 4  # capped by max_connections, kept idle afterwards
        for _ in range(50):
            assert store.latest("SPY") is not None
        assert backends() == after_load
    admin.close()


def test_postgres_one_statement_reads_skip_begin_and_commit(postgres_schema_dsn: str,
                                                             postgres_dsn: str) -> None:
    """A serving read (one SELECT) runs in autocommit: no BEGIN/COMMIT round trips, so the
    server commits no transaction for it; the connection goes back to the pool transactional,
    so a failing publish batch on the same (only) connection still leaves nothing behind."""
    app_name = f"intel_ac_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(postgres_dsn)
    admin.autocommit = True

    def backend_xact_start() -> list[object]:
        with admin.cursor() as cur:
            cur.execute("SELECT xact_start FROM pg_stat_activity WHERE application_name = %s",
                        (app_name,))
            return [row[0] for row in cur.fetchall()]

    with BundleStore.from_dsn(f"{postgres_schema_dsn}&application_name={app_name}",
                              max_connections=1) as store:
        store.ensure_schema()
        store.publish([make_bundle("SPY", T0)])
        for _ in range(20):
            assert store.latest("SPY") is not None and store.latest_all()
            assert store.history("SPY") and store.as_of("SPY", T0) is not None
        assert backend_xact_start() == [None]  # idle, not "idle in transaction"
        same = "SELECT transaction_timestamp() = statement_timestamp()"  # no BEGIN before it
        assert store._read(lambda c: c.execute(same).fetchone()[0], None) is True
        assert store._read(lambda c: c.execute(same).fetchone()[0], None,
                           single_statement=False) is False  # BEGIN went first
        broken = make_bundle("BAC", T0).model_copy(update={"as_of_utc": None})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(psycopg2.IntegrityError):
                store.publish([make_bundle("IBM", T0), broken])
        assert store.latest("IBM") is None and store.history("IBM") == []
        backend = psycopg2.connect(postgres_schema_dsn)  # what another session sees
        with backend.cursor() as cur:
            cur.execute("SELECT count(*) FROM bundle_latest WHERE symbol = 'IBM'")
            assert cur.fetchone()[0] == 0
        backend.close()
    admin.close()


def test_postgres_over_a_unix_socket_is_read_on_the_event_loop(postgres_dsn: str,
                                                                monkeypatch) -> None:
    """The serving API reads a local store on its event loop (no thread-pool hop): SQLite, and
    PostgreSQL over a Unix socket on this machine (the embedded cluster); over TCP, even on
    127.0.0.1, reads go to the thread pool."""
    from urllib.parse import quote, urlsplit

    admin = psycopg2.connect(postgres_dsn)
    with admin.cursor() as cur:
        cur.execute("SHOW unix_socket_directories")
        socket_dir = cur.fetchone()[0].split(",")[0].strip()
    admin.close()
    url = urlsplit(postgres_dsn)
    over_socket = (f"postgresql://{url.username}@{url.path}?host={quote(socket_dir, safe='')}"
                   f"&port={url.port}")
    with BundleStore.from_dsn(over_socket, max_connections=1) as local, \
            BundleStore.from_dsn(postgres_dsn, max_connections=1) as tcp:
        local.ping()
        assert local.is_local and not tcp.is_local
    # No host in the DSN, but PGHOST sends libpq over TCP: not local (read in the thread pool).
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    with BundleStore.from_dsn(f"postgresql://{url.username}@{url.path}?port={url.port}",
                              max_connections=1) as via_pghost:
        via_pghost.ping()
        assert not via_pghost.is_local


def test_redact_dsn_hides_passwords() -> None:
    assert redact_dsn("postgresql://u:p@ss/w0rd@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert "x1y2" not in redact_dsn("postgresql://h/db?password=x1y2&sslmode=require")
    assert redact_dsn("postgresql://u@h/db") == "postgresql://u@h/db"
