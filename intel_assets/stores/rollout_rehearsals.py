"""Owns the rollback rehearsals' table in Torghut's database: ``intel_rollout_rehearsals``, one
row per rehearsal run (RehearsalRecord as jsonb beside its key columns), read back newest first
by the rollout gate (``latest_rehearsal``). Torghut's own tables are never touched.
"""

from __future__ import annotations

from intel_assets.contracts.rehearsal import RehearsalRecord
from intel_assets.stores.torghut_db import TorghutDb

TABLE = "intel_rollout_rehearsals"
REHEARSAL_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (run_id text PRIMARY KEY, day date NOT NULL, "
    "started_at timestamptz NOT NULL, finished_at timestamptz NOT NULL, passed boolean NOT NULL, "
    "record jsonb NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_finished ON {TABLE} (finished_at)",
)


def ensure_rehearsal_schema(db: TorghutDb) -> None:
    """Create intel_rollout_rehearsals (and its index) when absent."""
    with db._cursor() as cur:
        for statement in REHEARSAL_DDL:
            cur.execute(statement)


def save_rehearsal(db: TorghutDb, record: RehearsalRecord) -> None:
    """Store one rehearsal (the table is created first when absent); saving the same run_id
    again replaces its row."""
    ensure_rehearsal_schema(db)
    with db._cursor() as cur:
        cur.execute(
            f"INSERT INTO {TABLE} (run_id, day, started_at, finished_at, passed, record) VALUES "
            "(%s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT (run_id) DO UPDATE SET day = "
            "excluded.day, started_at = excluded.started_at, finished_at = excluded.finished_at, "
            "passed = excluded.passed, record = excluded.record",
            (record.run_id, record.day, record.started_at, record.finished_at, record.passed,
             record.model_dump_json()))


def latest_rehearsal(db: TorghutDb, passed_only: bool = False) -> RehearsalRecord | None:
    """The newest rehearsal (by finished_at; ``passed_only``: the newest that passed), or None
    when there is none (the table absent included)."""
    where = " WHERE passed" if passed_only else ""
    with db._cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (TABLE,))  # a read creates nothing
        if cur.fetchone()[0] is None:
            return None
        cur.execute(f"SELECT record FROM {TABLE}{where} ORDER BY finished_at DESC, run_id DESC "
                    "LIMIT 1")
        found = cur.fetchone()
    return None if found is None else RehearsalRecord.model_validate(found[0])


__all__ = ["REHEARSAL_DDL", "TABLE", "ensure_rehearsal_schema", "latest_rehearsal",
           "save_rehearsal"]
