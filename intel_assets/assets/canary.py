"""Owns canary_slo[day]: the LEAN route's canary SLOs measured from Torghut's executions rows and
the scraped telemetry of the LEAN runner and the serving API (definitions:
domain/canary_slo.py), stored in intel_canary_slo_days for the rollout gate's phase 4.

Each materialization first scrapes both services (intel_canary_telemetry keeps every scrape),
then measures the day from the scrapes that bracket its session. The nightly schedule
``canary_slo_nightly`` (02:45 New York, Tuesday-Saturday) materializes the previous day, so
each night's scrape closes one day's window and opens the next. A source that cannot be
scraped, or a day without a bracketing scrape, leaves that figure unmeasured (None, with the
reason in ``problems``): the record is still written and the gate says what is missing.
"""

from datetime import date, datetime, timezone

from dagster import (
    AssetSelection,
    Definitions,
    define_asset_job,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from intel_assets.assets.common import with_code_references
from intel_assets.domain.canary_slo import (
    RUNNER_SOURCE,
    SERVING_SOURCE,
    canary_slo_day,
    day_window,
    session_bounds,
)
from intel_assets.assets.rollout import ROLLOUT_GROUP, rollout_db
from intel_assets.jobs import CANARY_SLO_JOB
from intel_assets.sensors.rollout import build_canary_schedule
from intel_assets.resources.canary_telemetry import CanaryTelemetryResource
from intel_assets.resources.rollout_policy import RolloutPolicyResource
from intel_assets.stores.rollout_db import RolloutDb
from intel_assets.resources.torghut_db import TorghutDbResource

TORGHUT_EXECUTIONS = AssetSpec(
    key=AssetKey(["torghut", "executions"]), group_name="parity", kinds={"postgres"},
    description="Torghut's executions (one row per order: expected and actual adapter, "
    "fallback reason and count, status), in Torghut's DB.")


def measure_canary_day(db: RolloutDb, telemetry: CanaryTelemetryResource,
                       policy: RolloutPolicyResource, day: date, run_id: str,
                       now: datetime | None = None):
    """Scrape, then measure and store ``day`` (module docstring); (record, scrape problems)."""
    now = now or datetime.now(timezone.utc)
    db.ensure_rollout_schema()
    snapshots, scrape_problems = telemetry.scrape(now)
    for snapshot in snapshots:
        db.save_telemetry(snapshot)
    open_at, close_at = session_bounds(day)
    windows = {source: day_window(db.telemetry_around(source, open_at, close_at), day)
               for source in (RUNNER_SOURCE, SERVING_SOURCE)}
    (runner, runner_gap), (context, context_gap) = windows[RUNNER_SOURCE], windows[SERVING_SOURCE]
    record = canary_slo_day(day, policy.policy().canary_subset(), db.canary_executions(day),
                            runner, context, run_id=run_id, computed_at=now,
                            runner_gap=runner_gap, context_gap=context_gap)
    db.save_canary_day(record)
    return record, scrape_problems


def build_canary_asset(partitions_def: PartitionsDefinition):
    """canary_slo on ``partitions_def`` (the parity slice's trading days)."""

    @asset(
        partitions_def=partitions_def, deps=[TORGHUT_EXECUTIONS.key], group_name=ROLLOUT_GROUP,
        owners=["team:execution-parity"], tags={"domain": "canary", "layer": "evidence"},
        kinds={"python", "postgres"},
        description="The day's canary SLOs of the LEAN route for the canary subset "
        "(rollout_policy.canary_symbols/accounts): availability from Torghut's executions "
        "(a fallback to Alpaca counts against it), error rate and p99 latency from the LEAN "
        "runner's /v1/observability and the serving API's /metrics histograms over the day's "
        "session. Scrapes both first. Definitions: intel_assets/domain/canary_slo.py.",
    )
    def canary_slo(context: AssetExecutionContext, torghut_db: TorghutDbResource,
                   rollout_policy: RolloutPolicyResource,
                   canary_telemetry: CanaryTelemetryResource) -> MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        db = rollout_db(torghut_db)
        record, scrape_problems = measure_canary_day(db, canary_telemetry, rollout_policy, day,
                                                     context.run.run_id)
        for problem in scrape_problems:
            context.log.warning(problem)
        figures = {k: MetadataValue.float(v) for k, v in (
            ("availability", record.availability), ("error_rate", record.error_rate),
            ("p99_latency_ms", record.p99_latency_ms), ("runner_p99_ms", record.runner_p99_ms),
            ("context_p99_ms", record.context_p99_ms)) if v is not None}
        return MaterializeResult(metadata={
            **figures, "subset": record.subset.label(),
            "lean_routed": record.lean_expected, "lean_served": record.lean_served,
            "fallbacks_by_reason": MetadataValue.json(record.fallbacks_by_reason),
            "outside_subset": record.outside_subset,
            "runner_window": record.runner_window or "-",
            "context_window": record.context_window or "-",
            "problems": MetadataValue.md("\n".join(f"- {p}" for p in
                                                   [*record.problems, *scrape_problems])
                                         or "none"),
        })

    return canary_slo


__all__ = ["TORGHUT_EXECUTIONS", "build_canary_asset", "measure_canary_day"]


def canary_definitions(partitions_def: PartitionsDefinition) -> Definitions:
    """Torghut's executions (observable source), canary_slo per trading day, ``canary_slo_job``
    and its nightly schedule (stopped by default)."""
    canary = build_canary_asset(partitions_def)
    job = define_asset_job(CANARY_SLO_JOB, selection=AssetSelection.assets(canary),
                           description="A day's canary SLOs of the LEAN route.")
    return Definitions(assets=with_code_references([TORGHUT_EXECUTIONS, canary]), jobs=[job],
                       schedules=[build_canary_schedule(job, partitions_def,
                                                        default_running=False)])
