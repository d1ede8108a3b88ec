"""Owns access to Torghut's PostgreSQL database: its trade_decisions/executions tables (read; the
schema is created here only for tests and the demo) and our intel_parity_reports table.

Table names and columns are Torghut's. Our only table there is ``intel_parity_reports`` (one row
per day and run: the ParityReport as jsonb; the latest per day is the day's evidence). Every
call opens a short connection (sensors call every 30 s; nothing holds a session). Production
(INTEL_ENV=production) applies the TLS contract to TORGHUT_DB_DSN; connect failures raise
TorghutDbUnavailableError in plain words, never with a password.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from intel_assets.contracts.parity import ParityReport
from intel_assets.domain.decisions import DecisionRow, decision_day
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.resources.bundle_store import redact_dsn
from intel_assets.resources.dsn_contract import (
    TORGHUT_DB_DSN_ENV,
    TORGHUT_DB_SSLROOTCERT_ENV,
    check_dsn_tls,
    explain_connect_error,
    production_mode,
)

TORGHUT_DDL = (
    "CREATE TABLE IF NOT EXISTS trade_decisions (id uuid PRIMARY KEY, strategy_id text NOT NULL, "
    "symbol text NOT NULL, timeframe text NOT NULL, decision_json jsonb NOT NULL, status text "
    "NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), executed_at timestamptz)",
    "CREATE INDEX IF NOT EXISTS trade_decisions_created_at_id ON trade_decisions (created_at, id)",
    "CREATE TABLE IF NOT EXISTS executions (trade_decision_id uuid NOT NULL REFERENCES "
    "trade_decisions (id), client_order_id text NOT NULL, symbol text NOT NULL, side text NOT "
    "NULL, order_type text NOT NULL, time_in_force text NOT NULL, submitted_qty numeric NOT NULL, "
    "filled_qty numeric NOT NULL DEFAULT 0, avg_fill_price numeric, status text NOT NULL, "
    "raw_order jsonb, created_at timestamptz NOT NULL DEFAULT now())",
)
PARITY_DDL = (
    "CREATE TABLE IF NOT EXISTS intel_parity_reports (day date NOT NULL, run_id text NOT NULL, "
    "generated_at timestamptz NOT NULL, report jsonb NOT NULL, PRIMARY KEY (day, run_id))",
    "CREATE INDEX IF NOT EXISTS intel_parity_reports_day_generated ON intel_parity_reports "
    "(day, generated_at)",
)
_DECISION_COLS = "id::text, strategy_id, symbol, timeframe, decision_json, status, created_at, executed_at"


class TorghutDbUnavailableError(RuntimeError):
    """Torghut's database cannot be reached; the message says where (no password) and the fix."""


def _row(values: Sequence[Any]) -> DecisionRow:
    return DecisionRow(*values)


