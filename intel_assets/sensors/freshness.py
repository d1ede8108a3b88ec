"""Owns the per-symbol freshness sensor.

Dagster's FreshnessPolicy is evaluated per asset, not per partition, so this sensor finds the
symbols whose latest technicals/regime materialization is older than the budget (or absent),
records them, and requests their refresh: one range run from the first to the last stale symbol
(the assets refresh a whole range in one run), never while a refresh is already in flight.
"""


import json
import time
from collections.abc import Sequence

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from intel_assets.jobs import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

STALE_SYMBOLS_TAG = "intel/stale_symbols"


def fresh_partitions(instance: DagsterInstance, asset_key: AssetKey, since: float,
                     page: int = 1000) -> set[str]:
    """Partitions of asset_key materialized after the timestamp since."""
    fresh: set[str] = set()
    cursor = None
    while True:
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, after_timestamp=since), limit=page, cursor=cursor
        )
        fresh.update(r.partition_key for r in result.records if r.partition_key)
        if not result.has_more:
            return fresh
        cursor = result.cursor


def stale_symbols(instance: DagsterInstance, asset_keys: Sequence[AssetKey],
                  universe: Sequence[str], budget_seconds: float, now: float) -> list[str]:
    """Symbols (in universe order) whose latest materialization of any asset is too old."""
    since = now - budget_seconds
    fresh = set(universe)
    for key in asset_keys:
        fresh &= fresh_partitions(instance, key, since)
    return [s for s in universe if s not in fresh]


def coalesced_range(universe: Sequence[str], chosen: Sequence[str]) -> tuple[str, str]:
    """The one partition range a refresh requests: from the first to the last chosen symbol in
    universe order. One range run refreshes the fresh symbols between gaps too, which costs
    less than a run per gap: each run pays a launch (~3-5 s) whatever its size, and staggered
    materialization times would otherwise split the universe into ever more, ever smaller
    runs queued behind one another (benchmark P5 at 500 symbols: 129 runs in 10 minutes, 48
    still queued, with one run per contiguous range)."""
    wanted = set(chosen)
    inside = [symbol for symbol in universe if symbol in wanted]
    return inside[0], inside[-1]


#: Runs of a refresh job in these states will refresh what they were asked to: no new request.
IN_FLIGHT = (DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
             DagsterRunStatus.STARTED)


def sensor_interval_seconds(refresh_seconds: float) -> int:
    """How often a freshness sensor evaluates: half its refresh age, at least 5 s (the Dagster
    daemon's sensor loop) and at most 30 s (the former fixed interval for a 60-s budget)."""
    return int(min(30, max(5, refresh_seconds // 2)))


def build_freshness_sensor(name: str, job, asset_keys: Sequence[AssetKey],
                           universe: Sequence[str], budget_seconds: float,
                           default_running: bool, refresh_seconds: float | None = None) -> object:
    """A sensor requesting a refresh of the symbols whose latest materialization of
    ``asset_keys`` is older than ``refresh_seconds`` (default: the budget), in one range run
    (coalesced_range), never while a run of ``job`` is queued or in progress (it is refreshing
    them already: requests would pile up behind it when refresh_seconds is below a run's
    length). Evaluated every sensor_interval_seconds(refresh_seconds)."""
    watched = "/".join(key.to_user_string() for key in asset_keys)
    refresh = float(refresh_seconds or budget_seconds)

    @sensor(
        name=name,
        job=job,
        minimum_interval_seconds=sensor_interval_seconds(refresh),
        default_status=DefaultSensorStatus.RUNNING if default_running else DefaultSensorStatus.STOPPED,
        description=f"Requests a refresh of the symbols whose {watched} is older than "
        f"{refresh:.0f} s (budget {budget_seconds:.0f} s; per-partition freshness: Dagster's "
        "policy is per asset).",
    )
    def symbol_freshness_sensor(context: SensorEvaluationContext):
        now = time.time()
        stale = stale_symbols(context.instance, asset_keys, universe, refresh, now)
        if not stale:
            return SkipReason(f"all {len(universe)} symbols refreshed within {refresh:.0f} s")
        in_flight = context.instance.get_runs(
            RunsFilter(job_name=job.name, statuses=list(IN_FLIGHT)), limit=1)
        if in_flight:
            return SkipReason(f"{len(stale)} symbols due; run {in_flight[0].run_id[:8]} of "
                              f"{job.name} is {in_flight[0].status.value} and refreshes them")
        bucket = int(now // refresh)
        context.log.info(f"stale symbols ({len(stale)}): {', '.join(stale[:50])}")
        first, last = coalesced_range(universe, stale)
        request = RunRequest(
            run_key=f"{name}:{first}..{last}:{bucket}",
            tags={
                PARTITION_RANGE_START_TAG: first,
                PARTITION_RANGE_END_TAG: last,
                STALE_SYMBOLS_TAG: _symbols_between(universe, first, last, stale),
            },
        )
        return SensorResult(
            run_requests=[request],
            cursor=json.dumps({"evaluated_at": now, "stale": stale[:200], "stale_count": len(stale)}),
        )

    return symbol_freshness_sensor


def _symbols_between(universe: Sequence[str], first: str, last: str, stale: Sequence[str]) -> str:
    i, j = universe.index(first), universe.index(last)
    inside = set(universe[i:j + 1])
    return ",".join(s for s in stale if s in inside)[:1000]
