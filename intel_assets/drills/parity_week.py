"""Owns the week demo (``run_parity_week``, ``intel-assets parity --week``): the rollout gate end
to end on a given (persistent) Dagster instance. With ``seed=True`` (the demo's database) it
first writes a week of strategy decisions, each carrying the guardrail record the real Torghut
consumer produced (bundle store served by the serving app, fetched by MarketContextClient,
decided by GuardrailPolicy), records the Alpaca side's answers as Torghut executions and sends
the canary symbols through the canary route (drills/canary_route.py); with ``seed=False`` (Torghut's
database) it writes none of Torghut's tables. Then parity for every day, guardrail_daily and
canary_slo per day, rollout_baseline over the first two days (reused when identical), the
rollback rehearsal (demo only) and rollout_gate with one check per criterion; it prints the
verdict (phase reached, every criterion, the evidence refs) and what a person can do next.
"""

from __future__ import annotations

import textwrap
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from intel_assets.settings import environment_value
from intel_assets.contracts.parity import SIDES, ParityReport
from intel_assets.contracts.decisions import parse_event_ts
from intel_assets.domain.rollout_metrics import guardrail_record
from intel_assets.domain.strategy import strategy_decisions, strategy_row
from intel_assets.domain.stats import number_text

#: The LEAN sample's full week (BasicTemplateAlgorithm's period).
LEAN_WEEK = tuple(date(2013, 10, d) for d in range(7, 12))
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
#: Alpaca paper's final outcome (parity VenueOutcome.status) -> Torghut executions.status: an
#: order still open at the end of its session (gtc) is "new" there; a canceled outcome whose
#: Alpaca order expired (a day order at the close) is "expired" (see ``execution_status``).
EXECUTION_STATUS = {"filled": "filled", "unfilled": "new", "canceled": "canceled",
                    "rejected": "rejected"}
#: The week demo's canary subset when INTEL_CANARY_SYMBOLS is unset: Torghut routes these
#: symbols to LEAN (the executions rows say so), the others stay on Alpaca.
DEMO_CANARY_SYMBOLS = ("SPY",)
#: The demo strategy has no risk limits of its own: every intent passes the deterministic check.
STRATEGY_RISK_CHECK = "approved: the demo strategy trades a fixed 100 shares and has no risk limits"


@dataclass
class GuardedDay:
    """The guardrail outcomes recorded on one day's seeded decisions."""

    day: date
    decisions: int
    inserted: int
    outcomes: Counter = field(default_factory=Counter)  # reason (or "ok") -> decisions
    details: dict[str, str] = field(default_factory=dict)  # reason -> first detail seen
    future_bundles: int = 0  # decisions judged on a bundle built after their decision time
    bundle_as_of: set = field(default_factory=set)


@dataclass
class DayRuns:
    """One day's Dagster runs and what they left in Torghut's DB."""

    day: date
    parity_run_id: str | None = None
    parity_success: bool = False
    report: ParityReport | None = None
    report_run_id: str | None = None
    executions_recorded: int = 0
    executions_present: int = 0
    guardrail_run_id: str | None = None
    guardrail_success: bool = False
    canary_run_id: str | None = None
    canary_session: object | None = None  # canary_route.CanaryDaySession (the demo's route)
    canary: dict = field(default_factory=dict)  # canary_slo's materialization metadata


@dataclass
class GateOutcome:
    """The rollout_gate run: its materialization metadata and its check evaluations (one per criterion)."""

    run_id: str
    success: bool
    as_of_day: str
    phase_reached: int | None = None
    phase_name: str = ""
    criteria: list[dict] = field(default_factory=list)
    evidence: dict[str, list[dict]] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    blockers: str = ""


@dataclass
class WeekOutcome:
    """Everything ``run_parity_week`` did; ``problems`` lists what makes the command fail."""

    days: list[date]
    store: str
    guarded: list[GuardedDay] = field(default_factory=list)
    fetch_stats: dict[str, int] = field(default_factory=dict)
    runs: dict[date, DayRuns] = field(default_factory=dict)
    baseline_run_id: str | None = None
    baseline_success: bool = False
    baseline_version: int | None = None
    baseline_window: str = ""
    baseline_reused: bool = False
    gate: GateOutcome | None = None
    rehearsal_run_id: str | None = None
    dagster_home: str = ""
    problems: list[str] = field(default_factory=list)


