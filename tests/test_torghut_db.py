"""Torghut's database on a real PostgreSQL: the restated schema, seeding in Torghut's shapes,
the sensor's cursor reads, day assignment, stored reports (evidence vs attempts), Torghut's own
executions, a database that is not Torghut's, and bad decisions rejected with reasons."""

from __future__ import annotations

import hashlib
import json
import socket
from datetime import date, datetime, timezone

import psycopg2
import pytest

from intel_assets.contracts.decisions import StrategyDecision
from intel_assets.contracts.orders import OrderIntent
from intel_assets.contracts.parity import ParityReport, VenueOutcome
from intel_assets.domain.decisions import MarketTape, decision_day, validate_decisions
from intel_assets.domain.strategy import STRATEGY_ID, seed_trade_decisions, strategy_decisions
from intel_assets.domain.tca import ArrivalQuote, build_parity_report, parity_row
from intel_assets.stores.torghut_db import TorghutDb, TorghutDbUnavailableError, TorghutSchemaError
from torghut_rows import decision_json, decision_row

DAY = date(2013, 10, 8)


def _columns(dsn: str) -> dict[tuple[str, str], tuple[str, str, str | None, int | None]]:
    """(table, column) -> (type, nullable, default, varchar length) of the test schema."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name, column_name, data_type, is_nullable, column_default, "
                    "character_maximum_length FROM information_schema.columns WHERE "
                    "table_schema = current_schema()")
        found = {(t, c): (d, n, dflt, length) for t, c, d, n, dflt, length in cur.fetchall()}
    conn.close()
    return found


def test_schema_restates_torghuts_ddl(torghut_db, postgres_schema_dsn):
    """Reproduces proompteng/lab 255d330fe services/torghut/migrations/versions/0001..0013 and
    services/torghut/app/models/entities.py (Strategy, TradeDecision, Execution)."""
    torghut_db.ensure_schema()  # a second time: idempotent
    cols = _columns(postgres_schema_dsn)
    td = {c: v for (t, c), v in cols.items() if t == "trade_decisions"}
    assert set(td) == {"id", "strategy_id", "alpaca_account_label", "symbol", "timeframe",
                       "decision_json", "rationale", "decision_hash", "status", "executed_at",
                       "created_at"}
    assert td["id"][:2] == ("uuid", "NO") and td["strategy_id"][:2] == ("uuid", "NO")
    assert td["decision_json"][:2] == ("jsonb", "NO")
    assert td["decision_hash"] == ("character varying", "YES", None, 64)
    assert td["symbol"][3] == 16 and td["alpaca_account_label"][1:] == ("NO", None, 64)
    assert td["status"][2].startswith("'planned'")
    assert td["rationale"][:2] == ("text", "YES")
    ex = {c: v for (t, c), v in cols.items() if t == "executions"}
    for name in ("alpaca_order_id", "client_order_id", "symbol", "side", "order_type",
                 "time_in_force", "submitted_qty", "filled_qty", "avg_fill_price", "status",
                 "execution_expected_adapter", "execution_actual_adapter",
                 "execution_fallback_reason", "execution_fallback_count",
                 "execution_correlation_id", "execution_idempotency_key", "execution_audit_json",
                 "raw_order", "alpaca_account_label", "trade_decision_id"):
        assert name in ex, name
    assert ex["alpaca_order_id"][:2] == ("character varying", "NO")
    assert ex["trade_decision_id"][:2] == ("uuid", "YES")
    assert ex["submitted_qty"][0] == "numeric" and ex["execution_audit_json"][0] == "jsonb"
    assert ex["execution_actual_adapter"][2].startswith("'unknown'")
    assert ex["execution_idempotency_key"][3] == 96
    with psycopg2.connect(postgres_schema_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE "
                    "contype = 'f' AND connamespace = current_schema()::regnamespace")
        fks = dict(cur.fetchall())
        with pytest.raises(psycopg2.errors.ForeignKeyViolation):
            cur.execute("INSERT INTO trade_decisions (id, strategy_id, alpaca_account_label, "
                        "symbol, timeframe, decision_json) VALUES (gen_random_uuid(), "
                        "gen_random_uuid(), 'paper', 'SPY', '1Min', '{}')")
    conn.close()
    assert "REFERENCES strategies(id) ON DELETE CASCADE" in fks[
        "fk_trade_decisions_strategy_id_strategies"]
    assert "REFERENCES trade_decisions(id) ON DELETE SET NULL" in fks[
        "fk_executions_trade_decision_id_trade_decisions"]


def test_seeding_writes_torghuts_shapes_idempotently(torghut_db, lean_dir):
    """Reproduces proompteng/lab 255d330fe services/torghut/app/trading/models.py (StrategyDecision,
    decision_hash) and execution.py (ensure_decision: decision_json = model_dump(mode="json"))."""
    first = seed_trade_decisions(torghut_db, lean_dir, DAY)
    again = seed_trade_decisions(torghut_db, lean_dir, DAY)
    expected = strategy_decisions(lean_dir, DAY)
    assert first == len(expected) >= 8, "a handful of intents across the four symbols"
    assert again == 0, "reseeding the same day inserts nothing"
    rows = torghut_db.decisions_for_day(DAY)
    assert sorted(r.id for r in rows) == sorted(d["id"] for d in expected)
    assert {r.symbol for r in rows} == {"SPY", "IBM", "BAC", "AIG"}
    fields = {"strategy_id", "symbol", "event_ts", "timeframe", "action", "qty", "order_type",
              "time_in_force", "limit_price", "stop_price", "rationale", "params"}
    for r in rows:
        payload = r.decision_json
        assert set(payload) == fields and r.strategy_id == STRATEGY_ID == payload["strategy_id"]
        assert isinstance(payload["qty"], str) and payload["action"] in ("buy", "sell")
        assert payload["event_ts"].endswith("Z") and decision_day(r) == DAY
        assert r.alpaca_account_label == "paper" and r.rationale == payload["rationale"]
        decision = StrategyDecision.model_validate(payload)
        canonical = json.dumps({
            "strategy_id": payload["strategy_id"], "symbol": payload["symbol"],
            "event_ts": decision.event_ts.isoformat(), "timeframe": payload["timeframe"],
            "action": payload["action"], "qty": payload["qty"],
            "order_type": payload["order_type"], "time_in_force": payload["time_in_force"],
            "limit_price": payload["limit_price"], "stop_price": payload["stop_price"],
            "params": payload["params"], "account_label": None},
            sort_keys=True, separators=(",", ":"))
        assert r.decision_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert {r.decision_json["order_type"] for r in rows} == {"market", "limit"}
    assert all(float(r.decision_json["limit_price"]) > 0 for r in rows
               if r.decision_json["order_type"] == "limit")
    valid, rejected = validate_decisions(rows, MarketTape(lean_dir))
    assert rejected == [] and len(valid) == len(rows)
    assert {v.intent.client_order_id for v in valid} == {r.decision_hash for r in rows}, \
        "Torghut submits with client_order_id = decision_hash"
    times = [v.intent.decision_time for v in valid]
    assert times == sorted(times) and all(v.arrival.mid > 0 for v in valid)
    # decision ids stay the same across processes: they are part of the evidence trail
    assert strategy_decisions(lean_dir, DAY)[0]["id"] == expected[0]["id"]


def test_bad_decisions_are_rejected_with_reasons(torghut_db, lean_dir):
    good = decision_row("SPY", decision_json("SPY"))
    cases = {
        "unknown_symbol": decision_row("ZZZT", decision_json("ZZZT")),
        "invalid_qty": decision_row("SPY", decision_json(qty="0")),
        "invalid_action": decision_row("IBM", decision_json("IBM", action="hold")),
        "missing_limit_price": decision_row("BAC", decision_json("BAC", order_type="limit")),
        "missing_stop_price": decision_row("BAC", decision_json("BAC", order_type="stop_limit",
                                                                limit_price="14.1")),
        "invalid_order_type": decision_row("BAC", decision_json("BAC", order_type="twap")),
        "outside_data": decision_row("AIG", decision_json("AIG", event_ts="2013-10-08T20:30:00Z")),
        "invalid_event_ts": decision_row("SPY", decision_json(event_ts="yesterday"),
                                         created_at=datetime(2013, 10, 8, 15, tzinfo=timezone.utc)),
        "malformed_decision": decision_row("SPY", ["buy", 10], created_at=datetime(
            2013, 10, 8, 16, tzinfo=timezone.utc)),
        "symbol_mismatch": decision_row("SPY", decision_json(symbol="IBM")),
        "order_too_large": decision_row("SPY", decision_json(qty="1e28")),
        "torghut_rejected": decision_row("SPY", decision_json(risk_reasons=[
            "max_notional_exceeded", "llm_veto"]), status="rejected"),
        "duplicate_client_order_id": decision_row(
            "SPY", decision_json(event_ts="2013-10-08T15:00:00Z"), alpaca_account_label="live",
            decision_hash=good["decision_hash"]),
        "invalid_intent": decision_row("SPY", decision_json(limit_price="400")),
    }
    negative = decision_row("IBM", decision_json("IBM", qty="-5"))
    text_qty = decision_row("IBM", decision_json("IBM", qty="lots"))
    other_day = decision_row("SPY", decision_json(event_ts="2014-01-06T15:00:00Z"))
    torghut_db.insert_decisions([good])  # first: the duplicate comes after it in (created_at, id)
    torghut_db.insert_decisions([*cases.values(), negative, text_qty, other_day])
    rows = torghut_db.decisions_for_day(DAY)
    assert other_day["id"] not in {r.id for r in rows}, "a 2014 decision is not on 2013-10-08"
    valid, rejected = validate_decisions(rows, MarketTape(lean_dir))
    assert [v.decision_id for v in valid] == [good["id"]]
    codes = {r.decision_id: r.code for r in rejected}
    for code, row in cases.items():
        assert codes[row["id"]] == code, f"{code}: got {codes.get(row['id'])}"
    assert codes[negative["id"]] == codes[text_qty["id"]] == "invalid_qty"
    reasons = {r.code: r.reason for r in rejected}
    assert "ZZZT" in reasons["unknown_symbol"] and "SPY" in reasons["unknown_symbol"]
    assert "limit_price" in reasons["missing_limit_price"]
    assert "stop_price" in reasons["missing_stop_price"]
    assert "'hold'" in reasons["invalid_action"]
    assert "outside the data" in reasons["outside_data"] and "2013-10-08" in reasons["outside_data"]
    assert "max_notional_exceeded; llm_veto" in reasons["torghut_rejected"]
    assert "not replayed" in reasons["torghut_rejected"]
    assert good["decision_hash"] in reasons["duplicate_client_order_id"] and good["id"] in \
        reasons["duplicate_client_order_id"]
    assert "limit_price is only allowed" in reasons["invalid_intent"]
    assert "1E+28 exceeds the largest order accepted" in reasons["order_too_large"]
    _, other = validate_decisions(torghut_db.decisions_for_day(date(2014, 1, 6)),
                                  MarketTape(lean_dir))
    assert [r.code for r in other] == ["outside_data"]


def test_day_is_the_new_york_date_of_event_ts(torghut_db):
    late = decision_row("SPY", decision_json(event_ts="2013-10-09T01:30:00Z"))        # 21:30 NY
    offset = decision_row("SPY", decision_json(event_ts="2013-10-08T23:30:00-04:00"))
    naive = decision_row("SPY", decision_json(event_ts="2013-10-08T15:00:00"))  # UTC, as Torghut
    early = decision_row("SPY", decision_json(event_ts="2013-10-08T03:00:00Z"))       # 23:00 10-07
    torghut_db.insert_decisions([late, offset, naive, early])
    assert {r.id for r in torghut_db.decisions_for_day(DAY)} == {late["id"], offset["id"],
                                                                 naive["id"]}
    assert [r.id for r in torghut_db.decisions_for_day(date(2013, 10, 7))] == [early["id"]]
    assert torghut_db.first_decision_day() == date(2013, 10, 7)


def test_decisions_since_pages_in_created_at_then_id_order(torghut_db):
    rows = [decision_row("SPY", decision_json()) for _ in range(5)]
    torghut_db.insert_decisions(rows)  # one transaction: one created_at, ties broken by id
    seen, created_at, last_id = [], None, None
    while page := torghut_db.decisions_since(created_at, last_id, limit=2):
        seen += page
        created_at, last_id = page[-1].created_at, page[-1].id
    assert [r.id for r in seen] == sorted(r["id"] for r in rows)
    assert len({r.created_at for r in seen}) == 1
    assert torghut_db.decisions_since(None, None, settle_seconds=3600) == [], \
        "rows younger than the settle time wait for a later tick"


def _report(generated: datetime, lean_status: str = "filled") -> ParityReport:
    intent = OrderIntent(intent_id="d1", strategy_id="s", symbol="SPY", side="buy", qty=10,
                         decision_time=datetime(2013, 10, 8, 14, 30, tzinfo=timezone.utc))
    arrival = ArrivalQuote(100.0, 99.9, 100.1, intent.decision_time)
    filled = VenueOutcome(status="filled", filled_qty=10, avg_fill_price=100.1,
                          filled_at=intent.decision_time, slippage_bps=10.0)
    lean = filled if lean_status == "filled" else VenueOutcome(status="unavailable",
                                                              reason="runner down")
    return build_parity_report(DAY, generated, {"alpaca": "a", "lean": "l"},
                               [parity_row("d1", intent, arrival, filled, lean)], [])


def test_an_incomplete_attempt_never_replaces_the_days_evidence(torghut_db):
    good = _report(datetime(2013, 10, 9, 6, tzinfo=timezone.utc))
    down = _report(datetime(2013, 10, 9, 7, tzinfo=timezone.utc), lean_status="unavailable")
    assert torghut_db.save_parity_report(good, "run-good").complete
    stored = torghut_db.save_parity_report(down, "run-down")
    assert not stored.complete and stored.problems == ["lean side unavailable: runner down"]
    evidence = torghut_db.parity_evidence(DAY)
    assert (evidence.run_id, evidence.complete) == ("run-good", True)
    assert torghut_db.latest_parity_report(DAY) == good
    assert [(a[0], a[2]) for a in torghut_db.parity_attempts(DAY)] == [
        ("run-down", False), ("run-good", True)], "the failure is recorded beside the evidence"
    newer = good.model_copy(update={"generated_at": datetime(2013, 10, 9, 8, tzinfo=timezone.utc)})
    torghut_db.save_parity_report(newer, "run-newer")
    assert torghut_db.parity_evidence(DAY).run_id == "run-newer", "a newer complete one wins"
    assert torghut_db.latest_parity_report(date(2013, 10, 10)) is None


def test_reports_table_of_the_first_release_is_brought_up_to_date(postgres_schema_dsn):
    """A table without complete/problems: old unavailable rows become incomplete, not evidence."""
    down = _report(datetime(2013, 10, 9, 7, tzinfo=timezone.utc), lean_status="unavailable")
    good = _report(datetime(2013, 10, 9, 6, tzinfo=timezone.utc))
    with psycopg2.connect(postgres_schema_dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE intel_parity_reports (day date NOT NULL, run_id text NOT NULL, "
                    "generated_at timestamptz NOT NULL, report jsonb NOT NULL, PRIMARY KEY "
                    "(day, run_id))")
        for run_id, report in (("old-good", good), ("old-down", down)):
            cur.execute("INSERT INTO intel_parity_reports VALUES (%s, %s, %s, %s)",
                        (DAY, run_id, report.generated_at, report.model_dump_json()))
    conn.close()
    db = TorghutDb(postgres_schema_dsn)
    db.ensure_parity_schema()
    assert db.parity_evidence(DAY).run_id == "old-good"
    assert {a[0]: a[2] for a in db.parity_attempts(DAY)} == {"old-good": True, "old-down": False}


def test_torghuts_executions_are_found_by_link_or_by_decision_hash(torghut_db):
    linked = decision_row("SPY", decision_json())
    by_hash = decision_row("IBM", decision_json("IBM"))
    torghut_db.insert_decisions([linked, by_hash])
    torghut_db.insert_executions([
        {"trade_decision_id": linked["id"], "alpaca_order_id": "o-1", "client_order_id":
         linked["decision_hash"], "symbol": "SPY", "side": "buy", "order_type": "market",
         "submitted_qty": 10, "filled_qty": 10, "avg_fill_price": 168.9, "status": "filled",
         "execution_actual_adapter": "alpaca",
         "raw_order": {"submitted_at": "2013-10-08T14:30:02.5Z"}},
        {"trade_decision_id": None, "alpaca_order_id": "o-2", "client_order_id":
         by_hash["decision_hash"], "symbol": "IBM", "side": "buy", "order_type": "market",
         "submitted_qty": 10, "status": "new"}])
    found = torghut_db.executions_for(torghut_db.decisions_for_day(DAY))
    assert set(found) == {linked["id"], by_hash["id"]}
    assert found[linked["id"]].submitted_at == datetime(2013, 10, 8, 14, 30, 2, 500000,
                                                        tzinfo=timezone.utc)
    assert found[by_hash["id"]].alpaca_order_id == "o-2" and found[by_hash["id"]].filled_qty == 0


def test_a_database_without_torghuts_tables_gets_one_plain_error(postgres_schema_dsn):
    db = TorghutDb(postgres_schema_dsn)
    with pytest.raises(TorghutSchemaError) as missing:
        db.check_torghut_schema()
    assert "table trade_decisions does not exist" in str(missing.value)
    assert "table executions does not exist" in str(missing.value)
    assert "TORGHUT_DB_DSN" in str(missing.value) and "alembic upgrade head" in str(missing.value)
    with psycopg2.connect(postgres_schema_dsn) as conn, conn.cursor() as cur:  # an older schema
        cur.execute("CREATE TABLE trade_decisions (id uuid PRIMARY KEY, strategy_id uuid, "
                    "symbol text, timeframe text, decision_json jsonb, status text, "
                    "created_at timestamptz DEFAULT now())")
    conn.close()
    with pytest.raises(TorghutSchemaError) as lacking:
        db.decisions_for_day(DAY)  # the query itself fails: translated, not a traceback
    message = str(lacking.value)
    assert "table trade_decisions has no column alpaca_account_label, rationale, " \
           "decision_hash, executed_at" in message


def test_unreachable_database_is_a_plain_error_without_the_password():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = TorghutDb(f"postgresql://torghut:s3cret-pw@127.0.0.1:{port}/torghut", connect_timeout=2)
    for call in (lambda: db.decisions_for_day(DAY), db.check_torghut_schema):
        with pytest.raises(TorghutDbUnavailableError) as err:
            call()
        message = str(err.value)
        assert "connection refused" in message and f"127.0.0.1:{port}" in message
        assert "s3cret-pw" not in message


def test_torghuts_head_schema_reads_the_same(torghut_db, lean_dir, postgres_schema_dsn):
    """Reproduces proompteng/lab HEAD services/torghut/app/models/entities/trading_records.py:
    symbol widened to varchar(64), capital-authority columns and a (created_at, id) index added
    to trade_decisions; our reads and checks do not depend on either."""
    with psycopg2.connect(postgres_schema_dsn) as conn, conn.cursor() as cur:
        for table in ("trade_decisions", "executions"):
            cur.execute(f"ALTER TABLE {table} ALTER COLUMN symbol TYPE varchar(64)")
        cur.execute("ALTER TABLE trade_decisions ADD COLUMN strategy_capital_authority_id "
                    "varchar(128), ADD COLUMN strategy_capital_authority_digest varchar(71), "
                    "ADD COLUMN strategy_capital_authority_evaluated_at timestamptz, ADD COLUMN "
                    "strategy_capital_authority_allowed boolean")
        cur.execute("CREATE INDEX ix_trade_decisions_created_id ON trade_decisions "
                    "(created_at, id)")
    conn.close()
    torghut_db.check_torghut_schema()
    seeded = seed_trade_decisions(torghut_db, lean_dir, DAY)
    rows = torghut_db.decisions_for_day(DAY)
    valid, rejected = validate_decisions(rows, MarketTape(lean_dir))
    assert len(rows) == seeded == len(valid) and rejected == []
