"""The intel-assets command as a user runs it: demo, bundle, and errors in plain words."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from intel_assets.contracts.bundle import MarketContextBundle
from intel_assets.domain.gates import CRITERIA

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
    lines = [line.replace(" (sample)", "+sample") for line in done.stdout.splitlines()]
    rows = {line.split()[0]: line.split() for line in lines
            if line.split() and line.split()[0] in {"SPY", "IBM", "BAC", "AIG"}}
    assert set(rows) == {"SPY", "IBM", "BAC", "AIG"}
    for cells in rows.values():
        assert cells[2:5] == ["ok", "ok", "ok+sample"], "technicals, regime, news (sample server)"
    for symbol in ("IBM", "BAC", "AIG"):
        assert rows[symbol][5] == "ok+sample", "fundamentals from the sample EDGAR server"
    assert rows["SPY"][5] == "missing" and "fundamentals_missing" in rows["SPY"], "an ETF files no 10-Q"
    assert "(sample) = built from intel_assets' packaged sample data" in done.stdout
    assert "INTEL_AS_OF=2013-10-11T15:59:00-04:00" in done.stdout
    assert "SAMPLE news" in done.stdout and "SAMPLE filings" in done.stdout


def test_demo_never_cites_sample_data_as_sec(lean_demo):
    """Every bundle (latest and history), research brief and Dagster metadata entry the demo
    wrote from our sample files is labelled sample and carries no sec.gov URL or SEC source."""
    from dagster import DagsterInstance

    from intel_assets.stores.bundle_store import BundleStore

    home, done = lean_demo
    assert done.returncode == 0, done.stdout + done.stderr
    from intel_assets.stores.local_postgres import STORE_DB, ensure_running

    store = BundleStore.from_dsn(ensure_running(home).url(STORE_DB))  # the embedded default
    try:
        latest = store.latest_all()
        history = [h for s in ("SPY", "IBM", "BAC", "AIG") for h in store.history(s)]
        briefs = store.staged("research", ["SPY", "IBM", "BAC", "AIG"])
    finally:
        store.close()
    assert len(latest) == 4 and len(history) == 20 and len(briefs) == 4  # 5 instants x 4
    for text in [s.body for s in latest + history] + [json.dumps(b) for b in briefs.values()]:
        assert "sec.gov" not in text and "SEC EDGAR" not in text
    for stored in latest + history:
        for name, block in json.loads(stored.body)["domains"].items():
            if block["citations"]:  # news and fundamentals: sample sources, flagged
                assert "sample_data" in block["riskFlags"], (stored.symbol, name)
                assert all(c["url"].startswith("https://example.com/intel-assets-sample/")
                           for c in block["citations"])
    assert all(b["brief"]["riskFlags"] == ["sample_data"] for b in briefs.values())
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        texts = [str(record.asset_materialization.metadata)
                 for key in instance.get_asset_keys()
                 for record in instance.fetch_materializations(key, limit=1000).records]
    assert texts and not any("sec.gov" in t or "SEC EDGAR" in t for t in texts)
    # each partition's page says its block was built from the packaged samples
    assert any("'sample_data': BoolMetadataValue(value=True)" in t for t in texts)


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


def test_doctor_starts_the_embedded_cluster_like_every_command(tmp_path):
    """On a fresh INTEL_HOME the embedded default has no server yet: doctor starts it on
    demand (as materialize, serve and skills do) and reports the store answering, not a
    missing socket."""
    done = _cli(["doctor", "--only", "bundle_store"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK    bundle_store  PostgreSQL bundle store answers" in done.stdout
    assert "No such file" not in done.stdout


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


# ---- parity --week: the rollout gate end to end ------------------------------------------------

WEEK = ["2013-10-07", "2013-10-08", "2013-10-09", "2013-10-10", "2013-10-11"]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _week_output(stdout: str) -> dict:
    """The parts of `parity --week`'s output: criteria rows (+ detail), per-day runs, gate run."""
    import re

    lines = stdout.splitlines()
    criteria, details = {}, {}
    for i, line in enumerate(lines):
        found = re.match(r"^(\d)\s+(p\d_\w+)\s+(PASS|FAIL)\s+(.*)$", line)
        if found:
            phase, cid, result, measured = found.groups()
            detail = []
            for follow in lines[i + 1:]:
                if not follow.startswith("             "):
                    break
                detail.append(follow.strip())
            criteria[cid] = (int(phase), result, measured)
            details[cid] = " ".join(detail)
    days = {m.group(1): (m.group(2), m.group(3)) for m in (
        re.match(rf"^(2013-10-\d\d)\s+({UUID})\s.*\s({UUID})$", line) for line in lines) if m}
    gate = re.search(rf"rollout_gate as of 2013-10-11 \(run ({UUID})\): PHASE REACHED (-?\d)",
                     stdout)
    evidence = stdout.split("\nevidence:\n", 1)[1] if "\nevidence:\n" in stdout else ""
    return {"criteria": criteria, "details": details, "days": days, "evidence": evidence,
            "gate_run": gate and gate.group(1), "phase": gate and int(gate.group(2))}