def guarded_strategy_decisions(lean_dir: Path, day: date, client, policy, flags,
                               record: GuardedDay | None = None) -> list[dict]:
    """The strategy's decisions for ``day``, each with the guardrail record of the real Torghut
    consumer path (guard_trade: deterministic check, rollout flag, fetch, GuardrailPolicy).

    Each fetch asks for the bundle as of the decision's own event_ts (``as_of``), never the wall
    clock (which would judge a 2013 decision on today's bundle); ``record.future_bundles``
    counts decisions that were still answered with a bundle built after them.
    """
    from intel_assets.torghut.decision_record import with_guardrail_record
    from intel_assets.torghut.guardrail import DeterministicDecision, guard_trade

    approved = DeterministicDecision(True, (STRATEGY_RISK_CHECK,))
    rows = []
    for row in strategy_decisions(lean_dir, day):
        payload = row["decision_json"]
        now = parse_event_ts(payload["event_ts"])
        outcome = guard_trade(row["symbol"], approved, client=client, policy=policy, flags=flags,
                              as_of=now)
        if record is not None:
            reason = outcome.reason or "ok"
            record.outcomes[reason] += 1
            if outcome.reason:
                record.details.setdefault(reason, outcome.detail)
            bundle = outcome.market_context
            if bundle is not None:
                record.bundle_as_of.add(bundle.as_of_utc)
                record.future_bundles += bundle.as_of_utc > now
        rows.append({**row, "decision_json": with_guardrail_record(payload, outcome)})
    return rows


def scrape_stamped(db, source: str, url: str, at: datetime) -> None:
    """Record a scrape of the LEAN runner (``source`` lean-runner) or the serving API at ``url``
    stamped ``at``. The week demo replays 2013 sessions, so its scrapes are stamped on that
    replay clock (an hour before each session opens and after it closes) to bracket each
    replayed session the way the nightly canary_slo run brackets a live one."""
    import httpx

    from intel_assets.domain.canary_slo import RUNNER_SOURCE, runner_snapshot, serving_snapshot

    if source == RUNNER_SOURCE:
        target = url.rstrip("/") + "/v1/observability"
        snapshot = runner_snapshot(httpx.get(target, timeout=10).json(), target, at)
    else:
        target = url.rstrip("/") + "/metrics"
        snapshot = serving_snapshot(httpx.get(target, timeout=10).text, target, at)
    db.save_telemetry(snapshot)


def bracket(day: date) -> tuple[datetime, datetime]:
    """An hour before ``day``'s session opens and an hour after it closes."""
    from intel_assets.domain.canary_slo import session_bounds

    open_at, close_at = session_bounds(day)
    return open_at - timedelta(hours=1), close_at + timedelta(hours=1)


def _seed_guarded_week(db, lean_dir: Path, days: list[date], store_factory: Callable,
                       out: WeekOutcome) -> None:
    """Serve the bundle store, fetch and decide every decision of ``days``, insert them."""
    from intel_assets.devtools.asgi import asgi_in_background
    from intel_assets.serving.app import create_app
    from intel_assets.torghut.client import MarketContextClient
    from intel_assets.torghut.flags import RolloutFlags
    from intel_assets.torghut.guardrail import GuardrailPolicy

    flags = RolloutFlags.from_env()  # read once, as Torghut does at start-up
    policy = GuardrailPolicy()  # Torghut's default market-context settings
    with asgi_in_background(create_app(store_factory)) as url, MarketContextClient(url) as client:
        for day in days:
            record = GuardedDay(day=day, decisions=0, inserted=0)
            rows = guarded_strategy_decisions(lean_dir, day, client, policy, flags, record)
            record.decisions, record.inserted = len(rows), db.insert_decisions(rows)
            out.guarded.append(record)
        stats = client.stats
        out.fetch_stats = {"fetches": stats.fetches, "requests": stats.requests,
                           "not_modified": stats.not_modified, "retries": stats.retries,
                           "short_circuited": stats.short_circuited}
        out.store = f"{out.store} served at {url}"