class TorghutDb:
    """Queries on Torghut's database; one short connection per call."""

    def __init__(self, dsn: str, connect_timeout: int = 10) -> None:
        contract = check_dsn_tls(dsn, name=TORGHUT_DB_DSN_ENV, production=production_mode(),
                                 sslrootcert_env=TORGHUT_DB_SSLROOTCERT_ENV)
        self._dsn = contract.connect_dsn
        self.where = contract.redacted
        self.connect_timeout = connect_timeout

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        import psycopg2

        try:
            conn = psycopg2.connect(self._dsn, connect_timeout=self.connect_timeout)
        except psycopg2.OperationalError as exc:
            raise TorghutDbUnavailableError(
                f"Torghut database {redact_dsn(self._dsn)}: " + explain_connect_error(
                    exc, self._dsn, TORGHUT_DB_SSLROOTCERT_ENV, name=TORGHUT_DB_DSN_ENV)) from None
        try:
            with conn, conn.cursor() as cur:  # commits on success, rolls back on error
                yield cur
        finally:
            conn.close()

    # ---- schema ---------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create Torghut's tables (tests and the demo only) and ours."""
        with self._cursor() as cur:
            for statement in (*TORGHUT_DDL, *PARITY_DDL):
                cur.execute(statement)

    def ensure_parity_schema(self) -> None:
        """Create our intel_parity_reports table (production: Torghut owns the rest)."""
        with self._cursor() as cur:
            for statement in PARITY_DDL:
                cur.execute(statement)

    # ---- decisions ------------------------------------------------------------------------
    def insert_decisions(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert decision rows (keys: id, strategy_id, symbol, timeframe, decision_json,
        status, optional created_at); ids already present are skipped. Returns rows inserted."""
        from psycopg2.extras import Json

        inserted = 0
        with self._cursor() as cur:
            for row in rows:
                cur.execute(
                    "INSERT INTO trade_decisions (id, strategy_id, symbol, timeframe, "
                    "decision_json, status, created_at) VALUES (%s::uuid, %s, %s, %s, %s, %s, "
                    "COALESCE(%s, now())) ON CONFLICT (id) DO NOTHING",
                    (str(row["id"]), row["strategy_id"], row["symbol"], row.get("timeframe", "1Min"),
                     Json(row["decision_json"]), row.get("status", "planned"),
                     row.get("created_at")))
                inserted += cur.rowcount
        return inserted

    def decisions_since(self, cursor_created_at: datetime | None, cursor_id: str | None,
                        limit: int = 500, settle_seconds: float = 0.0) -> list[DecisionRow]:
        """Decisions after the cursor (created_at, id), in that order; rows younger than
        ``settle_seconds`` wait for the next call (a transaction may still commit older ones)."""
        where, params = ["created_at <= now() - %s * interval '1 second'"], [settle_seconds]
        if cursor_created_at is not None:
            where.append("(created_at, id) > (%s, %s::uuid)")
            params += [cursor_created_at, cursor_id or "00000000-0000-0000-0000-000000000000"]
        with self._cursor() as cur:
            cur.execute(f"SELECT {_DECISION_COLS} FROM trade_decisions WHERE {' AND '.join(where)}"
                        " ORDER BY created_at, id LIMIT %s", (*params, limit))
            return [_row(r) for r in cur.fetchall()]

    def decisions_for_day(self, day: date) -> list[DecisionRow]:
        """The decisions reported on ``day`` (New York date of the decision time, or of
        created_at when that is unreadable), ordered by (created_at, id)."""
        near = [(day + timedelta(days=k)).isoformat() for k in (-1, 0, 1)]
        start = datetime.combine(day, time(), tzinfo=NEW_YORK)
        with self._cursor() as cur:
            cur.execute(
                f"SELECT {_DECISION_COLS} FROM trade_decisions WHERE left(CASE WHEN "
                "jsonb_typeof(decision_json) = 'object' THEN decision_json->>'decision_time' END, "
                "10) = ANY(%s) OR (created_at >= %s AND created_at < %s) ORDER BY created_at, id",
                (near, start, datetime.combine(day + timedelta(days=1), time(), tzinfo=NEW_YORK)))
            return [row for row in map(_row, cur.fetchall()) if decision_day(row) == day]

    # ---- parity reports -------------------------------------------------------------------
    def save_parity_report(self, report: ParityReport, run_id: str) -> None:
        """Store a day's report for a run (a rerun of the same run replaces its row)."""
        with self._cursor() as cur:
            cur.execute(
                "INSERT INTO intel_parity_reports (day, run_id, generated_at, report) VALUES "
                "(%s, %s, %s, %s::jsonb) ON CONFLICT (day, run_id) DO UPDATE SET generated_at = "
                "excluded.generated_at, report = excluded.report",
                (report.day, run_id, report.generated_at, report.model_dump_json()))

    def latest_parity_report(self, day: date) -> ParityReport | None:
        """The newest stored report for ``day``, or None."""
        with self._cursor() as cur:
            cur.execute("SELECT report FROM intel_parity_reports WHERE day = %s "
                        "ORDER BY generated_at DESC LIMIT 1", (day,))
            found = cur.fetchone()
        return None if found is None else ParityReport.model_validate(found[0])


class TorghutDbResource(ConfigurableResource):
    """Torghut's PostgreSQL database (TORGHUT_DB_DSN): decisions in, parity reports out."""

    dsn: str = Field(description="postgresql://user@host:5432/torghut (TLS contract in production)")
    connect_timeout_seconds: int = Field(default=10, ge=1)

    def db(self) -> TorghutDb:
        """A TorghutDb on this DSN (checked against the TLS contract in production)."""
        return TorghutDb(self.dsn, self.connect_timeout_seconds)


__all__ = ["PARITY_DDL", "TORGHUT_DDL", "TorghutDb", "TorghutDbResource",
           "TorghutDbUnavailableError"]
