"""Owns access to Torghut's PostgreSQL database: reads of Torghut's own tables (trade_decisions,
executions), the check that they have the columns we read, and our intel_parity_reports table.

Torghut's tables are Torghut's: nothing here writes to them (the demo's throwaway stand-in is
intel_assets.devtools.torghut_tables). Our only table is ``intel_parity_reports``: one row per
day and run (the ParityReport as jsonb, whether it is complete evidence, and its problems). A
day's **evidence** is its newest complete report; a failed or unavailable replay is stored
beside it and never replaces it (only when a day has no complete report is its newest attempt
shown, problems and all). Every call opens a short connection (sensors call every 30 s).
Production (INTEL_ENV=production) applies the TLS contract to TORGHUT_DB_DSN; connect failures
raise TorghutDbUnavailableError and a missing table or column TorghutSchemaError, both in plain
words and never with a password.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any


from intel_assets.contracts.parity import ParityReport
from intel_assets.contracts.decisions import DecisionRow, parse_event_ts
from intel_assets.domain.decisions import TorghutExecution, decision_day
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.stores.redaction import redact_dsn
from intel_assets.stores.dsn_contract import (
    TORGHUT_DB_DSN_ENV,
    TORGHUT_DB_SSLROOTCERT_ENV,
    check_dsn_tls,
    explain_connect_error,
    production_mode,
)

#: What we read from Torghut's tables (proompteng/lab 255d330fe services/torghut/app/models/
#: entities.py); a database without one of these gets TorghutSchemaError naming it.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "trade_decisions": ("id", "strategy_id", "alpaca_account_label", "symbol", "timeframe",
                        "decision_json", "rationale", "decision_hash", "status", "executed_at",
                        "created_at"),
    "executions": ("trade_decision_id", "alpaca_account_label", "alpaca_order_id",
                   "client_order_id", "symbol", "side", "order_type", "time_in_force",
                   "submitted_qty", "filled_qty", "avg_fill_price", "status",
                   "execution_actual_adapter", "raw_order", "created_at"),
}
#: Our table; ``complete``/``problems`` were added after the first release (hence the ALTERs,
#: which also mark older incomplete rows as such).
PARITY_DDL = (
    "CREATE TABLE IF NOT EXISTS intel_parity_reports (day date NOT NULL, run_id text NOT NULL, "
    "generated_at timestamptz NOT NULL, report jsonb NOT NULL, PRIMARY KEY (day, run_id))",
    "CREATE INDEX IF NOT EXISTS intel_parity_reports_day_generated ON intel_parity_reports "
    "(day, generated_at)",
    "ALTER TABLE intel_parity_reports ADD COLUMN IF NOT EXISTS complete boolean",
    "ALTER TABLE intel_parity_reports ADD COLUMN IF NOT EXISTS problems jsonb NOT NULL DEFAULT "
    "'[]'::jsonb",
    "UPDATE intel_parity_reports SET complete = (jsonb_array_length(COALESCE(report->'summary'->"
    "'unavailable_sides', '[]'::jsonb)) = 0 AND NOT jsonb_path_exists(report, '$.rows[*] ? "
    "(@.alpaca.status == \"error\" || @.lean.status == \"error\")')) WHERE complete IS NULL",
)
#: DecisionRow's fields, in order, from trade_decisions aliased d (uuids read as text).
DECISION_SELECT = ("d.id::text, d.strategy_id::text, d.symbol, d.timeframe, d.decision_json, "
                   "d.status, d.created_at, d.executed_at, d.alpaca_account_label, d.rationale, "
                   "d.decision_hash")
#: The New York day filter on trade_decisions d: the UTC date prefix of decision_json.event_ts
#: within a day of the range (%s, %s), or created_at within the New York range [%s, %s);
#: decision_day() then keeps exactly the rows of the range.
DAY_FILTER = ("(CASE WHEN jsonb_typeof(d.decision_json) = 'object' THEN left(d.decision_json->>"
              "'event_ts', 10) END) BETWEEN %s AND %s OR (d.created_at >= %s AND d.created_at "
              "< %s)")


class TorghutDbError(RuntimeError):
    """Torghut's database cannot be used as it is; the message says why and what to do."""


