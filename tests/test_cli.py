"""The intel-assets command as a user runs it: demo, bundle, and errors in plain words."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from intel_assets.contracts.bundle import MarketContextBundle

ROOT = Path(__file__).resolve().parent.parent


def _cli(args, home: Path, **env):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("INTEL_", "DAGSTER_"))}
    full_env.update({"INTEL_HOME": str(home), "TZ": "UTC", **env})
    return subprocess.run([sys.executable, "-m", "intel_assets.cli", *args], cwd=ROOT,
                          env=full_env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def lean_demo(tmp_path_factory, lean_dir):
    home = tmp_path_factory.mktemp("demo")
    done = _cli(["demo"], home, INTEL_LEAN_DATA_DIR=str(lean_dir))
    return home, done


def test_demo_prints_bundles_for_the_lean_universe(lean_demo):
    home, done = lean_demo
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()
            if line.split() and line.split()[0] in {"SPY", "IBM", "BAC", "AIG"}}
    assert set(rows) == {"SPY", "IBM", "BAC", "AIG"}
    for cells in rows.values():
        assert cells[2:5] == ["ok", "ok", "ok"], "technicals, regime, news (sample news server)"
    for symbol in ("IBM", "BAC", "AIG"):
        assert rows[symbol][5] == "ok", "fundamentals from the sample EDGAR server"
    assert rows["SPY"][5] == "missing" and "fundamentals_missing" in rows["SPY"], "an ETF files no 10-Q"
    assert "INTEL_AS_OF=2013-10-11T15:59:00-04:00" in done.stdout
    assert "SAMPLE news" in done.stdout and "SAMPLE filings" in done.stdout


def test_bundle_command_prints_the_published_wire_bundle(lean_demo):
    home, _ = lean_demo
    done = _cli(["bundle", "spy"], home)
    assert done.returncode == 0, done.stderr
    bundle = MarketContextBundle.model_validate(json.loads(done.stdout), by_alias=True, by_name=False)
    assert bundle.symbol == "SPY"


@pytest.mark.parametrize(("symbol", "code", "says"), [
    ("1BAD", 2, "must match ^[A-Z][A-Z0-9.-]{0,14}$"),
    ("MSFT", 1, "no bundle published for MSFT"),
])
def test_bundle_command_errors(lean_demo, symbol, code, says):
    home, _ = lean_demo
    done = _cli(["bundle", symbol], home)
    assert done.returncode == code
    assert says in done.stderr


def test_synthetic_demo_runs_without_lean_data(tmp_path):
    done = _cli(["demo"], tmp_path, INTEL_MARKET_SOURCE="synthetic", INTEL_SYNTHETIC_SYMBOLS="3")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [l.split() for l in done.stdout.splitlines() if l.startswith("SYN")]
    assert [l[0] for l in lines] == ["SYN000", "SYN001", "SYN002"]
    assert all(l[2:4] == ["ok", "ok"] for l in lines)


def test_bad_configuration_exits_2_with_the_variable_named(tmp_path):
    done = _cli(["demo"], tmp_path, INTEL_UNIVERSE="SPY,1BM")
    assert done.returncode == 2
    assert "INTEL_UNIVERSE" in done.stderr and "1BM" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_refuses_to_start_on_a_broken_tls_contract(tmp_path):
    done = _cli(["serve", "--port", "0"], tmp_path, INTEL_ENV="production",
                INTEL_BUNDLE_STORE_DSN="postgresql://intel:pw@127.0.0.1:1/intel?sslmode=require")
    assert done.returncode == 2
    assert "sslmode=require" in done.stderr and "verify-full" in done.stderr
    assert "pw@" not in done.stderr


def test_doctor_reports_each_dependency_in_plain_words(lean_demo):
    home, _ = lean_demo
    done = _cli(["doctor"], home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "clickhouse" in done.stdout and "bundle_store" in done.stdout
    broken = _cli(["doctor", "--only", "bundle_store"], home,
                  INTEL_BUNDLE_STORE_DSN="postgresql://intel@127.0.0.1:1/intel")
    assert broken.returncode == 1
    assert "FAIL" in broken.stdout and "refused" in broken.stdout.lower()


def test_parity_command_prints_tca_and_drift_for_both_venues(tmp_path, lean_dir):
    done = _cli(["parity", "--day", "2013-10-08"], tmp_path, INTEL_LEAN_DATA_DIR=str(lean_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    venues = {line.split()[0]: line.split() for line in done.stdout.splitlines()
              if line.split() and line.split()[0] in {"alpaca", "lean"}}
    assert set(venues) == {"alpaca", "lean"}
    assert all(cells[1] == "ok" for cells in venues.values())
    assert "status agreement" in done.stdout and "duplicate submissions 0" in done.stdout


def test_lean_replay_command_reproduces_basic_template(tmp_path, lean_dir):
    done = _cli(["lean-replay", "basic-template", "--lean-dir", str(lean_dir)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Total Orders 1" in done.stdout
    assert "Total Fees $3.44" in done.stdout
    assert "End Equity 101691.92" in done.stdout
