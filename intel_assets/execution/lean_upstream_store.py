"""Owns the runner's backtest store: one SQLite file (under the runner's home) holding every
submitted backtest, its status (queued -> running -> completed | failed), its config and its
result, so a backtest survives a runner restart and a worker can take the queue in order.

A connection per call (``sqlite3`` connections belong to one thread; the HTTP handlers and the
worker thread each open their own), WAL journal so reads never wait for the worker's writes.
A backtest that was ``running`` when its runner stopped is queued again when a store opens.
The store keeps the newest ``max_rows`` finished backtests; queued and running ones are never
dropped.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

PENDING = ("queued", "running")
FINISHED = ("completed", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lean_backtests (
    backtest_id TEXT PRIMARY KEY,
    lane TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    reproducibility_hash TEXT NOT NULL,
    config_json TEXT NOT NULL,
    correlation_id TEXT,
    base_url TEXT,
    result_json TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    submitted_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS lean_backtests_status ON lean_backtests (status, submitted_at);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass(frozen=True)
class StoredBacktest:
    backtest_id: str
    lane: str
    status: str
    reproducibility_hash: str
    config: dict[str, Any]
    correlation_id: str | None
    base_url: str | None
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    submitted_at: str
    started_at: str | None
    finished_at: str | None


class BacktestStore:
    """The backtests of one runner home (``path``: the SQLite file, created when missing)."""

    def __init__(self, path: Path | str, max_rows: int = 1000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        with self._connect() as db:
            db.executescript(_SCHEMA)
            db.execute("UPDATE lean_backtests SET status = 'queued', started_at = NULL "
                       "WHERE status = 'running'")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
            with db:  # one transaction
                yield db
        finally:
            db.close()

    @staticmethod
    def _row(row: sqlite3.Row | None) -> StoredBacktest | None:
        if row is None:
            return None
        return StoredBacktest(
            row["backtest_id"], row["lane"], row["status"], row["reproducibility_hash"],
            json.loads(row["config_json"]), row["correlation_id"], row["base_url"],
            None if row["result_json"] is None else json.loads(row["result_json"]),
            row["error"], row["attempts"], row["submitted_at"], row["started_at"],
            row["finished_at"])

    def get(self, backtest_id: str) -> StoredBacktest | None:
        with self._connect() as db:
            return self._row(db.execute("SELECT * FROM lean_backtests WHERE backtest_id = ?",
                                        (backtest_id,)).fetchone())

    def pending_count(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT count(*) FROM lean_backtests WHERE status IN "
                              "('queued', 'running')").fetchone()[0]

    def add(self, backtest_id: str, lane: str, reproducibility_hash: str,
            config: dict[str, Any], correlation_id: str | None,
            base_url: str | None) -> tuple[StoredBacktest, bool]:
        """(the backtest, whether it is new): a known id is left as it is."""
        with self._connect() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO lean_backtests (backtest_id, lane, status, "
                "reproducibility_hash, config_json, correlation_id, base_url, submitted_at) "
                "VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)",
                (backtest_id, lane, reproducibility_hash,
                 json.dumps(config, sort_keys=True, separators=(",", ":"), default=str),
                 correlation_id, base_url, _now()))
            created = cursor.rowcount == 1
            if created:
                self._prune(db)
        stored = self.get(backtest_id)
        assert stored is not None
        return stored, created

    def retry(self, backtest_id: str, correlation_id: str | None) -> StoredBacktest | None:
        """A FAILED backtest queued again (a time limit hit under load, data added since): its
        error and times cleared, its attempts kept. None when it is not failed (any more)."""
        with self._connect() as db:
            cursor = db.execute(
                "UPDATE lean_backtests SET status = 'queued', result_json = NULL, error = NULL, "
                "started_at = NULL, finished_at = NULL, submitted_at = ?, correlation_id = ? "
                "WHERE backtest_id = ? AND status = 'failed'",
                (_now(), correlation_id, backtest_id))
            if cursor.rowcount != 1:
                return None
        return self.get(backtest_id)

    def claim_next(self) -> StoredBacktest | None:
        """The oldest queued backtest, now ``running`` (None when the queue is empty)."""
        with self._connect() as db:
            row = db.execute("SELECT backtest_id FROM lean_backtests WHERE status = 'queued' "
                             "ORDER BY submitted_at, backtest_id LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute("UPDATE lean_backtests SET status = 'running', started_at = ?, "
                       "attempts = attempts + 1 WHERE backtest_id = ? AND status = 'queued'",
                       (_now(), row["backtest_id"]))
        return self.get(row["backtest_id"])

    def finish(self, backtest_id: str, result: dict[str, Any] | None,
               error: str | None = None) -> None:
        """Completed with ``result``, or failed with ``error`` (plain words)."""
        status = "failed" if error is not None else "completed"
        with self._connect() as db:
            db.execute("UPDATE lean_backtests SET status = ?, result_json = ?, error = ?, "
                       "finished_at = ? WHERE backtest_id = ?",
                       (status, None if result is None else json.dumps(result, default=str),
                        error, _now(), backtest_id))

    def _prune(self, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM lean_backtests WHERE status IN ('completed', 'failed') AND "
                   "backtest_id NOT IN (SELECT backtest_id FROM lean_backtests WHERE status IN "
                   "('completed', 'failed') ORDER BY finished_at DESC LIMIT ?)",
                   (self.max_rows,))


__all__ = ["BacktestStore", "FINISHED", "PENDING", "StoredBacktest"]
