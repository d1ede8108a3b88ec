"""Owns the rollout assets: rollout_baseline (operator-only), guardrail_daily[day] and rollout_gate.

* ``rollout_baseline``: freezes the rejection, execution and guardrail metrics of a window of
  Torghut's days as a new version in intel_rollout_baselines. Materialized explicitly by an
  operator (run config start_day/end_day); no job, sensor or schedule ever selects it.
* ``guardrail_daily[day]``: the day's schema/validation rejections and guardrail outcomes from
  trade_decisions into intel_guardrail_daily (same daily partitions as parity).
* ``rollout_gate``: gathers the evidence (baseline, the market_context_bundle contract checks'
  latest evaluations in this Dagster instance, the stale-data probe, guardrail days, parity
  reports, canary SLOs, approval), runs domain.gates.evaluate_gates and emits one ERROR check per
  criterion (checks/rollout.py). Definitions of every metric: domain/rollout_metrics.py.

The gate's windows are trading days: weekdays minus the US equity holidays of LEAN's
market-hours database (``<lean_data.lean_dir>/market-hours/market-hours-database.json``, entry
``Equity-usa-[*]``, ``holidays``; early closes are trading days). Without that calendar (file
absent or unreadable: logged as a warning and shown in the ``trading_calendar`` metadata) only
weekends are skipped, so an exchange holiday in a window counts as a missing day and blocks
phases 2-4 until it leaves the window.
"""

from collections.abc import Collection
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Optional

from collections.abc import Sequence

from dagster import (
    AssetKey,
    AssetSelection,
    Definitions,
    define_asset_job,
    AssetExecutionContext,
    Config,
    DagsterInstance,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)
from pydantic import Field

from intel_assets.assets.common import with_code_references
from intel_assets.assets.parity import TRADE_DECISIONS
from intel_assets.jobs import GUARDRAIL_JOB, ROLLOUT_GATE_JOB
from intel_assets.sensors.rollout import build_rollout_schedules
from intel_assets.checks.rollout import (
    latest_check_evaluation,
    rollout_check_results,
    rollout_check_specs,
)
from intel_assets.contracts.gates import PHASES, GateEvidence, GateVerdict
from intel_assets.domain.gates import CONTRACT_ASSET, FLAGS_CHECK, WIRE_CHECK, evaluate_gates
from intel_assets.domain.lean_data import LeanDataError, read_exchange_hours
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.domain.rollout_metrics import (
    execution_metrics,
    guardrail_metrics,
    parity_day,
    rejection_metrics,
    trading_days,
)
from intel_assets.domain.stale_probe import stale_probe
from intel_assets.resources.lean_data import LeanDataResource
from intel_assets.resources.rollout_policy import RolloutPolicyResource
from intel_assets.stores.rollout_db import RolloutDb
from intel_assets.stores.rollout_rehearsals import latest_rehearsal
from intel_assets.stores.rollout_signoffs import approval_evidence
from intel_assets.resources.torghut_db import TorghutDbResource

ROLLOUT_GROUP = "rollout"
ESCAPED_PIPE = r"\|"  # a literal | inside a markdown table cell


class RolloutBaselineConfig(Config):
    """Run config of rollout_baseline: the window of Torghut days to freeze."""

    start_day: str = Field(description="first day of the baseline window, YYYY-MM-DD")
    end_day: str = Field(description="last day of the baseline window, YYYY-MM-DD")
    note: str = Field(default="", description="why this baseline (shown with its version)")


class RolloutGateConfig(Config):
    """Run config of rollout_gate."""

    as_of_day: Optional[str] = Field(
        default=None, description="last day of every window, YYYY-MM-DD (default: yesterday in "
        "New York, the last complete day)")


def rollout_db(resource: TorghutDbResource) -> RolloutDb:
    """A RolloutDb on the torghut_db resource's DSN."""
    return RolloutDb(resource.dsn, resource.connect_timeout_seconds)


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Failure(f"{name}={value!r} is not a date: write YYYY-MM-DD") from None


def _floats(**values: float | None) -> dict:
    return {k: MetadataValue.float(v) for k, v in values.items() if v is not None}