def replay_executions(report: ParityReport, run_id: str | None, rejected: set[str],
                      present: set[str], skip_symbols: Collection[str] = ()) -> list[dict]:
    """Torghut executions rows (its shape) for what the Alpaca paper venue answered in a parity
    run, as Torghut would have recorded them: decisions the guardrail rejected were never sent,
    rows already present are skipped, and so are ``skip_symbols`` (the canary's, which the
    canary route records: drills/canary_route.py). The paper server's order id is not part of
    OrderState, so alpaca_order_id is a UUIDv5 of the client_order_id (raw_order says so)."""
    rows = []
    for r in report.rows:
        status = EXECUTION_STATUS.get(r.alpaca.status)
        if status == "canceled" and " is expired" in (r.alpaca.reason or ""):
            status = "expired"  # AlpacaAdapter's reason names Alpaca's own status
        if status is None or r.decision_id in rejected or r.decision_id in present or \
                r.symbol in skip_symbols:
            continue  # unavailable/error: the venue never answered; or recorded elsewhere
        rows.append({
            "trade_decision_id": r.decision_id, "client_order_id": r.client_order_id,
            "alpaca_order_id": str(uuid.uuid5(uuid.NAMESPACE_URL, r.client_order_id)),
            "symbol": r.symbol, "side": r.side, "order_type": r.order_type,
            "time_in_force": r.time_in_force, "submitted_qty": r.qty,
            "filled_qty": r.alpaca.filled_qty, "avg_fill_price": r.alpaca.avg_fill_price,
            "status": status, "created_at": r.decision_time,
            "execution_expected_adapter": "alpaca", "execution_actual_adapter": "alpaca",
            "raw_order": {"client_order_id": r.client_order_id, "symbol": r.symbol,
                          "status": r.alpaca.order_status, "submitted_at":
                          r.decision_time.isoformat(), "filled_avg_price": r.alpaca.avg_fill_price,
                          "_source": f"intel_assets parity replay run {run_id} (Alpaca paper "
                          "server); alpaca_order_id derived from client_order_id"}})
    return rows


def _record_executions(db, runs: DayRuns, rejected: set[str], canary: Collection[str]) -> None:
    """Record the Alpaca side's answers as Torghut executions (the demo's databases only),
    except the canary symbols' (the canary route records those)."""
    present = {e.decision_id for e in db.executions_between(runs.day, runs.day)}
    runs.executions_recorded = db.insert_executions(
        replay_executions(runs.report, runs.report_run_id, rejected, present, canary))
    runs.executions_present = len(present) + runs.executions_recorded


def _gate_outcome(result, as_of: date) -> GateOutcome:
    gate = GateOutcome(run_id=result.run_id, success=result.success, as_of_day=str(as_of))
    materialized = result.get_asset_materialization_events()
    if materialized:
        meta = materialized[0].materialization.metadata
        gate.phase_reached = meta["phase_reached"].value
        gate.phase_name = meta["phase_name"].value
        gate.criteria = meta["criteria_json"].value
        gate.evidence = meta["evidence"].value
        gate.blockers = meta["blockers"].value
    gate.checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    return gate


