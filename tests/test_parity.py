"""Parity end to end: a seeded Torghut DB (real PostgreSQL, Torghut's tables and shapes), the LEAN
runner and the Alpaca paper server over HTTP, parity_backtest + tca_report materialized for
2013-10-08 with TCA in Torghut's terms; the runner down fails the evidence check and never
replaces the day's good evidence; the sensor and the nightly schedule ask for the right runs."""

from __future__ import annotations

import socket
from contextlib import ExitStack
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest
from dagster import (
    AssetCheckSeverity,
    DagsterInstance,
    FloatMetadataValue,
    build_schedule_context,
    build_sensor_context,
)

from intel_assets.contracts.parity import SIDES
from intel_assets.devtools.alpaca_server import start_alpaca_server
from intel_assets.domain.decisions import MarketTape, validate_decisions
from intel_assets.domain.lean_data import lean_minute_snapshots
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.domain.strategy import SPREAD_SIMULATOR, seed_trade_decisions, strategy_decisions
from intel_assets.contracts.execution_errors import OrderNotFoundError
from intel_assets.execution.alpaca_adapter import AlpacaAdapter
from intel_assets.execution.lean_adapter import LeanAdapter
from intel_assets.devtools.lean_runner import lean_runner_in_background
from intel_assets.cli.parity import format_parity_report, run_parity_demo
from intel_assets.execution.parity_replay import day_end, replay_day, reusable_outcomes
from intel_assets.drills.parity_week import replay_executions
from intel_assets.jobs import PARITY_JOB
from intel_assets.parity_definitions import build_parity_definitions
from intel_assets.resources.execution_venue import ExecutionVenueResource
from intel_assets.stores.rollout_db import RolloutDb
from intel_assets.sensors.parity import read_cursor
from torghut_rows import decision_json, decision_row

DAY = date(2013, 10, 8)
KEY = DAY.isoformat()
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _bad(symbol: str, row: dict | None = None, **fields) -> dict:
    """A trade_decisions row in Torghut's shape (event_ts 15:00 UTC unless given)."""
    fields.setdefault("event_ts", "2013-10-08T15:00:00Z")
    return decision_row(symbol, decision_json(symbol, qty="100", **fields), **(row or {}))


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def venues(lean_dir):
    """(LEAN runner URL, Alpaca paper server URL), both on 127.0.0.1 for this test."""
    with ExitStack() as stack:
        runner = stack.enter_context(lean_runner_in_background(lean_dir))
        alpaca = stack.enter_context(start_alpaca_server(lean_dir=lean_dir))
        yield runner, alpaca.url


def _defs(postgres_schema_dsn, lean_dir, runner_url, alpaca_url):
    return build_parity_definitions(
        torghut_db_dsn=postgres_schema_dsn, lean_runner_url=runner_url, alpaca_url=alpaca_url,
        lean_data_dir=lean_dir, alpaca_replay_clock=True, sensor_settle_seconds=0)


def _run(defs, instance):
    return defs.resolve_job_def(PARITY_JOB).execute_in_process(
        partition_key=KEY, instance=instance, raise_on_error=False, run_config=QUIET)


def _materialized(result) -> dict[str, object]:
    return {e.asset_key.to_user_string(): e.step_materialization_data.materialization
            for e in result.get_asset_materialization_events()}