def exchange_holidays(lean_dir: str | Path) -> tuple[frozenset[date], str]:
    """(US equity holidays, what calendar that is) from LEAN's market-hours database under
    ``lean_dir``; (empty, why) when it cannot be read: the windows then skip weekends only."""
    try:
        hours = read_exchange_hours(Path(lean_dir))
    except LeanDataError as exc:
        return frozenset(), f"weekends only (no exchange calendar: {exc})"
    span = (f", {min(hours.holidays)}..{max(hours.holidays)}" if hours.holidays else "")
    return hours.holidays, (f"weekends and {len(hours.holidays)} holidays{span} of LEAN "
                            f"market-hours Equity-usa-[*] ({lean_dir})")


def gather_evidence(db: RolloutDb, instance: DagsterInstance, resource: RolloutPolicyResource,
                    as_of: date, now: datetime,
                    holidays: Collection[date] = frozenset()) -> GateEvidence:
    """Everything evaluate_gates reads, from Torghut's DB, the Dagster instance and the probe,
    over trading-day windows skipping ``holidays`` (empty: weekends only)."""
    policy = resource.policy()
    digest = resource.approval_token_sha256()
    approval = approval_evidence(digest, db.signoffs(digest) if digest else [])
    parity = db.parity_reports(trading_days(as_of, policy.parity_window_days, holidays))
    baseline = db.baseline(policy.baseline_version)
    risk_path = None
    if baseline is not None:  # the consumer's real guardrail, over the baseline's decisions
        from intel_assets.torghut.risk_path import risk_path_check

        risk_path = risk_path_check(db.decisions_between(baseline.start_day, baseline.end_day))
    return GateEvidence(
        as_of_day=as_of, evaluated_at=now, baseline=baseline,
        risk_path=risk_path, rehearsal=latest_rehearsal(db),
        contract_checks={name: latest_check_evaluation(instance, CONTRACT_ASSET, name)
                         for name in (WIRE_CHECK, FLAGS_CHECK)},
        stale_probe=stale_probe(datetime.combine(as_of, time(16), NEW_YORK),
                                policy.probe_budgets_seconds),
        guardrail_days=db.guardrail_days(trading_days(as_of, policy.stability_days, holidays)),
        parity_days=[parity_day(report, run_id) for run_id, report in parity],
        canary_days=db.canary_days(trading_days(as_of, policy.canary_window_days, holidays)),
        approval=approval)


def verdict_table(verdict: GateVerdict) -> MetadataValue:
    """Every criterion as a markdown table (phase, pass/fail, measured vs threshold, message)."""
    lines = ["| phase | criterion | result | measured | threshold | detail |",
             "|---|---|---|---|---|---|"]
    for c in verdict.criteria:
        shown = "-" if c.measured is None else f"{c.measured:.4g} {c.unit}".strip()
        limit = "-" if c.threshold is None else f"{c.comparison} {c.threshold:.4g} {c.unit}".strip()
        lines.append(f"| {c.phase} | {c.id} | {'pass' if c.passed else 'FAIL'} | {shown} | "
                     f"{limit} | {c.message.replace('|', ESCAPED_PIPE)} |")
    return MetadataValue.md("\n".join(lines))


def criteria_lines(verdict: GateVerdict) -> dict[str, MetadataValue]:
    """One inline text entry per criterion, e.g. ``criterion p3_slippage: pass - measured 3.1
    bps <= threshold 5 bps (evidence: asset parity_backtest 2026-02-24)``."""
    out: dict[str, MetadataValue] = {}
    for c in verdict.criteria:
        shown = "no value" if c.measured is None else f"{c.measured:.4g} {c.unit}".strip()
        limit = "" if c.threshold is None else f" {c.comparison} threshold {c.threshold:.4g} {c.unit}".rstrip()
        refs = "; ".join(" ".join(x for x in (e.kind, e.name, e.key) if x) for e in c.evidence[:3])
        more = f" +{len(c.evidence) - 3} more" if len(c.evidence) > 3 else ""
        out[f"criterion {c.id}"] = MetadataValue.text(
            f"{'pass' if c.passed else 'FAIL'} (phase {c.phase}) - measured {shown}{limit}"
            f" (evidence: {refs or 'none'}{more}); {c.message}")
    return out