def run_parity_week(lean_dir: Path | str, db_dsn: str, store_factory: Callable, store_label: str,
                    instance, days: list[date] | tuple[date, ...] = LEAN_WEEK,
                    baseline_days: int = 2, *, seed: bool = False, dagster_home: str = "",
                    echo: bool = True,
                    canary_symbols: Sequence[str] = DEMO_CANARY_SYMBOLS) -> WeekOutcome:
    """The rollout gate end to end on ``instance`` (module docstring); prints when ``echo``.

    ``store_factory`` opens the bundle store the serving app reads (``store_label`` names it).
    The gate's phase-1 contract-check evidence is whatever ``instance`` holds: nothing is
    recorded here for it. Without ``seed`` (Torghut's own database) no decision or execution is
    written: the days' decisions are those Torghut wrote. With ``seed`` the ``canary_symbols``
    go the canary route (drills/canary_route.py) and the rollback is rehearsed. Problems that make the
    evidence incomplete (a parity run without a stored report or with an unavailable venue, a
    failed run or rehearsal) are listed in ``problems``.
    """
    from dagster import EnvVar

    from intel_assets.drills.canary_route import CanaryRoute
    from intel_assets.devtools.alpaca_server import start_alpaca_server
    from intel_assets.devtools.lean_runner import lean_runner_in_background
    from intel_assets.jobs import PARITY_JOB, ROLLOUT_GATE_JOB
    from intel_assets.parity_definitions import build_parity_definitions
    from intel_assets.resources.canary_telemetry import CanaryTelemetryResource
    from intel_assets.resources.rollout_policy import APPROVAL_TOKEN_ENV, RolloutPolicyResource

    days, lean_dir = sorted(days), Path(lean_dir)
    out = WeekOutcome(days=days, store=store_label)
    out.dagster_home = dagster_home
    from intel_assets.devtools.torghut_tables import open_torghut_db
    from intel_assets.stores.rollout_db import RolloutDb

    db = open_torghut_db(db_dsn, seed, RolloutDb)
    db.ensure_rollout_schema()
    if seed:
        db.insert_strategy(strategy_row())
        _seed_guarded_week(db, lean_dir, days, store_factory, out)
        if echo:
            print(format_guarded_days(out), flush=True)
    rejected = {r.id for r in db.decisions_between(days[0], days[-1])
                if (guardrail_record(r) or {}).get("action") == "reject"}
    token = EnvVar(APPROVAL_TOKEN_ENV) if environment_value(APPROVAL_TOKEN_ENV) else None
    canary_route = seed and bool(canary_symbols)
    with ExitStack() as stack:
        runner_url = stack.enter_context(lean_runner_in_background(lean_dir))
        alpaca = stack.enter_context(start_alpaca_server(lean_dir=lean_dir))
        canary = stack.enter_context(CanaryRoute(lean_dir, store_factory)) if canary_route \
            else None
        defs = build_parity_definitions(
            torghut_db_dsn=db_dsn, lean_runner_url=runner_url, alpaca_url=alpaca.url,
            lean_data_dir=lean_dir, alpaca_replay_clock=True, start_date=days[0].isoformat(),
            end_date=days[-1].isoformat(), default_running=False, rollout_approval_token=token,
            rollout_policy=RolloutPolicyResource(canary_symbols=sorted(canary_symbols)),
            canary_telemetry=CanaryTelemetryResource(
                lean_runner_url=canary.runner_url if canary else None,
                serving_url=canary.serving_url if canary else None))
        for day in days:
            runs = out.runs[day] = DayRuns(day=day)
            result = defs.resolve_job_def(PARITY_JOB).execute_in_process(
                partition_key=day.isoformat(), instance=instance, raise_on_error=False,
                run_config=QUIET_RUN)
            runs.parity_run_id, runs.parity_success = result.run_id, result.success
            stored = dict((report.day, (run_id, report))
                          for run_id, report in db.parity_reports([day]))
            runs.report_run_id, runs.report = stored.get(day, (None, None))
            if runs.report is None or runs.report_run_id != result.run_id:
                out.problems.append(f"parity {day}: run {result.run_id} stored no report "
                                    f"(success: {result.success})")
                continue
            out.problems += [f"parity {day}: {p}" for p in runs.report.evidence_problems()]
            if not result.success:
                out.problems.append(f"parity {day}: run {result.run_id} failed")
            if seed:
                _record_executions(db, runs, rejected, canary_symbols)
            if canary is not None:
                present = {e.decision_id for e in db.executions_between(day, day)}
                runs.canary_session = canary.run_day(db, day, canary_symbols, present)
                runs.executions_present += runs.canary_session.recorded
        _measure_days(defs, instance, days, out)  # while the canary's services are up
    window = days[:baseline_days]
    out.baseline_window = f"{window[0]}..{window[-1]}"
    newest = db.baseline()
    if newest is not None and (newest.start_day, newest.end_day) == (window[0], window[-1]):
        # Rerunning the week must not invalidate sign-offs of an identical frozen baseline.
        out.baseline_version, out.baseline_run_id = newest.version, newest.run_id
        out.baseline_success = out.baseline_reused = True
    else:
        _freeze_baseline(defs, instance, window, out)
    if seed:  # the demo rehearses the rollback too (with Torghut's DB: an operator's command)
        _rehearse(db, lean_dir, days, store_factory, out, echo)
    as_of = days[-1]
    result = defs.resolve_job_def(ROLLOUT_GATE_JOB).execute_in_process(
        instance=instance, raise_on_error=False,
        run_config={**QUIET_RUN, "ops": {"rollout_gate": {"config": {"as_of_day": str(as_of)}}}})
    out.gate = _gate_outcome(result, as_of)
    if not result.success or out.gate.phase_reached is None:
        out.problems.append(f"rollout_gate: run {result.run_id} failed")
    elif {c["id"]: c["passed"] for c in out.gate.criteria} != out.gate.checks:
        out.problems.append(f"rollout_gate: run {result.run_id}: the check evaluations do not "
                            "match the verdict")
    if echo:
        print(format_week_runs(out))
        print(format_gate_verdict(out.gate))
        print(next_steps(out.gate, len(days)))
    return out


