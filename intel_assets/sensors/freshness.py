"""Owns the per-symbol freshness sensor.

Dagster's FreshnessPolicy is evaluated per asset, not per partition, so this sensor finds the
symbols whose latest technicals/regime materialization is older than the budget (or absent),
records them, and requests their refresh: one run per contiguous range of stale symbols, since
the assets refresh a whole range in one run.
"""


import json
import time
from collections.abc import Sequence

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DefaultSensorStatus,
    DagsterInstance,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

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


def contiguous_ranges(universe: Sequence[str], chosen: Sequence[str]) -> list[tuple[str, str]]:
    """Group chosen symbols into runs of neighbours in universe order: [(first, last), ...]."""
    wanted = set(chosen)
    ranges, start, prev = [], None, None
    for symbol in universe:
        if symbol in wanted:
            start = start or symbol
            prev = symbol
        elif start is not None:
            ranges.append((start, prev))
            start = None
    if start is not None:
        ranges.append((start, prev))
    return ranges


def build_freshness_sensor(name: str, job, asset_keys: Sequence[AssetKey],
                           universe: Sequence[str], budget_seconds: float,
                           default_running: bool) -> object:
    watched = "/".join(key.to_user_string() for key in asset_keys)

    @sensor(
        name=name,
        job=job,
        minimum_interval_seconds=max(15, int(budget_seconds // 2)),
        default_status=DefaultSensorStatus.RUNNING if default_running else DefaultSensorStatus.STOPPED,
        description=f"Requests a refresh of the symbols whose {watched} is older than "
        f"{budget_seconds:.0f} s (per-partition freshness; Dagster's policy is per asset).",
    )
    def symbol_freshness_sensor(context: SensorEvaluationContext):
        now = time.time()
        stale = stale_symbols(context.instance, asset_keys, universe, budget_seconds, now)
        if not stale:
            return SkipReason(f"all {len(universe)} symbols fresh within {budget_seconds:.0f} s")
        bucket = int(now // budget_seconds)
        context.log.info(f"stale symbols ({len(stale)}): {', '.join(stale[:50])}")
        requests = [
            RunRequest(
                run_key=f"{name}:{first}..{last}:{bucket}",
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: first,
                    ASSET_PARTITION_RANGE_END_TAG: last,
                    STALE_SYMBOLS_TAG: _symbols_between(universe, first, last, stale),
                },
            )
            for first, last in contiguous_ranges(universe, stale)
        ]
        return SensorResult(
            run_requests=requests,
            cursor=json.dumps({"evaluated_at": now, "stale": stale[:200], "stale_count": len(stale)}),
        )

    return symbol_freshness_sensor


def _symbols_between(universe: Sequence[str], first: str, last: str, stale: Sequence[str]) -> str:
    i, j = universe.index(first), universe.index(last)
    inside = set(universe[i:j + 1])
    return ",".join(s for s in stale if s in inside)[:1000]