def build_rollout_assets(partitions_def: PartitionsDefinition, parity_assets: list) -> list:
    """[rollout_baseline, guardrail_daily, rollout_gate]; guardrail_daily uses ``partitions_def``
    and rollout_gate depends on ``parity_assets`` (lineage only)."""

    @asset(
        deps=[TRADE_DECISIONS.key], group_name=ROLLOUT_GROUP, kinds={"python", "postgres"},
        owners=["team:execution-parity"], tags={"domain": "rollout", "layer": "baseline"},
        description="Phase-0 baseline, materialized explicitly by an operator (never scheduled): "
        "schema/validation rejection rate, execution fill rate and rejected share by status, "
        "and degraded-context share of a window of Torghut days, frozen as a new version in "
        "intel_rollout_baselines. Definitions: intel_assets/domain/rollout_metrics.py.",
    )
    def rollout_baseline(context: AssetExecutionContext, config: RolloutBaselineConfig,
                         torghut_db: TorghutDbResource) -> MaterializeResult:
        start, end = _day(config.start_day, "start_day"), _day(config.end_day, "end_day")
        if start > end:
            raise Failure(f"start_day {start} is after end_day {end}")
        db = rollout_db(torghut_db)
        db.ensure_rollout_schema()
        decisions = db.decisions_between(start, end)
        if not decisions:
            raise Failure(f"no trade_decisions between {start} and {end}: nothing to freeze; "
                          "pick days Torghut traded on")
        snapshot = db.save_baseline(
            start_day=start, end_day=end, run_id=context.run.run_id, note=config.note,
            rejections=rejection_metrics(decisions),
            executions=execution_metrics(db.executions_between(start, end)),
            guardrail=guardrail_metrics(decisions))
        context.log.info(f"froze rollout baseline v{snapshot.version} ({start}..{end})")
        return MaterializeResult(metadata={
            "version": snapshot.version, "window": f"{start}..{end}",
            "decisions": snapshot.rejections.decisions,
            "executions": snapshot.executions.executions,
            **_floats(schema_rejection_rate_pct=snapshot.rejections.rate_pct,
                      fill_rate_pct=snapshot.executions.fill_rate_pct,
                      degraded_share_pct=snapshot.guardrail.degraded_share_pct),
            "snapshot": MetadataValue.json(snapshot.model_dump(mode="json")),
        })

    @asset(
        partitions_def=partitions_def, deps=[TRADE_DECISIONS.key], group_name=ROLLOUT_GROUP,
        owners=["team:execution-parity"], tags={"domain": "guardrail", "layer": "evidence"},
        kinds={"python", "postgres"},
        description="The day's Torghut decisions: schema/validation rejections (by code and "
        "status) and market-context guardrail outcomes (decision_json.market_context_guardrail: "
        "consulted, degraded by reason, degraded share) into intel_guardrail_daily.",
    )
    def guardrail_daily(context: AssetExecutionContext, torghut_db: TorghutDbResource
                        ) -> MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        db = rollout_db(torghut_db)
        db.ensure_rollout_schema()
        rows = db.decisions_between(day, day)
        saved = db.save_guardrail_day(day, context.run.run_id, rejection_metrics(rows),
                                      guardrail_metrics(rows))
        rej, guard = saved.rejections, saved.guardrail
        return MaterializeResult(metadata={
            "decisions": rej.decisions, "schema_rejections": rej.schema_rejections,
            "consulted": guard.consulted, "degraded": guard.degraded,
            **_floats(schema_rejection_rate_pct=rej.rate_pct,
                      degraded_share_pct=guard.degraded_share_pct),
            "degraded_by_reason": MetadataValue.json(guard.by_reason),
            "rejections_by_code": MetadataValue.json(rej.by_code),
        })

    @asset(
        # market_context_bundle: the gate reads its contract checks' latest evaluations, so
        # the lineage graph draws bundle -> gate (an explicit dep; it is never loaded as input)
        deps=[rollout_baseline, guardrail_daily, *parity_assets, AssetKey(CONTRACT_ASSET)],
        group_name=ROLLOUT_GROUP,
        owners=["team:execution-parity"], tags={"domain": "rollout", "layer": "gate"},
        kinds={"python"}, check_specs=rollout_check_specs(),
        description="The highest rollout phase (0 baseline, 1 context contract, 2 paper "
        "stability, 3 parity, 4 canary + approval) whose exit criteria and all lower phases' "
        "pass, with the evidence used; one ERROR check per criterion. Missing evidence never "
        "passes. Reads market_context_bundle's contract checks from this Dagster instance. "
        "Windows are trading days: weekdays minus the holidays of LEAN's market-hours database "
        "(lean_data); without it weekends only, and a holiday counts as a missing day.",
    )
    def rollout_gate(context: AssetExecutionContext, config: RolloutGateConfig,
                     torghut_db: TorghutDbResource, rollout_policy: RolloutPolicyResource,
                     lean_data: LeanDataResource) -> MaterializeResult:
        now = datetime.now(timezone.utc)
        as_of = (_day(config.as_of_day, "as_of_day") if config.as_of_day
                 else now.astimezone(NEW_YORK).date() - timedelta(days=1))
        holidays, calendar = exchange_holidays(lean_data.lean_dir)
        if not holidays:
            context.log.warning(f"trading calendar: {calendar}; an exchange holiday in a window "
                                "counts as a missing day")
        db = rollout_db(torghut_db)
        db.ensure_rollout_schema()
        verdict = evaluate_gates(gather_evidence(db, context.instance, rollout_policy, as_of, now,
                                                 holidays),
                                 rollout_policy.policy(), holidays)
        reached = verdict.phase_reached
        context.log.info(f"rollout gate as of {as_of}: phase {reached} "
                         f"({PHASES.get(reached, 'none')}); blockers: "
                         f"{', '.join(c.id for c in verdict.blockers()) or 'none'}")
        return MaterializeResult(
            metadata={
                "phase_reached": reached, "phase_name": PHASES.get(reached, "none reached"),
                "as_of_day": str(as_of),
                "trading_calendar": calendar,
                # Dagster's asset page puts md and table metadata behind a "[Show Markdown]" /
                # "[Show Table]" button (dagster-webserver's bundle) but shows text inline: one
                # text entry per criterion (result, measured vs threshold, evidence) is the
                # criteria table readable at a glance; the md table stays for the full view.
                **criteria_lines(verdict),
                "criteria": verdict_table(verdict),
                "criteria_json": MetadataValue.json([c.model_dump(mode="json", exclude={"evidence"})
                                                     for c in verdict.criteria]),
                "evidence": MetadataValue.json({c.id: [e.model_dump(mode="json")
                                                       for e in c.evidence]
                                                for c in verdict.criteria}),
                "blockers": ", ".join(c.id for c in verdict.blockers()) or "none",
                "policy": MetadataValue.json(verdict.policy.model_dump(mode="json")),
            },
            check_results=rollout_check_results(verdict))

    return [rollout_baseline, guardrail_daily, rollout_gate]


__all__ = ["ROLLOUT_GROUP", "RolloutBaselineConfig", "RolloutGateConfig", "build_rollout_assets",
           "exchange_holidays", "gather_evidence", "rollout_db", "verdict_table"]


def rollout_definitions(partitions_def: PartitionsDefinition,
                        evidence_keys: Sequence[AssetKey]) -> Definitions:
    """rollout_baseline, guardrail_daily and rollout_gate (drawn downstream of
    ``evidence_keys``), their jobs and the nightly schedules (stopped by default)."""
    baseline, guardrail_daily, gate = build_rollout_assets(partitions_def, list(evidence_keys))
    guardrail_job = define_asset_job(GUARDRAIL_JOB, selection=AssetSelection.assets(
        guardrail_daily), description="A day's rejection and guardrail metrics.")
    gate_job = define_asset_job(ROLLOUT_GATE_JOB, selection=AssetSelection.assets(gate),
                                description="Evaluate the rollout phases' exit criteria.")
    return Definitions(assets=with_code_references([baseline, guardrail_daily, gate]),
                       jobs=[guardrail_job, gate_job],
                       schedules=build_rollout_schedules(guardrail_job, gate_job, partitions_def,
                                                         default_running=False))