def next_steps(gate: GateOutcome | None, days: int) -> str:
    """What a person can do about the blockers the week demo cannot remove by itself."""
    if gate is None or not gate.criteria:
        return ""
    missing = {c["id"] for c in gate.criteria if not c["passed"]}
    lines = ["\nnext:"]
    if missing & {"p1_wire_contract", "p1_degraded_flags"}:
        lines.append("  phase 1: run `make demo` in this INTEL_HOME first (its refresh records "
                     "the bundle contract checks the gate reads)")
    if missing & {"p2_schema_rejection_rate", "p2_guardrail_stability"}:
        lines.append(f"  phase 2: 7 trading days of guardrail evidence are needed and the LEAN "
                     f"sample gives {days}: add LEAN minute data for 2013-10-03 and 2013-10-04 "
                     "(QuantConnect/Lean Data/equity/usa/minute/<symbol>/YYYYMMDD_{trade,quote}"
                     ".zip) to INTEL_LEAN_DATA_DIR, or set TORGHUT_DB_DSN to a database with 7 "
                     "days of Torghut's decisions")
    if "p4_approval" in missing:
        lines.append("  phase 4: an approver signs off: `INTEL_ROLLOUT_APPROVAL_TOKEN=... "
                     "intel-assets rollout approve --phase 4 --approver NAME --token-env "
                     "INTEL_ROLLOUT_APPROVAL_TOKEN`, then rerun with the token set; `intel-assets "
                     "rollout status` shows the gate at any time")
    return "\n".join(lines) if len(lines) > 1 else ""


def _measure_days(defs, instance, days: list[date], out: WeekOutcome) -> None:
    """guardrail_daily and canary_slo of every day."""
    from intel_assets.jobs import CANARY_SLO_JOB, GUARDRAIL_JOB

    for day in days:
        runs = out.runs[day]
        result = defs.resolve_job_def(GUARDRAIL_JOB).execute_in_process(
            partition_key=day.isoformat(), instance=instance, raise_on_error=False,
            run_config=QUIET_RUN)
        runs.guardrail_run_id, runs.guardrail_success = result.run_id, result.success
        if not result.success:
            out.problems.append(f"guardrail_daily {day}: run {result.run_id} failed")
        result = defs.resolve_job_def(CANARY_SLO_JOB).execute_in_process(
            partition_key=day.isoformat(), instance=instance, raise_on_error=False,
            run_config=QUIET_RUN)
        runs.canary_run_id = result.run_id
        if result.success:
            runs.canary = {k: v.value for k, v in result.get_asset_materialization_events()[0]
                           .materialization.metadata.items()}
        else:
            out.problems.append(f"canary_slo {day}: run {result.run_id} failed")