def test_parity_week_without_a_demo_reaches_phase_0_and_names_the_missing_contract_evidence(
        tmp_path, lean_dir):
    from dagster import AssetCheckKey, AssetKey, DagsterInstance

    done = _cli(["parity", "--week"], tmp_path, INTEL_LEAN_DATA_DIR=str(lean_dir))
    assert done.returncode == 0, "a gate below phase 4 is an outcome\n" + done.stdout + done.stderr
    out = _week_output(done.stdout)
    assert out["phase"] == 0 and "PHASE REACHED 0 (baseline frozen)" in done.stdout
    assert len(out["criteria"]) == len(CRITERIA)
    assert {p for p, _, _ in out["criteria"].values()} == {0, 1, 2, 3, 4}
    assert out["criteria"]["p0_baseline_snapshot"][1] == "PASS"
    # No bundle was ever published in this home: the real consumer got 404s, honestly degraded.
    for day in WEEK:
        assert f"{day}   16 decisions (16 new): market_context_fetch_error 16" in done.stdout
    assert "degraded-context share 100 %" in out["details"]["p0_baseline_snapshot"]
    assert "32 executions" in out["details"]["p0_baseline_snapshot"], "Alpaca answers recorded"
    for cid, check in (("p1_wire_contract", "bundle_matches_wire_contract"),
                       ("p1_degraded_flags", "degraded_domains_are_flagged")):
        assert out["criteria"][cid][1:] == ("FAIL", "no evidence")
        assert out["details"][cid].startswith(
            f"no evidence: no completed evaluation of market_context_bundle:{check} in this "
            "Dagster instance")
    assert out["criteria"]["p1_stale_probe"][1] == "PASS"
    assert "blockers of phase 1: p1_wire_contract, p1_degraded_flags" in done.stdout
    assert "guardrail_daily missing for 2013-10-03, 2013-10-04" in out["details"][
        "p2_guardrail_stability"], "the LEAN sample has 5 of the 7 stability days"
    assert set(out["days"]) == set(WEEK)
    for day, (parity_run, guardrail_run) in out["days"].items():  # every run is cited
        assert f"intel_parity_reports [day={day}] run {parity_run}" in out["evidence"]
        assert f"guardrail_daily [{day}] run {guardrail_run}" in out["evidence"]
    assert out["criteria"]["p3_duplicate_submissions"][1] == "PASS"

    # The runs live in this home's persistent Dagster instance, checks included.
    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        assert instance.get_run_by_id(out["gate_run"]).is_success
        for cid, (_, result, _) in out["criteria"].items():
            (record,) = instance.event_log_storage.get_asset_check_execution_history(
                AssetCheckKey(AssetKey("rollout_gate"), cid), limit=1)
            assert record.run_id == out["gate_run"]
            assert record.event.asset_check_evaluation.passed is (result == "PASS")


