"""Owns the rollout schedules: guardrail_daily and canary_slo of the previous day, then
rollout_gate as of it.

rollout_baseline is deliberately absent: an operator materializes it; nothing schedules it.
"""

from datetime import timedelta

from dagster import (
    DefaultScheduleStatus,
    PartitionsDefinition,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from intel_assets.domain.market_data import NEW_YORK


def _status(default_running: bool) -> DefaultScheduleStatus:
    return DefaultScheduleStatus.RUNNING if default_running else DefaultScheduleStatus.STOPPED


def _previous_day(context: ScheduleEvaluationContext) -> str:
    return (context.scheduled_execution_time.astimezone(NEW_YORK).date()
            - timedelta(days=1)).isoformat()


def _previous_day_partition(name: str, job, cron: str, description: str, run_key: str,
                            partitions_def: PartitionsDefinition, default_running: bool):
    """A New York schedule that requests the previous (week)day's partition of ``job``."""

    @schedule(name=name, job=job, cron_schedule=cron, execution_timezone="America/New_York",
              default_status=_status(default_running), description=description)
    def _previous_day_schedule(context: ScheduleEvaluationContext):
        previous = _previous_day(context)
        if not partitions_def.has_partition_key(previous):
            return SkipReason(f"{previous} is not a trading-day partition (before the start "
                              "date, or an exchange holiday)")
        return RunRequest(run_key=f"{run_key}:{previous}", partition_key=previous)

    return _previous_day_schedule


def build_rollout_schedules(guardrail_job, gate_job, partitions_def: PartitionsDefinition, *,
                            default_running: bool = True) -> list:
    """[guardrail_daily_nightly (02:30 NY), rollout_gate_daily (03:00 NY)], Tuesday-Saturday."""
    guardrail_daily_nightly = _previous_day_partition(
        "guardrail_daily_nightly", guardrail_job, "30 2 * * 2-6",
        "guardrail_daily of the previous (week)day, 02:30 New York.", "guardrail-nightly",
        partitions_def, default_running)

    @schedule(name="rollout_gate_daily", job=gate_job, cron_schedule="0 3 * * 2-6",
              execution_timezone="America/New_York", default_status=_status(default_running),
              description="rollout_gate as of the previous (week)day, 03:00 New York (after "
              "guardrail_daily and the nightly parity run).")
    def rollout_gate_daily(context: ScheduleEvaluationContext):
        previous = _previous_day(context)
        return RunRequest(run_key=f"rollout-gate:{previous}", run_config={
            "ops": {"rollout_gate": {"config": {"as_of_day": previous}}}})

    return [guardrail_daily_nightly, rollout_gate_daily]


def build_canary_schedule(canary_job, partitions_def: PartitionsDefinition, *,
                          default_running: bool = False):
    """canary_slo_nightly (02:45 New York, Tuesday-Saturday): canary_slo of the previous
    (week)day; its scrape also opens the next day's telemetry window (assets/canary.py)."""
    return _previous_day_partition(
        "canary_slo_nightly", canary_job, "45 2 * * 2-6",
        "canary_slo of the previous (week)day, 02:45 New York (before rollout_gate_daily); "
        "each run scrapes the LEAN runner and the serving API.", "canary-slo", partitions_def,
        default_running)


__all__ = ["build_canary_schedule", "build_rollout_schedules"]