def _freeze_baseline(defs, instance, window: list[date], out: WeekOutcome) -> None:
    """Materialize rollout_baseline over ``window`` (a new frozen version)."""
    from dagster import materialize

    result = materialize(
        [defs.resolve_assets_def("rollout_baseline")], instance=instance, raise_on_error=False,
        run_config={**QUIET_RUN, "ops": {"rollout_baseline": {"config": {
            "start_day": str(window[0]), "end_day": str(window[-1]),
            "note": "intel-assets parity --week: the first days of the LEAN sample week"}}}})
    out.baseline_run_id, out.baseline_success = result.run_id, result.success
    if result.success:
        out.baseline_version = result.get_asset_materialization_events()[0] \
            .materialization.metadata["version"].value
    else:
        out.problems.append(f"rollout_baseline: run {result.run_id} failed")


def _rehearse(db, lean_dir: Path, days: list[date], store_factory: Callable, out: WeekOutcome,
              echo: bool) -> None:
    """`intel-assets rollout rehearse-rollback` on the week's second day, recorded as evidence."""
    from intel_assets.stores.rollout_rehearsals import ensure_rehearsal_schema, save_rehearsal
    from intel_assets.drills.rollback_rehearsal import format_rehearsal, rehearse_rollback

    result = rehearse_rollback(lean_dir, days[min(1, len(days) - 1)], store_factory)
    ensure_rehearsal_schema(db)
    save_rehearsal(db, result.record)
    out.rehearsal_run_id = result.record.run_id
    if not result.passed:
        out.problems.append(f"rollback rehearsal {result.record.run_id} failed: "
                            + "; ".join(result.record.problems))
    if echo:
        print("\n" + format_rehearsal(result.record, result.seconds), flush=True)


def format_guarded_days(out: WeekOutcome) -> str:
    """The guardrail records written per day (what the Torghut consumer decided)."""
    s = out.fetch_stats
    lines = [f"guardrail: Torghut consumer (MarketContextClient -> GuardrailPolicy, Torghut's "
             f"default settings, asOf = decision event_ts) on the bundle store {out.store}",
             f"  {s.get('fetches', 0)} fetches, {s.get('requests', 0)} HTTP requests "
             f"({s.get('not_modified', 0)} answered 304 from the ETag cache, "
             f"{s.get('retries', 0)} retries, {s.get('short_circuited', 0)} refused by the breaker)"]
    for g in out.guarded:
        outcomes = ", ".join(f"{reason} {n}" for reason, n in sorted(g.outcomes.items()))
        lines.append(f"  {g.day}  {g.decisions:>3} decisions ({g.inserted} new): {outcomes}")
    details = {}
    for g in out.guarded:
        for reason, detail in g.details.items():
            details.setdefault(reason, detail)
    lines += [f"  {reason}: e.g. {detail}" for reason, detail in sorted(details.items())]
    future = sum(g.future_bundles for g in out.guarded)
    as_of = sorted({a for g in out.guarded for a in g.bundle_as_of})
    if future:
        lines.append(f"  note: {future} decisions were judged on a bundle built after their decision"
                     f" time (asOfUtc {', '.join(a.isoformat() for a in as_of)}): the store serves"
                     " the latest bundle only and guardrail counts no negative age")
    return "\n".join(lines)