class TorghutDbUnavailableError(TorghutDbError):
    """Torghut's database cannot be reached; the message says where (no password) and the fix."""


class TorghutSchemaError(TorghutDbError):
    """Torghut's database lacks a table or column we read; the message names them."""


@dataclass(frozen=True)
class StoredParityReport:
    """One intel_parity_reports row: a run's report of a day, and whether it is complete."""

    run_id: str
    generated_at: datetime
    complete: bool
    problems: list[str]
    report: ParityReport


def range_params(start: date, end: date) -> tuple:
    """The four DAY_FILTER parameters for New York days start..end (inclusive)."""
    lo = datetime.combine(start, time(), tzinfo=NEW_YORK)
    hi = datetime.combine(end + timedelta(days=1), time(), tzinfo=NEW_YORK)
    return (start - timedelta(days=1)).isoformat(), (end + timedelta(days=1)).isoformat(), lo, hi


def missing_torghut_columns(cur: Any) -> dict[str, list[str] | None]:
    """Per Torghut table we read, through an open psycopg2 cursor: None when absent, else the
    required columns it lacks (resolved through the connection's search_path)."""
    missing: dict[str, list[str] | None] = {}
    for table, wanted in REQUIRED_COLUMNS.items():
        cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = "
                    "to_regclass(%s) AND attnum > 0 AND NOT attisdropped", (table,))
        have = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
        if not cur.fetchone()[0]:
            missing[table] = None
        elif lacking := [c for c in wanted if c not in have]:
            missing[table] = lacking
    return missing


def schema_error_message(where: str, missing: dict[str, list[str] | None]) -> str:
    """One plain paragraph for the tables (None) and columns Torghut's database lacks."""
    parts = []
    for table, columns in missing.items():
        if columns is None:
            parts.append(f"table {table} does not exist (parity reads "
                         f"{', '.join(REQUIRED_COLUMNS[table])} from it)")
        else:
            parts.append(f"table {table} has no column {', '.join(columns)}")
    return (f"Torghut database {where}: {'; '.join(parts)}. This is not Torghut's schema as of "
            "proompteng/lab 255d330fe: point TORGHUT_DB_DSN at Torghut's own database (the one "
            "its alembic migrations built; the DSN's search_path must reach its tables), or "
            "bring that database up to date with Torghut's migrations (alembic upgrade head). "
            "Nothing was read or written.")