def test_parity_backtest_and_tca_report_for_a_seeded_day(torghut_db, postgres_schema_dsn,
                                                         lean_dir, venues):
    seeded = seed_trade_decisions(torghut_db, lean_dir, DAY)
    first = strategy_decisions(lean_dir, DAY)[0]
    bad = {"unknown_symbol": _bad("ZZZT"), "missing_limit_price": _bad("SPY", order_type="limit"),
           "outside_data": _bad("IBM", event_ts="2013-10-08T21:00:00Z"),
           "duplicate_client_order_id": _bad("BAC", {"alpaca_account_label": "live",
                                                     "decision_hash": first["decision_hash"]}),
           "torghut_rejected": _bad("AIG", {"status": "rejected"},
                                    risk_reasons=["max_position_pct_equity"])}
    torghut_db.insert_decisions(list(bad.values()))
    defs = _defs(postgres_schema_dsn, lean_dir, *venues)
    with DagsterInstance.ephemeral() as instance:
        result = _run(defs, instance)
    assert result.success
    materialized = _materialized(result)
    assert set(materialized) == {"parity_backtest", "tca_report"}
    assert {e.partition for e in result.get_asset_materialization_events()} == {KEY}
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == "parity_evidence_complete" and check.passed

    report = torghut_db.latest_parity_report(DAY)
    valid_ids = {d["id"] for d in strategy_decisions(lean_dir, DAY)}
    assert len(valid_ids) == seeded
    assert {r.decision_id for r in report.rows} == valid_ids, "a row for every valid intent"
    assert {r.code: r.decision_id for r in report.rejected} == {c: b["id"] for c, b in bad.items()}
    assert all(r.reason for r in report.rejected)
    assert "max_position_pct_equity" in next(r.reason for r in report.rejected
                                             if r.code == "torghut_rejected")
    assert report.summary.duplicate_submissions == 1
    assert all(r.alpaca.answered and r.lean.answered for r in report.rows)
    assert report.tca["alpaca"].fees_total == 0.0, "Alpaca: zero commission"
    lean_filled = [r for r in report.rows if r.lean.status == "filled"]
    assert lean_filled and report.tca["lean"].fees_total == pytest.approx(len(lean_filled) * 1.0), \
        "LEAN's IB model charges its $1 minimum on 100 shares"
    assert "alpaca" in report.venues["alpaca"] and venues[1] in report.venues["alpaca"]

    # one LEAN market fill checked by hand against the raw LEAN quote bars
    row = next(r for r in report.rows if r.order_type == "market" and r.side == "buy"
               and r.symbol == "SPY")
    snaps = lean_minute_snapshots(lean_dir, "SPY", days=[DAY], normalization="raw")
    seen = next(s for s in snaps if s.end == row.decision_time)    # last bar the decision saw
    filled_on = seen  # LEAN master EquityFillModel: the latest bar at or before the order time
    mid = float(seen.quote.bid.close + seen.quote.ask.close) / 2
    ask = float(filled_on.quote.ask.close)
    assert row.arrival_mid == pytest.approx(mid)
    assert row.lean.avg_fill_price == pytest.approx(ask)
    assert row.lean.slippage_bps == pytest.approx((ask - mid) / mid * 1e4)
    assert row.lean.time_to_fill_seconds == 0.0

    # the same fill in Torghut's terms: arrival price from params.arrival_price (what the
    # strategy saw: the mid), expected shortfall from the spread simulator's execution_advice
    t = row.lean.torghut
    payload = next(d for d in strategy_decisions(lean_dir, DAY)
                   if d["id"] == row.decision_id)["decision_json"]
    arrival = float(payload["params"]["arrival_price"])
    assert (t.arrival_price, t.arrival_source) == (arrival, "params.arrival_price")
    assert t.slippage_bps == pytest.approx((ask - arrival) / arrival * 1e4)
    assert t.shortfall_notional == pytest.approx((ask - arrival) * row.qty)
    advice = payload["params"]["execution_advice"]
    assert t.expected_shortfall_bps_p50 == float(advice["expected_shortfall_bps_p50"])
    assert t.divergence_bps == pytest.approx(t.slippage_bps - t.expected_shortfall_bps_p50)
    assert t.simulator_version == SPREAD_SIMULATOR and row.lean.submit_latency_ms > 0
    position, churned = {}, 0  # a filled sell against a filled buy churns its 100 shares
    for r in report.rows:
        if r.lean.status != "filled":
            continue
        held = position.get(r.symbol, 0)
        expected = 100 if r.side == "sell" and held > 0 else 0
        assert (r.lean.torghut.churn_qty, r.lean.torghut.churn_ratio) == (expected,
                                                                          expected / 100), r
        churned += expected
        position[r.symbol] = held + (100 if r.side == "buy" else -100)
    assert churned > 0 and report.tca["lean"].torghut.churn_qty_total == churned

    tca = materialized["tca_report"].metadata
    for name in ("lean_slippage_bps_mean", "alpaca_slippage_bps_p95", "lean_shortfall_bps_max",
                 "fill_price_drift_bps_p95", "status_agreement_pct", "duplicate_submissions",
                 "SPY_fill_price_drift_bps_mean", "lean_torghut_slippage_bps_mean",
                 "lean_shortfall_notional_total", "lean_divergence_bps_mean",
                 "lean_expected_shortfall_bps_p50_mean", "lean_churn_qty_total",
                 "lean_churn_ratio_mean", "lean_submit_latency_ms_p95", "torghut_rejected",
                 "torghut_decision_to_submit_seconds_mean"):
        assert isinstance(tca[name], FloatMetadataValue), name
    assert tca["duplicate_submissions"].value == 1.0 and tca["torghut_rejected"].value == 1.0
    assert 0.0 <= tca["status_agreement_pct"].value <= 100.0
    assert tca["lean_slippage_bps_mean"].value == round(report.tca["lean"].slippage_bps.mean, 2)
    assert tca["lean_divergence_bps_mean"].value == round(
        report.tca["lean"].torghut.divergence_bps.mean, 2), "rounded for people"
    assert tca["simulator_versions"].value == SPREAD_SIMULATOR
    assert "params.arrival_price" in tca["torghut_tca"].value
    assert materialized["parity_backtest"].metadata["rejected_intents"].value == len(bad)
    assert "lean" in format_parity_report(report)


