"""Rollout gate end to end on a real PostgreSQL and one Dagster instance: parity reports from real
parity runs (LEAN runner + Alpaca paper server), a week of Torghut decisions carrying guardrail
outcomes from the real GuardrailPolicy, rollout_baseline, guardrail_daily for 7 days, the market
context refresh (its contract checks are phase-1 evidence), then rollout_gate and its checks."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    Definitions,
    EnvVar,
    build_schedule_context,
    materialize,
    validate_run_config,
)

from intel_assets.cli.seed import seed
from intel_assets.contracts.bundle import DOMAINS
from intel_assets.contracts.decisions import StrategyDecision, decision_hash
from intel_assets.contracts.gates import LatencyHistogram, TelemetrySnapshot
from intel_assets.jobs import REFRESH_JOB
from intel_assets.definitions import build_market_context_definitions
from intel_assets.devtools.torghut_tables import ThrowawayTorghutDb
from intel_assets.domain.bundle import merge_bundle
from intel_assets.domain.canary_slo import (
    CONTEXT_PATH,
    RUNNER_SOURCE,
    SERVING_SOURCE,
    session_bounds,
)
from intel_assets.contracts.decisions import parse_event_ts
from intel_assets.domain.gates import CRITERIA
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.domain.quality import observed_block
from intel_assets.domain.rollout_metrics import token_sha256, trading_days
from intel_assets.domain.strategy import STRATEGY_ID, decision_id, strategy_decisions, strategy_row
from intel_assets.domain.tca import percentile
from intel_assets.cli.parity import run_parity_demo
from intel_assets.execution.lean_runner_state import LATENCY_BUCKETS_MS
from intel_assets.drills.parity_week import replay_executions
from intel_assets.jobs import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from intel_assets.jobs import GUARDRAIL_JOB, ROLLOUT_GATE_JOB
from intel_assets.parity_definitions import build_parity_definitions
from intel_assets.resources.rollout_policy import APPROVAL_TOKEN_ENV, RolloutPolicyResource
from intel_assets.stores.rollout_db import RolloutDb
from intel_assets.settings import LEAN_DEMO_AS_OF, load_settings
from intel_assets.torghut.client import MarketContextResult
from intel_assets.torghut.decision_record import with_guardrail_record
from intel_assets.torghut.schema import TorghutMarketContextBundle
from intel_assets.torghut.guardrail import DeterministicDecision, GuardrailPolicy
from torghut_rows import decision_json, decision_row

PARITY_DAYS = [date(2013, 10, d) for d in (7, 8, 9, 10, 11)]  # the LEAN sample's full week
AS_OF = date(2013, 10, 11)
WEEK = trading_days(AS_OF, 7)  # 2013-10-03 .. 2013-10-11
BUDGETS = {"technicals": 60, "regime": 60, "news": 300, "fundamentals": 86_400}
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
TOKEN = "approve-lean-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def parity_runs(postgres_dsn, lean_dir):
    """{day: (run_id, ParityReport)} from real parity runs of the LEAN sample week."""
    schema = f"p_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(postgres_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
    dsn = f"{postgres_dsn}{'&' if '?' in postgres_dsn else '?'}options=-csearch_path%3D{schema}"
    try:
        for day in PARITY_DAYS:
            run_parity_demo(lean_dir, dsn, day, seed=True, echo=False)
        return {report.day: (run_id, report) for run_id, report in RolloutDb(dsn).parity_reports(
            PARITY_DAYS)}
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def _guarded(payload: dict, symbol: str, stale: bool, risk_ok: bool) -> dict:
    """decision_json with the outcome the real guardrail gives on a bundle built as of the
    decision time (technicals aged twice its budget when ``stale``)."""
    now = parse_event_ts(payload["event_ts"])
    ages = {d: (2 * BUDGETS[d] if stale and d == "technicals" else BUDGETS[d] // 10)
            for d in DOMAINS}
    blocks = {d: observed_block(domain=d, now=now, as_of=now - timedelta(seconds=ages[d]),
                                budget_seconds=BUDGETS[d], payload={"v": 1}, core_values=[1.0],
                                sources=1, expected_sources=1) for d in DOMAINS}
    bundle = merge_bundle(symbol, now, blocks, BUDGETS)
    outcome = GuardrailPolicy().decide(  # Torghut's defaults: shadow_only, quality >= 0.4
        MarketContextResult(symbol=symbol, outcome="ok", bundle=TorghutMarketContextBundle
                            .model_validate(bundle.to_wire())),
        DeterministicDecision(risk_ok, () if risk_ok else ("max_notional",)))
    return with_guardrail_record(payload, outcome)


def _day_decisions(lean_dir: Path, day: date, degraded: int, rejections: int) -> list[dict]:
    """Torghut's log for ``day``: the strategy's intents (2013-10-03, absent from the LEAN sample,
    repeats 10-04's a day earlier) with guardrail records, ``degraded`` of them on a stale
    bundle, one vetoed by the risk check, plus ``rejections`` refused at validation (qty 0)."""
    source = day if day != date(2013, 10, 3) else date(2013, 10, 4)
    rows = []
    for i, row in enumerate(strategy_decisions(lean_dir, source)):
        payload = dict(row["decision_json"])
        if source != day:
            decision = StrategyDecision.model_validate(payload)
            decision = decision.model_copy(update={"event_ts": decision.event_ts
                                                   - timedelta(days=1)})
            payload = decision.decision_json()
            row = {**row, "id": decision_id(STRATEGY_ID, row["symbol"], payload["event_ts"],
                                            payload["action"]),
                   "decision_hash": decision_hash(decision)}
        risk_ok = i != 7
        stale = i in (3, 11, 1, 5, 9, 13)[:degraded]
        rows.append({**row, "status": "planned" if risk_ok else "rejected",
                     "decision_json": _guarded(payload, row["symbol"], stale, risk_ok)})
    for k in range(rejections):
        rows.append(decision_row("SPY", decision_json(
            qty="0", event_ts=f"{day}T15:{10 + k}:00Z", rejection_stage="validation",
            risk_reasons=["qty must be positive"]), status="rejected", decision_hash=None))
    return rows


def _world(db: ThrowawayTorghutDb, lean_dir: Path, parity_runs, *, degraded: dict | None = None,
           rejections: dict | None = None) -> None:
    """Seed a week of Torghut decisions, the Alpaca executions of 10-07/10-08 (what the paper
    venue answered in the parity runs) and the parity reports with their run ids."""
    db.ensure_schema()
    db.ensure_rollout_schema()
    db.insert_strategy(strategy_row())
    for day in WEEK:
        db.insert_decisions(_day_decisions(lean_dir, day, (degraded or {}).get(day, 2),
                                           (rejections or {}).get(day, 1)))
    vetoed = {r.id for r in db.decisions_between(WEEK[0], AS_OF) if r.status == "rejected"}
    for day in PARITY_DAYS[:2]:
        run_id, report = parity_runs[day]
        db.insert_executions(replay_executions(report, run_id, vetoed, set()))
    for run_id, report in parity_runs.values():
        db.save_parity_report(report, run_id)


def _defs(tmp_path: Path, chdb_dsn: str, lean_dir: Path, dsn: str, **rollout) -> Definitions:
    """The market-context slice merged with the parity slice (rollout assets inside)."""
    settings = load_settings(home=tmp_path / "home", clickhouse_url=chdb_dsn,
                             clickhouse_database=f"t_{uuid.uuid4().hex[:10]}",
                             lean_data_dir=lean_dir, universe="SPY,IBM,BAC,AIG",
                             as_of=LEAN_DEMO_AS_OF)
    seed(settings)
    parity = build_parity_definitions(
        torghut_db_dsn=dsn, lean_runner_url="http://127.0.0.1:9", alpaca_url="http://127.0.0.1:9",
        lean_data_dir=lean_dir, start_date="2013-10-03", default_running=False, **rollout)
    return Definitions.merge(build_market_context_definitions(settings), parity)


def _refresh(defs, instance) -> None:
    symbols = defs.resolve_job_def(REFRESH_JOB).partitions_def.get_partition_keys()
    result = defs.resolve_job_def(REFRESH_JOB).execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET, tags={
            PARTITION_RANGE_START_TAG: symbols[0],
            PARTITION_RANGE_END_TAG: symbols[-1]})
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations())


def _baseline(defs, instance, start="2013-10-07", end="2013-10-08"):
    """Materialize rollout_baseline as an operator does (it is in no job or schedule)."""
    return materialize([defs.resolve_assets_def("rollout_baseline")], instance=instance,
                       run_config={**QUIET, "ops": {"rollout_baseline": {
                           "config": {"start_day": start, "end_day": end}}}})


def _guardrail(defs, instance, days) -> None:
    for day in days:
        assert defs.resolve_job_def(GUARDRAIL_JOB).execute_in_process(
            partition_key=str(day), instance=instance, run_config=QUIET).success


def _gate(defs, instance):
    """(phase_reached, {check name: evaluation}, materialization metadata) of one gate run."""
    result = defs.resolve_job_def(ROLLOUT_GATE_JOB).execute_in_process(
        instance=instance, raise_on_error=False, run_config={
            **QUIET, "ops": {"rollout_gate": {"config": {"as_of_day": str(AS_OF)}}}})
    assert result.success, "a gate below phase 4 is an answer, not a failed run"
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    return metadata["phase_reached"].value, checks, metadata


def _failing(checks) -> set[str]:
    return {name for name, c in checks.items() if not c.passed}


def test_gate_climbs_phase_by_phase_and_phase_3_measures_the_real_parity_runs(
        tmp_path, chdb_dsn, lean_dir, postgres_schema_dsn, parity_runs):
    db = ThrowawayTorghutDb(postgres_schema_dsn)
    _world(db, lean_dir, parity_runs)
    defs = _defs(tmp_path, chdb_dsn, lean_dir, postgres_schema_dsn)
    with DagsterInstance.ephemeral() as instance:
        phase, checks, _ = _gate(defs, instance)
        assert phase == -1 and len(checks) == len(CRITERIA)
        base = checks["p0_baseline_snapshot"]
        assert not base.passed and base.severity.value == "ERROR"
        assert base.description.startswith("no evidence: intel_rollout_baselines has no baseline")

        baseline = _baseline(defs, instance).get_asset_materialization_events()[0]
        assert baseline.materialization.metadata["version"].value == 1
        frozen = db.baseline()
        vetoed = {r.id for r in db.decisions_between(PARITY_DAYS[0], PARITY_DAYS[1])
                  if r.status == "rejected" and "market_context_guardrail" in r.decision_json}
        sent = [r for d in PARITY_DAYS[:2] for r in parity_runs[d][1].rows
                if r.decision_id not in vetoed]
        assert len(vetoed) == 2 and frozen.executions.executions == len(sent)
        assert frozen.executions.fill_rate_pct == pytest.approx(
            sum(r.alpaca.status == "filled" for r in sent) / len(sent) * 100)
        assert frozen.guardrail.consulted == 30 and frozen.guardrail.degraded == 4
        # technicals at twice its budget: quality 0.25 < 0.4 (the bundle is 120 s old, < 300)
        assert frozen.guardrail.by_reason == {"market_context_quality_low": 4}
        assert frozen.rejections.by_code == {"torghut_validation": 2}

        phase, checks, _ = _gate(defs, instance)
        assert phase == 0
        assert checks["p1_wire_contract"].description.startswith(
            "no evidence: no completed evaluation of market_context_bundle:"
            "bundle_matches_wire_contract")

        _refresh(defs, instance)
        _guardrail(defs, instance, WEEK[1:])
        phase, checks, _ = _gate(defs, instance)
        assert phase == 1 and checks["p1_stale_probe"].passed
        assert "guardrail_daily missing for 2013-10-03" in checks[
            "p2_guardrail_stability"].description

        _guardrail(defs, instance, WEEK[:1])
        phase, checks, metadata = _gate(defs, instance)
    assert metadata["phase_name"].value
    assert checks["p2_guardrail_stability"].passed and checks["p2_schema_rejection_rate"].passed
    assert checks["p2_guardrail_stability"].metadata["measured"].value == pytest.approx(0.0)

    # phase 3 on the real parity runs, each criterion measured here from their rows
    policy = RolloutPolicyResource().policy()
    rows = [r for d in PARITY_DAYS for r in parity_runs[d][1].rows if r.status_agree is not None]
    agreed = sum(r.status_agree for r in rows)
    agreement = agreed / len(rows) * 100
    drift = [abs(r.fill_price_diff_bps) for r in rows if r.fill_price_diff_bps is not None]
    drift_p95 = percentile(drift, 95)
    means = {}
    for side in ("alpaca", "lean"):
        fills = [(r.outcome(side).slippage_bps) for r in rows if r.outcome(side).status == "filled"]
        means[side] = sum(fills) / len(fills)
    measured = {"p3_status_agreement": (agreement, agreement >= policy.parity_status_agreement_min_pct),
                "p3_fill_drift_p95": (drift_p95, drift_p95 <= policy.parity_fill_drift_p95_max_bps),
                "p3_duplicate_submissions": (0.0, True),
                "p3_tca_slippage_gap": (abs(means["lean"] - means["alpaca"]),
                                        abs(means["lean"] - means["alpaca"])
                                        <= policy.parity_slippage_gap_max_bps)}
    for cid, (value, passed) in measured.items():
        check = checks[cid]
        assert check.severity.value == "ERROR"
        assert check.metadata["measured"].value == pytest.approx(value), cid
        assert check.passed == passed, (cid, check.description)
    assert phase == (3 if all(passed for _, passed in measured.values()) else 2)
    status = checks["p3_status_agreement"]
    assert status.metadata["threshold"].value == policy.parity_status_agreement_min_pct
    assert f"({agreed}/{len(rows)} intents over 2013-10-07..2013-10-11)" in status.description
    cited = {e["run_id"] for e in status.metadata["evidence"].value}
    assert cited == {run_id for run_id, _ in parity_runs.values()}, "every parity run is cited"
    # what remains is explainable model by model: both venues fill a market order on the bar
    # that closed at or before it, at its ask/bid; only limit orders differ (LEAN fills them on
    # the next bar's trade range at the limit or the open, Alpaca paper at the marketable quote)
    market = [r for r in rows if r.order_type == "market"]
    assert market and all(r.status_agree and r.fill_price_diff_bps == pytest.approx(0.0)
                          and r.alpaca.filled_at == r.lean.filled_at for r in market)
    differing = [r for r in rows if not r.status_agree or abs(r.fill_price_diff_bps or 0) > 1e-9]
    assert all(r.order_type == "limit" for r in differing)
    for r in differing:  # each venue filled at or inside the limit, at its own price rule
        sign = 1 if r.side == "buy" else -1
        for o in (r.alpaca, r.lean):
            assert o.status != "filled" or sign * (o.avg_fill_price - r.limit_price) <= 1e-9, r
    assert checks["p3_duplicate_submissions"].passed
    assert all(checks[c].description.startswith("no evidence:") for c in (
        "p4_canary_availability", "p4_approval"))
    failing = [c["id"] for c in metadata["criteria_json"].value if not c["passed"]]
    assert metadata["blockers"].value.startswith(failing[0])


def test_unstable_day_and_more_rejections_fail_phase_2_and_baselines_stay_frozen(
        tmp_path, chdb_dsn, lean_dir, postgres_schema_dsn, parity_runs):
    db = ThrowawayTorghutDb(postgres_schema_dsn)
    _world(db, lean_dir, parity_runs, degraded={date(2013, 10, 9): 6},
           rejections={date(2013, 10, 10): 4})
    defs = _defs(tmp_path, chdb_dsn, lean_dir, postgres_schema_dsn)
    with DagsterInstance.ephemeral() as instance:
        _baseline(defs, instance)
        _baseline(defs, instance, start="2013-10-04", end="2013-10-08")
        _guardrail(defs, instance, WEEK)
        phase, checks, metadata = _gate(defs, instance)
    assert phase == 0, "phase 1 has no market-context check evaluations in this instance"
    assert {"p2_guardrail_stability", "p2_schema_rejection_rate"} <= _failing(checks)
    stability = checks["p2_guardrail_stability"]
    base = db.baseline()
    assert base.version == 2 and base.start_day == date(2013, 10, 4)
    deviation = 6 / 15 * 100 - base.guardrail.degraded_share_pct
    assert stability.metadata["measured"].value == pytest.approx(deviation)
    assert f"(2013-10-09) {deviation:.2f} pp > 5 pp (threshold <= 5 pp)" in stability.description
    assert "2013-10-09: 40 % (|diff| 26.67 pp)" in stability.description
    rate = checks["p2_schema_rejection_rate"]
    decisions = sum(len(_day_decisions(lean_dir, d, 2, 1)) for d in WEEK) + 3
    assert rate.metadata["measured"].value == pytest.approx(10 / decisions * 100)
    assert rate.metadata["threshold"].value == pytest.approx(base.rejections.rate_pct + 0.5)
    assert f"(10/{decisions} over 2013-10-03..2013-10-11; baseline v2" in rate.description
    assert any(e["key"] == "version=2" for e in metadata["evidence"].value["p0_baseline_snapshot"])

    with psycopg2.connect(postgres_schema_dsn) as conn, conn.cursor() as cur:
        with pytest.raises(psycopg2.Error, match="version 1 is frozen"):
            cur.execute("UPDATE intel_rollout_baselines SET note = 'edited' WHERE version = 1")
    conn.close()
    assert db.baseline(1).start_day == date(2013, 10, 7), "a pinned version stays readable"


def _latency_histogram(fast: int, slow: int) -> LatencyHistogram:
    """Cumulative buckets as the runner counts them: ``fast`` answers within 25 ms, ``slow``
    ones between 250 and 500 ms."""
    buckets = {f"{le:g}": (fast + (slow if le >= 500 else 0)) if le >= 25 else 0
               for le in LATENCY_BUCKETS_MS}
    buckets["+Inf"] = fast + slow
    return LatencyHistogram(buckets=buckets, count=fast + slow, sum_ms=fast * 10.0 + slow * 400.0)


def _plus(a: LatencyHistogram, b: LatencyHistogram) -> LatencyHistogram:
    return LatencyHistogram(buckets={k: a.buckets.get(k, 0) + v for k, v in b.buckets.items()},
                            count=a.count + b.count, sum_ms=a.sum_ms + b.sum_ms)


def _canary_world(db, days, slow_day: date) -> None:
    """Torghut executions of the canary days in Torghut's shape (SPY routed to LEAN, one fallback
    to Alpaca on the first day, IBM on Alpaca), and the canary runner's and serving API's
    scrapes around each session (cumulative histograms growing as the services count)."""
    runner = _latency_histogram(0, 0)
    context = _latency_histogram(0, 0)
    for n, day in enumerate(days):
        base = datetime.combine(day, datetime.min.time(), NEW_YORK) + timedelta(hours=10)
        rows = [{"trade_decision_id": None, "alpaca_order_id": str(uuid.uuid4()),
                 "client_order_id": f"canary-{day}-{i}", "symbol": "SPY" if i < 2000 else "IBM",
                 "side": "buy", "order_type": "market", "submitted_qty": 1, "filled_qty": 1,
                 "avg_fill_price": 168.0, "status": "filled",
                 "execution_expected_adapter": "lean" if i < 2000 else "alpaca",
                 "execution_actual_adapter": "alpaca" if (i == 0 and n == 0) or i >= 2000
                 else "lean",
                 "execution_fallback_reason": "lean_submit_failed" if i == 0 and n == 0 else None,
                 "execution_fallback_count": 1 if i == 0 and n == 0 else 0,
                 "created_at": base + timedelta(seconds=i)} for i in range(2010)]
        assert db.insert_executions(rows) == 2010
        open_at, close_at = session_bounds(day)
        for source, hist, path in ((RUNNER_SOURCE, runner, "submit_order"),
                                   (SERVING_SOURCE, context, CONTEXT_PATH)):
            db.save_telemetry(TelemetrySnapshot(source=source, url=f"http://{source}",
                                                scraped_at=open_at - timedelta(hours=1),
                                                operations={path: hist}))
        runner = _plus(runner, _latency_histogram(*((1960, 40) if day == slow_day else (2000, 0))))
        context = _plus(context, _latency_histogram(2000, 0))
        for source, hist, path in ((RUNNER_SOURCE, runner, "submit_order"),
                                   (SERVING_SOURCE, context, CONTEXT_PATH)):
            db.save_telemetry(TelemetrySnapshot(source=source, url=f"http://{source}",
                                                scraped_at=close_at + timedelta(hours=1),
                                                operations={path: hist}))


def test_phase_4_from_measured_canary_evidence_a_rehearsal_and_a_sign_off(
        tmp_path, chdb_dsn, lean_dir, postgres_schema_dsn, parity_runs, monkeypatch):
    """Canary evidence built from Torghut-shaped executions rows (a fallback included) and the
    canary runner's and serving API's scrapes, measured by canary_slo in Dagster; phase 4
    fails and passes on its thresholds, then needs the rollback rehearsal and the sign-off."""
    from intel_assets.jobs import CANARY_SLO_JOB
    from intel_assets.stores.bundle_store import BundleStore
    from intel_assets.stores.rollout_rehearsals import save_rehearsal
    from intel_assets.drills.rollback_rehearsal import rehearse_rollback

    db = ThrowawayTorghutDb(postgres_schema_dsn)
    _world(db, lean_dir, parity_runs)
    # The canary policy's parity thresholds sit just below what the real runs measure on
    # 10-09..10-11 (measured here, not assumed: it moves with the fill models), so phase 3
    # passes on the real numbers whatever the defaults say.
    window = [r for d in PARITY_DAYS[2:] for r in parity_runs[d][1].rows
              if r.status_agree is not None]
    agreement = sum(r.status_agree for r in window) / len(window) * 100
    drift_p95 = percentile([abs(r.fill_price_diff_bps) for r in window
                            if r.fill_price_diff_bps is not None], 95)
    thresholds = dict(parity_window_days=3, parity_status_agreement_min_pct=agreement - 0.5,
                      parity_fill_drift_p95_max_bps=max(5.0, drift_p95 + 0.5),
                      canary_symbols=["SPY"])
    strict = RolloutPolicyResource(**thresholds)  # canary p99 <= 250 ms, availability >= 0.999
    lenient = RolloutPolicyResource(**thresholds, canary_p99_latency_max_ms=600.0)
    monkeypatch.setenv(APPROVAL_TOKEN_ENV, TOKEN)
    token = EnvVar(APPROVAL_TOKEN_ENV)
    defs = _defs(tmp_path, chdb_dsn, lean_dir, postgres_schema_dsn, rollout_policy=strict,
                 rollout_approval_token=token)
    relaxed = _defs(tmp_path, chdb_dsn, lean_dir, postgres_schema_dsn, rollout_policy=lenient,
                    rollout_approval_token=token)
    canary_days = trading_days(AS_OF, 5)
    db.ensure_rollout_schema()
    _canary_world(db, canary_days, slow_day=date(2013, 10, 9))
    with DagsterInstance.ephemeral() as instance:
        for day in canary_days:  # canary_slo measures each day (its own scrapes fail: no URL)
            result = defs.resolve_job_def(CANARY_SLO_JOB).execute_in_process(
                partition_key=str(day), instance=instance, run_config=QUIET)
            assert result.success
        records = {r.day: r for r in db.canary_days(canary_days)}
        first = records[canary_days[0]]
        assert (first.lean_expected, first.lean_served) == (2000, 1999)
        assert first.availability == pytest.approx(0.9995)
        assert first.fallbacks_by_reason == {"lean_submit_failed": 1}
        assert records[date(2013, 10, 9)].runner_p99_ms == pytest.approx(375.0), \
            "rank 1980 of 2000 lies 20/40 into (250, 500] ms"
        assert all(r.runner_requests == 2000 and r.error_rate == 0.0 for r in records.values())
        _refresh(defs, instance)
        _baseline(defs, instance)
        _guardrail(defs, instance, WEEK)
        phase, checks, _ = _gate(defs, instance)
        assert phase == 3 and _failing(checks) == {"p4_canary_p99_latency",
                                                   "p4_rollback_rehearsal", "p4_approval"}, {
            n: c.description for n, c in checks.items() if not c.passed}
        assert checks["p2_risk_path_identical"].passed, checks["p2_risk_path_identical"]
        latency = checks["p4_canary_p99_latency"].description
        assert latency.startswith("highest p99 latency (2013-10-09) ") and "> 250 ms" in latency
        assert "1999/2000 LEAN-routed executions served by LEAN, fallbacks " \
            "{'lean_submit_failed': 1}" in checks["p4_canary_availability"].description
        assert checks["p4_approval"].description.startswith(
            "no evidence: no approval of the configured token")

        phase, checks, _ = _gate(relaxed, instance)
        assert phase == 3 and _failing(checks) == {"p4_rollback_rehearsal", "p4_approval"}, \
            "the same measured days pass a 600 ms p99 threshold"

        store = f"sqlite:///{tmp_path / 'rehearsal-bundles.sqlite3'}"
        rehearsal = rehearse_rollback(lean_dir, date(2013, 10, 8),
                                      lambda: BundleStore.from_dsn(store))
        assert rehearsal.passed, rehearsal.record.problems
        save_rehearsal(db, rehearsal.record)
        db.record_signoff("approve", token_sha256(TOKEN), "risk-officer", phase=4,
                          baseline_version=db.baseline().version)
        phase, checks, _ = _gate(defs, instance)
        assert phase == 3 and _failing(checks) == {"p4_canary_p99_latency"}, \
            "the approval and the rehearsal do not open phase 4 while a canary day is red"

        phase, checks, metadata = _gate(relaxed, instance)
        assert phase == 4 and not _failing(checks)
        assert "approved by risk-officer" in checks["p4_approval"].description
        assert f"run {rehearsal.record.run_id}" in checks["p4_rollback_rehearsal"].description
        assert checks["p3_status_agreement"].metadata["measured"].value == pytest.approx(
            agreement)
        logged = [str(e) for run in instance.get_runs() for e in instance.all_logs(run.run_id)]
        assert len(logged) > 100
    assert TOKEN not in str(metadata) and not any(TOKEN in line for line in logged), \
        "the token is never logged or put in metadata"

    no_token = _defs(tmp_path, chdb_dsn, lean_dir, postgres_schema_dsn, rollout_policy=lenient)
    with DagsterInstance.ephemeral() as instance:
        _refresh(no_token, instance)
        phase, checks, _ = _gate(no_token, instance)
    assert phase == 3 and "INTEL_ROLLOUT_APPROVAL_TOKEN is not set" in checks[
        "p4_approval"].description


def test_schedules_run_guardrail_and_gate_nightly_and_never_the_baseline(lean_dir):
    defs = build_parity_definitions(
        torghut_db_dsn="postgresql://torghut@127.0.0.1:9/torghut", lean_runner_url="http://x:9",
        alpaca_url="http://x:9", lean_data_dir=lean_dir, start_date="2013-10-03",
        default_running=False)
    when = datetime(2013, 10, 12, 3, 0, tzinfo=NEW_YORK)  # Saturday 03:00 -> Friday's day
    with DagsterInstance.ephemeral() as instance:
        context = build_schedule_context(instance=instance, scheduled_execution_time=when,
                                         repository_def=defs.get_repository_def())
        guardrail = defs.resolve_schedule_def("guardrail_daily_nightly").evaluate_tick(context)
        gate = defs.resolve_schedule_def("rollout_gate_daily").evaluate_tick(context)
    assert [r.partition_key for r in guardrail.run_requests] == ["2013-10-11"]
    (request,) = gate.run_requests
    assert request.run_config["ops"]["rollout_gate"]["config"]["as_of_day"] == "2013-10-11"
    assert validate_run_config(defs.resolve_job_def(ROLLOUT_GATE_JOB), request.run_config)
    launched = [defs.resolve_schedule_def(n) for n in ("parity_nightly", "guardrail_daily_nightly",
                                                       "rollout_gate_daily")]
    launched.append(defs.resolve_sensor_def("parity_on_new_decisions"))
    for instigator in launched:
        assert instigator.default_status.value == "STOPPED", instigator.name
        selected = defs.resolve_job_def(instigator.job_name).asset_layer.selected_asset_keys
        assert AssetKey("rollout_baseline") not in selected, \
            f"{instigator.name} would materialize the baseline"