def test_parity_week_after_the_demo_passes_phase_1_on_the_demos_contract_checks(
        lean_demo, lean_dir):
    import re

    home, demo = lean_demo
    assert demo.returncode == 0, demo.stdout + demo.stderr
    demo_run = re.findall(rf"\brun ({UUID}) succeeded", demo.stdout)[-1]  # the newest refresh
    done = _cli(["parity", "--week"], home, INTEL_LEAN_DATA_DIR=str(lean_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    out = _week_output(done.stdout)
    for cid in ("p1_wire_contract", "p1_degraded_flags"):
        assert out["criteria"][cid][1] == "PASS", out["details"][cid]
        assert f"passed (run {demo_run}" in out["details"][cid], "the demo's evaluation is cited"
    assert out["phase"] == 1 and out["criteria"]["p0_baseline_snapshot"][1] == "PASS"
    assert "blockers of phase 2: p2_schema_rejection_rate, p2_guardrail_stability" in done.stdout
    # The consumer asks for the bundle as of each decision's event_ts: none was built before the
    # demo's first replay point on 10-07, and the later ones are older than Torghut's 300 s.
    assert "2013-10-07   16 decisions (16 new): market_context_fetch_error 16" in done.stdout
    for day in WEEK[1:]:
        assert f"{day}   16 decisions (16 new): market_context_stale 16" in done.stdout
    assert "degraded-context share 100 %" in out["details"]["p0_baseline_snapshot"]


def test_fundamentals_command_shows_real_sec_figures_and_citations(tmp_path):
    """The real path offline: Snowflake's companyfacts as SEC published them (../shared/data/
    edgar) give TTM revenue 3,839,761,000 as of 2025-07-01 (hand-checked in
    test_fundamentals.py) and cite the real 10-Q on sec.gov."""
    from helpers import EDGAR_DIR

    if not (EDGAR_DIR / "companyfacts_CIK0001640147_SNOW.json").is_file():
        pytest.skip(f"shared EDGAR data absent at {EDGAR_DIR}: set INTEL_EDGAR_DATA_DIR")
    done = _cli(["fundamentals", "SNOW", "--as-of", "2025-07-01", "--json"], tmp_path,
                INTEL_EDGAR_DATA_DIR=str(EDGAR_DIR))
    assert done.returncode == 0, done.stderr
    block = json.loads(done.stdout)
    assert block["payload"]["ttmRevenue"] == 3_839_761_000
    assert block["payload"]["provenance"] == "SEC documents read from disk"
    assert {c["source"] for c in block["citations"]} == {"SEC EDGAR 10-Q", "SEC EDGAR 10-K"}
    assert ("https://www.sec.gov/Archives/edgar/data/1640147/000164014725000110/"
            "0001640147-25-000110-index.htm") in [c["url"] for c in block["citations"]]
    assert "sample_data" not in block["riskFlags"]
    missing = _cli(["fundamentals", "TSLA", "--as-of", "2022-08-01"], tmp_path,
                   INTEL_EDGAR_DATA_DIR=str(EDGAR_DIR))
    assert missing.returncode == 2 and "has no companyfacts document for TSLA" in missing.stderr
    sample = _cli(["fundamentals", "IBM", "--as-of", "2013-10-11", "--json", "--edgar-dir",
                   str(ROOT / "intel_assets" / "devtools" / "sample_edgar")], tmp_path)
    assert sample.returncode == 0, sample.stderr  # our samples stay samples, even cited "as SEC"
    wire = json.loads(sample.stdout)
    assert "sample_data" in wire["riskFlags"] and "sec.gov" not in sample.stdout


def test_skills_and_schemas_are_generated_and_do_not_drift(lean_demo, lean_dir):
    """skills/*/SKILL.md regenerated from this (independent) demo run and schemas/ from the
    models equal the checked-in files: the examples are deterministic and nothing drifted."""
    home, done = lean_demo
    assert done.returncode == 0, done.stdout + done.stderr
    skills = _cli(["skills", "--check"], home, INTEL_LEAN_DATA_DIR=str(lean_dir))
    assert skills.returncode == 0, skills.stderr
    schemas = _cli(["schema", "--check"], home)
    assert schemas.returncode == 0, schemas.stderr
    text = (ROOT / "skills" / "fundamentals" / "SKILL.md").read_text()
    assert "GET /api/torghut/market-context/fundamentals?symbol=IBM" in text
    assert "schemas/skill-envelope.schema.json" in text and "sec.gov" not in text


def test_late_failures_are_one_error_line(tmp_path):
    """Issue 12, finding 8 (and issue 15's ParityConfigError): an unreachable store, an unusable
    parity configuration and an unreachable ClickHouse end in one `error:` line, exit 2, no
    traceback; outside production a DSN the TLS contract would refuse is a warning at start."""
    store = _cli(["bundle", "SPY"], tmp_path,
                 INTEL_BUNDLE_STORE_DSN="postgresql://u:pw@127.0.0.1:1/db")
    assert store.returncode == 2 and "Traceback" not in store.stderr
    assert store.stderr.splitlines()[-1].startswith("error: cannot reach the PostgreSQL bundle store")
    assert "warning: INTEL_BUNDLE_STORE_DSN leaves sslmode unset" in store.stderr
    assert "pw" not in store.stderr.replace("password", "")
    parity = _cli(["materialize"], tmp_path, INTEL_MARKET_SOURCE="synthetic",
                  TORGHUT_DB_DSN="postgresql://u@127.0.0.1:1/t", INTEL_LEAN_DATA_DIR="/nowhere")
    assert parity.returncode == 2 and "Traceback" not in parity.stderr
    assert parity.stderr.splitlines()[-1].startswith("error: INTEL_LEAN_DATA_DIR=/nowhere")
    seed = _cli(["seed"], tmp_path, INTEL_MARKET_SOURCE="synthetic",
                INTEL_CLICKHOUSE_URL="http://reader:s3cret@127.0.0.1:1")
    assert seed.returncode == 2 and "Traceback" not in seed.stderr
    assert "error: cannot reach the ClickHouse server at http://reader:***@127.0.0.1:1" in seed.stderr


@pytest.mark.parametrize("variable, env", [
    ("INTEL_PARITY_START_DATE", {"INTEL_PARITY_START_DATE": "not-a-date"}),
    ("INTEL_LEAN_DATA_DIR", {}),  # unset: parity has no quotes
])
def test_materialize_with_a_bad_parity_setting_is_one_error_line(tmp_path, lean_dir, variable, env):
    """Issue 15, as measured: `TORGHUT_DB_DSN=postgresql://nobody@127.0.0.1:1/x
    INTEL_MARKET_SOURCE=synthetic intel-assets materialize` with a parity setting that cannot
    work (a ParityConfigError from building the definitions) printed a traceback. Now: exactly
    one `error:` line naming the variable, no traceback, exit 2 (cli/main.py's dispatch)."""
    if variable != "INTEL_LEAN_DATA_DIR":
        env = {**env, "INTEL_LEAN_DATA_DIR": str(lean_dir)}  # only the start date is wrong
    done = _cli(["materialize"], tmp_path, TORGHUT_DB_DSN="postgresql://nobody@127.0.0.1:1/x",
                INTEL_MARKET_SOURCE="synthetic", **env)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert len(errors) == 1 and variable in errors[0], done.stderr
    assert done.stderr.splitlines()[-1] == errors[0]


def test_printed_dsns_mask_every_password_as_redact_dsn_does():
    """The CLI's printed store DSNs hide a password in the query string too (it used to mask
    only the userinfo: ``?password=hunter2`` was printed as is)."""
    from intel_assets.cli.common import safe_dsn
    from intel_assets.stores.redaction import redact_dsn

    for dsn in ("postgresql://intel@db.internal/intel?password=hunter2&sslmode=verify-full",
                "postgresql://intel:hunter2@db.internal:5432/intel"):
        shown = safe_dsn(dsn)
        assert "hunter2" not in shown and shown == redact_dsn(dsn)