def format_week_runs(out: WeekOutcome) -> str:
    """Per day: the parity run and its figures, executions recorded, the guardrail_daily run."""
    lines = [f"\nparity, Torghut executions (Alpaca side) and guardrail_daily per day, Dagster "
             f"instance {out.dagster_home or '(given)'}:",
             f"{'day':<11} {'parity run':<37} {'agree %':>7} {'drift p95':>9} "
             f"{'alpaca':>7} {'lean':>7} {'execs':>5}  guardrail_daily run"]
    for day in out.days:
        runs = out.runs.get(day) or DayRuns(day=day)
        report = runs.report
        if report is None:
            lines.append(f"{day!s:<11} {runs.parity_run_id or '-':<37} (no parity report)  "
                         f"{runs.guardrail_run_id or '-'}")
            continue
        s = report.summary
        filled = {side: f"{report.tca[side].filled}/{report.tca[side].intents}" for side in SIDES}
        lines.append(f"{day!s:<11} {runs.parity_run_id:<37} {number_text(s.status_agreement_pct, 1):>7} "
                     f"{number_text(s.fill_price_drift_bps.p95):>9} {filled['alpaca']:>7} "
                     f"{filled['lean']:>7} {runs.executions_present:>5}  "
                     f"{runs.guardrail_run_id or '-'}"
                     f"{'' if runs.guardrail_success else ' FAILED'}")
    canary = [out.runs[d] for d in out.days if d in out.runs and out.runs[d].canary]
    if canary:
        lines.append(f"\ncanary_slo per day ({canary[0].canary.get('subset', '')}; LEAN route "
                     "from Torghut executions, runner and serving API scrapes):")
        lines.append(f"{'day':<11} {'lean served':>11} {'availability':>12} {'runner p99':>10} "
                     f"{'context p99':>11} {'error rate':>10}  canary_slo run")
        for runs in canary:
            c = runs.canary
            lines.append(
                f"{runs.day!s:<11} {c['lean_served']:>5}/{c['lean_routed']:<5} "
                f"{number_text(c.get('availability'), 4):>12} "
                f"{number_text(c.get('runner_p99_ms'), 2):>7} ms "
                f"{number_text(c.get('context_p99_ms'), 2):>8} ms "
                f"{number_text(c.get('error_rate'), 4):>10}  {runs.canary_run_id}")
    version = f"v{out.baseline_version}" if out.baseline_version else "not frozen"
    reused = ", reused: the newest baseline has this window" if out.baseline_reused else ""
    lines.append(f"rollout_baseline {version} over {out.baseline_window} (run "
                 f"{out.baseline_run_id}{'' if out.baseline_success else ', FAILED'}{reused})")
    return "\n".join(lines)


def _measured(c: dict) -> str:
    if c["missing_evidence"]:
        return "no evidence"
    unit = f" {c['unit']}" if c["unit"] else ""
    if c["comparison"] == "present":
        return "present" if c["passed"] else "-"
    shown = "-" if c["measured"] is None else f"{c['measured']:.4g}{unit}"
    if c["threshold"] is None:
        return shown
    return f"{shown} (threshold {c['comparison']} {c['threshold']:.4g}{unit})"


def _ref(e: dict) -> str:
    where = f"{e['kind']} {e['name']}" + (f" [{e['key']}]" if e.get("key") else "")
    return where + (f" run {e['run_id']}" if e.get("run_id") else "")


def format_gate_verdict(gate: GateOutcome | None) -> str:
    """Phase reached, every criterion (phase, id, PASS/FAIL, measured vs threshold, detail) as
    its check evaluated, and the evidence refs grouped by the criteria citing them."""
    if gate is None or gate.phase_reached is None:
        return f"\nrollout_gate: no verdict (run {gate.run_id if gate else '-'} failed)"
    lines = [f"\nrollout_gate as of {gate.as_of_day} (run {gate.run_id}): PHASE REACHED "
             f"{gate.phase_reached} ({gate.phase_name})",
             f"  {sum(gate.checks.values())} of {len(gate.checks)} ERROR checks passed; blockers "
             f"of phase {gate.phase_reached + 1}: {gate.blockers}", "",
             f"{'phase':<6}{'criterion':<27}{'result':<7}measured vs threshold / detail"]
    for c in gate.criteria:
        passed = gate.checks.get(c["id"], c["passed"])
        lines.append(f"{c['phase']:<6}{c['id']:<27}{'PASS' if passed else 'FAIL':<7}"
                     f"{_measured(c)}")
        lines.append(textwrap.fill(c["message"], width=110, initial_indent=" " * 13,
                                   subsequent_indent=" " * 15, break_on_hyphens=False))
    groups: dict[tuple, list[str]] = {}
    for c in gate.criteria:
        refs = tuple(_ref(e) for e in gate.evidence.get(c["id"], []))
        groups.setdefault(refs, []).append(c["id"])
    lines += ["", "evidence:"]
    for refs, ids in groups.items():
        lines.append(f"  {', '.join(ids)}:")
        lines += [f"      {r}" for r in refs] or ["      (none)"]
    return "\n".join(lines)



__all__ = ["LEAN_WEEK", "DayRuns", "GateOutcome", "GuardedDay", "WeekOutcome",
           "format_gate_verdict", "format_guarded_days", "format_week_runs",
           "guarded_strategy_decisions", "replay_executions", "run_parity_week"]
