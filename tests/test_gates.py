"""Pure rollout-gate rules: each phase passes and fails with the measured number and threshold,
missing evidence never passes, phase_reached is the highest contiguous pass, and the metric
definitions (schema rejections, guardrail shares, execution fill rate, stale probe) hold."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import LEAN_DIR

from intel_assets.contracts.gates import (
    ApprovalEvidence,
    BaselineSnapshot,
    CanaryDay,
    CanarySubset,
    CheckEvaluation,
    ExecutionMetrics,
    GateEvidence,
    GuardrailDay,
    GuardrailMetrics,
    ParityDay,
    RejectionMetrics,
    RolloutPolicy,
)
from intel_assets.contracts.rehearsal import RehearsalRecord
from intel_assets.contracts.risk_path import RiskPathResult, RiskPathViolation
from intel_assets.contracts.decisions import DecisionRow
from intel_assets.domain.gates import CRITERIA, FLAGS_CHECK, WIRE_CHECK, evaluate_gates
from intel_assets.domain.lean_data import read_exchange_hours
from intel_assets.domain.rollout_metrics import (
    ExecutionRow,
    execution_metrics,
    guardrail_metrics,
    rejection_metrics,
    schema_rejection_code,
    token_sha256,
    trading_days,
)
from intel_assets.domain.stale_probe import stale_probe
from intel_assets.resources.rollout_policy import RolloutPolicyResource

UTC = timezone.utc
AS_OF = date(2013, 10, 11)  # a Friday
NOW = datetime(2013, 10, 12, 7, 0, tzinfo=UTC)
WEEK = trading_days(AS_OF, 7)  # 2013-10-03 .. 2013-10-11, weekdays only
POLICY = RolloutPolicy(canary_symbols=["SPY"])
CANARY = CanarySubset(symbols=["SPY"], accounts=["paper"])


def _baseline(*, rate=5.0, share=12.5, executions=40) -> BaselineSnapshot:
    return BaselineSnapshot(
        version=3, created_at=NOW - timedelta(days=20), run_id="run-base", start_day=date(2013, 9, 2),
        end_day=date(2013, 9, 27), rejections=RejectionMetrics(decisions=200, schema_rejections=10,
                                                               rate_pct=rate),
        executions=ExecutionMetrics(executions=executions, filled=30 if executions else 0,
                                    fill_rate_pct=75.0 if executions else None),
        guardrail=GuardrailMetrics(decisions=200, observed=200, consulted=160, degraded=20,
                                   degraded_share_pct=share))


def _gday(day: date, *, decisions=20, rejections=1, consulted=16, degraded=2) -> GuardrailDay:
    return GuardrailDay(
        day=day, run_id=f"run-g-{day}", computed_at=NOW,
        rejections=RejectionMetrics(decisions=decisions, schema_rejections=rejections,
                                    rate_pct=rejections / decisions * 100),
        guardrail=GuardrailMetrics(decisions=decisions, observed=decisions, consulted=consulted,
                                   degraded=degraded, degraded_share_pct=degraded / consulted * 100))


def _check(name: str, passed=True, age_hours=1.0) -> CheckEvaluation:
    return CheckEvaluation(asset_key="market_context_bundle", check_name=name, passed=passed,
                           run_id=f"run-{name[:6]}", evaluated_at=NOW - timedelta(hours=age_hours),
                           description=None if passed else "2 contract violation(s)")


def _parity(day: date, *, compared=16, agreed=16, drift=(0.0,) * 13 + (3.0, 4.0),
            duplicates=0, alpaca=2.5, lean=3.0, problems=()) -> ParityDay:
    return ParityDay(day=day, run_id=f"run-p-{day}", generated_at=NOW, compared=compared,
                     status_agreed=agreed, abs_drift_bps=list(drift),
                     duplicate_submissions=duplicates, slippage_count={"alpaca": 14, "lean": 15},
                     slippage_mean_bps={"alpaca": alpaca, "lean": lean},
                     evidence_problems=list(problems))


def _canary(day: date, availability=0.9995, p99=120.0, error_rate=0.0002,
            subset=CANARY, **fields) -> CanaryDay:
    """A measured canary_slo record: 2,000 LEAN-routed executions, 10,000 runner requests."""
    values = dict(day=day, run_id=f"run-c-{day}", computed_at=NOW, subset=subset,
                  lean_expected=2000, lean_served=round(availability * 2000),
                  availability=availability, runner_requests=10_000,
                  runner_failures=None if error_rate is None else round(error_rate * 10_000),
                  error_rate=error_rate,
                  runner_p99_ms=p99, context_p99_ms=min(p99, 4.0), p99_latency_ms=p99,
                  runner_window=f"lean-runner {day}")
    return CanaryDay(**{**values, **fields})


def _approval(phase=4, approved_by="risk-officer", baseline_version=3,
              **revoked) -> ApprovalEvidence:
    """The token's latest sign-off: an approval of ``phase`` on baseline v3 (_baseline's), or
    its revocation when ``revoked_by``/``revoked_at``/``revoke_reason`` are given."""
    return ApprovalEvidence(token_configured=True, token_ref=token_sha256("t0ken")[:12],
                            approved_by=approved_by, approved_at=NOW - timedelta(hours=2),
                            phase=phase, baseline_version=baseline_version, **revoked)


def _risk_path(violations: int = 0) -> RiskPathResult:
    broken = [RiskPathViolation(decision_id="d-7", combination="decide/shadow_only/fresh",
                                expected="reject", got="submit", rule="risk_rejected_final")]
    return RiskPathResult(decisions_checked=32, risk_rejected=4, risk_approved=28,
                          combinations_evaluated=32 * 192, violation_count=violations,
                          violations_by_rule={"risk_rejected_final": violations} if violations
                          else {}, violations=broken[:violations], passed=not violations,
                          summary="-")


def _rehearsal(age_days: float = 1.0, doubled: int = 0) -> RehearsalRecord:
    finished = NOW - timedelta(days=age_days)
    return RehearsalRecord(
        run_id="rehearsal-1", day=date(2013, 10, 8), started_at=finished - timedelta(seconds=9),
        finished_at=finished, passed=not doubled, intents=16, before_flip=8, after_flip=8,
        lost=0, doubled=doubled, misrouted=0, context_fetches_before=8, context_fetches_after=0,
        problems=[f"{doubled} intent(s) have two orders"] if doubled else [])


def _green(**overrides) -> GateEvidence:
    """Evidence on which every criterion passes."""
    fields = dict(
        as_of_day=AS_OF, evaluated_at=NOW, baseline=_baseline(),
        contract_checks={WIRE_CHECK: _check(WIRE_CHECK), FLAGS_CHECK: _check(FLAGS_CHECK)},
        stale_probe=stale_probe(NOW), guardrail_days=[_gday(d) for d in WEEK],
        parity_days=[_parity(d) for d in trading_days(AS_OF, 5)],
        canary_days=[_canary(d) for d in trading_days(AS_OF, 5)], approval=_approval(),
        risk_path=_risk_path(), rehearsal=_rehearsal())
    fields.update(overrides)
    return GateEvidence(**fields)


def _by_id(verdict):
    return {c.id: c for c in verdict.criteria}


def test_green_evidence_reaches_phase_4_with_every_criterion_evaluated():
    verdict = evaluate_gates(_green(), POLICY)
    assert verdict.phase_reached == 4
    assert [c.id for c in verdict.criteria] == list(CRITERIA), "one result per criterion, in order"
    assert all(c.passed and not c.missing_evidence for c in verdict.criteria)
    found = _by_id(verdict)
    assert found["p3_status_agreement"].measured == 100.0
    # pooled over 5 days: 65 zeros, five 3.0 and five 4.0 bps -> p95 (index 70.3 of 75) = 4.0
    assert found["p3_fill_drift_p95"].measured == pytest.approx(4.0)
    assert found["p2_guardrail_stability"].measured == pytest.approx(0.0)
    assert {e.run_id for e in found["p3_status_agreement"].evidence} == {
        f"run-p-{d}" for d in trading_days(AS_OF, 5)}, "each parity day's run is cited"
    assert verdict.blockers() == []


def test_no_evidence_at_all_passes_nothing_and_says_what_would_produce_it():
    verdict = evaluate_gates(GateEvidence(as_of_day=AS_OF, evaluated_at=NOW), POLICY)
    assert verdict.phase_reached == -1
    stale = _by_id(verdict).pop("p1_stale_probe")
    assert not stale.passed and stale.message.startswith("no evidence:")
    for criterion in verdict.criteria:
        assert not criterion.passed and criterion.missing_evidence, criterion.id
        assert criterion.message.startswith("no evidence: "), criterion.message
    found = _by_id(verdict)
    assert "operator materializes rollout_baseline" in found["p0_baseline_snapshot"].message
    assert "refresh_market_context" in found["p1_wire_contract"].message
    assert "parity_backtest" in found["p3_status_agreement"].message
    assert "no canary subset is configured" in _by_id(evaluate_gates(
        GateEvidence(as_of_day=AS_OF, evaluated_at=NOW), RolloutPolicy())
    )["p4_canary_availability"].message
    assert "canary_slo missing for" in found["p4_canary_availability"].message
    assert "INTEL_ROLLOUT_APPROVAL_TOKEN is not set" in found["p4_approval"].message


def test_phase_0_needs_every_metric_group_in_the_baseline():
    verdict = evaluate_gates(_green(baseline=_baseline(executions=0)), POLICY)
    assert verdict.phase_reached == -1, "a failing phase 0 blocks every later phase"
    base = _by_id(verdict)["p0_baseline_snapshot"]
    assert not base.passed and base.missing_evidence and "no executions" in base.message
    pinned = evaluate_gates(_green(baseline=None), RolloutPolicy(baseline_version=7))
    assert "baseline version 7 is not in intel_rollout_baselines" in \
        _by_id(pinned)["p0_baseline_snapshot"].message


def test_phase_1_failed_or_old_contract_check_and_broken_stale_probe():
    failed = evaluate_gates(_green(contract_checks={
        WIRE_CHECK: _check(WIRE_CHECK, passed=False), FLAGS_CHECK: _check(FLAGS_CHECK)}), POLICY)
    assert failed.phase_reached == 0
    wire = _by_id(failed)["p1_wire_contract"]
    assert not wire.passed and "failed (run run-bundle)" in wire.message
    assert "2 contract violation(s)" in wire.message

    old = evaluate_gates(_green(contract_checks={
        WIRE_CHECK: _check(WIRE_CHECK), FLAGS_CHECK: _check(FLAGS_CHECK, age_hours=30)}), POLICY)
    flags = _by_id(old)["p1_degraded_flags"]
    assert old.phase_reached == 0 and flags.missing_evidence
    assert "is 30.0 h old > 24.0 h" in flags.message and flags.measured == pytest.approx(30.0)

    broken = [p.model_copy(update={"flagged_in_bundle": False}) if p.domain == "news" else p
              for p in stale_probe(NOW)]
    probe = _by_id(evaluate_gates(_green(stale_probe=broken), POLICY))["p1_stale_probe"]
    assert not probe.passed and probe.message.startswith("stale-data behaviour broken: news aged")


def test_phase_2_rejection_rate_increase_names_rate_and_threshold():
    days = [_gday(d, rejections=2 if d == AS_OF else 1) for d in WEEK]  # 8/140 = 5.71 %
    verdict = evaluate_gates(_green(guardrail_days=days), POLICY)
    rate = _by_id(verdict)["p2_schema_rejection_rate"]
    assert verdict.phase_reached == 1 and not rate.passed
    assert rate.measured == pytest.approx(8 / 140 * 100) and rate.threshold == pytest.approx(5.5)
    assert rate.message.startswith("schema/validation rejection rate 5.71 % > 5.50 % "
                                   "(threshold <= 5.50 %)")
    assert "8/140" in rate.message and "baseline v3 5 % + 0.50 pp" in rate.message
    assert evaluate_gates(_green(guardrail_days=days),
                          RolloutPolicy(rejection_rate_tolerance_pp=1.0,
                                        canary_symbols=["SPY"])).phase_reached == 4, \
        "the tolerance is configuration"


def test_phase_2_unstable_day_fails_with_its_share_and_the_band():
    days = [_gday(d, degraded=6 if d == date(2013, 10, 9) else 2) for d in WEEK]
    stability = _by_id(evaluate_gates(_green(guardrail_days=days), POLICY))[
        "p2_guardrail_stability"]
    assert not stability.passed and stability.measured == pytest.approx(25.0)
    assert stability.threshold == 5.0 and stability.unit == "pp"
    assert "(2013-10-09) 25 pp > 5 pp" in stability.message
    assert "2013-10-09: 37.50 % (|diff| 25 pp)" in stability.message
    assert "baseline v3 12.50 %" in stability.message


def test_phase_2_seven_days_with_one_missing_day_fails():
    six = [_gday(d) for d in WEEK if d != date(2013, 10, 7)]
    verdict = evaluate_gates(_green(guardrail_days=six), POLICY)
    stability = _by_id(verdict)["p2_guardrail_stability"]
    assert verdict.phase_reached == 1
    assert not stability.passed and stability.missing_evidence
    assert "guardrail_daily missing for 2013-10-07" in stability.message
    assert "every one of the 7 days 2013-10-03..2013-10-11" in stability.message
    assert len(WEEK) == 7 and WEEK[0] == date(2013, 10, 3), "weekends are not trading days"
    thin = [_gday(d, consulted=0, degraded=0) if d == AS_OF else _gday(d) for d in WEEK[:-1]] + [
        GuardrailDay(day=AS_OF, run_id="r", computed_at=NOW, rejections=RejectionMetrics(
            decisions=3, rate_pct=0.0), guardrail=GuardrailMetrics(decisions=3))]
    assert "too few guardrail-consulted decisions on 2013-10-11 (0 < 1)" in _by_id(
        evaluate_gates(_green(guardrail_days=thin), POLICY))["p2_guardrail_stability"].message


def test_phase_3_each_parity_threshold_names_its_number():
    window = trading_days(AS_OF, 5)
    days = [_parity(d, agreed=15 if d in window[:3] else 16,
                    drift=(0.0,) * 10 + (6.0,) * 5 if d == AS_OF else (0.0,) * 15,
                    duplicates=1 if d == AS_OF else 0, lean=6.0) for d in window]
    verdict = evaluate_gates(_green(parity_days=days), POLICY)
    found = _by_id(verdict)
    assert verdict.phase_reached == 2
    assert found["p3_status_agreement"].message.startswith(
        "status agreement 96.25 % < 99 % (threshold >= 99 %) (77/80 intents over "
        "2013-10-07..2013-10-11)")
    assert found["p3_fill_drift_p95"].measured == 6.0 and not found["p3_fill_drift_p95"].passed
    assert "p95 |fill-price drift| 6 bps > 5 bps" in found["p3_fill_drift_p95"].message
    assert "duplicate submissions 1 > 0" in found["p3_duplicate_submissions"].message
    gap = found["p3_tca_slippage_gap"]
    assert gap.measured == pytest.approx(3.5) and "3.50 bps > 2 bps" in gap.message
    assert "lean 6 bps, alpaca 2.50 bps" in gap.message


def test_phase_3_missing_or_incomplete_day_is_no_evidence():
    window = trading_days(AS_OF, 5)
    missing = evaluate_gates(_green(parity_days=[_parity(d) for d in window[1:]]), POLICY)
    assert missing.phase_reached == 2
    for cid in ("p3_status_agreement", "p3_fill_drift_p95", "p3_duplicate_submissions",
                "p3_tca_slippage_gap"):
        result = _by_id(missing)[cid]
        assert not result.passed and result.missing_evidence
        assert "no intel_parity_reports row for 2013-10-07" in result.message
    incomplete = [_parity(d, problems=["lean side unavailable: connection refused"])
                  if d == AS_OF else _parity(d) for d in window]
    result = _by_id(evaluate_gates(_green(parity_days=incomplete), POLICY))["p3_status_agreement"]
    assert result.missing_evidence and "2013-10-11: lean side unavailable" in result.message


def test_phase_4_needs_green_canary_every_day_and_the_approval():
    window = trading_days(AS_OF, 5)
    red = [_canary(d, p99=410.0) if d == date(2013, 10, 8) else _canary(d) for d in window]
    verdict = evaluate_gates(_green(canary_days=red), POLICY)
    latency = _by_id(verdict)["p4_canary_p99_latency"]
    assert verdict.phase_reached == 3 and not latency.passed
    assert latency.message.startswith("highest p99 latency (2013-10-08) 410 ms > "
                                      "250 ms (threshold <= 250 ms)")
    assert "runner submit p99 410 ms, context API p99 4 ms" in latency.message
    low = _by_id(evaluate_gates(_green(canary_days=[_canary(d, availability=0.998)
                                                    for d in window]), POLICY))
    assert "lowest availability (2013-10-07) 0.998 < 0.999" in \
        low["p4_canary_availability"].message
    assert "1996/2000 LEAN-routed executions served by LEAN" in \
        low["p4_canary_availability"].message
    gap = _by_id(evaluate_gates(_green(canary_days=[_canary(d) for d in window[1:]]), POLICY))
    assert gap["p4_canary_error_rate"].missing_evidence and \
        "canary_slo missing for 2013-10-07" in gap["p4_canary_error_rate"].message

    no_row = ApprovalEvidence(token_configured=True, token_ref="abc123abc123")
    approval = _by_id(evaluate_gates(_green(approval=no_row), POLICY))["p4_approval"]
    assert approval.missing_evidence and "no approval of the configured token" in approval.message
    assert "intel-assets rollout approve --phase 4" in approval.message
    wrong = _by_id(evaluate_gates(_green(approval=_approval(phase=3)), POLICY))["p4_approval"]
    assert not wrong.passed and "is for phase 3, not 4" in wrong.message
    older = _by_id(evaluate_gates(_green(approval=_approval(baseline_version=2)),
                                  POLICY))["p4_approval"]
    assert not older.passed and older.message.startswith(
        "approved baseline v2, the gate uses v3: approve again")
    assert "--baseline-version 3" in older.message
    revoked = _by_id(evaluate_gates(_green(approval=_approval(
        revoked_by="cro", revoked_at=NOW - timedelta(hours=1), revoke_reason="fill drift spiked")),
        POLICY))["p4_approval"]
    assert not revoked.passed and revoked.message.startswith(
        "revoked by cro at 2013-10-12T06:00:00+00:00: fill drift spiked")
    future = _by_id(evaluate_gates(_green(approval=_approval().model_copy(
        update={"approved_at": NOW + timedelta(hours=1)})), POLICY))["p4_approval"]
    assert not future.passed and "dated in the future" in future.message
    unset = evaluate_gates(_green(approval=ApprovalEvidence(token_configured=False)), POLICY)
    assert unset.phase_reached == 3


def test_phase_reached_is_the_highest_contiguous_pass():
    days = [_gday(d, degraded=8) for d in WEEK]  # phase 2 fails, 3 and 4 pass on their own
    verdict = evaluate_gates(_green(guardrail_days=days), POLICY)
    assert verdict.phase_passed(3) and verdict.phase_passed(4) and not verdict.phase_passed(2)
    assert verdict.phase_reached == 1
    assert [c.id for c in verdict.blockers()] == ["p2_guardrail_stability"]


def test_stale_probe_runs_through_the_domain_with_numbers():
    probes = {p.domain: p for p in stale_probe(NOW, {"news": 120})}
    assert set(probes) == {"technicals", "regime", "news", "fundamentals"}
    for probe in probes.values():
        assert probe.stale_state == "stale" and probe.flagged_in_block and probe.flagged_in_bundle
        assert probe.unflagged == [] and probe.stale_bundle_quality < probe.fresh_bundle_quality
        assert probe.stale_age_seconds == 2 * probe.budget_seconds
    assert probes["news"].budget_seconds == 120 and probes["technicals"].budget_seconds == 60
    # aged 2x its budget a domain's decay is 0.25 instead of 0.95: news (weight 0.25) lowers the
    # weighted mean; technicals, a required domain, caps the bundle at its own 0.25
    assert probes["news"].fresh_bundle_quality - probes["news"].stale_bundle_quality \
        == pytest.approx(0.25 * (0.95 - 0.25), abs=1e-3)
    assert probes["technicals"].stale_bundle_quality == pytest.approx(0.25, abs=1e-3)


def _row(payload, status="planned", symbol="SPY") -> DecisionRow:
    return DecisionRow(str(uuid.uuid4()), "s", symbol, "1Min", payload, status,
                       datetime(2013, 10, 8, 15, tzinfo=UTC))


def test_schema_rejection_codes_follow_the_intent_schema():
    """Reproduces proompteng/lab 255d330fe services/torghut/app/trading/models.py (StrategyDecision:
    action, qty, order_type, time_in_force, limit/stop prices, event_ts)."""
    good = {"symbol": "SPY", "action": "buy", "qty": "10", "order_type": "market",
            "time_in_force": "day", "limit_price": None, "stop_price": None,
            "event_ts": "2013-10-08T15:00:00Z", "params": {}}
    cases = {
        None: good, "malformed_decision": ["not", "an", "object"],
        "invalid_action": {**good, "action": "hold"}, "invalid_qty": {**good, "qty": "0"},
        "missing_limit_price": {**good, "order_type": "limit"},
        "missing_stop_price": {**good, "order_type": "stop"},
        "invalid_order_type": {**good, "order_type": "twap"},
        "invalid_event_ts": {**good, "event_ts": "yesterday"},
        "symbol_mismatch": {**good, "symbol": "IBM"},
        "invalid_time_in_force": {**good, "time_in_force": "week"},
    }
    for code, payload in cases.items():
        assert schema_rejection_code(_row(payload)) == code, code
    assert schema_rejection_code(_row(good, symbol="bad symbol!")) == "invalid_symbol"
    refused = _row({**good, "rejection_stage": "validation"}, status="rejected")
    assert schema_rejection_code(refused) == "torghut_validation"
    risk = _row({**good, "risk_reasons": ["max_notional_exceeded"]}, status="rejected")
    assert schema_rejection_code(risk) is None, "a risk veto is not a schema rejection"
    metrics = rejection_metrics([_row(p) for p in cases.values()] + [refused])
    assert metrics.decisions == 11 and metrics.schema_rejections == 10
    assert metrics.rate_pct == pytest.approx(100 * 10 / 11) and metrics.by_status == {
        "planned": 10, "rejected": 1}


def test_guardrail_and_execution_metric_definitions():
    def record(reason, rejected_by=None):
        return _row({"market_context_guardrail": {"reason": reason, "rejected_by": rejected_by}})

    rows = [record(None), record(None), record("market_context_stale"),
            record("market_context_fetch_error"), record("market_context_disabled"),
            record(None, "deterministic"), _row({"action": "buy"})]
    g = guardrail_metrics(rows)
    assert (g.decisions, g.observed, g.consulted, g.degraded) == (7, 6, 5, 2)
    assert g.degraded_share_pct == pytest.approx(40.0), "disabled is a kill switch, not a fault"
    assert g.by_reason == {"market_context_disabled": 1, "market_context_fetch_error": 1,
                           "market_context_stale": 1}

    day = date(2013, 10, 8)
    e = execution_metrics([ExecutionRow("a", day, "filled", 100, 100),
                           ExecutionRow("b", day, "filled", 100, 100),
                           ExecutionRow("c", day, "expired", 100, 0),
                           ExecutionRow("d", day, "rejected", 50, 0)])
    assert e.fill_rate_pct == 50.0 and e.qty_fill_rate_pct == pytest.approx(200 / 350 * 100)
    assert e.rejected_share_pct_by_status == {"expired": 25.0, "rejected": 25.0}


def test_policy_resource_mirrors_the_policy_defaults_and_hashes_the_token():
    assert RolloutPolicyResource().policy() == RolloutPolicy()
    tuned = RolloutPolicyResource(stability_days=10, parity_status_agreement_min_pct=95.0)
    assert tuned.policy().stability_days == 10
    assert tuned.policy().parity_status_agreement_min_pct == 95.0
    assert tuned.approval_token_sha256() is None
    token = RolloutPolicyResource(approval_token=" s3cret ").approval_token_sha256()
    assert token == token_sha256("s3cret") and len(token) == 64 and "s3cret" not in token


# ---------------------------------------------------------------------------- trading calendar

THANKSGIVING = date(2013, 11, 28)  # a Thursday; NYSE closed, closes early on Friday 11-29
HOLIDAY_AS_OF = date(2013, 11, 29)
# the 7 real trading days up to 2013-11-29 (weekends and Thanksgiving skipped), written out
HOLIDAY_WEEK = [date(2013, 11, d) for d in (20, 21, 22, 25, 26, 27, 29)]


def _market_hours_lean_dir() -> Path:
    """The shared LEAN Data folder with its market-hours database; skip when absent."""
    path = LEAN_DIR
    db = path / "market-hours" / "market-hours-database.json"
    if not db.is_file():
        pytest.skip(f"LEAN market-hours database absent at {db}: set INTEL_LEAN_DATA_DIR to a "
                    "LEAN Data folder (market-hours/market-hours-database.json inside)")
    return path


def _lean_holidays() -> frozenset[date]:
    holidays = read_exchange_hours(_market_hours_lean_dir()).holidays
    assert THANKSGIVING in holidays and date(2013, 12, 25) in holidays, \
        "Equity-usa-[*] lists 11/28/2013 and 12/25/2013 as holidays"
    return holidays


def _holiday_evidence() -> GateEvidence:
    """Green evidence for exactly the real trading days up to 2013-11-29 (none on 11-28)."""
    return _green(as_of_day=HOLIDAY_AS_OF, guardrail_days=[_gday(d) for d in HOLIDAY_WEEK],
                  parity_days=[_parity(d) for d in HOLIDAY_WEEK[-5:]],
                  canary_days=[_canary(d) for d in HOLIDAY_WEEK[-5:]])


def test_trading_days_skip_weekends_and_calendar_holidays():
    assert trading_days(HOLIDAY_AS_OF, 7, frozenset({THANKSGIVING})) == HOLIDAY_WEEK
    assert trading_days(HOLIDAY_AS_OF, 7) == [date(2013, 11, d) for d in (21, 22, 25, 26, 27,
                                                                           28, 29)], \
        "without a calendar only weekends are skipped"
    assert trading_days(THANKSGIVING, 1, {THANKSGIVING}) == [date(2013, 11, 27)], \
        "a window ending on a holiday ends on the trading day before"


def test_window_over_a_real_holiday_passes_with_seven_real_trading_days():
    holidays = _lean_holidays()
    assert trading_days(date(2013, 12, 27), 4, holidays) == [
        date(2013, 12, 23), date(2013, 12, 24), date(2013, 12, 26), date(2013, 12, 27)], \
        "Christmas skipped; the early close of 12-24 is a trading day"
    verdict = evaluate_gates(_holiday_evidence(), POLICY, holidays)
    found = _by_id(verdict)
    stability = found["p2_guardrail_stability"]
    assert stability.passed and not stability.missing_evidence, stability.message
    assert [e.key for e in stability.evidence] == [str(d) for d in HOLIDAY_WEEK]
    assert "over 2013-11-20..2013-11-29 (exchange holiday 2013-11-28 skipped)" in \
        stability.message
    assert found["p2_schema_rejection_rate"].passed
    assert "(7/140 over 2013-11-20..2013-11-29" in found["p2_schema_rejection_rate"].message
    assert "(80/80 intents over 2013-11-22..2013-11-29 (exchange holiday 2013-11-28 skipped))" \
        in found["p3_status_agreement"].message
    assert verdict.phase_reached == 4 and verdict.blockers() == []


def _assert_thanksgiving_missing(holidays: frozenset[date]) -> None:
    """The holiday evidence fails on 2013-11-28 in every window, as without a calendar."""
    verdict = evaluate_gates(_holiday_evidence(), POLICY, holidays)
    found = _by_id(verdict)
    stability = found["p2_guardrail_stability"]
    assert verdict.phase_reached == 1
    assert not stability.passed and stability.missing_evidence
    assert "guardrail_daily missing for 2013-11-28 (every one of the 7 days " \
        "2013-11-21..2013-11-29 is needed)" in stability.message
    assert "no intel_parity_reports row for 2013-11-28" in \
        found["p3_status_agreement"].message
    assert "canary_slo missing for 2013-11-28" in found["p4_canary_error_rate"].message


def test_same_evidence_without_a_calendar_misses_the_holiday():
    _assert_thanksgiving_missing(frozenset())
    assert evaluate_gates(_holiday_evidence(), POLICY).phase_reached == 1, \
        "the default is no calendar: weekends only"


def test_same_evidence_with_the_holiday_left_out_of_the_lean_calendar_misses_it():
    _assert_thanksgiving_missing(_lean_holidays() - {THANKSGIVING})


def test_gate_asset_reads_the_holidays_of_the_lean_market_hours_database(tmp_path):
    from intel_assets.assets.rollout import exchange_holidays

    lean_dir = _market_hours_lean_dir()
    holidays, calendar = exchange_holidays(lean_dir)
    assert holidays == read_exchange_hours(lean_dir).holidays and THANKSGIVING in holidays
    assert "holidays" in calendar and "Equity-usa-[*]" in calendar
    none, why = exchange_holidays(tmp_path)
    assert none == frozenset() and why.startswith("weekends only (no exchange calendar: ")
    assert "market-hours-database.json" in why


def test_phase_4_refuses_canary_evidence_from_outside_the_subset_and_unmeasured_days():
    window = trading_days(AS_OF, 5)
    other = CanarySubset(symbols=["AAPL"], accounts=["paper"])
    foreign = [_canary(d, subset=other) if d == AS_OF else _canary(d) for d in window]
    found = _by_id(evaluate_gates(_green(canary_days=foreign), POLICY))
    for cid in ("p4_canary_availability", "p4_canary_p99_latency", "p4_canary_error_rate"):
        assert found[cid].missing_evidence and not found[cid].passed
        assert ("canary_slo measured another subset on 2013-10-11 (symbols AAPL; accounts "
                "paper); the policy's canary subset is symbols SPY; accounts paper") in \
            found[cid].message
    unscraped = [_canary(d, error_rate=None, runner_p99_ms=None, p99_latency_ms=None,
                         runner_failures=None, problems=[
                             "LEAN runner: no scrape at or before 2013-10-11 04:00 New York"])
                 if d == AS_OF else _canary(d) for d in window]
    found = _by_id(evaluate_gates(_green(canary_days=unscraped), POLICY))
    assert found["p4_canary_availability"].passed, "availability comes from executions rows"
    for cid in ("p4_canary_p99_latency", "p4_canary_error_rate"):
        assert found[cid].missing_evidence
        assert "not measured on 2013-10-11: LEAN runner: no scrape at or before 2013-10-11 " \
            "04:00 New York" in found[cid].message


def test_a_risk_path_regression_blocks_phase_2_and_names_the_decision():
    found = _by_id(evaluate_gates(_green(risk_path=_risk_path(violations=1)), POLICY))
    result = found["p2_risk_path_identical"]
    assert not result.passed and result.measured == 1.0
    assert result.message.startswith("risk-path regression: 1 violations "
                                     "{'risk_rejected_final': 1} over 32 decisions")
    assert "d-7 decide/shadow_only/fresh: risk_rejected_final (expected reject, got submit)" in \
        result.message
    assert evaluate_gates(_green(risk_path=_risk_path(violations=1)), POLICY).phase_reached == 1
    none = _by_id(evaluate_gates(_green(risk_path=None), POLICY))["p2_risk_path_identical"]
    assert none.missing_evidence and "no decisions replayed from baseline v3" in none.message


def test_phase_4_needs_a_recent_passed_rollback_rehearsal():
    assert _by_id(evaluate_gates(_green(), POLICY))["p4_rollback_rehearsal"].message.startswith(
        "rollback rehearsed (run rehearsal-1, 2013-10-08 replayed, 1.0 days ago): 16 intents "
        "(8 before the flip, 8 after), lost 0, doubled 0, misrouted 0")
    failed = _by_id(evaluate_gates(_green(rehearsal=_rehearsal(doubled=1)), POLICY))
    assert not failed["p4_rollback_rehearsal"].passed
    assert "failed: 1 intent(s) have two orders" in failed["p4_rollback_rehearsal"].message
    old = _by_id(evaluate_gates(_green(rehearsal=_rehearsal(age_days=45)), POLICY))
    assert old["p4_rollback_rehearsal"].missing_evidence
    assert "is 45 days old > 30" in old["p4_rollback_rehearsal"].message
    missing = evaluate_gates(_green(rehearsal=None), POLICY)
    assert missing.phase_reached == 3 and [c.id for c in missing.blockers()] == [
        "p4_rollback_rehearsal"]


def test_a_rehearsal_too_small_or_dated_in_the_future_is_no_evidence():
    small = _rehearsal().model_copy(update={"intents": 4, "before_flip": 2, "after_flip": 2})
    found = _by_id(evaluate_gates(_green(rehearsal=small), POLICY))["p4_rollback_rehearsal"]
    assert found.missing_evidence and "routed 2 intents before the flip and 2 after; at " \
        "least 5 on each side are needed" in found.message
    future = _by_id(evaluate_gates(_green(rehearsal=_rehearsal(age_days=-2)), POLICY))
    assert not future["p4_rollback_rehearsal"].passed
    assert "dated in the future" in future["p4_rollback_rehearsal"].message
