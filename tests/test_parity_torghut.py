"""`intel-assets parity --day 2013-10-08` against a database with Torghut's real tables and rows:
every decision Torghut wrote is replayed (or reported with Torghut's own rejection), Torghut's
tables are byte-for-byte unchanged afterwards (row counts and checksums), and a database that is
not Torghut's gets one plain error line."""

from __future__ import annotations

import json
from datetime import date, timedelta

import psycopg2
import pytest

from intel_assets.devtools.torghut_tables import TORGHUT_TABLES, ThrowawayTorghutDb
from intel_assets.contracts.decisions import parse_event_ts
from intel_assets.domain.strategy import seed_trade_decisions, strategy_row
from intel_assets.stores.torghut_db import TorghutDb
from test_cli import _cli
from torghut_rows import decision_json, decision_row

DAY = date(2013, 10, 8)


def _fingerprint(dsn: str) -> dict[str, tuple[int, str]]:
    """Per Torghut table: (rows, md5 of every row's text in a stable order)."""
    out = {}
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for table in TORGHUT_TABLES:
            cur.execute(f"SELECT count(*), md5(COALESCE(string_agg(t::text, '|' ORDER BY "
                        f"t::text), '')) FROM {table} t")
            out[table] = cur.fetchone()
    conn.close()
    return out


def _tables(dsn: str) -> set[str]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                    "current_schema()")
        found = {r[0] for r in cur.fetchall()}
    conn.close()
    return found


@pytest.fixture
def torghuts_database(postgres_schema_dsn, lean_dir):
    """A database as Torghut leaves it: its tables (restated from its migrations), a strategy,
    a day of decisions in its decision_json shape, one it rejected itself, one on another day,
    and its own execution of the first decision (submitted 2.5 s after event_ts). No intel_*
    table exists yet."""
    torghut = ThrowawayTorghutDb(postgres_schema_dsn)
    torghut.ensure_schema()
    with psycopg2.connect(postgres_schema_dsn) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE intel_parity_reports")
    conn.close()
    seed_trade_decisions(torghut, lean_dir, DAY)
    refused = decision_row("SPY", decision_json(event_ts="2013-10-08T15:05:00Z", risk_reasons=[
        "max_notional_per_trade exceeded"]), status="rejected")
    other_day = decision_row("SPY", decision_json(event_ts="2013-10-09T15:05:00Z"))
    torghut.insert_decisions([refused, other_day])
    first = torghut.decisions_for_day(DAY)[0]
    submitted = parse_event_ts(first.decision_json["event_ts"]) + timedelta(seconds=2.5)
    torghut.insert_executions([{
        "trade_decision_id": first.id, "alpaca_order_id": "b0b6dd9d-8b9b-4d4e-a5a0-0a0c6e3e7a11",
        "client_order_id": first.decision_hash, "symbol": first.symbol,
        "side": first.decision_json["action"], "order_type": first.decision_json["order_type"],
        "submitted_qty": 100, "filled_qty": 100, "avg_fill_price": 168.9, "status": "filled",
        "execution_expected_adapter": "alpaca", "execution_actual_adapter": "alpaca",
        "raw_order": {"id": "b0b6dd9d-8b9b-4d4e-a5a0-0a0c6e3e7a11",
                      "submitted_at": submitted.isoformat()}}])
    return postgres_schema_dsn, first, refused


def test_parity_replays_what_torghut_wrote_and_leaves_its_tables_unchanged(
        torghuts_database, lean_dir, tmp_path):
    """Reproduces proompteng/lab 255d330fe services/torghut/app/models/entities.py (tables),
    app/trading/models.py (decision_json) and app/trading/execution.py (client_order_id =
    decision_hash, mark_rejected: status rejected + risk_reasons)."""
    dsn, first, refused = torghuts_database
    before, tables = _fingerprint(dsn), _tables(dsn)
    decisions = TorghutDb(dsn).decisions_for_day(DAY)
    done = _cli(["parity", "--day", "2013-10-08"], tmp_path, TORGHUT_DB_DSN=dsn,
                INTEL_LEAN_DATA_DIR=str(lean_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"read {len(decisions)} decisions Torghut wrote for 2013-10-08" in done.stdout
    assert "seeded" not in done.stdout and "throwaway" not in done.stdout
    assert _fingerprint(dsn) == before, "Torghut's tables are unchanged"
    assert _tables(dsn) == tables | {"intel_parity_reports"}, "only our own table is added"

    db = TorghutDb(dsn)
    evidence = db.parity_evidence(DAY)
    report = evidence.report
    assert evidence.complete and len(db.parity_attempts(DAY)) == 1
    replayed = {r.decision_id for r in report.rows}
    assert replayed == {d.id for d in decisions} - {refused["id"]}, "every decision is replayed"
    assert [(r.decision_id, r.code) for r in report.rejected] == [(refused["id"],
                                                                    "torghut_rejected")]
    assert "max_notional_per_trade exceeded" in report.rejected[0].reason
    rows = {r.decision_id: r for r in report.rows}
    assert all(rows[d.id].client_order_id == d.decision_hash for d in decisions
               if d.id in rows), "replayed with Torghut's client_order_id"
    torghut = rows[first.id].torghut_execution
    assert (torghut.alpaca_order_id, torghut.status, torghut.decision_to_submit_seconds) == (
        "b0b6dd9d-8b9b-4d4e-a5a0-0a0c6e3e7a11", "filled", 2.5)
    assert report.summary.torghut_executions == 1
    assert all(r.alpaca.answered and r.lean.answered for r in report.rows)

    again = _cli(["parity", "--day", "2013-10-08"], tmp_path, TORGHUT_DB_DSN=dsn,
                 INTEL_LEAN_DATA_DIR=str(lean_dir))
    assert again.returncode == 0, again.stdout + again.stderr
    assert _fingerprint(dsn) == before, "a second run writes nothing of Torghut's either"


def test_a_database_that_is_not_torghuts_gets_one_plain_error_line(
        postgres_schema_dsn, lean_dir, tmp_path):
    with psycopg2.connect(postgres_schema_dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE trade_decisions (id uuid PRIMARY KEY, strategy_id text, "
                    "symbol text, timeframe text, decision_json jsonb, status text, "
                    "created_at timestamptz DEFAULT now())")
    conn.close()
    done = _cli(["parity", "--day", "2013-10-08"], tmp_path, TORGHUT_DB_DSN=postgres_schema_dsn,
                INTEL_LEAN_DATA_DIR=str(lean_dir))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("error: Torghut database ")
    assert "table trade_decisions has no column alpaca_account_label, rationale, decision_hash, " \
           "executed_at" in lines[0] and "table executions does not exist" in lines[0]
    assert "alembic upgrade head" in lines[0]
    assert _tables(postgres_schema_dsn) == {"trade_decisions"}, "nothing was created"


def test_seeding_a_throwaway_database_writes_torghuts_strategy_row(torghut_db):
    """Reproduces proompteng/lab 255d330fe services/torghut/app/models/entities.py (Strategy)."""
    with psycopg2.connect(torghut_db._dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT id::text, name, enabled, base_timeframe, universe_type, "
                    "universe_symbols FROM strategies")
        (row,) = cur.fetchall()
    conn.close()
    expected = strategy_row()
    assert row == (expected["id"], expected["name"], True, "1Min", "static",
                   ["SPY", "IBM", "BAC", "AIG"])
    assert json.dumps(row[5]) == json.dumps(expected["universe_symbols"])