def test_runner_down_marks_lean_unavailable_and_fails_the_evidence_check(
        torghut_db, postgres_schema_dsn, lean_dir, venues):
    seed_trade_decisions(torghut_db, lean_dir, DAY)
    down = _closed_port_url()
    defs = _defs(postgres_schema_dsn, lean_dir, down, venues[1])
    with DagsterInstance.ephemeral() as instance:
        result = _run(defs, instance)
    assert not result.success, "a blocking ERROR check fails the run loudly"
    assert set(_materialized(result)) == {"parity_backtest"}, \
        "the asset still materializes; tca_report is not built on incomplete evidence"
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == "parity_evidence_complete" and not check.passed
    assert check.severity == AssetCheckSeverity.ERROR
    assert "lean side unavailable" in check.description and down in check.description
    report = torghut_db.latest_parity_report(DAY)
    assert report.tca["lean"].state == "unavailable" and report.summary.unavailable_sides == ["lean"]
    assert all(r.lean.status == "unavailable" for r in report.rows)
    assert report.tca["alpaca"].filled > 0, "the side that answered keeps its evidence"

    # the runner is back: a rerun completes the evidence, keeping Alpaca's first answers
    with DagsterInstance.ephemeral() as instance:
        rerun = _run(_defs(postgres_schema_dsn, lean_dir, *venues), instance)
    assert rerun.success and set(_materialized(rerun)) == {"parity_backtest", "tca_report"}
    assert rerun.get_asset_check_evaluations()[0].passed
    fixed = torghut_db.latest_parity_report(DAY)
    assert fixed.tca["lean"].state == "ok" and fixed.tca["lean"].reused_outcomes == 0
    assert fixed.tca["alpaca"].reused_outcomes == len(fixed.rows), "not submitted twice"
    assert [r.alpaca.avg_fill_price for r in fixed.rows] == [
        r.alpaca.avg_fill_price for r in report.rows]


