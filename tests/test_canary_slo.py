"""Canary SLOs measured, not typed: Torghut-shaped executions rows (with fallbacks to Alpaca, rows
outside the canary subset), scrapes of the real LEAN runner's /v1/observability and the real
serving API's /metrics, canary_slo[day] materialized through Dagster on a real PostgreSQL, and
phase 4 passing and failing on its thresholds from those records.

The executions columns and the fallback semantics restate proompteng/lab 255d330fe
services/torghut/app/models/entities.py (Execution: execution_expected_adapter,
execution_actual_adapter, execution_fallback_reason, execution_fallback_count and the check that
a count > 0 has a reason) and services/torghut/app/trading/route_metadata.py (the
``alpaca_fallback`` route is recorded as actual adapter ``alpaca``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import psycopg2
import pytest
from dagster import DagsterInstance

from intel_assets.contracts.gates import (
    CanarySubset,
    GateEvidence,
    LatencyHistogram,
    RolloutPolicy,
    TelemetrySnapshot,
)
from intel_assets.devtools.asgi import asgi_in_background
from intel_assets.domain.canary_slo import (
    CONTEXT_PATH,
    RUNNER_SOURCE,
    SERVING_SOURCE,
    CanaryExecution,
    TelemetryError,
    canary_slo_day,
    day_window,
    histogram_quantile,
    runner_snapshot,
    serving_snapshot,
    session_bounds,
    telemetry_window,
)
from intel_assets.domain.gates import evaluate_gates
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.devtools.lean_runner import lean_runner_in_background
from intel_assets.jobs import CANARY_SLO_JOB
from intel_assets.parity_definitions import build_parity_definitions
from intel_assets.stores.bundle_store import BundleStore
from intel_assets.serving.app import create_app

DAY = date(2013, 10, 8)
SUBSET = CanarySubset(symbols=["SPY"], accounts=["paper"])
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _hist(buckets: dict[str, int], failures: int = 0) -> LatencyHistogram:
    return LatencyHistogram(buckets=buckets, count=buckets["+Inf"], sum_ms=0.0,
                            failures=failures)


def _snap(source: str, at: datetime, **ops: LatencyHistogram) -> TelemetrySnapshot:
    return TelemetrySnapshot(source=source, url="http://x", scraped_at=at, operations=ops)


# --------------------------------------------------------------------------- pure rules


def test_histogram_quantile_interpolates_inside_the_bucket_as_prometheus_does():
    h = _hist({"1": 0, "2.5": 50, "5": 90, "10": 99, "+Inf": 100})
    assert histogram_quantile(0.7, h) == (pytest.approx(3.75), False), \
        "rank 70 lies 20/40 into (2.5, 5]"
    assert histogram_quantile(0.5, h) == (pytest.approx(2.5), False)
    assert histogram_quantile(0.995, h) == (10.0, True), "the +Inf bucket reads as the last bound"
    assert histogram_quantile(0.99, _hist({"1": 0, "+Inf": 0})) == (None, False)


def test_a_window_is_the_difference_of_two_scrapes_and_a_restart_is_detected():
    t0 = datetime(2013, 10, 8, 2, 45, tzinfo=NEW_YORK)
    t1 = t0 + timedelta(days=1)
    start = _snap(RUNNER_SOURCE, t0, submit_order=_hist({"5": 10, "+Inf": 12}, failures=1))
    end = _snap(RUNNER_SOURCE, t1, submit_order=_hist({"5": 40, "+Inf": 52}, failures=3))
    window = telemetry_window(start, end)
    assert not window.restarted
    assert window.operations["submit_order"].buckets == {"5": 30, "+Inf": 40}
    assert window.operations["submit_order"].failures == 2
    restarted = telemetry_window(end, start.model_copy(update={"scraped_at": t1}))
    assert restarted.restarted and restarted.operations["submit_order"].count == 12, \
        "counters went down: what the end scrape counted since the restart"
    found, why = day_window([start, end], DAY)
    assert found is not None and why == ""
    _, why = day_window([end], DAY)
    assert why == "no scrape at or before 2013-10-08 04:00 New York (the session's open)"
    _, why = day_window([start], DAY)
    assert why == "no scrape at or after 2013-10-08 20:00 New York (the session's close)"


def _row(symbol="SPY", account="paper", expected="lean", actual="lean", reason=None, count=0):
    return CanaryExecution(str(uuid.uuid4()), symbol, account, expected, actual, reason, count,
                           "filled", datetime(2013, 10, 8, 10, tzinfo=NEW_YORK))


def test_a_fallback_counts_against_availability_and_rows_outside_the_subset_are_not_evidence():
    rows = [_row() for _ in range(8)] + [
        _row(actual="alpaca", reason="lean_submit_failed", count=1),
        _row(actual="lean", reason="lean_timeout_retry", count=1),  # retried: not served cleanly
        _row(symbol="AAPL"), _row(account="live"), _row(expected="alpaca", actual="alpaca")]
    record = canary_slo_day(DAY, SUBSET, rows, None, None, run_id="r", computed_at=datetime.now(
        timezone.utc), runner_gap="no scrape at or before 2013-10-08 04:00 New York")
    assert (record.lean_expected, record.lean_served) == (10, 8)
    assert record.availability == pytest.approx(0.8)
    assert record.fallbacks_by_reason == {"lean_submit_failed": 1, "lean_timeout_retry": 1}
    assert record.outside_subset == 2 and record.outside_subset_symbols == ["AAPL", "SPY"]
    assert record.error_rate is None and record.p99_latency_ms is None
    assert "LEAN runner: no scrape at or before 2013-10-08 04:00 New York" in record.problems
    assert "serving API: not scraped" in record.problems
    empty = canary_slo_day(DAY, CanarySubset(), rows, None, None, run_id="r",
                           computed_at=datetime.now(timezone.utc))
    assert empty.availability is None and empty.problems[0].startswith("no canary subset")


def test_scrapes_of_the_wrong_shape_are_refused_in_plain_words():
    now = datetime.now(timezone.utc)
    with pytest.raises(TelemetryError, match="not a LEAN runner observability answer"):
        runner_snapshot({"ok": True}, "http://r/v1/observability", now)
    with pytest.raises(TelemetryError, match="no latency_ms_histogram"):
        runner_snapshot({"metrics": {"requests_total": {}}}, "http://r/v1/observability", now)
    with pytest.raises(TelemetryError, match="not the serving API's /metrics"):
        serving_snapshot("# HELP x y\n# TYPE x counter\nx_total 1\n", "http://s/metrics", now)


# --------------------------------------------------------------------------- real services


def _submit(http: httpx.Client, n: int, symbol: str = "SPY") -> list[int]:
    codes = []
    for i in range(n):
        body = {"symbol": symbol, "side": "buy", "qty": 10, "order_type": "market",
                "time_in_force": "day", "limit_price": None, "stop_price": None,
                "extra_params": {"client_order_id": f"canary-{symbol}-{uuid.uuid4().hex[:8]}"}}
        codes.append(http.post("/v1/orders/submit", json=body).status_code)
    return codes


@pytest.fixture
def live_services(lean_dir: Path, tmp_path: Path):
    """(runner URL, serving URL): the real LEAN runner and the real serving app."""
    store = f"sqlite:///{tmp_path / 'bundles.sqlite3'}"
    with lean_runner_in_background(lean_dir) as runner, \
            asgi_in_background(create_app(lambda: BundleStore.from_dsn(store))) as serving:
        moved = httpx.post(f"{runner}/v1/clock", json={"as_of": "2013-10-08T09:31:00-04:00"})
        assert moved.status_code == 200, moved.text
        yield runner, serving


def test_scrapes_of_the_real_runner_and_serving_api_measure_the_session(live_services):
    runner_url, serving_url = live_services
    open_at, close_at = session_bounds(DAY)
    with httpx.Client(base_url=runner_url, timeout=10) as runner, \
            httpx.Client(base_url=serving_url, timeout=10) as serving:
        _submit(runner, 3)  # before the session's window opens
        before_r = runner_snapshot(runner.get("/v1/observability").json(), runner_url,
                                   open_at - timedelta(hours=1))
        before_s = serving_snapshot(serving.get("/metrics").text, serving_url,
                                    open_at - timedelta(hours=1))
        codes = _submit(runner, 12) + _submit(runner, 1, symbol="NOPE")
        for _ in range(7):
            serving.get(CONTEXT_PATH, params={"symbol": "SPY"})
        after_r = runner_snapshot(runner.get("/v1/observability").json(), runner_url,
                                  close_at + timedelta(hours=6))
        after_s = serving_snapshot(serving.get("/metrics").text, serving_url,
                                   close_at + timedelta(hours=6))
    assert codes.count(200) == 12 and codes[-1] >= 400, codes
    runner_window, _ = day_window([before_r, after_r], DAY)
    serving_window, _ = day_window([before_s, after_s], DAY)
    submit = runner_window.operations["submit_order"]
    assert (submit.count, submit.failures) == (13, 1), "only the session's requests count"
    assert serving_window.operations[CONTEXT_PATH].count == 7
    record = canary_slo_day(DAY, SUBSET, [_row()], runner_window, serving_window, run_id="r",
                            computed_at=datetime.now(timezone.utc))
    assert record.runner_requests == 13 and record.runner_failures == 1
    assert record.error_rate == pytest.approx(1 / 13)
    assert 0 < record.runner_p99_ms <= 5000 and 0 < record.context_p99_ms <= 2500
    assert record.p99_latency_ms == max(record.runner_p99_ms, record.context_p99_ms)


def _executions(day: date, n: int = 26) -> list[dict]:
    """Torghut executions rows of the day: SPY (the canary) routed to LEAN with one fallback to
    Alpaca, AAPL routed to LEAN outside the subset, IBM on Alpaca as usual."""
    base = datetime(day.year, day.month, day.day, 10, tzinfo=NEW_YORK)
    rows = []
    for i in range(n):
        symbol, expected, actual, reason, count = (
            ("SPY", "lean", "lean", None, 0) if i < 19 else
            ("SPY", "lean", "alpaca", "lean_submit_failed", 1) if i == 19 else
            ("AAPL", "lean", "lean", None, 0) if i < 23 else ("IBM", "alpaca", "alpaca", None, 0))
        rows.append({"trade_decision_id": None, "alpaca_order_id": str(uuid.uuid4()),
                     "client_order_id": f"c-{i}", "symbol": symbol, "side": "buy",
                     "order_type": "market", "submitted_qty": 10, "filled_qty": 10,
                     "avg_fill_price": 168.1, "status": "filled",
                     "execution_expected_adapter": expected, "execution_actual_adapter": actual,
                     "execution_fallback_reason": reason, "execution_fallback_count": count,
                     "created_at": base + timedelta(minutes=i)})
    return rows


def test_canary_slo_materializes_from_executions_and_scrapes_and_phase_4_judges_it(
        torghut_db, lean_dir, live_services, postgres_schema_dsn):
    runner_url, serving_url = live_services
    assert torghut_db.insert_executions(_executions(DAY)) == 26
    torghut_db.ensure_rollout_schema()
    open_at, close_at = session_bounds(DAY)
    with httpx.Client(base_url=runner_url, timeout=10) as runner, \
            httpx.Client(base_url=serving_url, timeout=10) as serving:
        torghut_db.save_telemetry(runner_snapshot(runner.get("/v1/observability").json(),
                                                  runner_url, open_at - timedelta(hours=1)))
        torghut_db.save_telemetry(serving_snapshot(serving.get("/metrics").text, serving_url,
                                                   open_at - timedelta(hours=1)))
        codes = _submit(runner, 40)
        for _ in range(5):
            serving.get(CONTEXT_PATH, params={"symbol": "SPY"})
        # the nightly run's scrape after the close (the asset's own scrape, now, is days later:
        # after the next session opened, it is no end for this day's window)
        torghut_db.save_telemetry(runner_snapshot(runner.get("/v1/observability").json(),
                                                  runner_url, close_at + timedelta(hours=6)))
        torghut_db.save_telemetry(serving_snapshot(serving.get("/metrics").text, serving_url,
                                                   close_at + timedelta(hours=6)))
    assert set(codes) == {200}
    from intel_assets.resources.rollout_policy import RolloutPolicyResource

    defs = build_parity_definitions(
        torghut_db_dsn=postgres_schema_dsn, lean_runner_url=runner_url, alpaca_url=runner_url,
        alpaca_kind="lean", lean_data_dir=lean_dir, start_date="2013-10-07",
        end_date="2013-10-11", default_running=False, serving_url=serving_url,
        canary_runner_url=runner_url,
        rollout_policy=RolloutPolicyResource(canary_symbols=["SPY"]))
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(CANARY_SLO_JOB).execute_in_process(
            partition_key=str(DAY), instance=instance, run_config=QUIET)
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["lean_routed"].value == 20 and meta["lean_served"].value == 19
    assert meta["availability"].value == pytest.approx(0.95)
    assert meta["outside_subset"].value == 3
    assert meta["fallbacks_by_reason"].value == {"lean_submit_failed": 1}
    (record,) = torghut_db.canary_days([DAY])
    assert record.run_id == result.run_id and record.runner_requests == 40
    assert record.error_rate == 0.0 and record.context_requests == 5
    assert record.runner_window.startswith(f"{RUNNER_SOURCE} 2013-10-08T03:00:00-04:00..")
    with psycopg2.connect(postgres_schema_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM intel_canary_telemetry WHERE source IN (%s, %s)",
                    (RUNNER_SOURCE, SERVING_SOURCE))
        assert cur.fetchone()[0] == 6, "the run scraped both services and kept every scrape"

    def phase4(**thresholds):
        policy = RolloutPolicy(canary_symbols=["SPY"], canary_window_days=1, **thresholds)
        verdict = evaluate_gates(GateEvidence(as_of_day=DAY, evaluated_at=datetime.now(
            timezone.utc), canary_days=torghut_db.canary_days([DAY])), policy)
        return {c.id: c for c in verdict.criteria if c.phase == 4}

    passing = phase4(canary_availability_min=0.95, canary_p99_latency_max_ms=5000.0)
    for cid in ("p4_canary_availability", "p4_canary_p99_latency", "p4_canary_error_rate"):
        assert passing[cid].passed, passing[cid].message
        assert passing[cid].evidence[0].run_id == result.run_id
    failing = phase4()  # availability >= 0.999
    assert not failing["p4_canary_availability"].passed
    assert failing["p4_canary_availability"].message.startswith(
        "lowest availability (2013-10-08) 0.95 < 0.999 (threshold >= 0.999)")
    assert "19/20 LEAN-routed executions served by LEAN, fallbacks {'lean_submit_failed': 1}" \
        in failing["p4_canary_availability"].message
    slow = phase4(canary_availability_min=0.95, canary_p99_latency_max_ms=0.001)
    assert not slow["p4_canary_p99_latency"].passed and \
        "runner submit p99" in slow["p4_canary_p99_latency"].message


def test_a_lookups_404_is_an_answer_not_an_error_of_the_route():
    """A look-up by client order id that answers 404 ("no such order") is what Torghut asks
    before it submits; it must not count as a failed request, a rejected submit must."""
    payload = {"metrics": {
        "requests_total": {"submit_order": 3, "get_order_by_client_order_id": 3},
        "failures_total": {"get_order_by_client_order_id:http_404": 3,
                           "submit_order:http_422": 1},
        "latency_ms_histogram": {op: {"buckets": {"5": 3, "+Inf": 3}, "count": 3, "sum": 3.0}
                                 for op in ("submit_order", "get_order_by_client_order_id")}}}
    snap = runner_snapshot(payload, "http://r", datetime.now(timezone.utc))
    assert snap.operations["get_order_by_client_order_id"].failures == 0
    assert snap.operations["submit_order"].failures == 1


def test_a_rerun_of_the_week_keeps_a_routed_days_scrapes(lean_dir):
    """The week demo's canary route skips a day whose canary intents are all recorded already:
    it routes nothing and scrapes nothing, so the first run's stamped windows stay the day's
    evidence (an idle runner's scrapes would replace them and leave p99 unmeasured)."""
    from intel_assets.drills.canary_route import CanaryRoute
    from intel_assets.drills.rollback_rehearsal import rehearsal_intents

    intents, _ = rehearsal_intents(lean_dir, DAY)
    recorded = {i.intent_id for i in intents if i.symbol == "SPY"}
    assert recorded, "the LEAN day has SPY intents"

    class NoWrites:
        def __getattr__(self, name):
            raise AssertionError(f"the rerun touched the database ({name})")

    session = CanaryRoute(lean_dir, lambda: None).run_day(NoWrites(), DAY, {"SPY"}, recorded)
    assert (session.intents, session.recorded, session.outcomes) == (0, 0, {})


def test_windows_refuse_scrapes_from_another_session_and_unlike_buckets():
    """A start scrape before the previous close (a missed night) or an end scrape after the
    next open (a rerun next morning) would count another session's traffic: no window, with
    the reason. Bucket keys match by bound ("2.50" is "2.5"); different bounds, or an
    operation that vanished, mean the service restarted."""
    open_at, close_at = session_bounds(DAY)
    hist = _hist({"2.5": 10, "+Inf": 10})
    old = _snap(RUNNER_SOURCE, open_at - timedelta(days=2), submit_order=hist)
    start = _snap(RUNNER_SOURCE, open_at - timedelta(hours=1), submit_order=hist)
    end = _snap(RUNNER_SOURCE, close_at + timedelta(hours=6), submit_order=hist)
    late = _snap(RUNNER_SOURCE, close_at + timedelta(days=1), submit_order=hist)
    assert day_window([start, end], DAY)[0] is not None
    _, why = day_window([old, end], DAY)
    assert "before the previous session closed" in why and "missed" in why
    _, why = day_window([start, late], DAY)
    assert "after the next session opened" in why
    padded = _snap(RUNNER_SOURCE, close_at, submit_order=_hist({"2.50": 15, "+Inf": 16}))
    window = telemetry_window(start, padded)
    assert not window.restarted and window.operations["submit_order"].buckets == {
        "2.5": 5, "+Inf": 6}
    vanished = _snap(RUNNER_SOURCE, close_at, get_order=_hist({"2.5": 1, "+Inf": 1}))
    assert telemetry_window(start, vanished).restarted
    rebucketed = _snap(RUNNER_SOURCE, close_at, submit_order=_hist({"5": 20, "+Inf": 20}))
    assert telemetry_window(start, rebucketed).restarted
    with pytest.raises(TelemetryError, match="not cumulative"):
        histogram_quantile(0.99, _hist({"1": 5, "2": 3, "+Inf": 5}))
