"""Tests `intel-assets universe` and the universe check at start (issue 13, section 2: an
unknown ticker in the universe was accepted, published a 0.0 bundle that stayed forever, no
command removed it, and /health stayed degraded): retirement in the bundle store on both
backends, the serving API over real HTTP, the check on the embedded ClickHouse, and the
command itself through the console entry on a synthetic market."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path


from helpers import make_bundle
from intel_assets.contracts.bundle import DOMAINS
from intel_assets.stores.bundle_store import BundleStore
from test_serving import T0, URL, running

ALL_OK = {d: "ok" for d in DOMAINS}
EMPTY = {d: "missing" for d in DOMAINS}
ROOT = Path(__file__).resolve().parent.parent


def _publish_spy_and_a_stranger(dsn: str) -> None:
    with BundleStore.from_dsn(dsn) as store:
        store.ensure_schema()
        store.publish([make_bundle("SPY", T0 - timedelta(days=1), ALL_OK),
                       make_bundle("NOPE", T0 - timedelta(days=1), EMPTY)])
        store.publish([make_bundle("SPY", T0, ALL_OK), make_bundle("NOPE", T0, EMPTY)])


def test_a_retired_symbol_leaves_serving_and_health_but_keeps_its_history(store_dsn: str) -> None:
    """The unknown ticker's 0.0 bundle stayed served and kept the universe's health degraded:
    once retired, ?symbol= answers 404 saying it was retired, /health/universe counts SPY
    alone, history and ?asOf= still answer, and `add` (reinstate) serves it again, all
    without restarting the server."""
    _publish_spy_and_a_stranger(store_dsn)
    with running(lambda: BundleStore.from_dsn(store_dsn)) as http:
        before = http.get(f"{URL}/health/universe").json()["health"]
        assert before["symbols"] == 2 and before["overallState"] != "ok"
        assert http.get(URL, params={"symbol": "NOPE"}).status_code == 200

        with BundleStore.from_dsn(store_dsn) as store:
            store.retire(["nope"])
            retired_at = store.retired_at("NOPE")
            assert retired_at is not None and store.retired() == {"NOPE": retired_at}
            assert store.latest("NOPE") is None
            assert [b.symbol for b in store.latest_all()] == ["SPY"]
            assert len(store.history("NOPE")) == 2  # history stays

        gone = http.get(URL, params={"symbol": "NOPE"})
        assert gone.status_code == 404
        assert gone.json()["error"] == "not_found" and "retired" in gone.json()["message"]
        after = http.get(f"{URL}/health/universe").json()["health"]
        assert after["symbols"] == 1 and after["overallState"] == "ok"
        past = http.get(URL, params={"symbol": "NOPE", "asOf": (T0 - timedelta(hours=1)).isoformat()})
        assert past.status_code == 200
        assert past.json()["context"]["asOfUtc"].startswith((T0 - timedelta(days=1)).date().isoformat())

        with BundleStore.from_dsn(store_dsn) as store:
            store.reinstate(["NOPE"])
            assert store.retired() == {}
        assert http.get(URL, params={"symbol": "NOPE"}).status_code == 200


def test_a_store_created_before_retirement_still_serves(tmp_path: Path) -> None:
    """A bundle store whose tables predate retired_symbols (no ensure_schema since): latest
    and latest_all answer as before instead of as if empty."""
    dsn = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    _publish_spy_and_a_stranger(dsn)
    with sqlite3.connect(tmp_path / "old.sqlite3") as conn:
        conn.execute("DROP TABLE retired_symbols")
    with BundleStore.from_dsn(dsn) as store:
        assert store.latest("SPY") is not None and store.retired() == {}
        assert [b.symbol for b in store.latest_all()] == ["NOPE", "SPY"]


def test_start_check_names_symbols_without_bars(chdb_dsn: str, tmp_path: Path, capsys) -> None:
    """materialize refused, ui warned about, an unknown ticker of INTEL_UNIVERSE (it used to
    publish a 0.0 bundle silently); symbols with bars pass."""
    from datetime import datetime, timezone

    from intel_assets.cli.universe import start_check, unknown_symbols
    from intel_assets.domain.market_data import synthetic_market
    from intel_assets.domain.ta_tables import microbar_rows
    from intel_assets.settings import load_settings
    from intel_assets.stores.warehouse import open_warehouse

    settings = load_settings(home=tmp_path, clickhouse_url=chdb_dsn, clickhouse_database="t_universe",
                             universe="SYN000,NOPE,SYN001", market_source="synthetic")
    bars, _ = synthetic_market(["SYN000", "SYN001"], 1, datetime(2024, 3, 1, 20, tzinfo=timezone.utc))
    with open_warehouse(chdb_dsn, "t_universe") as wh:
        wh.ensure_schema()
        wh.write_microbars(microbar_rows(bars, source="synthetic"))

    assert unknown_symbols(settings) == ["NOPE"]
    assert unknown_symbols(settings, ["syn001", "not a symbol"]) == []  # as materialize asks
    empty = settings.model_copy(update={"clickhouse_database": "t_universe_empty"})
    assert unknown_symbols(empty) == []  # nothing seeded: the run says so, not a symbol check
    assert start_check(settings, "materialize") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: INTEL_UNIVERSE lists NOPE")
    assert "intel-assets universe retire NOPE" in err[0] and "--force" in err[0]
    assert start_check(settings, "materialize", ["SYN000"]) is None  # only what is asked
    assert start_check(settings, "materialize", force=True) is None
    assert start_check(settings, "ui") is None
    warned = capsys.readouterr().err.strip().splitlines()
    assert len(warned) == 2 and all(w.startswith("warning: INTEL_UNIVERSE lists NOPE") for w in warned)


def test_demo_refuses_a_ticker_the_lean_data_lacks(tmp_path: Path, lean_dir: Path, capsys) -> None:
    """demo checks before it seeds: a LEAN ticker with no minute data is one error line."""
    from intel_assets.cli.universe import start_check
    from intel_assets.settings import load_settings

    settings = load_settings(home=tmp_path, lean_data_dir=lean_dir, universe="SPY,NOPE")
    assert start_check(settings, "demo") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: INTEL_UNIVERSE lists NOPE, which has no LEAN minute data")


def _cli(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("INTEL_")}
    full.update({"INTEL_HOME": str(home), "TZ": "UTC", "INTEL_MARKET_SOURCE": "synthetic",
                 "INTEL_SYNTHETIC_SYMBOLS": "3", "INTEL_SYNTHETIC_DAYS": "1",
                 "INTEL_EMBEDDED_POSTGRES": "false", **env})
    return subprocess.run([sys.executable, "-m", "intel_assets.cli", *args], env=full, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_universe_command_round_trip(tmp_path: Path) -> None:
    """No command listed, added or retired symbols: list shows each symbol's status, bundle
    and data; add refuses a ticker without bars in one line (--force adds it); retire drops it
    from INTEL_HOME/universe.json and from serving; INTEL_UNIVERSE, when set, wins and the
    commands print the value to set."""
    home = tmp_path / "home"
    assert _cli(["seed"], home).returncode == 0
    listed = _cli(["universe", "list"], home)
    assert listed.returncode == 0, listed.stderr
    assert "3 symbols from the data source's default" in listed.stdout
    assert [line.split()[:4] for line in listed.stdout.splitlines()[3:]] == [
        [s, "in", "universe", "-"] for s in ("SYN000", "SYN001", "SYN002")]

    refused = _cli(["universe", "add", "NOPE"], home)
    assert refused.returncode == 2 and not (home / "universe.json").exists()
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("error: NOPE has no bars")
    bad = _cli(["universe", "add", "no pe"], home)
    assert bad.returncode == 2 and bad.stderr.startswith("error: invalid symbol")

    added = _cli(["universe", "add", "nope", "--force"], home)
    assert added.returncode == 0, added.stderr
    assert "reload" in added.stdout
    assert json.loads((home / "universe.json").read_text()) == {
        "symbols": ["SYN000", "SYN001", "SYN002", "NOPE"]}
    row = next(r for r in _cli(["universe", "list"], home).stdout.splitlines() if r.startswith("NOPE"))
    assert "in universe" in row and "NO BARS" in row

    with BundleStore.from_dsn(f"sqlite:///{home / 'bundles.sqlite3'}") as store:
        store.publish([make_bundle("NOPE", T0, EMPTY)])  # the 0.0 bundle a forced run publishes
    retired = _cli(["universe", "retire", "NOPE"], home)
    assert retired.returncode == 0, retired.stderr
    assert json.loads((home / "universe.json").read_text())["symbols"] == ["SYN000", "SYN001", "SYN002"]
    row = next(r for r in _cli(["universe", "list"], home).stdout.splitlines() if r.startswith("NOPE"))
    assert row.split()[:3] == ["NOPE", "retired", "0.00"]
    with BundleStore.from_dsn(f"sqlite:///{home / 'bundles.sqlite3'}") as store:
        assert store.latest("NOPE") is None and len(store.history("NOPE")) == 1
    shown = _cli(["bundle", "NOPE"], home)  # said "no bundle published", as if never made
    assert shown.returncode == 1 and shown.stderr.count("\n") == 1
    assert shown.stderr.startswith("error: NOPE was retired from the universe at ")
    assert "`intel-assets universe add NOPE` brings it back" in shown.stderr

    assert _cli(["universe", "retire", "ZZZ"], home).returncode == 2
    everything = _cli(["universe", "retire", "SYN000", "SYN001", "SYN002"], home)
    assert everything.returncode == 2 and "every symbol" in everything.stderr

    pinned = _cli(["universe", "retire", "SYN002"], home, INTEL_UNIVERSE="SYN000,SYN001,SYN002")
    assert pinned.returncode == 0, pinned.stderr
    assert "set INTEL_UNIVERSE=SYN000,SYN001" in pinned.stdout
    assert json.loads((home / "universe.json").read_text())["symbols"] == ["SYN000", "SYN001", "SYN002"]


def test_materialize_refuses_an_unknown_ticker_at_start(tmp_path: Path) -> None:
    """`INTEL_UNIVERSE=...,NOPE intel-assets materialize` published a 0.0 bundle silently: now
    one error line naming NOPE and how to retire it, exit 2, nothing published."""
    home = tmp_path / "home"
    assert _cli(["seed"], home).returncode == 0
    run = _cli(["materialize"], home, INTEL_UNIVERSE="SYN000,NOPE")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("error: INTEL_UNIVERSE lists NOPE")
    assert "intel-assets universe retire NOPE" in run.stderr
    assert not (home / "dagster").exists() or "run " not in run.stdout