class TorghutDb:
    """Reads of Torghut's tables and our intel_parity_reports; one short connection per call."""

    def __init__(self, dsn: str, connect_timeout: int = 10) -> None:
        contract = check_dsn_tls(dsn, name=TORGHUT_DB_DSN_ENV, production=production_mode(),
                                 sslrootcert_env=TORGHUT_DB_SSLROOTCERT_ENV)
        self._dsn = contract.connect_dsn
        self.where = contract.redacted
        self.connect_timeout = connect_timeout

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        import psycopg2
        from psycopg2 import errors

        try:
            conn = psycopg2.connect(self._dsn, connect_timeout=self.connect_timeout)
        except psycopg2.OperationalError as exc:
            raise TorghutDbUnavailableError(
                f"Torghut database {redact_dsn(self._dsn)}: " + explain_connect_error(
                    exc, self._dsn, TORGHUT_DB_SSLROOTCERT_ENV, name=TORGHUT_DB_DSN_ENV)) from None
        try:
            with conn, conn.cursor() as cur:  # commits on success, rolls back on error
                yield cur
        except (errors.UndefinedTable, errors.UndefinedColumn) as exc:
            missing = self.missing_torghut_columns()
            detail = (schema_error_message(self.where, missing) if missing else
                      f"Torghut database {self.where}: {str(exc).splitlines()[0]}")
            raise TorghutSchemaError(detail) from None
        finally:
            conn.close()

    # ---- schema ---------------------------------------------------------------------------
    def missing_torghut_columns(self) -> dict[str, list[str] | None]:
        """Per Torghut table we read: None when absent, else the required columns it lacks
        (tables resolved through the connection's search_path, as our queries resolve them)."""
        import psycopg2

        conn = psycopg2.connect(self._dsn, connect_timeout=self.connect_timeout)
        try:
            with conn, conn.cursor() as cur:
                return missing_torghut_columns(cur)
        finally:
            conn.close()

    def check_torghut_schema(self) -> None:
        """Raise TorghutSchemaError (plain words) unless Torghut's tables have what we read."""
        try:
            missing = self.missing_torghut_columns()
        except Exception as exc:  # noqa: BLE001 - connect failures get the usual explanation
            import psycopg2

            if isinstance(exc, psycopg2.OperationalError):
                raise TorghutDbUnavailableError(
                    f"Torghut database {self.where}: " + explain_connect_error(
                        exc, self._dsn, TORGHUT_DB_SSLROOTCERT_ENV, name=TORGHUT_DB_DSN_ENV)
                ) from None
            raise
        if missing:
            raise TorghutSchemaError(schema_error_message(self.where, missing))

    def ensure_parity_schema(self) -> None:
        """Create (or bring up to date) our intel_parity_reports table; Torghut owns the rest."""
        with self._cursor() as cur:
            for statement in PARITY_DDL:
                cur.execute(statement)

    # ---- decisions ------------------------------------------------------------------------
    def decisions_since(self, cursor_created_at: datetime | None, cursor_id: str | None,
                        limit: int = 500, settle_seconds: float = 0.0) -> list[DecisionRow]:
        """Decisions after the cursor (created_at, id), in that order; rows younger than
        ``settle_seconds`` wait for the next call (a transaction may still commit older ones)."""
        where, params = ["d.created_at <= now() - %s * interval '1 second'"], [settle_seconds]
        if cursor_created_at is not None:
            where.append("(d.created_at, d.id) > (%s, %s::uuid)")
            params += [cursor_created_at, cursor_id or "00000000-0000-0000-0000-000000000000"]
        with self._cursor() as cur:
            cur.execute(f"SELECT {DECISION_SELECT} FROM trade_decisions d WHERE "
                        f"{' AND '.join(where)} ORDER BY d.created_at, d.id LIMIT %s",
                        (*params, limit))
            return [DecisionRow(*r) for r in cur.fetchall()]

    def decisions_between(self, start: date, end: date) -> list[DecisionRow]:
        """Decisions reported on New York days start..end (decision_day), by (created_at, id)."""
        with self._cursor() as cur:
            cur.execute(f"SELECT {DECISION_SELECT} FROM trade_decisions d WHERE {DAY_FILTER} "
                        "ORDER BY d.created_at, d.id", range_params(start, end))
            rows = [DecisionRow(*r) for r in cur.fetchall()]
        return [r for r in rows if start <= decision_day(r) <= end]

    def decisions_for_day(self, day: date) -> list[DecisionRow]:
        """The decisions reported on ``day`` (New York date of event_ts, or of created_at when
        that is unreadable), ordered by (created_at, id)."""
        return self.decisions_between(day, day)

    def first_decision_day(self) -> date | None:
        """The New York day of Torghut's earliest decision (by event_ts, else created_at)."""
        with self._cursor() as cur:
            cur.execute("SELECT min(CASE WHEN jsonb_typeof(decision_json) = 'object' THEN "
                        "decision_json->>'event_ts' END), min(created_at) FROM trade_decisions")
            first_event, first_created = cur.fetchone()
        days = [moment.astimezone(NEW_YORK).date()
                for moment in (parse_event_ts(first_event), first_created) if moment is not None]
        return min(days) if days else None

    def executions_for(self, rows: Sequence[DecisionRow]) -> dict[str, TorghutExecution]:
        """Torghut's own executions of ``rows``, keyed by decision id: linked by
        trade_decision_id or, as Torghut resolves them, by client_order_id = decision_hash in
        the decision's account (the newest when several)."""
        if not rows:
            return {}
        ids = [r.id for r in rows]
        hashes = {(r.alpaca_account_label, r.decision_hash): r.id for r in rows if r.decision_hash}
        with self._cursor() as cur:
            cur.execute(
                "SELECT e.trade_decision_id::text, e.alpaca_account_label, e.client_order_id, "
                "e.alpaca_order_id, e.status, e.submitted_qty, e.filled_qty, e.avg_fill_price, "
                "e.execution_actual_adapter, e.raw_order, e.created_at FROM executions e WHERE "
                "e.trade_decision_id = ANY(%s::uuid[]) OR e.client_order_id = ANY(%s) "
                "ORDER BY e.created_at", (ids, [h for _, h in hashes] or [""]))
            found = cur.fetchall()
        out: dict[str, TorghutExecution] = {}
        wanted = set(ids)
        for (decision, label, cid, order_id, status, submitted, filled, price, adapter, raw,
             created) in found:
            key = decision if decision in wanted else hashes.get((label, cid))
            if key is not None:  # later rows (newer created_at) win
                out[key] = TorghutExecution(
                    alpaca_order_id=order_id, client_order_id=cid, status=status,
                    submitted_qty=float(submitted), filled_qty=float(filled),
                    avg_fill_price=None if price is None else float(price),
                    actual_adapter=adapter, raw_order=raw, created_at=created)
        return out

    # ---- parity reports -------------------------------------------------------------------
    def save_parity_report(self, report: ParityReport, run_id: str) -> StoredParityReport:
        """Store a day's report for a run beside the day's others (a rerun of the same run
        replaces its own row only); complete = no evidence problems."""
        import json

        problems = report.evidence_problems()
        with self._cursor() as cur:
            cur.execute(
                "INSERT INTO intel_parity_reports (day, run_id, generated_at, report, complete, "
                "problems) VALUES (%s, %s, %s, %s::jsonb, %s, %s::jsonb) ON CONFLICT (day, run_id) "
                "DO UPDATE SET generated_at = excluded.generated_at, report = excluded.report, "
                "complete = excluded.complete, problems = excluded.problems",
                (report.day, run_id, report.generated_at, report.model_dump_json(), not problems,
                 json.dumps(problems)))
        return StoredParityReport(run_id, report.generated_at, not problems, problems, report)

    def parity_evidence(self, day: date) -> StoredParityReport | None:
        """The day's evidence: its newest complete report, else its newest attempt, else None."""
        with self._cursor() as cur:
            cur.execute("SELECT run_id, generated_at, complete, problems, report FROM "
                        "intel_parity_reports WHERE day = %s ORDER BY complete DESC NULLS LAST, "
                        "generated_at DESC LIMIT 1", (day,))
            found = cur.fetchone()
        if found is None:
            return None
        run_id, generated_at, complete, problems, report = found
        return StoredParityReport(run_id, generated_at, bool(complete), list(problems or []),
                                  ParityReport.model_validate(report))

    def latest_parity_report(self, day: date) -> ParityReport | None:
        """The report that is ``day``'s evidence (parity_evidence), or None."""
        found = self.parity_evidence(day)
        return None if found is None else found.report

    def parity_attempts(self, day: date) -> list[tuple[str, datetime, bool, list[str]]]:
        """Every stored report of ``day``, newest first: (run_id, generated_at, complete,
        problems)."""
        with self._cursor() as cur:
            cur.execute("SELECT run_id, generated_at, complete, problems FROM intel_parity_reports"
                        " WHERE day = %s ORDER BY generated_at DESC", (day,))
            return [(r[0], r[1], bool(r[2]), list(r[3] or [])) for r in cur.fetchall()]


__all__ = ["DAY_FILTER", "DECISION_SELECT", "PARITY_DDL", "REQUIRED_COLUMNS",
           "StoredParityReport", "TorghutDb", "TorghutDbError",
           "TorghutDbUnavailableError", "TorghutSchemaError", "range_params",
           "schema_error_message"]
