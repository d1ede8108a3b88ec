"""The refresh loop of issue 13, section 1: the cadence shared by the freshness sensors and
Dagster's policies, and the per-symbol sensor deciding on data age, failed blocks and market
hours. Sensors are evaluated for real (build_sensor_context) against a Dagster instance and the
embedded PostgreSQL bundle store."""

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context, define_asset_job

from intel_assets.assets.common import RefreshLoop
from intel_assets.definitions import build_definitions, cadence_for
from intel_assets.domain.market_clock import exchange_clock
from intel_assets.domain.quality import error_block
from intel_assets.domain.refresh_cadence import CadenceError, cadence
from intel_assets.resources.bundle_store import BundleStoreResource
from intel_assets.run_limits import expected_run_seconds, run_limits
from intel_assets.settings import SettingsError, load_settings
from intel_assets.stores.bundle_store import BundleStore

UNIVERSE = ("AAA", "BBB", "CCC")


@pytest.mark.parametrize("budget", [60.0, 300.0, 86_400.0])
@pytest.mark.parametrize("run", [1.0, 15.0, 75.0, 915.0])
def test_a_healthy_loop_materializes_inside_the_fail_window(budget, run):
    """Measured: under a live clock the sensor refreshed about every 90 s while the policy
    failed at 60 s. Now refresh age + sensor interval + run length <= the fail window, for
    every budget and run length, and the fail window is the budget whenever it leaves room."""
    plan = cadence(budget, run)
    assert plan.refresh_seconds + plan.interval_seconds + run <= plan.fail_seconds
    assert 5 <= plan.interval_seconds <= 300 and plan.refresh_seconds >= 5
    if budget - run - plan.interval_seconds >= 5:
        assert plan.fail_seconds == budget and plan.warn_seconds is None
    else:  # the budget leaves no room: red only when the loop is unhealthy, warn past budget
        assert plan.fail_seconds > budget and plan.warn_seconds == budget


def test_refresh_override_is_checked_against_the_budget():
    """Measured: INTEL_TECHNICALS_REFRESH_SECONDS up to the budget was accepted although a
    60 s refresh age with a 30 s interval can never meet a 60 s policy. Now it must fit."""
    assert cadence(60, 15, 30).healthy_worst_seconds <= 60
    with pytest.raises(CadenceError, match="set it from 5 to 30"):
        cadence(60, 15, 45)
    with pytest.raises(SettingsError, match="INTEL_TECHNICALS_REFRESH_SECONDS: refresh age 60"):
        cadence_for(load_settings(technicals_refresh_seconds=60), "regime")
    assert cadence_for(load_settings(), "technicals").refresh_seconds == 38.0  # derived


def test_backoff_doubles_and_is_capped_at_the_budget():
    """Measured: error blocks counted as fresh, never retried on purpose. Retries now wait
    interval x 2^(n-1) after the n-th failure, never longer than the budget."""
    plan = cadence(300, expected_run_seconds("news"))
    waits = [plan.backoff_seconds(n) for n in range(1, 8)]
    assert waits[0] == plan.interval_seconds and waits[1] == 2 * waits[0]
    assert waits == sorted(waits) and max(waits) == 300


# ---- the real sensor ---------------------------------------------------------------------------
def _sensor(domain: str, now: float, clock=None):
    loop = RefreshLoop(universe=UNIVERSE, live=True, limits=run_limits(),
                       clock=(lambda: clock) if clock else None, now=lambda: now)
    job = define_asset_job(f"refresh_{domain}", selection=[AssetKey(domain)])
    domains = ["technicals", "regime"] if domain == "technicals" else [domain]
    budget = {"technicals": 60.0, "news": 300.0}[domain]
    return loop.sensor(f"{domain}_freshness_sensor", job, domains, budget)


def _tick(sensor, instance, dsn, cursor=None):
    with build_sensor_context(instance=instance, cursor=cursor,
                              resources={"bundle_store": BundleStoreResource(dsn=dsn)}) as context:
        return sensor.evaluate_tick(context)


def _ok_block(domain: str, as_of: datetime) -> dict:
    return {"domain": domain, "state": "ok", "asOf": as_of.isoformat(), "freshnessSeconds": 0,
            "maxFreshnessSeconds": 60, "qualityScore": 1.0}


@pytest.fixture
def store(postgres_schema_dsn):
    with BundleStore.from_dsn(postgres_schema_dsn) as opened:
        opened.ensure_schema()
        yield opened


def test_error_blocks_stay_due_and_a_fresh_ok_block_does_not(store, postgres_schema_dsn):
    """Measured: a run that produced `error` blocks counted as fresh (the policy and the old
    sensor measured the materialization). Now an error block is due again (after back-off)
    while a fresh ok block is not."""
    staged = time.time()
    store.stage("news", {"AAA": error_block("news", 300, "HTTPError: 503").to_wire(),
                         "BBB": _ok_block("news", datetime.now(timezone.utc)),
                         "CCC": _ok_block("news", datetime.now(timezone.utc))})
    plan = cadence(300, expected_run_seconds("news"))
    with DagsterInstance.ephemeral() as instance:
        result = _tick(_sensor("news", staged + plan.interval_seconds + 1), instance,
                       postgres_schema_dsn)
    [request] = result.run_requests
    assert request.tags["intel/stale_symbols"] == "AAA"
    assert request.tags["intel/due_reasons"] == "fresh 2, retry 1"
    assert json.loads(result.cursor)["failures"]["AAA"][0] == 1


