"""Owns our rollout tables in Torghut's DB: baselines, guardrail days, canary SLOs, approvals.

RolloutDb is a TorghutDb (same DSN, TLS contract and short connections) with these tables:

* ``intel_rollout_baselines(version, created_at, run_id, start_day, end_day, note, snapshot)``:
  frozen: a new baseline is a new row with the next version; a trigger refuses UPDATE/DELETE.
* ``intel_guardrail_daily(day, run_id, computed_at, metrics)``: one row per day and run; the
  newest per day is the day's evidence (intel_parity_reports: the newest complete one).

Torghut's own tables are only read (decisions_between, executions_between).
* ``intel_canary_slo_days(day, run_id, computed_at, record)``: canary_slo[day]'s measured
  CanaryDay per run (the newest per day is the day's evidence; domain/canary_slo.py).
* ``intel_canary_telemetry(source, scraped_at, url, snapshot)``: every scrape of the LEAN
  runner's and the serving API's cumulative latency histograms (windows are differences).
* ``intel_rollout_signoffs``: the append-only approve/revoke record of rollout tokens (only a
  token's sha256; stores/rollout_signoffs.py owns it, record_signoff/signoffs delegate).
"""

from collections.abc import Sequence
from datetime import date, datetime, time, timezone

from intel_assets.contracts.gates import (
    BaselineSnapshot,
    CanaryDay,
    ExecutionMetrics,
    GuardrailDay,
    GuardrailMetrics,
    RejectionMetrics,
    SignoffEvent,
    TelemetrySnapshot,
)
from intel_assets.contracts.parity import ParityReport
from intel_assets.domain.canary_slo import CanaryExecution, next_day_start
from intel_assets.contracts.decisions import DecisionRow
from intel_assets.domain.decisions import decision_day
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.domain.rollout_metrics import ExecutionRow
from intel_assets.stores import rollout_signoffs
from intel_assets.stores.torghut_db import (
    DAY_FILTER,
    DECISION_SELECT,
    PARITY_DDL,
    TorghutDb,
    range_params,
)

ROLLOUT_DDL = (
    "CREATE TABLE IF NOT EXISTS intel_rollout_baselines (version integer PRIMARY KEY, created_at "
    "timestamptz NOT NULL, run_id text NOT NULL, start_day date NOT NULL, end_day date NOT NULL, "
    "note text NOT NULL DEFAULT '', snapshot jsonb NOT NULL, CHECK (start_day <= end_day))",
    "DO $do$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = "
    "'intel_rollout_baselines_frozen' AND tgrelid = 'intel_rollout_baselines'::regclass) THEN "
    "CREATE OR REPLACE FUNCTION intel_rollout_baselines_frozen() RETURNS trigger LANGUAGE plpgsql "
    "AS $f$ BEGIN RAISE EXCEPTION 'intel_rollout_baselines version % is frozen: materialize "
    "rollout_baseline for a new version', OLD.version; END $f$; CREATE TRIGGER "
    "intel_rollout_baselines_frozen BEFORE UPDATE OR DELETE ON intel_rollout_baselines FOR EACH "
    "ROW EXECUTE FUNCTION intel_rollout_baselines_frozen(); END IF; END $do$",
    "CREATE TABLE IF NOT EXISTS intel_guardrail_daily (day date NOT NULL, run_id text NOT NULL, "
    "computed_at timestamptz NOT NULL, metrics jsonb NOT NULL, PRIMARY KEY (day, run_id))",
    "CREATE INDEX IF NOT EXISTS intel_guardrail_daily_day_computed ON intel_guardrail_daily "
    "(day, computed_at)",
    "CREATE TABLE IF NOT EXISTS intel_canary_slo_days (day date NOT NULL, run_id text NOT NULL, "
    "computed_at timestamptz NOT NULL, record jsonb NOT NULL, PRIMARY KEY (day, run_id))",
    "CREATE INDEX IF NOT EXISTS intel_canary_slo_days_day_computed ON intel_canary_slo_days "
    "(day, computed_at)",
    "CREATE TABLE IF NOT EXISTS intel_canary_telemetry (source text NOT NULL, scraped_at "
    "timestamptz NOT NULL, url text NOT NULL, snapshot jsonb NOT NULL, PRIMARY KEY (source, "
    "scraped_at))",
)
#: DecisionRow's column count in DECISION_SELECT.
_DECISION_FIELDS = 11


def _now() -> datetime:
    return datetime.now(timezone.utc)


