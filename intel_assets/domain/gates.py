"""Owns the rollout gate rules: evaluate_gates(evidence, policy, holidays) -> GateVerdict (no
Dagster).

Every criterion of every phase is evaluated; the verdict's ``phase_reached`` is the highest
phase whose criteria and all lower phases' criteria pass (-1 when phase 0 fails). Missing
evidence never passes: such a criterion fails with ``no evidence: <what is missing>; <what would
produce it>``. A failing criterion names the measured number and its threshold.

The phase 2-4 windows are the last N trading days up to ``as_of_day``
(rollout_metrics.trading_days): weekdays not in ``holidays``, the exchange calendar the caller
passes (the rollout_gate asset reads LEAN's market-hours database). Without a calendar only
weekends are skipped, so an exchange holiday inside a window is a missing day that blocks its
phase until the holiday leaves the window. A window that skips a holiday says so in its span.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

from intel_assets.contracts.gates import (
    CanaryDay,
    CriterionResult,
    EvidenceRef,
    GateEvidence,
    GateVerdict,
    RolloutPolicy,
)
from intel_assets.contracts.guardrail import GUARDRAIL_FIELD
from intel_assets.domain.rollout_metrics import pct, pooled_mean, trading_days
from intel_assets.domain.tca import percentile

CONTRACT_ASSET = "market_context_bundle"
WIRE_CHECK = "bundle_matches_wire_contract"
FLAGS_CHECK = "degraded_domains_are_flagged"
#: criterion id -> (phase, title); the rollout_gate asset has one asset check per id.
CRITERIA: dict[str, tuple[int, str]] = {
    "p0_baseline_snapshot": (0, "a frozen baseline of rejection, execution and guardrail metrics"),
    "p1_wire_contract": (1, f"latest {WIRE_CHECK} evaluation on {CONTRACT_ASSET} passed"),
    "p1_degraded_flags": (1, f"latest {FLAGS_CHECK} evaluation on {CONTRACT_ASSET} passed"),
    "p1_stale_probe": (1, "a block past its budget is stale, flagged and lowers bundle quality"),
    "p2_schema_rejection_rate": (2, "no increase in the schema/validation rejection rate"),
    "p2_guardrail_stability": (2, "degraded-context share within the baseline band every day"),
    "p2_risk_path_identical": (2, "the guardrail preserves every recorded deterministic risk "
                               "decision with market context on and off (baseline window)"),
    "p3_status_agreement": (3, "parity status agreement over the window"),
    "p3_fill_drift_p95": (3, "parity p95 |fill-price drift| over the window"),
    "p3_duplicate_submissions": (3, "no duplicate submissions over the window"),
    "p3_tca_slippage_gap": (3, "|mean slippage lean - alpaca| within the drift budget"),
    "p4_canary_availability": (4, "canary availability every day of the window"),
    "p4_canary_p99_latency": (4, "canary p99 latency every day of the window"),
    "p4_canary_error_rate": (4, "canary error rate every day of the window"),
    "p4_rollback_rehearsal": (4, "a passed rollback rehearsal (LEAN -> Alpaca, context off) "
                              "with zero lost or doubled orders"),
    "p4_approval": (4, "an explicit approval matching INTEL_ROLLOUT_APPROVAL_TOKEN"),
}
_EPS = 1e-9
#: Intents a rollback rehearsal must route on each side of the flip to count as evidence.
MIN_REHEARSAL_SIDE = 5


def _n(value: float | None, digits: int = 2, fraction: bool = False) -> str:
    """A number for a message: whole numbers bare, else ``digits`` decimals (a ``fraction``
    below 1, such as availability 0.9995, keeps 6 significant digits)."""
    if value is None:
        return "-"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}" if fraction and abs(value) < 1 else f"{value:.{digits}f}"


def _span(days: Sequence[date], holidays: Collection[date] = frozenset()) -> str:
    """``first..last`` of a window, naming the holidays it skips."""
    text = f"{days[0]}..{days[-1]}" if len(days) > 1 else str(days[0])
    skipped = sorted(d for d in holidays if days[0] < d < days[-1] and d.weekday() < 5)
    if skipped:
        text += f" (exchange holiday {', '.join(map(str, skipped))} skipped)"
    return text


def _result(cid: str, passed: bool, message: str, *, measured: float | None = None,
            threshold: float | None = None, comparison: str = "present", unit: str = "",
            evidence: Sequence[EvidenceRef] = (), missing: bool = False) -> CriterionResult:
    phase, title = CRITERIA[cid]
    return CriterionResult(id=cid, phase=phase, title=title, passed=passed,
                           missing_evidence=missing, measured=measured, threshold=threshold,
                           comparison=comparison, unit=unit, message=message,
                           evidence=list(evidence))


def _missing(cid: str, what: str, produce: str,
             evidence: Sequence[EvidenceRef] = ()) -> CriterionResult:
    return _result(cid, False, f"no evidence: {what}; {produce}", evidence=evidence, missing=True)


def _threshold(cid: str, measured: float, threshold: float, comparison: str, unit: str,
               label: str, context: str, evidence: Sequence[EvidenceRef]) -> CriterionResult:
    ok = {">=": measured >= threshold - _EPS, "<=": measured <= threshold + _EPS,
          ">": measured > threshold + _EPS}[comparison]
    u, frac = (f" {unit}" if unit else ""), not unit
    m, t = _n(measured, fraction=frac), _n(threshold, fraction=frac)
    if ok:
        shown = f"{label} {m}{u} {comparison} {t}{u}"
    else:
        negated = {">=": "<", "<=": ">", ">": "<="}[comparison]
        shown = f"{label} {m}{u} {negated} {t}{u} (threshold {comparison} {t}{u})"
    return _result(cid, ok, f"{shown} {context}".strip(), measured=measured, threshold=threshold,
                   comparison=comparison, unit=unit, evidence=evidence)


# ---------------------------------------------------------------------------- phase 0


def _phase0(ev: GateEvidence, policy: RolloutPolicy) -> list[CriterionResult]:
    cid, b = "p0_baseline_snapshot", ev.baseline
    if b is None:
        what = (f"baseline version {policy.baseline_version} is not in intel_rollout_baselines"
                if policy.baseline_version else "intel_rollout_baselines has no baseline")
        return [_missing(cid, what, "an operator materializes rollout_baseline with its "
                         "start_day/end_day (never scheduled)")]
    ref = EvidenceRef(kind="table", name="intel_rollout_baselines", key=f"version={b.version}",
                      run_id=b.run_id, at=b.created_at)
    gaps = [text for count, text in (
        (b.rejections.decisions, "no trade_decisions"), (b.executions.executions, "no executions"),
        (b.guardrail.consulted, f"no decision carrying decision_json.{GUARDRAIL_FIELD}"))
        if not count]
    if gaps:
        return [_missing(cid, f"baseline v{b.version} ({b.start_day}..{b.end_day}) has "
                         + ", ".join(gaps), "materialize rollout_baseline over days with "
                         "decisions, executions and guardrail records", [ref])]
    return [_result(cid, True, (
        f"baseline v{b.version} ({b.start_day}..{b.end_day}): {b.rejections.decisions} decisions, "
        f"schema/validation rejections {_n(b.rejections.rate_pct)} %, {b.executions.executions} "
        f"executions, fill rate {_n(b.executions.fill_rate_pct)} %, degraded-context share "
        f"{_n(b.guardrail.degraded_share_pct)} %"), measured=float(b.version), evidence=[ref])]


# ---------------------------------------------------------------------------- phase 1


def _contract(cid: str, name: str, ev: GateEvidence, policy: RolloutPolicy) -> CriterionResult:
    found = ev.contract_checks.get(name)
    produce = ("run refresh_market_context (the check runs on every market_context_bundle "
               "materialization)")
    if found is None:
        return _missing(cid, f"no completed evaluation of {CONTRACT_ASSET}:{name} in this "
                        "Dagster instance", produce)
    ref = EvidenceRef(kind="asset_check", name=f"{CONTRACT_ASSET}:{name}", key=found.partition,
                      run_id=found.run_id, at=found.evaluated_at)
    age = max(0.0, (ev.evaluated_at - found.evaluated_at).total_seconds() / 3600)
    limit = policy.contract_check_max_age_hours
    if age > limit + _EPS:
        return _result(cid, False, f"no evidence: the latest {name} evaluation (run "
                       f"{found.run_id}) is {age:.1f} h old > {limit:.1f} h; {produce}",
                       measured=age, threshold=limit, comparison="<=", unit="h", evidence=[ref],
                       missing=True)
    if not found.passed:
        return _result(cid, False, f"the latest {name} evaluation failed (run {found.run_id}): "
                       f"{found.description or 'see the check in Dagster'}", measured=0.0,
                       threshold=1.0, comparison="==", evidence=[ref])
    return _result(cid, True, f"the latest {name} evaluation passed (run {found.run_id}, "
                   f"{age:.1f} h old)", measured=1.0, threshold=1.0, comparison="==",
                   evidence=[ref])


def _phase1(ev: GateEvidence, policy: RolloutPolicy) -> list[CriterionResult]:
    results = [_contract("p1_wire_contract", WIRE_CHECK, ev, policy),
               _contract("p1_degraded_flags", FLAGS_CHECK, ev, policy)]
    cid = "p1_stale_probe"
    if not ev.stale_probe:
        return [*results, _missing(cid, "the stale-data probe did not run",
                                   "materialize rollout_gate (it runs the probe)")]
    ref = EvidenceRef(kind="probe", name="domain.stale_probe",
                      key=",".join(p.domain for p in ev.stale_probe), at=ev.evaluated_at)
    lines, failures = [], []
    for p in ev.stale_probe:
        line = (f"{p.domain} aged {p.stale_age_seconds} s (budget {p.budget_seconds} s) -> "
                f"{p.stale_state}, {p.flag} in block {p.flagged_in_block} / bundle "
                f"{p.flagged_in_bundle}, quality {p.fresh_bundle_quality:.4f} -> "
                f"{p.stale_bundle_quality:.4f}")
        lines.append(line)
        if (p.stale_state != "stale" or not p.flagged_in_block or not p.flagged_in_bundle
                or p.unflagged or p.stale_bundle_quality >= p.fresh_bundle_quality):
            unflagged = f" (unflagged: {'; '.join(p.unflagged)})" if p.unflagged else ""
            failures.append(line + unflagged)
    drop = min(p.fresh_bundle_quality - p.stale_bundle_quality for p in ev.stale_probe)
    message = ("stale-data behaviour broken: " + "; ".join(failures) if failures
               else "; ".join(lines))
    results.append(_result(cid, not failures, message, measured=drop, threshold=0.0,
                           comparison=">", unit="quality drop", evidence=[ref]))
    return results


# ---------------------------------------------------------------------------- phase 2


def _phase2(ev: GateEvidence, policy: RolloutPolicy,
            holidays: Collection[date]) -> list[CriterionResult]:
    window = trading_days(ev.as_of_day, policy.stability_days, holidays)
    span = _span(window, holidays)
    days = {d.day: d for d in ev.guardrail_days if d.day in window}
    refs = [EvidenceRef(kind="asset", name="guardrail_daily", key=str(d.day), run_id=d.run_id,
                        at=d.computed_at) for d in sorted(days.values(), key=lambda d: d.day)]
    lacking = [str(d) for d in window if d not in days]
    produce = f"materialize guardrail_daily for {', '.join(lacking)}"
    b = ev.baseline
    no_base = "materialize rollout_baseline (phase 0)"
    out: list[CriterionResult] = []

    cid = "p2_schema_rejection_rate"
    decisions = sum(d.rejections.decisions for d in days.values())
    rejected = sum(d.rejections.schema_rejections for d in days.values())
    if b is None or b.rejections.rate_pct is None:
        out.append(_missing(cid, "no baseline schema/validation rejection rate", no_base, refs))
    elif lacking:
        out.append(_missing(cid, f"guardrail_daily missing for {', '.join(lacking)} of "
                            f"{span}", produce, refs))
    elif not decisions:
        out.append(_missing(cid, f"no trade_decisions in {span}",
                            "Torghut records decisions; rematerialize guardrail_daily", refs))
    else:
        rate = pct(rejected, decisions) or 0.0
        out.append(_threshold(
            cid, rate, b.rejections.rate_pct + policy.rejection_rate_tolerance_pp, "<=", "%",
            "schema/validation rejection rate",
            f"({rejected}/{decisions} over {span}; baseline v{b.version} "
            f"{_n(b.rejections.rate_pct)} % + {_n(policy.rejection_rate_tolerance_pp)} pp)", refs))

    cid = "p2_guardrail_stability"
    base = None if b is None else b.guardrail.degraded_share_pct
    thin = [f"{d.day} ({d.guardrail.consulted} < {policy.min_guardrail_decisions_per_day})"
            for d in days.values() if d.guardrail.consulted < policy.min_guardrail_decisions_per_day
            or d.guardrail.degraded_share_pct is None]
    if base is None:
        out.append(_missing(cid, "no baseline degraded-context share", no_base, refs))
    elif lacking:
        out.append(_missing(cid, f"guardrail_daily missing for {', '.join(lacking)} (every one of "
                            f"the {policy.stability_days} days {span} is needed)",
                            produce, refs))
    elif thin:
        out.append(_missing(cid, f"too few guardrail-consulted decisions on {', '.join(thin)}",
                            f"Torghut writes decision_json.{GUARDRAIL_FIELD} on each decision",
                            refs))
    else:
        shares = {d.day: d.guardrail.degraded_share_pct or 0.0 for d in days.values()}
        deviation = {day: abs(share - base) for day, share in shares.items()}
        worst = max(deviation, key=deviation.get)
        bad = [f"{day}: {_n(shares[day])} % (|diff| {_n(dev)} pp)"
               for day, dev in sorted(deviation.items())
               if dev > policy.degraded_share_band_pp + _EPS]
        listing = "; ".join(bad) if bad else ", ".join(
            f"{day} {_n(share)} %" for day, share in sorted(shares.items()))
        out.append(_threshold(
            cid, deviation[worst], policy.degraded_share_band_pp, "<=", "pp",
            f"largest daily degraded-share deviation ({worst})",
            f"from baseline v{b.version} {_n(base)} % over {span}: {listing}", refs))
    out.append(_risk_path(ev))
    return out


def _risk_path(ev: GateEvidence) -> CriterionResult:
    cid, r, b = "p2_risk_path_identical", ev.risk_path, ev.baseline
    if b is None:
        return _missing(cid, "no baseline window to replay", "materialize rollout_baseline "
                        "(phase 0)")
    ref = EvidenceRef(kind="probe", name="torghut.risk_path", key=f"baseline=v{b.version} "
                      f"{b.start_day}..{b.end_day}", at=ev.evaluated_at)
    if r is None or not r.decisions_checked:
        return _missing(cid, f"no decisions replayed from baseline v{b.version} "
                        f"({b.start_day}..{b.end_day})", "rematerialize rollout_gate (it replays "
                        "the baseline window's trade_decisions)", [ref])
    counts = (f"{r.decisions_checked} decisions ({r.risk_rejected} risk-rejected), "
              f"{r.combinations_evaluated} final actions")
    if not r.passed:
        shown = "; ".join(f"{v.decision_id} {v.combination}: {v.rule} (expected {v.expected}, "
                          f"got {v.got})" for v in r.violations[:3])
        return _result(cid, False, f"risk-path regression: {r.violation_count} violations "
                       f"{dict(sorted(r.violations_by_rule.items()))} over {counts}; first: "
                       f"{shown}", measured=float(r.violation_count), threshold=0.0,
                       comparison="<=", unit="violations", evidence=[ref])
    return _result(cid, True, f"0 violations over {counts} of baseline v{b.version} "
                   f"({b.start_day}..{b.end_day}), context off and on", measured=0.0,
                   threshold=0.0, comparison="<=", unit="violations", evidence=[ref])


# ---------------------------------------------------------------------------- phase 3


def _phase3(ev: GateEvidence, policy: RolloutPolicy,
            holidays: Collection[date]) -> list[CriterionResult]:
    window = trading_days(ev.as_of_day, policy.parity_window_days, holidays)
    days = {d.day: d for d in ev.parity_days if d.day in window}
    refs = [EvidenceRef(kind="table", name="intel_parity_reports", key=f"day={d.day}",
                        run_id=d.run_id, at=d.generated_at)
            for d in sorted(days.values(), key=lambda d: d.day)]
    ids = ["p3_status_agreement", "p3_fill_drift_p95", "p3_duplicate_submissions",
           "p3_tca_slippage_gap"]
    lacking = [str(d) for d in window if d not in days]
    if lacking:
        return [_missing(cid, f"no intel_parity_reports row for {', '.join(lacking)}",
                         "materialize parity_backtest for those days (parity_job)", refs)
                for cid in ids]
    incomplete = [f"{d.day}: {'; '.join(d.evidence_problems)}" for d in days.values()
                  if d.evidence_problems]
    if incomplete:
        return [_missing(cid, "incomplete parity evidence (" + " | ".join(incomplete) + ")",
                         "fix the venue and rerun parity_backtest for those days", refs)
                for cid in ids]
    span, rows = _span(window, holidays), list(days.values())
    compared = sum(d.compared for d in rows)
    agreed = sum(d.status_agreed for d in rows)
    drift = [v for d in rows for v in d.abs_drift_bps]
    means = {side: pooled_mean([(d.slippage_count.get(side, 0), d.slippage_mean_bps.get(side))
                                for d in rows]) for side in ("alpaca", "lean")}
    out = [
        _missing(ids[0], f"no intent answered by both venues in {span}",
                 "Torghut decisions must exist on those days", refs) if not compared else
        _threshold(ids[0], pct(agreed, compared) or 0.0, policy.parity_status_agreement_min_pct,
                   ">=", "%", "status agreement", f"({agreed}/{compared} intents over {span})",
                   refs),
        _missing(ids[1], f"no intent filled on both venues in {span}",
                 "parity needs fills on both venues to measure drift", refs) if not drift else
        _threshold(ids[1], percentile(drift, 95) or 0.0, policy.parity_fill_drift_p95_max_bps,
                   "<=", "bps", "p95 |fill-price drift|",
                   f"({len(drift)} fills on both venues over {span})", refs),
        _threshold(ids[2], float(sum(d.duplicate_submissions for d in rows)),
                   float(policy.parity_duplicate_submissions_max), "<=", "",
                   "duplicate submissions", f"over {span}", refs),
    ]
    if means["alpaca"] is None or means["lean"] is None:
        out.append(_missing(ids[3], f"a venue filled nothing in {span} (mean slippage alpaca "
                            f"{_n(means['alpaca'])}, lean {_n(means['lean'])} bps)",
                            "parity needs fills on both venues", refs))
    else:
        out.append(_threshold(
            ids[3], abs(means["lean"] - means["alpaca"]), policy.parity_slippage_gap_max_bps, "<=",
            "bps", "|mean slippage lean - alpaca|", f"(lean {_n(means['lean'])} bps, alpaca "
            f"{_n(means['alpaca'])} bps over {span})", refs))
    return out


# ---------------------------------------------------------------------------- phase 4


def _canary_figure(cid: str, r: CanaryDay) -> tuple[float | None, str]:
    """(the day's figure for criterion ``cid``, what it was measured from)."""
    if cid == "p4_canary_availability":
        return r.availability, (f"{r.lean_served}/{r.lean_expected} LEAN-routed executions "
                                f"served by LEAN" + (f", fallbacks {r.fallbacks_by_reason}"
                                                     if r.fallbacks_by_reason else ""))
    if cid == "p4_canary_error_rate":
        return r.error_rate, (f"{r.runner_failures}/{r.runner_requests} runner order requests "
                              f"failed ({r.runner_window})")
    return r.p99_latency_ms, (f"runner submit p99 {_n(r.runner_p99_ms)} ms, context API p99 "
                              f"{_n(r.context_p99_ms)} ms")


def _phase4(ev: GateEvidence, policy: RolloutPolicy,
            holidays: Collection[date]) -> list[CriterionResult]:
    window = trading_days(ev.as_of_day, policy.canary_window_days, holidays)
    span, subset = _span(window, holidays), policy.canary_subset()
    rows = {r.day: r for r in sorted(ev.canary_days, key=lambda r: r.computed_at)
            if r.day in window}
    refs = [EvidenceRef(kind="asset", name="canary_slo", key=str(day), run_id=r.run_id,
                        at=r.computed_at) for day, r in sorted(rows.items())]
    lacking = [str(d) for d in window if d not in rows]
    foreign = [f"{day} ({r.subset.label()})" for day, r in sorted(rows.items())
               if r.subset != subset]
    checks: list[tuple[str, str, float, str, str]] = [
        ("p4_canary_availability", ">=", policy.canary_availability_min, "",
         "lowest availability"),
        ("p4_canary_p99_latency", "<=", policy.canary_p99_latency_max_ms, "ms",
         "highest p99 latency"),
        ("p4_canary_error_rate", "<=", policy.canary_error_rate_max, "", "highest error rate"),
    ]
    produce = "materialize canary_slo for those days (schedule canary_slo_nightly, 02:45 New York)"
    out = []
    for cid, op, limit, unit, label in checks:
        if not subset.symbols:
            out.append(_missing(cid, "no canary subset is configured", "set INTEL_CANARY_SYMBOLS "
                                "(and INTEL_CANARY_ACCOUNTS) to the canary's symbols", refs))
            continue
        if lacking:
            out.append(_missing(cid, f"canary_slo missing for {', '.join(lacking)} of {span}",
                                produce, refs))
            continue
        if foreign:
            out.append(_missing(cid, f"canary_slo measured another subset on {'; '.join(foreign)}"
                                f"; the policy's canary subset is {subset.label()}",
                                "rematerialize canary_slo for those days", refs))
            continue
        figures = {day: _canary_figure(cid, r) for day, r in sorted(rows.items())}
        gaps = [f"{day}: {'; '.join(rows[day].problems) or 'not measured'}"
                for day, (value, _) in figures.items() if value is None]
        if gaps:
            out.append(_missing(cid, "not measured on " + " | ".join(gaps),
                                "fix what is named and rematerialize canary_slo for those days",
                                refs))
            continue
        pick = min if op == ">=" else max
        worst = pick(figures, key=lambda day: figures[day][0])
        value, basis = figures[worst]
        out.append(_threshold(cid, value, limit, op, unit, f"{label} ({worst})",
                              f"over {span}: {basis} on {worst}", refs))
    out.append(_rehearsal(ev, policy))
    out.append(_approval(ev, policy))
    return out


def _rehearsal(ev: GateEvidence, policy: RolloutPolicy) -> CriterionResult:
    cid, r = "p4_rollback_rehearsal", ev.rehearsal
    produce = "run `intel-assets rollout rehearse-rollback`"
    if r is None:
        return _missing(cid, "no rollback rehearsal in intel_rollout_rehearsals", produce)
    ref = EvidenceRef(kind="table", name="intel_rollout_rehearsals", key=f"run_id={r.run_id}",
                      run_id=r.run_id, at=r.finished_at)
    age = (ev.evaluated_at - r.finished_at).total_seconds() / 86_400
    if age > policy.rehearsal_max_age_days + _EPS:
        return _result(cid, False, f"no evidence: the latest rollback rehearsal (run {r.run_id}) "
                       f"is {age:.0f} days old > {policy.rehearsal_max_age_days}; {produce}",
                       measured=age, threshold=float(policy.rehearsal_max_age_days),
                       comparison="<=", unit="days", evidence=[ref], missing=True)
    if age < -_EPS:
        return _result(cid, False, f"the latest rollback rehearsal (run {r.run_id}) is dated in "
                       f"the future ({r.finished_at.isoformat()}); {produce}", evidence=[ref])
    if r.before_flip < MIN_REHEARSAL_SIDE or r.after_flip < MIN_REHEARSAL_SIDE:
        return _result(cid, False, f"no evidence: the latest rollback rehearsal (run {r.run_id}) "
                       f"routed {r.before_flip} intents before the flip and {r.after_flip} after; "
                       f"at least {MIN_REHEARSAL_SIDE} on each side are needed; {produce} "
                       "without --limit", evidence=[ref], missing=True)
    figures = (f"{r.intents} intents ({r.before_flip} before the flip, {r.after_flip} after), "
               f"lost {r.lost}, doubled {r.doubled}, misrouted {r.misrouted}, context fetches "
               f"after the flip {r.context_fetches_after}")
    if not r.passed:
        return _result(cid, False, f"the latest rollback rehearsal (run {r.run_id}) failed: "
                       f"{'; '.join(r.problems)} ({figures}); fix it and {produce}",
                       measured=float(r.lost + r.doubled + r.misrouted), threshold=0.0,
                       comparison="<=", unit="orders", evidence=[ref])
    return _result(cid, True, f"rollback rehearsed (run {r.run_id}, {r.day} replayed, "
                   f"{age:.1f} days ago): {figures}", measured=0.0, threshold=0.0,
                   comparison="<=", unit="orders", evidence=[ref])


def _approval(ev: GateEvidence, policy: RolloutPolicy) -> CriterionResult:
    """The configured token's state (its latest intel_rollout_signoffs event) must be an approval
    of ``policy.approval_phase`` on the baseline version the gate uses, not dated in the future."""
    cid, a, want = "p4_approval", ev.approval, policy.approval_phase
    base = None if ev.baseline is None else ev.baseline.version
    approve = (f"intel-assets rollout approve --phase {want} --approver NAME --token-env "
               "INTEL_ROLLOUT_APPROVAL_TOKEN" + (f" --baseline-version {base}" if base else ""))
    if a is None or not a.token_configured:
        return _missing(cid, "INTEL_ROLLOUT_APPROVAL_TOKEN is not set", "the approver sets it "
                        "where the gate runs (read through a Dagster EnvVar) and signs it off: "
                        f"`{approve}`")
    at = a.revoked_at or a.approved_at
    ref = EvidenceRef(kind="table", name="intel_rollout_signoffs",
                      key=f"token_sha256={a.token_ref}...", at=at)
    if a.approved_by is None or a.approved_at is None:
        return _missing(cid, f"no approval of the configured token (sha256 {a.token_ref}...) in "
                        "intel_rollout_signoffs", f"the approver records one: `{approve}`", [ref])
    approved = f"v{a.baseline_version}" if a.baseline_version else "(no version)"
    if a.revoked_by is not None:
        when = a.revoked_at.isoformat(timespec="seconds") if a.revoked_at else "-"
        return _result(cid, False, f"revoked by {a.revoked_by} at {when}: {a.revoke_reason} "
                       f"(it withdrew {a.approved_by}'s approval of phase {a.phase}, baseline "
                       f"{approved}); once resolved, approve again: `{approve}`", evidence=[ref])
    if a.phase != want:
        return _result(cid, False, f"the approval by {a.approved_by} is for phase {a.phase}, not "
                       f"{want}: `{approve}`", measured=float(a.phase or 0),
                       threshold=float(want), comparison="==", evidence=[ref])
    if base is None:
        return _missing(cid, f"no baseline to check the approval's baseline {approved} against",
                        "materialize rollout_baseline (phase 0), then approve it: "
                        f"`{approve}`", [ref])
    if a.baseline_version != base:
        return _result(cid, False, f"approved baseline {approved}, the gate uses v{base}: approve "
                       f"again (`{approve}`)", measured=float(a.baseline_version or 0),
                       threshold=float(base), comparison="==", evidence=[ref])
    if a.approved_at > ev.evaluated_at:
        return _result(cid, False, f"the approval by {a.approved_by} is dated in the future "
                       f"({a.approved_at.isoformat(timespec='seconds')} > evaluation "
                       f"{ev.evaluated_at.isoformat(timespec='seconds')}): check the clock of "
                       f"the machine that recorded it and `{approve}`", evidence=[ref])
    return _result(cid, True, f"approved by {a.approved_by} at "
                   f"{a.approved_at.isoformat(timespec='seconds')} for phase {a.phase} on "
                   f"baseline v{base}", measured=float(a.phase), threshold=float(want),
                   comparison="==", evidence=[ref])


def evaluate_gates(evidence: GateEvidence, policy: RolloutPolicy,
                   holidays: Collection[date] = frozenset()) -> GateVerdict:
    """Every criterion of phases 0-4 on ``evidence``; phase_reached = highest contiguous pass.

    ``holidays``: exchange holidays the trading-day windows skip (module docstring); empty = no
    calendar, weekends only."""
    criteria = [*_phase0(evidence, policy), *_phase1(evidence, policy),
                *_phase2(evidence, policy, holidays), *_phase3(evidence, policy, holidays),
                *_phase4(evidence, policy, holidays)]
    reached = -1
    for phase in range(5):
        if not all(c.passed for c in criteria if c.phase == phase):
            break
        reached = phase
    return GateVerdict(as_of_day=evidence.as_of_day, evaluated_at=evidence.evaluated_at,
                       phase_reached=reached, criteria=criteria, policy=policy)


__all__ = ["CONTRACT_ASSET", "CRITERIA", "FLAGS_CHECK", "WIRE_CHECK", "evaluate_gates"]