def test_failed_symbols_back_off_between_attempts(store, postgres_schema_dsn):
    """Measured: a failing source was re-requested on every tick. Now the second attempt waits
    one interval, the third two: not every tick."""
    plan = cadence(300, expected_run_seconds("news"))
    store.stage("news", {s: error_block("news", 300, "HTTPError: 503").to_wire() for s in UNIVERSE})
    first = store.staged_facts("news", UNIVERSE)["AAA"][2].timestamp()
    with DagsterInstance.ephemeral() as instance:
        early = _tick(_sensor("news", first + 1), instance, postgres_schema_dsn)
        assert early.run_requests == [] and "backoff 3" in early.skip_message
        due = _tick(_sensor("news", first + plan.interval_seconds), instance,
                    postgres_schema_dsn, early.cursor)
        assert len(due.run_requests) == 1
        # the retry failed again: the next wait is twice as long
        store.stage("news", {s: error_block("news", 300, "HTTPError: 503").to_wire()
                             for s in UNIVERSE})
        second = store.staged_facts("news", UNIVERSE)["AAA"][2].timestamp()
        held = _tick(_sensor("news", second + plan.interval_seconds), instance,
                     postgres_schema_dsn, due.cursor)
        assert held.run_requests == [] and json.loads(held.cursor)["failures"]["AAA"][0] == 2
        again = _tick(_sensor("news", second + 2 * plan.interval_seconds), instance,
                      postgres_schema_dsn, held.cursor)
        assert len(again.run_requests) == 1


def _session_instants(clock):
    """A closed instant, a pre-open instant and an in-session instant after now."""
    opening = clock.session(datetime.now(timezone.utc) + timedelta(days=1)).next_open
    return (opening - timedelta(hours=1)).timestamp(), (opening - timedelta(seconds=60)).timestamp(), \
        (opening + timedelta(minutes=5)).timestamp(), opening


def test_technicals_idle_while_the_market_is_closed_and_refresh_pre_open(store, postgres_schema_dsn):
    """Measured: after the close the loop refreshed all night while every symbol was stale.
    Now a closed market is a SkipReason naming the next open; the last minutes before the open
    request one refresh; in session the newest bar's age decides."""
    clock = exchange_clock()
    closed, pre_open, in_session, opening = _session_instants(clock)
    bar_end = datetime.fromtimestamp(in_session - 10, timezone.utc)
    store.stage("technicals", {"AAA": _ok_block("technicals", bar_end - timedelta(minutes=2)),
                               "BBB": _ok_block("technicals", bar_end),
                               "CCC": _ok_block("technicals", bar_end)})
    with DagsterInstance.ephemeral() as instance:
        night = _tick(_sensor("technicals", closed, clock), instance, postgres_schema_dsn)
        assert night.run_requests == []
        assert f"next open {opening.isoformat().replace('+00:00', 'Z')}" in night.skip_message
        early = _tick(_sensor("technicals", pre_open, clock), instance, postgres_schema_dsn)
        assert early.run_requests[0].tags["intel/due_reasons"] == "pre_open 3"
        live = _tick(_sensor("technicals", in_session, clock), instance, postgres_schema_dsn)
        assert live.run_requests[0].tags["intel/stale_symbols"] == "AAA"
        assert live.run_requests[0].tags["intel/due_reasons"] == "data_age 1, fresh 2"


def test_replay_clock_attaches_no_policy_and_live_windows_come_from_the_cadence(tmp_path):
    """Measured: after `make demo` (a replay clock) Dagster's policy showed "Failed" on
    technicals within a minute while every block was ok. Under a replay no policy is attached;
    live, news/fundamentals windows and the sensors' intervals come from the cadence."""
    replay = build_definitions(load_settings(home=tmp_path, universe="AAA,BBB",
                                             as_of="2013-10-11T15:59:00-04:00"))
    graph = replay.resolve_asset_graph()
    assert all(graph.get(AssetKey(d)).freshness_policy is None
               for d in ("technicals", "regime", "news", "fundamentals"))
    settings = load_settings(home=tmp_path, universe="AAA,BBB")
    live = build_definitions(settings)
    graph = live.resolve_asset_graph()
    for domain, sensor in (("news", "news_freshness_sensor"),
                           ("fundamentals", "fundamentals_freshness_sensor")):
        plan = cadence_for(settings, domain)
        policy = graph.get(AssetKey(domain)).freshness_policy
        assert policy.fail_window.to_timedelta() == timedelta(seconds=plan.fail_seconds)
        assert live.resolve_sensor_def(sensor).minimum_interval_seconds == plan.interval_seconds
    assert graph.get(AssetKey("technicals")).freshness_policy is None
    assert (live.resolve_sensor_def("symbol_freshness_sensor").minimum_interval_seconds
            == cadence_for(settings, "technicals").interval_seconds)

