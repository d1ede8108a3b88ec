"""Owns what launches parity runs: a sensor on new Torghut trade_decisions (cursor = the last
(created_at, id) seen) and the nightly schedule for the previous trading day. Both run by default
only on a live clock (parity_definitions passes ``default_running``); under a replay clock they
start stopped.

Run keys make launches idempotent: ``parity:<day>:<decisions that day>:<last decision id>`` names
the day's full decision set, so re-reading the same rows (a lost cursor, a batch split over
ticks) asks for the same run, which Dagster launches once; a new decision changes the key.
"""


import json
from datetime import date, datetime, timedelta

from dagster import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    PartitionsDefinition,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)

from intel_assets.contracts.decisions import DecisionRow
from intel_assets.domain.decisions import decision_day
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.stores.torghut_db import TorghutDbError
from intel_assets.resources.torghut_db import TorghutDbResource

NEW_DECISIONS_TAG = "intel/parity_new_decisions"


def parity_run_key(day: date, day_rows: list[DecisionRow]) -> str:
    """The run key naming a day's decision set: day, count and the last id in (created_at, id)."""
    last = day_rows[-1].id if day_rows else "none"
    return f"parity:{day.isoformat()}:{len(day_rows)}:{last}"


def read_cursor(cursor: str | None) -> tuple[datetime | None, str | None]:
    """(created_at, id) from the sensor cursor JSON; (None, None) before the first tick."""
    if not cursor:
        return None, None
    data = json.loads(cursor)
    return datetime.fromisoformat(data["created_at"]), data["id"]


def write_cursor(row: DecisionRow) -> str:
    """The sensor cursor JSON after ``row``."""
    return json.dumps({"created_at": row.created_at.isoformat(), "id": row.id})


def build_parity_sensor(job, partitions_def: PartitionsDefinition, *,
                        name: str = "parity_on_new_decisions", batch: int = 500,
                        settle_seconds: float = 5.0, minimum_interval_seconds: int = 60,
                        default_running: bool = True):
    """The sensor launching ``job`` for each day that got new trade_decisions."""

    @sensor(
        name=name, job=job, minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING if default_running else DefaultSensorStatus.STOPPED,
        description="Launches parity_backtest + tca_report for every day with new Torghut "
        "trade_decisions (cursor over (created_at, id); run key per day's decision set).",
    )
    def parity_on_new_decisions(context: SensorEvaluationContext,
                                torghut_db: TorghutDbResource):
        created_at, last_id = read_cursor(context.cursor)
        db = torghut_db.db()
        try:
            rows = db.decisions_since(created_at, last_id, limit=batch,
                                      settle_seconds=settle_seconds)
        except TorghutDbError as exc:  # plain words in the tick history, not a traceback
            context.log.error(str(exc))
            return SkipReason(f"cannot read Torghut's trade_decisions: {exc}")
        if not rows:
            since = f"after {created_at.isoformat()} / {last_id}" if created_at else "yet"
            return SkipReason(f"no new trade_decisions {since}")
        new_by_day: dict[date, int] = {}
        for row in rows:
            new_by_day[decision_day(row)] = new_by_day.get(decision_day(row), 0) + 1
        requests, outside = [], []
        for day, count in sorted(new_by_day.items()):
            key = day.isoformat()
            if not partitions_def.has_partition_key(key):
                outside.append(key)
                continue
            requests.append(RunRequest(
                run_key=parity_run_key(day, db.decisions_for_day(day)), partition_key=key,
                tags={NEW_DECISIONS_TAG: str(count)}))
        if outside:
            context.log.warning(
                f"decisions on days without a parity partition: {', '.join(outside)} (not a "
                "trading day, before the first decision day the code location was loaded with, "
                "or after the replay clock); not replayed. Reload the code location, or set "
                "INTEL_PARITY_START_DATE to the first day to replay")
        return SensorResult(run_requests=requests, cursor=write_cursor(rows[-1]),
                            skip_reason=None if requests else SkipReason(
                                f"{len(rows)} new decisions, all on days outside the "
                                f"partitions ({', '.join(outside)})"))

    return parity_on_new_decisions


def build_parity_schedule(job, partitions_def: PartitionsDefinition, *,
                          name: str = "parity_nightly", cron: str = "0 2 * * 2-6",
                          default_running: bool = True):
    """02:00 New York, Tuesday to Saturday: replay the previous (week)day's decisions."""

    @schedule(
        name=name, job=job, cron_schedule=cron, execution_timezone="America/New_York",
        default_status=(DefaultScheduleStatus.RUNNING if default_running
                        else DefaultScheduleStatus.STOPPED),
        description="Nightly parity evidence: parity_backtest + tca_report of the previous day "
        "(02:00 New York, Tuesday-Saturday = Monday-Friday sessions).",
    )
    def parity_nightly(context: ScheduleEvaluationContext):
        previous = (context.scheduled_execution_time.astimezone(NEW_YORK).date()
                    - timedelta(days=1)).isoformat()
        if not partitions_def.has_partition_key(previous):
            return SkipReason(f"{previous} is not a parity partition (not a trading day, or "
                              "before the start date)")
        return RunRequest(run_key=f"parity-nightly:{previous}", partition_key=previous)

    return parity_nightly


__all__ = ["NEW_DECISIONS_TAG", "build_parity_schedule", "build_parity_sensor",
           "parity_run_key", "read_cursor", "write_cursor"]