def test_a_failed_replay_never_replaces_the_days_good_evidence(
        torghut_db, postgres_schema_dsn, lean_dir, venues):
    """The measured scenario of issue 10 §4: good evidence for a day, then `ui` starts parity
    runs with no LEAN runner at the configured URL; the day keeps its evidence and the gate's
    phase-3 criteria keep measuring it (not "no evidence")."""
    from dagster import AssetKey

    from intel_assets.assets.rollout import gather_evidence
    from intel_assets.domain.gates import evaluate_gates
    from intel_assets.resources.rollout_policy import RolloutPolicyResource

    seed_trade_decisions(torghut_db, lean_dir, DAY)
    torghut_db.ensure_rollout_schema()
    policy = RolloutPolicyResource(parity_window_days=1)
    with DagsterInstance.ephemeral() as instance:
        good = _run(_defs(postgres_schema_dsn, lean_dir, *venues), instance)
        assert good.success
        evidence = torghut_db.parity_evidence(DAY)
        assert evidence.complete and evidence.run_id == good.run_id

        def phase3():
            verdict = evaluate_gates(gather_evidence(
                RolloutDb(postgres_schema_dsn), instance, policy, DAY,
                datetime.now(NEW_YORK)), policy.policy())
            return {c.id: c for c in verdict.criteria if c.phase == 3}

        before = phase3()
        assert not any(c.missing_evidence for c in before.values())
        down = _closed_port_url()
        failed = _run(_defs(postgres_schema_dsn, lean_dir, down, venues[1]), instance)
        assert not failed.success, "the incomplete replay still fails loudly"
        check = failed.get_asset_check_evaluations()[0]
        assert not check.passed and down in check.description
        assert f"evidence stays run {good.run_id}'s complete report" in check.description
        assert set(_materialized(failed)) == {"parity_backtest"}, "tca_report is not rebuilt"
        tca_runs = instance.fetch_materializations(AssetKey("tca_report"), limit=10).records
        assert [r.run_id for r in tca_runs] == [good.run_id]
        after = phase3()
    kept = torghut_db.parity_evidence(DAY)
    assert (kept.run_id, kept.complete) == (good.run_id, True), "the good evidence is kept"
    assert kept.report == evidence.report
    attempts = torghut_db.parity_attempts(DAY)
    assert [(a[0], a[2]) for a in attempts] == [(failed.run_id, False), (good.run_id, True)]
    assert "lean side unavailable" in attempts[0][3][0], "the failure is recorded beside it"
    assert RolloutDb(postgres_schema_dsn).parity_reports([DAY])[0][0] == good.run_id
    for cid, criterion in after.items():
        assert not criterion.missing_evidence, cid
        assert (criterion.passed, criterion.measured) == (before[cid].passed,
                                                          before[cid].measured), cid


def test_sensor_launches_once_per_decision_set_and_again_for_new_ones(
        torghut_db, postgres_schema_dsn, lean_dir):
    defs = _defs(postgres_schema_dsn, lean_dir, _closed_port_url(), _closed_port_url())
    sensor = defs.resolve_sensor_def("parity_on_new_decisions")
    with DagsterInstance.ephemeral() as instance:
        def tick(cursor=None):
            return sensor.evaluate_tick(build_sensor_context(
                instance=instance, cursor=cursor, definitions=defs,
                resources={"torghut_db": defs.resources["torghut_db"]}))

        assert not tick().run_requests, "nothing to do before any decision"
        seeded = seed_trade_decisions(torghut_db, lean_dir, DAY)
        first = tick()
        assert [r.partition_key for r in first.run_requests] == [KEY]
        key = first.run_requests[0].run_key
        assert key.startswith(f"parity:{KEY}:{seeded}:")
        assert read_cursor(first.cursor)[1] == torghut_db.decisions_for_day(DAY)[-1].id
        again = tick(first.cursor)
        assert not again.run_requests and again.skip_message, "same decisions: no second run"
        assert tick().run_requests[0].run_key == key, "re-reading the rows asks for the same run"

        later = _bad("SPY", event_ts="2013-10-09T15:00:00Z")
        torghut_db.insert_decisions([later])
        second = tick(first.cursor)
        assert [(r.partition_key, r.run_key) for r in second.run_requests] == [
            ("2013-10-09", f"parity:2013-10-09:1:{later['id']}")]
        extra = _bad("IBM", event_ts="2013-10-08T19:00:00Z")
        torghut_db.insert_decisions([extra])
        third = tick(second.cursor)
        assert [(r.partition_key, r.run_key) for r in third.run_requests] == [
            (KEY, f"parity:{KEY}:{seeded + 1}:{extra['id']}")], "a new decision: a new run"


def test_nightly_schedule_requests_the_previous_day(postgres_schema_dsn, lean_dir):
    defs = _defs(postgres_schema_dsn, lean_dir, _closed_port_url(), _closed_port_url())
    schedule = defs.resolve_schedule_def("parity_nightly")
    assert schedule.cron_schedule == "0 2 * * 2-6"
    assert schedule.execution_timezone == "America/New_York"
    for when, wanted in ((datetime(2013, 10, 9, 2, 0, tzinfo=NEW_YORK), "2013-10-08"),
                         (datetime(2013, 10, 12, 2, 0, tzinfo=NEW_YORK), "2013-10-11")):
        with DagsterInstance.ephemeral() as instance:
            data = schedule.evaluate_tick(build_schedule_context(
                instance=instance, scheduled_execution_time=when,
                repository_def=defs.get_repository_def()))
        assert [r.partition_key for r in data.run_requests] == [wanted]
        assert defs.resolve_job_def(PARITY_JOB).partitions_def.has_partition_key(wanted)
    with DagsterInstance.ephemeral() as instance:
        early = schedule.evaluate_tick(build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2013, 10, 7, 2, tzinfo=NEW_YORK),
            repository_def=defs.get_repository_def()))
    assert not early.run_requests and "before the start date" in early.skip_message
    with DagsterInstance.ephemeral() as instance:
        sunday = schedule.evaluate_tick(build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2013, 10, 13, 2, tzinfo=NEW_YORK),
            repository_def=defs.get_repository_def()))
    assert not sunday.run_requests and "not a trading day" in sunday.skip_message



