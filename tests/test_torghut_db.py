"""Torghut's database on a real PostgreSQL: schema, idempotent seeding, the sensor's cursor reads,
day assignment, stored reports, and bad decisions rejected with reasons (never a crash)."""

from __future__ import annotations

import socket
import uuid
from datetime import date, datetime, timezone

import pytest

from intel_assets.contracts.parity import ParityReport
from intel_assets.domain.decisions import MarketTape, decision_day, validate_decisions
from intel_assets.domain.strategy import STRATEGY_ID, seed_trade_decisions, strategy_decisions
from intel_assets.domain.tca import build_parity_report
from intel_assets.resources.torghut_db import TorghutDb, TorghutDbUnavailableError

DAY = date(2013, 10, 8)


def _decision(symbol: str, payload, **extra) -> dict:
    return {"id": str(uuid.uuid4()), "strategy_id": "test", "symbol": symbol, "timeframe": "1Min",
            "decision_json": payload, "status": "planned", **extra}


def _intent(**fields) -> dict:
    return {"side": "buy", "qty": 10, "type": "market", "time_in_force": "day",
            "decision_time": "2013-10-08T14:30:00+00:00", **fields}


def test_schema_has_torghuts_tables_and_ours(torghut_db: TorghutDb, postgres_schema_dsn: str):
    import psycopg2

    torghut_db.ensure_schema()  # a second time: idempotent
    with psycopg2.connect(postgres_schema_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = current_schema()")
        columns = {(t, c): d for t, c, d in cur.fetchall()}
    conn.close()
    assert columns[("trade_decisions", "id")] == "uuid"
    assert columns[("trade_decisions", "decision_json")] == "jsonb"
    assert columns[("trade_decisions", "created_at")] == "timestamp with time zone"
    assert columns[("trade_decisions", "executed_at")] == "timestamp with time zone"
    assert {c for t, c in columns if t == "trade_decisions"} == {
        "id", "strategy_id", "symbol", "timeframe", "decision_json", "status", "created_at",
        "executed_at"}
    assert {c for t, c in columns if t == "executions"} == {
        "trade_decision_id", "client_order_id", "symbol", "side", "order_type", "time_in_force",
        "submitted_qty", "filled_qty", "avg_fill_price", "status", "raw_order", "created_at"}
    assert columns[("intel_parity_reports", "report")] == "jsonb"


def test_seeding_is_idempotent_and_every_seeded_intent_is_valid(torghut_db: TorghutDb, lean_dir):
    first = seed_trade_decisions(torghut_db, lean_dir, DAY)
    again = seed_trade_decisions(torghut_db, lean_dir, DAY)
    expected = strategy_decisions(lean_dir, DAY)
    assert first == len(expected) >= 8, "a handful of intents across the four symbols"
    assert again == 0, "reseeding the same day inserts nothing"
    rows = torghut_db.decisions_for_day(DAY)
    assert sorted(r.id for r in rows) == sorted(d["id"] for d in expected)
    assert {r.symbol for r in rows} == {"SPY", "IBM", "BAC", "AIG"}
    assert {r.decision_json["type"] for r in rows} == {"market", "limit"}
    assert all(r.strategy_id == STRATEGY_ID and decision_day(r) == DAY for r in rows)
    assert all(r.decision_json["limit_price"] > 0 for r in rows if r.decision_json["type"] == "limit")
    valid, rejected = validate_decisions(rows, MarketTape(lean_dir))
    assert rejected == [] and len(valid) == len(rows)
    times = [v.intent.decision_time for v in valid]
    assert times == sorted(times) and all(v.arrival.mid > 0 for v in valid)
    # decision ids stay the same across processes: they are part of the evidence trail
    assert strategy_decisions(lean_dir, DAY)[0]["id"] == expected[0]["id"]


def test_bad_decisions_are_rejected_with_reasons(torghut_db: TorghutDb, lean_dir):
    good = _decision("SPY", _intent(client_order_id="dup-1"))
    cases = {
        "unknown_symbol": _decision("ZZZT", _intent()),
        "invalid_qty": _decision("SPY", _intent(qty=0)),
        "invalid_side": _decision("IBM", _intent(side="hold")),
        "missing_limit_price": _decision("BAC", _intent(type="limit")),
        "missing_stop_price": _decision("BAC", _intent(type="stop")),
        "outside_data": _decision("AIG", _intent(decision_time="2013-10-08T20:30:00+00:00")),
        "invalid_decision_time": _decision("SPY", _intent(decision_time="2013-10-08 10:00"),
                                           created_at=datetime(2013, 10, 8, 15, tzinfo=timezone.utc)),
        "malformed_decision": _decision("SPY", ["buy", 10],
                                        created_at=datetime(2013, 10, 8, 16, tzinfo=timezone.utc)),
        "symbol_mismatch": _decision("SPY", _intent(symbol="IBM")),
        "duplicate_client_order_id": _decision("SPY", _intent(client_order_id="dup-1",
                                               decision_time="2013-10-08T15:00:00Z")),
    }
    negative = _decision("IBM", _intent(qty=-5))
    text_qty = _decision("IBM", _intent(qty="lots"))
    other_day = _decision("SPY", _intent(decision_time="2014-01-06T15:00:00Z"))
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
    assert "outside the data" in reasons["outside_data"] and "2013-10-08" in reasons["outside_data"]
    assert "dup-1" in reasons["duplicate_client_order_id"] and good["id"] in reasons[
        "duplicate_client_order_id"]
    _, other = validate_decisions(torghut_db.decisions_for_day(date(2014, 1, 6)), MarketTape(lean_dir))
    assert [r.code for r in other] == ["outside_data"]


def test_day_is_the_new_york_date_of_the_decision_time(torghut_db: TorghutDb):
    late = _decision("SPY", _intent(decision_time="2013-10-09T01:30:00Z"))        # 21:30 NY 10-08
    offset = _decision("SPY", _intent(decision_time="2013-10-08T23:30:00-04:00"))  # 03:30Z 10-09
    early = _decision("SPY", _intent(decision_time="2013-10-08T03:00:00Z"))       # 23:00 NY 10-07
    torghut_db.insert_decisions([late, offset, early])
    assert {r.id for r in torghut_db.decisions_for_day(DAY)} == {late["id"], offset["id"]}
    assert [r.id for r in torghut_db.decisions_for_day(date(2013, 10, 7))] == [early["id"]]


def test_decisions_since_pages_in_created_at_then_id_order(torghut_db: TorghutDb):
    rows = [_decision("SPY", _intent()) for _ in range(5)]
    torghut_db.insert_decisions(rows)  # one transaction: one created_at, ties broken by id
    seen, created_at, last_id = [], None, None
    while page := torghut_db.decisions_since(created_at, last_id, limit=2):
        seen += page
        created_at, last_id = page[-1].created_at, page[-1].id
    assert [r.id for r in seen] == sorted(r["id"] for r in rows)
    assert len({r.created_at for r in seen}) == 1
    assert torghut_db.decisions_since(None, None, settle_seconds=3600) == [], \
        "rows younger than the settle time wait for a later tick"


def test_parity_reports_round_trip_latest_per_day(torghut_db: TorghutDb):
    older = build_parity_report(DAY, datetime(2013, 10, 9, 6, tzinfo=timezone.utc),
                                {"alpaca": "a", "lean": "l"}, [], [])
    newer = older.model_copy(update={"generated_at": datetime(2013, 10, 9, 7, tzinfo=timezone.utc)})
    torghut_db.save_parity_report(newer, "run-2")
    torghut_db.save_parity_report(older, "run-1")
    loaded = torghut_db.latest_parity_report(DAY)
    assert isinstance(loaded, ParityReport) and loaded == newer
    assert torghut_db.latest_parity_report(date(2013, 10, 10)) is None


def test_unreachable_database_is_a_plain_error_without_the_password():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = TorghutDb(f"postgresql://torghut:s3cret-pw@127.0.0.1:{port}/torghut", connect_timeout=2)
    with pytest.raises(TorghutDbUnavailableError) as err:
        db.decisions_for_day(DAY)
    message = str(err.value)
    assert "connection refused" in message and f"127.0.0.1:{port}" in message
    assert "s3cret-pw" not in message
