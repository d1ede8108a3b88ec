"""The Definitions object as Dagster (and the UI) load it from workspace.yaml."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from dagster import AssetKey, DefaultSensorStatus

from intel_assets.jobs import REFRESH_JOB
from intel_assets.definitions import build_definitions
from intel_assets.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent


def _defs(tmp_path, **overrides):
    return build_definitions(load_settings(home=tmp_path, universe="AAA,BBB,CCC", **overrides))


def test_assets_partitioned_by_symbol_with_freshness_policies(tmp_path):
    defs = _defs(tmp_path)
    graph = defs.resolve_asset_graph()
    for name in ("technicals", "regime", "market_context_bundle", "published_bundle"):
        node = graph.get(AssetKey(name))
        assert list(node.partitions_def.get_partition_keys()) == ["AAA", "BBB", "CCC"]
    # live clock: news/fundamentals get time windows from their cadence; technicals/regime
    # none (their freshness is the market-clock-aware sensor's: tests/test_refresh_loop.py)
    for name in ("technicals", "regime"):
        assert graph.get(AssetKey(name)).freshness_policy is None
    policy = graph.get(AssetKey("news")).freshness_policy
    assert policy is not None and policy.fail_window.to_timedelta() == timedelta(seconds=300)
    lineage = graph.get(AssetKey("published_bundle")).parent_keys
    assert lineage == {AssetKey("market_context_bundle")}
    checks = {key.name for key in graph.asset_check_keys}
    assert checks == {"bundle_matches_wire_contract", "degraded_domains_are_flagged"}
    assert defs.resolve_job_def(REFRESH_JOB) is not None


def test_freshness_sensor_runs_by_default_only_on_a_live_clock(tmp_path):
    live = _defs(tmp_path).resolve_sensor_def("symbol_freshness_sensor")
    replay = _defs(tmp_path, as_of="2013-10-11T15:59:00-04:00").resolve_sensor_def(
        "symbol_freshness_sensor")
    assert live.default_status == DefaultSensorStatus.RUNNING
    assert replay.default_status == DefaultSensorStatus.STOPPED


def test_workspace_yaml_loads_and_validates(tmp_path):
    env = {**os.environ, "INTEL_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path),
           "INTEL_UNIVERSE": "SPY,IBM"}
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All code locations passed validation" in done.stdout + done.stderr


def test_parity_slice_joins_when_torghut_db_is_configured(tmp_path, monkeypatch, lean_dir):
    monkeypatch.setenv("TORGHUT_DB_DSN", "postgresql://torghut@127.0.0.1:5432/torghut")
    monkeypatch.setenv("INTEL_LEAN_DATA_DIR", str(lean_dir))
    defs = _defs(tmp_path)
    graph = defs.resolve_asset_graph()
    assert {AssetKey("parity_backtest"), AssetKey("tca_report"), AssetKey("technicals")} <= set(
        graph.get_all_asset_keys())
    assert defs.resolve_sensor_def("parity_on_new_decisions") is not None
    assert defs.resolve_schedule_def("parity_nightly") is not None
    monkeypatch.delenv("TORGHUT_DB_DSN")
    assert AssetKey("parity_backtest") not in _defs(tmp_path).resolve_asset_graph().get_all_asset_keys()


def test_the_code_location_refuses_a_plain_http_clickhouse_in_production(tmp_path, monkeypatch):
    """The ClickHouse TLS contract stops the code location loading in production (one line),
    as a broken PostgreSQL DSN does; outside production the same URL loads."""
    import pytest

    from intel_assets.stores.clickhouse_tls import ClickHouseTlsError

    settings = load_settings(home=tmp_path, clickhouse_url="http://clickhouse.internal:8123",
                             embedded_postgres=False,
                             bundle_store_dsn=f"sqlite:///{tmp_path / 'b.sqlite3'}")
    assert build_definitions(settings).resolve_job_def(REFRESH_JOB) is not None
    monkeypatch.setenv("INTEL_ENV", "production")
    with pytest.raises(ClickHouseTlsError) as refused:
        build_definitions(settings)
    assert "\n" not in str(refused.value) and "https" in str(refused.value)


def test_importing_the_code_location_builds_nothing_until_dagster_loads_it(tmp_path):
    """Issue 15, measured: importing REFRESH_JOB from intel_assets.definitions built every
    definition from the environment and raised under INTEL_ENV=production with a DSN the TLS
    contract refuses. Now the module and jobs.py import cleanly; only loading ``defs()`` (what
    Dagster does) applies the contract, and it still refuses in one line."""
    code = (
        "import intel_assets.definitions as d\n"
        "from intel_assets.jobs import REFRESH_JOB\n"
        "from intel_assets.stores.dsn_contract import DsnContractError\n"
        "print('imported', REFRESH_JOB)\n"
        "try:\n"
        "    d.defs()\n"
        "except DsnContractError as exc:\n"
        "    print('refused:', str(exc).splitlines()[0])\n")
    env = {**os.environ, "INTEL_HOME": str(tmp_path), "INTEL_ENV": "production",
           "INTEL_BUNDLE_STORE_DSN": "postgresql://intel:hunter2@db.example:5432/intel"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"imported {REFRESH_JOB}"
    assert lines[1].startswith("refused: ") and "INTEL_BUNDLE_STORE_DSN" in lines[1]
    assert "hunter2" not in done.stdout + done.stderr
