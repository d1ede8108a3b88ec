"""Owns a stand-in of Torghut's own database for the demo and the tests: Torghut's tables
(strategies, trade_decisions, executions) restated from its migrations, and the writes that seed
them in Torghut's shapes. Only ever used on a throwaway database: a configured TORGHUT_DB_DSN is
Torghut's, and nothing of ours writes to its tables (intel_assets.stores.torghut_db reads).

The DDL restates what proompteng/lab 255d330fe leaves after its alembic migrations
(services/torghut/migrations/versions/0001_initial_torghut_schema.py, 0002_trading_core_pipeline,
0006_autonomy_ledger_and_execution_route, 0010_execution_provenance_and_governance_trace,
0012_lean_multilane_foundation, 0013_multi_account_execution_isolation) and its ORM models
(services/torghut/app/models/entities.py): uuid keys without server defaults (Torghut's ORM
makes them), ``strategy_id`` a uuid foreign key to ``strategies(id)``, varchar lengths, jsonb,
numeric(20, 8), the defaults, the check on fallback reasons and the account-scoped unique
indexes. ``trade_decisions.alpaca_account_label`` has no default (0001 creates it without one;
the ORM's server_default only applies to create_all). Torghut's head widens ``symbol`` to
varchar(64) and adds columns we do not read; every read of ours works on both.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from intel_assets.stores.rollout_db import RolloutDb
from intel_assets.stores.torghut_db import PARITY_DDL, TorghutDb

TORGHUT_DDL = (
    "CREATE TABLE IF NOT EXISTS strategies (id uuid NOT NULL, name varchar(255) NOT NULL, "
    "description text, enabled boolean NOT NULL DEFAULT true, base_timeframe varchar(16) NOT "
    "NULL, universe_type varchar(64) NOT NULL, universe_symbols jsonb, max_position_pct_equity "
    "numeric(20, 8), max_notional_per_trade numeric(20, 8), created_at timestamptz NOT NULL "
    "DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), CONSTRAINT pk_strategies "
    "PRIMARY KEY (id))",
    "CREATE INDEX IF NOT EXISTS ix_strategies_enabled ON strategies (enabled)",
    "CREATE INDEX IF NOT EXISTS ix_strategies_name ON strategies (name)",
    "CREATE TABLE IF NOT EXISTS trade_decisions (id uuid NOT NULL, strategy_id uuid NOT NULL, "
    "alpaca_account_label varchar(64) NOT NULL, symbol varchar(16) NOT NULL, "
    "timeframe varchar(16) NOT NULL, decision_json jsonb NOT NULL, rationale text, status "
    "varchar(32) NOT NULL DEFAULT 'planned', created_at timestamptz NOT NULL DEFAULT now(), "
    "decision_hash varchar(64), executed_at timestamptz, CONSTRAINT pk_trade_decisions PRIMARY "
    "KEY (id), CONSTRAINT fk_trade_decisions_strategy_id_strategies FOREIGN KEY (strategy_id) "
    "REFERENCES strategies (id) ON DELETE CASCADE)",
    "CREATE INDEX IF NOT EXISTS ix_trade_decisions_strategy ON trade_decisions (strategy_id)",
    "CREATE INDEX IF NOT EXISTS ix_trade_decisions_status ON trade_decisions (status)",
    "CREATE INDEX IF NOT EXISTS ix_trade_decisions_decision_hash ON trade_decisions "
    "(decision_hash)",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_trade_decisions_account_decision_hash ON "
    "trade_decisions (alpaca_account_label, decision_hash)",
    "CREATE TABLE IF NOT EXISTS executions (id uuid NOT NULL, trade_decision_id uuid, "
    "alpaca_order_id varchar(128) NOT NULL, client_order_id varchar(128), symbol varchar(16) NOT "
    "NULL, side varchar(8) NOT NULL, order_type varchar(32) NOT NULL, time_in_force varchar(16) "
    "NOT NULL, submitted_qty numeric(20, 8) NOT NULL, filled_qty numeric(20, 8) NOT NULL DEFAULT "
    "0, avg_fill_price numeric(20, 8), status varchar(32) NOT NULL, raw_order jsonb, created_at "
    "timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), "
    "last_update_at timestamptz, execution_expected_adapter varchar(32) NOT NULL DEFAULT "
    "'unknown', execution_actual_adapter varchar(32) NOT NULL DEFAULT 'unknown', "
    "execution_fallback_reason varchar(128), execution_fallback_count bigint NOT NULL DEFAULT 0, "
    "order_feed_last_event_ts timestamptz, order_feed_last_seq bigint, execution_correlation_id "
    "varchar(64), execution_idempotency_key varchar(96), execution_audit_json jsonb, "
    "alpaca_account_label varchar(64) NOT NULL DEFAULT 'paper', CONSTRAINT pk_executions "
    "PRIMARY KEY (id), CONSTRAINT fk_executions_trade_decision_id_trade_decisions FOREIGN KEY "
    "(trade_decision_id) REFERENCES trade_decisions (id) ON DELETE SET NULL, CONSTRAINT "
    "ck_executions_fallback_reason_required CHECK ((execution_fallback_count = 0) OR "
    "(execution_fallback_reason IS NOT NULL AND btrim(execution_fallback_reason) <> '')))",
    "CREATE INDEX IF NOT EXISTS ix_executions_alpaca_order_id ON executions (alpaca_order_id)",
    "CREATE INDEX IF NOT EXISTS ix_executions_account_label ON executions (alpaca_account_label)",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_executions_account_alpaca_order_id ON executions "
    "(alpaca_account_label, alpaca_order_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_executions_account_client_order_id ON executions "
    "(alpaca_account_label, client_order_id)",
    "CREATE INDEX IF NOT EXISTS ix_executions_symbol_status ON executions (symbol, status)",
    "CREATE INDEX IF NOT EXISTS ix_executions_expected_adapter ON executions "
    "(execution_expected_adapter)",
    "CREATE INDEX IF NOT EXISTS ix_executions_actual_adapter ON executions "
    "(execution_actual_adapter)",
    "CREATE INDEX IF NOT EXISTS ix_executions_execution_correlation_id ON executions "
    "(execution_correlation_id)",
    "CREATE INDEX IF NOT EXISTS ix_executions_order_feed_last_event_ts ON executions "
    "(order_feed_last_event_ts)",
)
#: The tables that are Torghut's (what a checksum of "Torghut's data" covers).
TORGHUT_TABLES = ("strategies", "trade_decisions", "executions")


class ThrowawayTorghutDb(RolloutDb):
    """A RolloutDb (hence TorghutDb) that may also create and seed Torghut's tables: demo and
    tests only."""

    def ensure_schema(self) -> None:
        """Create Torghut's tables (restated DDL) and our intel_parity_reports."""
        with self._cursor() as cur:
            for statement in (*TORGHUT_DDL, *PARITY_DDL):
                cur.execute(statement)

    def insert_strategy(self, row: dict[str, Any]) -> int:
        """Insert a strategies row (keys: id, name, base_timeframe, universe_type, optional
        description, universe_symbols, max_* limits); an id already present is kept as is."""
        from psycopg2.extras import Json

        with self._cursor() as cur:
            cur.execute(
                "INSERT INTO strategies (id, name, description, base_timeframe, universe_type, "
                "universe_symbols, max_position_pct_equity, max_notional_per_trade) VALUES "
                "(%s::uuid, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (str(row["id"]), row["name"], row.get("description"), row["base_timeframe"],
                 row["universe_type"], Json(row.get("universe_symbols")),
                 row.get("max_position_pct_equity"), row.get("max_notional_per_trade")))
            return cur.rowcount

    def insert_decisions(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert trade_decisions rows as Torghut's ensure_decision writes them (keys: id,
        strategy_id, symbol, timeframe, decision_json, optional alpaca_account_label, rationale,
        decision_hash, status, created_at, executed_at); ids already present are skipped, as
        are hashes already recorded for the account. Returns the rows inserted."""
        from psycopg2.extras import Json

        inserted = 0
        with self._cursor() as cur:
            for row in rows:
                cur.execute(
                    "INSERT INTO trade_decisions (id, strategy_id, alpaca_account_label, symbol, "
                    "timeframe, decision_json, rationale, decision_hash, status, created_at, "
                    "executed_at) VALUES (%s::uuid, %s::uuid, %s, %s, %s, %s, %s, %s, %s, "
                    "COALESCE(%s, now()), %s) ON CONFLICT DO NOTHING",
                    (str(row["id"]), str(row["strategy_id"]),
                     row.get("alpaca_account_label", "paper"), row["symbol"], row["timeframe"],
                     Json(row["decision_json"]), row.get("rationale"), row.get("decision_hash"),
                     row.get("status", "planned"), row.get("created_at"), row.get("executed_at")))
                inserted += cur.rowcount
        return inserted

    def insert_executions(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert executions rows in Torghut's shape (keys: trade_decision_id, alpaca_order_id,
        client_order_id, symbol, side, order_type, time_in_force, submitted_qty, filled_qty,
        avg_fill_price, status, optional id, alpaca_account_label, raw_order, adapters,
        execution_fallback_reason/count (Torghut's check: a count > 0 needs a reason),
        created_at); an order already recorded for the account is skipped."""
        from psycopg2.extras import Json

        inserted = 0
        with self._cursor() as cur:
            for row in rows:
                cur.execute(
                    "INSERT INTO executions (id, trade_decision_id, alpaca_account_label, "
                    "alpaca_order_id, client_order_id, symbol, side, order_type, time_in_force, "
                    "submitted_qty, filled_qty, avg_fill_price, status, raw_order, "
                    "execution_expected_adapter, execution_actual_adapter, "
                    "execution_fallback_reason, execution_fallback_count, created_at) VALUES "
                    "(%s::uuid, %s::uuid, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s, %s, COALESCE(%s, now())) ON CONFLICT DO NOTHING",
                    (str(row.get("id") or uuid.uuid4()), row.get("trade_decision_id"),
                     row.get("alpaca_account_label", "paper"), row["alpaca_order_id"],
                     row.get("client_order_id"), row["symbol"], row["side"], row["order_type"],
                     row.get("time_in_force", "day"), row["submitted_qty"],
                     row.get("filled_qty", 0), row.get("avg_fill_price"), row["status"],
                     Json(row.get("raw_order")), row.get("execution_expected_adapter", "unknown"),
                     row.get("execution_actual_adapter", "unknown"),
                     row.get("execution_fallback_reason"), row.get("execution_fallback_count", 0),
                     row.get("created_at")))
                inserted += cur.rowcount
        return inserted


__all__ = ["TORGHUT_DDL", "TORGHUT_TABLES", "ThrowawayTorghutDb", "open_torghut_db"]


def open_torghut_db(db_dsn: str, seed: bool, db_class: type[TorghutDb] = TorghutDb) -> TorghutDb:
    """The Torghut database a demo or drill replays from: a throwaway one with Torghut's tables
    created, ready to seed (``seed``), or Torghut's own as ``db_class`` with its tables checked
    (TorghutSchemaError names what is missing)."""
    if seed:
        db = ThrowawayTorghutDb(db_dsn)
        db.ensure_schema()
        return db
    db = db_class(db_dsn)
    db.check_torghut_schema()
    return db