def test_parity_demo_prints_both_venues_and_the_drift(postgres_schema_dsn, lean_dir, capsys):
    report = run_parity_demo(lean_dir, postgres_schema_dsn, "2013-10-08", seed=True)
    out = capsys.readouterr().out
    assert report.evidence_problems() == [] and report.summary.valid_intents >= 8
    assert f"parity 2013-10-08: {report.summary.decisions} decisions" in out
    assert "Dagster run succeeded" in out
    for line in ("alpaca ok", "lean   ok", "drift: status agreement", "SPY   agree"):
        assert line in out, line
    lean = report.tca["lean"]
    assert f"{lean.filled}/{lean.intents}" in out and f"{lean.fees_total:.2f}" in out


@pytest.mark.parametrize("batch", [True, False], ids=["batched", "per-order"])
def test_outcomes_are_each_orders_final_state_at_the_end_of_its_session(torghut_db, lean_dir,
                                                                       venues, batch):
    """LEAN first evaluates a limit order on the next bar, Alpaca paper at once on the current
    quote, so their submit answers describe two moments; the replay compares where each order
    ends its day, read after both venues' clocks reach the New York midnight after it. A day
    limit below the day's range expires at the close at both; a gtc one is still open then
    (unfilled) and is canceled at both venues afterwards (batched, the LEAN runner never held
    it: its order replay ran on a scratch book); a rerun reuses final outcomes only. The same
    whether each venue replays the day at once or one intent at a time."""
    decided = datetime(2013, 10, 8, 14, 30, tzinfo=timezone.utc)
    snaps = lean_minute_snapshots(lean_dir, "SPY", days=[DAY], normalization="raw")
    current = next(s for s in snaps if s.end == decided)   # Alpaca's current quote
    following = next(s for s in snaps if s.start == decided)  # LEAN's first bar for a limit
    ask = float(current.quote.ask.close)
    limit = round(ask + 0.05, 2)  # marketable now: Alpaca fills at the ask at once
    assert float(following.trade.low) < limit, "precondition: LEAN's next bar trades below it"
    lean_price = min(limit, float(following.trade.open))
    day_low = min(float(s.trade.low) for s in snaps if s.trade is not None)
    far = round(day_low / 2, 2)  # never reached that day
    event_ts = decided.isoformat().replace("+00:00", "Z")
    rows = {name: _bad("SPY", event_ts=event_ts, order_type="limit", limit_price=str(price),
                       time_in_force=tif)
            for name, price, tif in (("marketable", limit, "day"), ("day", far, "day"),
                                     ("gtc", far, "gtc"))}
    torghut_db.insert_decisions(list(rows.values()))
    ids = {name: row["id"] for name, row in rows.items()}
    runner, alpaca_url = venues
    slots = {"alpaca": ExecutionVenueResource(kind="alpaca", base_url=alpaca_url,
                                              replay_clock=True),
             "lean": ExecutionVenueResource(kind="lean", base_url=runner)}

    def replay(previous=None):
        opened = {side: replace(slot.venue(), batch=batch) for side, slot in slots.items()}
        try:
            return replay_day(DAY, torghut_db.decisions_for_day(DAY), MarketTape(lean_dir),
                              opened, previous=previous), opened
        finally:
            for venue in opened.values():
                venue.close()

    report, opened = replay()
    assert report.evidence_problems() == []
    by_id = {r.decision_id: r for r in report.rows}
    horizon = day_end(DAY)
    for row in report.rows:
        for side in SIDES:
            outcome = row.outcome(side)
            assert outcome.final and outcome.observed_at == horizon, (side, outcome)
    hit = by_id[ids["marketable"]]
    assert (hit.alpaca.status, hit.alpaca.avg_fill_price, hit.alpaca.time_to_fill_seconds) == (
        "filled", ask, 0.0)
    assert (hit.lean.status, hit.lean.avg_fill_price, hit.lean.filled_at) == (
        "filled", lean_price, following.end), "filled after LEAN answered the submit"
    assert hit.lean.time_to_fill_seconds == (following.end - decided).total_seconds() > 0
    assert hit.status_agree and hit.fill_price_diff_bps == pytest.approx(
        (ask - lean_price) / hit.arrival_mid * 1e4)
    expired, kept = by_id[ids["day"]], by_id[ids["gtc"]]
    assert (expired.alpaca.status, expired.lean.status) == ("canceled", "canceled")
    assert "expired" in expired.alpaca.reason and "expired" in expired.lean.reason
    assert (kept.alpaca.status, kept.lean.status) == ("unfilled", "unfilled")
    assert kept.status_agree and report.summary.status_agreement_pct == 100.0
    executions = {e["trade_decision_id"]: e["status"]
                  for e in replay_executions(report, "run", set(), set())}
    assert (executions[ids["marketable"]], executions[ids["day"]], executions[ids["gtc"]]) == (
        "filled", "expired", "new"), "as Torghut's executions would record Alpaca's orders"
    cid = kept.client_order_id  # judged at the horizon, then canceled at both venues
    with LeanAdapter(runner) as lean, AlpacaAdapter("k", "s", base_url=alpaca_url) as paper:
        assert paper.status(cid).status == "canceled"
        if batch:
            with pytest.raises(OrderNotFoundError):
                lean.status(cid)
            assert lean.list_orders("open") == []
        else:
            assert lean.status(cid).status == "canceled"

    rerun, opened = replay(previous=report)
    assert [rerun.tca[side].reused_outcomes for side in SIDES] == [len(report.rows)] * 2
    assert [r.alpaca for r in rerun.rows] == [r.alpaca.model_copy(update={"reused": True})
                                             for r in report.rows]
    read_early = report.model_copy(update={"rows": [r.model_copy(update={
        "alpaca": r.alpaca.model_copy(update={"final": False}),
        "lean": r.lean.model_copy(update={"final": False})}) for r in report.rows]})
    valid, _ = validate_decisions(torghut_db.decisions_for_day(DAY), MarketTape(lean_dir))
    assert reusable_outcomes(read_early, opened, valid) == {"alpaca": {}, "lean": {}}, \
        "outcomes read before the horizon (older reports) are asked again"


