"""Owns the per-symbol freshness sensor.

Dagster's FreshnessPolicy is evaluated per asset, not per partition, and measures when an asset
was materialized, not how old its data is. This sensor reads each symbol's staged block (state,
asOf, when staged) from the bundle store in one query per tick, decides per symbol whether its
data is due (domain/refresh_cadence.py: data age, failed blocks retried with back-off, market
hours) and requests their refresh: one range run from the first to the last due symbol (the
assets refresh a whole range in one run), never while a refresh is already in flight.
"""


import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from dagster import (
    AssetKey,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from intel_assets.domain.refresh_cadence import (
    DUE,
    FAILED_STATES,
    MARKET_CLOSED,
    Cadence,
    SymbolFacts,
    dueness,
)
from intel_assets.jobs import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from intel_assets.resources.bundle_store import BundleStoreResource

STALE_SYMBOLS_TAG = "intel/stale_symbols"
DUE_REASONS_TAG = "intel/due_reasons"


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


def build_freshness_sensor(name: str, job, asset_keys: Sequence[AssetKey],
                           universe: Sequence[str], plan: Cadence, default_running: bool,
                           session_bound: bool, clock: Callable[[], object] | None = None,
                           now: Callable[[], float] = time.time) -> object:
    """A sensor requesting a refresh of the symbols whose data is due (refresh_cadence.dueness:
    data age, failed blocks with back-off, market hours for ``session_bound`` domains), in one
    range run (coalesced_range), never while a run of ``job`` is queued or in progress. Reads
    the facts of the first asset key's staged blocks with one bundle-store query per tick.
    ``clock`` returns the market clock (built on first use); ``now`` the sensor's clock."""
    watched = "/".join(key.to_user_string() for key in asset_keys)
    kind = asset_keys[0].path[-1]
    market: list = []
    age_of = "newest bar's end" if session_bound else "last successful poll"

    @sensor(
        name=name,
        job=job,
        minimum_interval_seconds=plan.interval_seconds,
        default_status=DefaultSensorStatus.RUNNING if default_running else DefaultSensorStatus.STOPPED,
        description=f"Requests a refresh of the symbols whose {watched} data ({age_of}) is older "
        f"than {plan.refresh_seconds:.0f} s (budget {plan.budget_seconds:.0f} s, every "
        f"{plan.interval_seconds} s); error/missing blocks are retried with back-off"
        + ("; idle while the market is closed but for one pre-open refresh" if session_bound
           else "") + " (domain/refresh_cadence.py).",
    )
    def symbol_freshness_sensor(context: SensorEvaluationContext,
                                bundle_store: BundleStoreResource):
        t = now()
        is_open, next_open = True, None
        if session_bound and clock is not None:
            if not market:
                market.append(clock())
            session = market[0].session(datetime.fromtimestamp(t, timezone.utc))
            is_open, next_open = session.is_open, session.next_open.timestamp()
        state = json.loads(context.cursor) if context.cursor else {}
        previous = state.get("failures", {})
        facts = _facts(bundle_store, kind, universe)
        failures: dict[str, list] = {}
        reasons: dict[str, str] = {}
        for symbol in universe:
            fact = facts.get(symbol)
            n = 0
            if fact is not None and (fact.state in FAILED_STATES or fact.state is None):
                seen = previous.get(symbol)
                n = 1 if not seen else seen[0] + (1 if seen[1] != fact.staged_at else 0)
                failures[symbol] = [n, fact.staged_at]
            reasons[symbol] = dueness(fact, n, t, plan, session_bound=session_bound,
                                      is_open=is_open, next_open=next_open)
        counts = Counter(reasons.values())
        summary = ", ".join(f"{reason} {count}" for reason, count in sorted(counts.items()))
        due = [s for s in universe if reasons[s] in DUE]
        cursor = json.dumps({"evaluated_at": t, "failures": failures, "counts": counts})
        if not due:
            why = f"no symbol due ({summary})"
            if counts.get(MARKET_CLOSED) and next_open is not None:
                why = (f"market closed: next open {_iso(next_open)}, pre-open refresh from "
                       f"{_iso(next_open - plan.pre_open_seconds)} ({summary})")
            return SensorResult(skip_reason=SkipReason(why), cursor=cursor)
        in_flight = context.instance.get_runs(
            RunsFilter(job_name=job.name, statuses=list(IN_FLIGHT)), limit=1)
        if in_flight:
            return SensorResult(skip_reason=SkipReason(
                f"{len(due)} symbols due ({summary}); run {in_flight[0].run_id[:8]} of "
                f"{job.name} is {in_flight[0].status.value} and refreshes them"), cursor=cursor)
        bucket = int(t // max(plan.interval_seconds, 1))
        context.log.info(f"due symbols ({len(due)}; {summary}): {', '.join(due[:50])}")
        first, last = coalesced_range(universe, due)
        request = RunRequest(
            run_key=f"{name}:{first}..{last}:{bucket}",
            tags={
                PARTITION_RANGE_START_TAG: first,
                PARTITION_RANGE_END_TAG: last,
                STALE_SYMBOLS_TAG: _symbols_between(universe, first, last, due),
                DUE_REASONS_TAG: summary[:1000],
            },
        )
        return SensorResult(run_requests=[request], cursor=cursor)

    return symbol_freshness_sensor


def _facts(resource: BundleStoreResource, kind: str, universe: Sequence[str]
           ) -> dict[str, SymbolFacts]:
    """The staged facts of ``kind`` for the universe: one query (stores/bundle_store.py)."""
    rows = resource.store.staged_facts(kind, universe)
    return {symbol: SymbolFacts(state, as_of.timestamp() if as_of else None, staged.timestamp())
            for symbol, (state, as_of, staged) in rows.items()}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")


def _symbols_between(universe: Sequence[str], first: str, last: str, stale: Sequence[str]) -> str:
    i, j = universe.index(first), universe.index(last)
    inside = set(universe[i:j + 1])
    return ",".join(s for s in stale if s in inside)[:1000]