class RolloutDb(TorghutDb):
    """TorghutDb plus the rollout tables (module docstring); one short connection per call."""

    def ensure_rollout_schema(self) -> None:
        """Create our rollout tables (and intel_parity_reports, which the gate reads)."""
        with self._cursor() as cur:
            for statement in (*PARITY_DDL, *ROLLOUT_DDL, *rollout_signoffs.SIGNOFF_DDL):
                cur.execute(statement)

    # ---- Torghut's rows over a range of days (decisions_between: TorghutDb) -----------------
    def executions_between(self, start: date, end: date) -> list[ExecutionRow]:
        """Torghut's executions whose decision is reported on days start..end (linked by
        trade_decision_id, or by client_order_id = decision_hash in the decision's account)."""
        with self._cursor() as cur:
            cur.execute(f"SELECT {DECISION_SELECT}, e.status, e.submitted_qty, e.filled_qty FROM "
                        "executions e JOIN trade_decisions d ON d.id = e.trade_decision_id OR "
                        "(e.trade_decision_id IS NULL AND e.client_order_id = d.decision_hash AND "
                        f"e.alpaca_account_label = d.alpaca_account_label) WHERE {DAY_FILTER} "
                        "ORDER BY e.created_at", range_params(start, end))
            found = cur.fetchall()
        out = []
        for values in found:
            decision = DecisionRow(*values[:_DECISION_FIELDS])
            day = decision_day(decision)
            if start <= day <= end:
                status, submitted, filled = values[_DECISION_FIELDS:]
                out.append(ExecutionRow(decision.id, day, status, float(submitted), float(filled)))
        return out

    # ---- baselines ---------------------------------------------------------------------------
    def save_baseline(self, *, start_day: date, end_day: date, run_id: str, note: str,
                      rejections: RejectionMetrics, executions: ExecutionMetrics,
                      guardrail: GuardrailMetrics) -> BaselineSnapshot:
        """Freeze a new baseline as the next version (never changes an existing one)."""
        with self._cursor() as cur:
            cur.execute("LOCK TABLE intel_rollout_baselines IN SHARE ROW EXCLUSIVE MODE")
            cur.execute("SELECT COALESCE(max(version), 0) + 1 FROM intel_rollout_baselines")
            snapshot = BaselineSnapshot(
                version=cur.fetchone()[0], created_at=_now(), run_id=run_id, start_day=start_day,
                end_day=end_day, note=note, rejections=rejections, executions=executions,
                guardrail=guardrail)
            cur.execute("INSERT INTO intel_rollout_baselines (version, created_at, run_id, "
                        "start_day, end_day, note, snapshot) VALUES (%s, %s, %s, %s, %s, %s, "
                        "%s::jsonb)", (snapshot.version, snapshot.created_at, run_id, start_day,
                                       end_day, note, snapshot.model_dump_json()))
        return snapshot

    def baseline(self, version: int | None = None) -> BaselineSnapshot | None:
        """Baseline ``version``, or the newest when None; None when there is none."""
        where, params = ("WHERE version = %s", (version,)) if version else ("", ())
        with self._cursor() as cur:
            cur.execute(f"SELECT snapshot FROM intel_rollout_baselines {where} "
                        "ORDER BY version DESC LIMIT 1", params)
            found = cur.fetchone()
        return None if found is None else BaselineSnapshot.model_validate(found[0])

    # ---- guardrail days ------------------------------------------------------------------------
    def save_guardrail_day(self, day: date, run_id: str, rejections: RejectionMetrics,
                           guardrail: GuardrailMetrics) -> GuardrailDay:
        """Store a day's metrics for a run (a rerun of the same run replaces its row)."""
        row = GuardrailDay(day=day, run_id=run_id, computed_at=_now(), rejections=rejections,
                           guardrail=guardrail)
        with self._cursor() as cur:
            cur.execute("INSERT INTO intel_guardrail_daily (day, run_id, computed_at, metrics) "
                        "VALUES (%s, %s, %s, %s::jsonb) ON CONFLICT (day, run_id) DO UPDATE SET "
                        "computed_at = excluded.computed_at, metrics = excluded.metrics",
                        (day, run_id, row.computed_at, row.model_dump_json()))
        return row

    def guardrail_days(self, days: Sequence[date]) -> list[GuardrailDay]:
        """The newest intel_guardrail_daily row of each of ``days`` that has one."""
        with self._cursor() as cur:
            cur.execute("SELECT DISTINCT ON (day) metrics FROM intel_guardrail_daily WHERE day = "
                        "ANY(%s) ORDER BY day, computed_at DESC", (list(days),))
            return [GuardrailDay.model_validate(r[0]) for r in cur.fetchall()]

    def parity_reports(self, days: Sequence[date]) -> list[tuple[str, ParityReport]]:
        """(run_id, report) of each of ``days``' evidence: its newest complete report, else its
        newest attempt (a failed replay never replaces good evidence)."""
        with self._cursor() as cur:
            cur.execute("SELECT DISTINCT ON (day) run_id, report FROM intel_parity_reports WHERE "
                        "day = ANY(%s) ORDER BY day, complete DESC NULLS LAST, generated_at DESC",
                        (list(days),))
            return [(r[0], ParityReport.model_validate(r[1])) for r in cur.fetchall()]

    # ---- canary SLOs ---------------------------------------------------------------------------
    def canary_executions(self, day: date) -> list[CanaryExecution]:
        """Torghut's executions rows created on New York ``day`` (every adapter and account:
        domain.canary_slo picks the LEAN-routed ones of the canary subset)."""
        start = datetime.combine(day, time(0), NEW_YORK)
        with self._cursor() as cur:
            cur.execute("SELECT id::text, symbol, alpaca_account_label, execution_expected_adapter,"
                        " execution_actual_adapter, execution_fallback_reason, "
                        "execution_fallback_count, status, created_at FROM executions WHERE "
                        "created_at >= %s AND created_at < %s ORDER BY created_at",
                        (start, next_day_start(day)))
            return [CanaryExecution(*r[:6], int(r[6] or 0), r[7], r[8]) for r in cur.fetchall()]

    def save_telemetry(self, snapshot: TelemetrySnapshot) -> None:
        """Store one scrape (a second scrape at the same instant replaces the first)."""
        with self._cursor() as cur:
            cur.execute("INSERT INTO intel_canary_telemetry (source, scraped_at, url, snapshot) "
                        "VALUES (%s, %s, %s, %s::jsonb) ON CONFLICT (source, scraped_at) DO UPDATE"
                        " SET url = excluded.url, snapshot = excluded.snapshot",
                        (snapshot.source, snapshot.scraped_at, snapshot.url,
                         snapshot.model_dump_json()))

    def telemetry_around(self, source: str, open_at: datetime, close_at: datetime
                         ) -> list[TelemetrySnapshot]:
        """The newest scrape of ``source`` at or before ``open_at`` and the first at or after
        ``close_at`` (those that exist)."""
        with self._cursor() as cur:
            cur.execute("(SELECT snapshot FROM intel_canary_telemetry WHERE source = %s AND "
                        "scraped_at <= %s ORDER BY scraped_at DESC LIMIT 1) UNION ALL (SELECT "
                        "snapshot FROM intel_canary_telemetry WHERE source = %s AND scraped_at >= "
                        "%s ORDER BY scraped_at LIMIT 1)", (source, open_at, source, close_at))
            return [TelemetrySnapshot.model_validate(r[0]) for r in cur.fetchall()]

    def save_canary_day(self, record: CanaryDay) -> None:
        """Store canary_slo[day]'s record for its run (a retry of the run replaces it)."""
        with self._cursor() as cur:
            cur.execute("INSERT INTO intel_canary_slo_days (day, run_id, computed_at, record) "
                        "VALUES (%s, %s, %s, %s::jsonb) ON CONFLICT (day, run_id) DO UPDATE SET "
                        "computed_at = excluded.computed_at, record = excluded.record",
                        (record.day, record.run_id, record.computed_at, record.model_dump_json()))

    def canary_days(self, days: Sequence[date]) -> list[CanaryDay]:
        """The newest canary_slo record of each of ``days`` that has one."""
        with self._cursor() as cur:
            cur.execute("SELECT DISTINCT ON (day) record FROM intel_canary_slo_days WHERE day = "
                        "ANY(%s) ORDER BY day, computed_at DESC", (list(days),))
            return [CanaryDay.model_validate(r[0]) for r in cur.fetchall()]

    # ---- approvals -----------------------------------------------------------------------------
    def record_signoff(self, kind: str, token_sha256: str, actor: str, *,
                       phase: int | None = None, baseline_version: int | None = None,
                       reason: str = "", at: datetime | None = None) -> SignoffEvent:
        """Append an approve/revoke event by the sha256 of its token (rollout_signoffs)."""
        return rollout_signoffs.record_signoff(self, kind, token_sha256, actor, phase=phase,
                                               baseline_version=baseline_version, reason=reason,
                                               at=at)

    def signoffs(self, token_sha256: str) -> list[SignoffEvent]:
        """Every sign-off event of the token with this sha256, oldest first."""
        return rollout_signoffs.signoffs(self, token_sha256)


__all__ = ["ROLLOUT_DDL", "RolloutDb"]