def test_a_venue_that_goes_down_before_the_final_read_is_unavailable(torghut_db, lean_dir):
    """The LEAN runner accepts every submit, then stops before its clock reaches the horizon:
    its orders' final states cannot be read, so the side is unavailable (the evidence is
    incomplete), never its submit answers passed off as outcomes. (One intent at a time: a
    batched day is one request, see test_parity_batch.py for a runner down then.)"""
    seed_trade_decisions(torghut_db, lean_dir, DAY)
    with ExitStack() as stack, ExitStack() as runner_life:
        runner = runner_life.enter_context(lean_runner_in_background(lean_dir))
        alpaca = stack.enter_context(start_alpaca_server(lean_dir=lean_dir))
        lean = replace(ExecutionVenueResource(kind="lean", base_url=runner).venue(), batch=False)
        paper = ExecutionVenueResource(kind="alpaca", base_url=alpaca.url,
                                       replay_clock=True).venue()
        to_horizon = lean.finish

        def stop_then_finish(horizon):
            runner_life.close()  # the runner process is gone after the last submit
            return to_horizon(horizon)

        lean.finish = stop_then_finish
        report = replay_day(DAY, torghut_db.decisions_for_day(DAY), MarketTape(lean_dir),
                            {"alpaca": paper, "lean": lean})
        for venue in (lean, paper):
            venue.close()
    assert report.tca["lean"].state == "unavailable" and report.summary.unavailable_sides == [
        "lean"]
    assert all(r.lean.status == "unavailable" and "final state" in r.lean.reason
               for r in report.rows)
    assert runner in report.tca["lean"].unavailable_reason
    assert report.evidence_problems() and report.tca["alpaca"].state == "ok"
    assert all(r.alpaca.final for r in report.rows)
