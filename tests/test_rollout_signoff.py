"""Sign-off as a record: `intel-assets rollout approve/revoke/status` on a real PostgreSQL.

Approvals and revocations are rows of the append-only intel_rollout_signoffs (the token's sha256
only, never the token); the gate's p4_approval reads the configured token's latest event: an
approval of phase 4 on the gate's baseline version passes, a revocation or an approval of an
older baseline fails with what to run next."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import psycopg2
import pytest
from dagster import DagsterInstance

from intel_assets.cli import rollout as rollout_command
from intel_assets.cli.main import main as cli_main
from intel_assets.assets.rollout import gather_evidence
from intel_assets.contracts.gates import ExecutionMetrics, GuardrailMetrics, RejectionMetrics
from intel_assets.domain.gates import CRITERIA, evaluate_gates
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.domain.rollout_metrics import token_sha256
from intel_assets.resources.rollout_policy import APPROVAL_TOKEN_ENV, RolloutPolicyResource
from intel_assets.settings import SettingsError, load_settings

AS_OF = date(2013, 10, 11)
VAR = "SIGNOFF_TEST_TOKEN"


@pytest.fixture
def env(monkeypatch, tmp_path, postgres_schema_dsn, torghut_db):
    """TORGHUT_DB_DSN on the test's schema, a fresh INTEL_HOME (SQLite Dagster storage) and an
    approval token in VAR (and in INTEL_ROLLOUT_APPROVAL_TOKEN, which the gate reads)."""
    token = "tok-" + uuid.uuid4().hex
    monkeypatch.setenv("TORGHUT_DB_DSN", postgres_schema_dsn)
    monkeypatch.setenv("INTEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("INTEL_EMBEDDED_POSTGRES", "false")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))  # restored after the test
    monkeypatch.setenv(VAR, token)
    monkeypatch.setenv(APPROVAL_TOKEN_ENV, token)
    torghut_db.ensure_rollout_schema()
    return token


def _freeze_baseline(db, start=date(2013, 10, 7), end=date(2013, 10, 8)):
    """A new baseline version with numbers phase 0 accepts (decisions, executions, guardrail)."""
    return db.save_baseline(
        start_day=start, end_day=end, run_id=f"run-{uuid.uuid4().hex[:8]}", note="",
        rejections=RejectionMetrics(decisions=20, schema_rejections=1, rate_pct=5.0),
        executions=ExecutionMetrics(executions=10, filled=8, fill_rate_pct=80.0),
        guardrail=GuardrailMetrics(decisions=20, observed=20, consulted=16, degraded=2,
                                   degraded_share_pct=12.5))


def _run(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    code = rollout_command.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def _approve(capsys, approver="risk-officer", *extra: str):
    return _run(capsys, "approve", "--phase", "4", "--approver", approver, "--token-env", VAR,
                *extra)


def _gate(db, token: str | None):
    """The p4_approval result of the gate evaluated now, as rollout_gate evaluates it."""
    resource = RolloutPolicyResource(approval_token=token)
    with DagsterInstance.ephemeral() as instance:
        evidence = gather_evidence(db, instance, resource, AS_OF, datetime.now(timezone.utc))
    return {c.id: c for c in evaluate_gates(evidence, resource.policy()).criteria}["p4_approval"]


def _rows(dsn: str) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT kind, token_sha256, actor, at, phase, baseline_version, reason, "
                    "t::text FROM intel_rollout_signoffs t ORDER BY id")
        rows = cur.fetchall()
    conn.close()
    return rows


def test_approve_records_who_when_phase_baseline_and_hash_never_the_token(
        env, torghut_db, postgres_schema_dsn, capsys):
    _freeze_baseline(torghut_db)
    before = datetime.now(timezone.utc)
    code, out, err = _approve(capsys, "risk-officer", "--note", "canary week green")
    after = datetime.now(timezone.utc)
    digest = token_sha256(env)
    assert code == 0 and err == [] and len(out) == 1, (out, err)
    assert out[0].startswith("approved: risk-officer signed off phase 4 on baseline v1 "
                             "(2013-10-07..2013-10-08) for the token with sha256 "
                             f"{digest[:12]}...")
    (row,) = _rows(postgres_schema_dsn)
    kind, stored, actor, at, phase, version, reason, text = row
    assert (kind, stored, actor, phase, version, reason) == (
        "approve", digest, "risk-officer", 4, 1, "canary week green")
    assert before - timedelta(seconds=5) <= at <= after + timedelta(seconds=5)
    assert env not in text and env not in out[0], "only the sha256 is ever recorded or printed"

    _freeze_baseline(torghut_db, start=date(2013, 10, 9), end=date(2013, 10, 10))
    code, out, _ = _approve(capsys, "second-approver", "--baseline-version", "1")
    assert code == 0 and "on baseline v1 " in out[0], "a pinned version is recorded as asked"
    assert [r[5] for r in _rows(postgres_schema_dsn)] == [1, 1]
    code, _, err = _approve(capsys, "x", "--baseline-version", "7")
    assert code == 2 and err == ["error: intel_rollout_baselines has no version 7 (newest: v2) "
                                 f"in {torghut_db.where}"]


def test_the_gate_passes_after_approve_and_fails_after_revoke_with_the_revokers_words(
        env, torghut_db, capsys):
    _freeze_baseline(torghut_db)
    missing = _gate(torghut_db, env)
    assert missing.missing_evidence and "no approval of the configured token" in missing.message
    assert ("intel-assets rollout approve --phase 4 --approver NAME --token-env "
            "INTEL_ROLLOUT_APPROVAL_TOKEN --baseline-version 1") in missing.message

    assert _approve(capsys)[0] == 0
    passed = _gate(torghut_db, env)
    assert passed.passed and passed.message.startswith("approved by risk-officer at ")
    assert passed.message.endswith("for phase 4 on baseline v1")
    assert [e.name for e in passed.evidence] == ["intel_rollout_signoffs"]

    code, out, err = _run(capsys, "revoke", "--token-env", VAR, "--by", "cro", "--reason",
                          "fill drift spiked on 10-09")
    assert code == 0 and err == [] and len(out) == 1 and env not in out[0]
    assert out[0].startswith("revoked: cro withdrew the approval of phase 4 on baseline v1")
    revoked = _gate(torghut_db, env)
    assert not revoked.passed and revoked.message.startswith("revoked by cro at ")
    assert ": fill drift spiked on 10-09 (it withdrew risk-officer's approval" in revoked.message
    assert "approve again: `intel-assets rollout approve --phase 4" in revoked.message

    code, _, err = _run(capsys, "revoke", "--token-env", VAR, "--by", "cro", "--reason", "again")
    assert code == 2 and len(err) == 1 and err[0].startswith("error: the token with sha256 "
                                                             f"{token_sha256(env)[:12]}... is "
                                                             "already revoked by cro at ")

    assert _approve(capsys, "risk-officer-2")[0] == 0
    again = _gate(torghut_db, env)
    assert again.passed and "approved by risk-officer-2" in again.message, \
        "the latest event decides: an approval after a revocation passes"


def test_an_approval_of_an_older_baseline_fails_once_a_new_version_is_frozen(
        env, torghut_db, capsys):
    _freeze_baseline(torghut_db)
    assert _approve(capsys)[0] == 0
    assert _gate(torghut_db, env).passed
    _freeze_baseline(torghut_db, start=date(2013, 10, 9), end=date(2013, 10, 10))
    stale = _gate(torghut_db, env)
    assert not stale.passed and not stale.missing_evidence
    assert stale.message.startswith("approved baseline v1, the gate uses v2: approve again "
                                    "(`intel-assets rollout approve --phase 4")
    assert (stale.measured, stale.threshold) == (1.0, 2.0)
    assert _approve(capsys)[0] == 0
    assert _gate(torghut_db, env).passed, "approving again names the newest baseline (v2)"


def test_an_unset_or_empty_token_variable_is_one_error_line_and_nothing_is_recorded(
        env, torghut_db, postgres_schema_dsn, capsys, monkeypatch):
    _freeze_baseline(torghut_db)
    for value in (None, "  "):
        if value is None:
            monkeypatch.delenv(VAR)
        else:
            monkeypatch.setenv(VAR, value)
        for argv in (["approve", "--phase", "4", "--approver", "a", "--token-env", VAR],
                     ["revoke", "--token-env", VAR, "--by", "a", "--reason", "r"]):
            code, out, err = _run(capsys, *argv)
            assert code == 2 and out == [] and len(err) == 1, (argv, err)
            assert err[0].startswith(f"error: environment variable {VAR} is unset or empty")
    assert _rows(postgres_schema_dsn) == []
    monkeypatch.setenv(VAR, "never-approved")
    code, _, err = _run(capsys, "revoke", "--token-env", VAR, "--by", "a", "--reason", "r")
    assert code == 2 and len(err) == 1 and "has no approval to revoke" in err[0]


def test_no_baseline_or_no_database_is_one_error_line_naming_the_fix(
        env, capsys, monkeypatch):
    code, _, err = _approve(capsys)
    assert code == 2 and len(err) == 1
    assert "no baseline in intel_rollout_baselines" in err[0] and "`make gate`" in err[0]
    monkeypatch.delenv("TORGHUT_DB_DSN")
    with pytest.raises(SettingsError, match="set TORGHUT_DB_DSN"):
        rollout_command.torghut_dsn_for(load_settings())
    code, _, err = _approve(capsys)
    assert code == 2 and len(err) == 1 and err[0].startswith("error: no Torghut database: set "
                                                             "TORGHUT_DB_DSN")
    monkeypatch.setenv("TORGHUT_DB_DSN", "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")
    code, _, err = _approve(capsys)
    assert code == 2 and len(err) == 1 and err[0].startswith("error: Torghut database ")
    assert cli_main(["rollout", "approve", "--phase", "4", "--approver", "a",
                     "--token-env", VAR]) == 2, "registered in the intel-assets command"


def test_the_signoff_table_refuses_update_delete_and_truncate(env, postgres_schema_dsn, capsys,
                                                              torghut_db):
    _freeze_baseline(torghut_db)
    assert _approve(capsys)[0] == 0
    for statement in ("UPDATE intel_rollout_signoffs SET actor = 'someone else'",
                      "DELETE FROM intel_rollout_signoffs", "TRUNCATE intel_rollout_signoffs"):
        with psycopg2.connect(postgres_schema_dsn) as conn, conn.cursor() as cur:
            with pytest.raises(psycopg2.Error, match="intel_rollout_signoffs is append-only"):
                cur.execute(statement)
        conn.close()
    assert [r[2] for r in _rows(postgres_schema_dsn)] == ["risk-officer"]
    torghut_db.ensure_rollout_schema()  # idempotent: the trigger is not created twice


def test_status_prints_every_criterion_with_its_evidence_and_what_is_next(
        env, torghut_db, capsys):
    _freeze_baseline(torghut_db)
    assert _approve(capsys)[0] == 0
    code, out, err = _run(capsys, "status", "--as-of", str(AS_OF))
    text = "\n".join(out)
    assert code == 0, err
    assert f"rollout_gate as of {AS_OF}" in text and "PHASE REACHED 0 (baseline frozen)" in text
    for cid in CRITERIA:
        assert any(line.split()[1:2] == [cid] for line in out if line[:1].isdigit()), cid
    assert "p4_approval" in text and "approved by risk-officer" in text
    assert "evidence:" in text and "table intel_rollout_baselines [version=1]" in text
    nexts = [i for i, line in enumerate(out) if line.startswith("next:")]
    assert len(nexts) == 1 and out[nexts[0]].startswith("next: to reach phase 1")
    assert out[nexts[0] + 1].startswith("  - p1_wire_contract: no evidence:")
    assert env not in text

    code, out, _ = _run(capsys, "status")  # no parity report: as of yesterday in New York
    assert code == 0
    yesterday = datetime.now(NEW_YORK).date() - timedelta(days=1)
    assert any(f"rollout_gate as of {d}" in "\n".join(out)  # (the test may straddle midnight)
               for d in (yesterday - timedelta(days=1), yesterday))


@pytest.fixture
def embedded_home(tmp_path):
    from intel_assets.stores import local_postgres as lp

    home = tmp_path / "intel"
    home.mkdir()
    yield home
    lp.release(home)
    cluster = lp.Cluster(home)
    if cluster.server_pid() is not None:
        cluster.stop()


def test_without_torghut_db_dsn_the_embedded_cluster_holds_the_demo_database(
        embedded_home, monkeypatch, capsys):
    monkeypatch.delenv("TORGHUT_DB_DSN", raising=False)
    monkeypatch.setenv("INTEL_HOME", str(embedded_home))
    monkeypatch.setenv("INTEL_EMBEDDED_POSTGRES", "true")
    dsn, demo = rollout_command.torghut_dsn_for(load_settings())
    assert demo and "/torghut_demo?" in dsn
    assert rollout_command.torghut_dsn_for(load_settings()) == (dsn, True), "found, not recreated"
    from intel_assets.stores.rollout_db import RolloutDb

    db = RolloutDb(dsn)
    db.ensure_rollout_schema()
    _freeze_baseline(db)
    monkeypatch.setenv(VAR, "demo-token")
    code, out, _ = _approve(capsys, "demo-approver")
    assert code == 0 and out[0].endswith("demo database torghut_demo of the embedded PostgreSQL "
                                         "(set TORGHUT_DB_DSN for Torghut's))")
    assert [e.actor for e in db.signoffs(token_sha256("demo-token"))] == ["demo-approver"]



def test_a_bad_canary_symbol_is_one_error_line_in_status(env, capsys, monkeypatch):
    """rollout status reads the canary subset from INTEL_CANARY_SYMBOLS: a symbol that is not
    one is a single error line (exit 2), never a traceback."""
    monkeypatch.setenv("INTEL_CANARY_SYMBOLS", "SPY,not a symbol!")
    code, out, err = _run(capsys, "status")
    assert code == 2 and out == [] and len(err) == 1
    assert err[0].startswith("error: INTEL_CANARY_SYMBOLS: ")
