"""Owns `intel-assets parity` and the parity demo: replay a day of Torghut decisions through both
venues (the LEAN runner and the Alpaca paper server, started on 127.0.0.1), materialize
parity_backtest + tca_report for the day in an ephemeral Dagster instance, and print per-venue
TCA and the drift; ``--week`` runs the rollout gate end to end over the LEAN week
(drills/parity_week.py) on this home's Dagster instance and prints its verdict.

``seed=True`` (a throwaway database only) first writes the demo strategy and its decisions in
Torghut's shapes; ``seed=False`` (TORGHUT_DB_DSN, Torghut's database) checks Torghut's tables and
replays what Torghut wrote, writing nothing but our intel_* tables.

    intel-assets parity [--day 2013-10-08 | --week]
    python -m intel_assets.cli.parity --db postgresql://... [--day 2013-10-08] [--seed]
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from datetime import date
from pathlib import Path

from intel_assets.domain.stats import number_text
from intel_assets.cli.common import default_lean_dir, safe_dsn, say
from intel_assets.cli.dagster_home import prepare_dagster_home
from intel_assets.contracts.parity import SIDES, Aggregate, ParityReport
from intel_assets.settings import SettingsError, load_settings


def _agg(agg: Aggregate) -> str:
    return f"{number_text(agg.mean)} / {number_text(agg.p95)} / {number_text(agg.max)}"


def format_parity_report(report: ParityReport) -> str:
    """The report as the demo prints it: per-venue TCA, drift, per-symbol drift, rejections."""
    s = report.summary
    lines = [f"parity {report.day}: {s.decisions} decisions, {s.valid_intents} replayed, "
             f"{s.rejected_intents} rejected",
             *(f"  {side:<6} = {report.venues[side]}" for side in SIDES), "",
             f"{'venue':<7}{'state':<12}{'filled':>8}{'fees':>9}  {'slippage bps mean/p95/max':<28}"
             f"{'shortfall bps mean/p95/max':<28}{'fill s mean':>11}"]
    for side in SIDES:
        t = report.tca[side]
        lines.append(f"{side:<7}{t.state:<12}{f'{t.filled}/{t.intents}':>8}{t.fees_total:>9.2f}  "
                     f"{_agg(t.slippage_bps):<28}{_agg(t.shortfall_bps):<28}"
                     f"{number_text(t.time_to_fill_seconds.mean, 1):>11}")
    lines.append("")
    for side in SIDES:
        t = report.tca[side].torghut
        lines.append(f"Torghut TCA {side}: {t.fills} fills, slippage vs arrival mean "
                     f"{number_text(t.slippage_bps.mean)} bps, shortfall {t.shortfall_notional_total:.2f} "
                     f"USD, expected p50 mean {number_text(t.expected_shortfall_bps_p50.mean)} bps, "
                     f"divergence mean {number_text(t.divergence_bps.mean)} bps, churn "
                     f"{t.churn_qty_total:g} shares, submit latency p95 "
                     f"{number_text(t.submit_latency_ms.p95, 1)} ms")
    versions = sorted({v for side in SIDES for v in report.tca[side].torghut.simulator_versions})
    latency = s.torghut_decision_to_submit_seconds
    lines.append(f"  expected shortfall from {', '.join(versions) or 'no simulator'}; Torghut "
                 f"itself submitted {s.torghut_executions} of these (decision-to-submit s "
                 f"mean/p95/max {_agg(latency)})")
    drift = s.fill_price_drift_bps
    lines += ["", f"drift: status agreement {number_text(s.status_agreement_pct, 1)} % of "
              f"{s.compared_intents}; fill-price drift bps mean/p95/max {_agg(drift)} "
              f"({drift.count} filled on both); filled-qty diff {s.filled_qty_diff_abs_total:g}; "
              f"fee diff (alpaca - lean) {s.fee_diff_total:.2f}; duplicate submissions "
              f"{s.duplicate_submissions}"]
    for symbol, d in s.per_symbol.items():
        slip = {side: report.tca[side].per_symbol[symbol].slippage_bps.mean for side in SIDES}
        lines.append(f"  {symbol:<5} agree {number_text(d.status_agreement_pct, 1):>5} %  drift mean "
                     f"{number_text(d.fill_price_drift_bps.mean):>6} bps  slippage mean alpaca "
                     f"{number_text(slip['alpaca']):>6} / lean {number_text(slip['lean']):>6} bps")
    for side in s.unavailable_sides:
        lines.append(f"UNAVAILABLE {side}: {report.tca[side].unavailable_reason}")
    if report.rejected:
        lines.append("rejected:")
        lines += [f"  {r.decision_id} {r.symbol or '-'} {r.code}: {r.reason}" for r in report.rejected]
    return "\n".join(lines)


def run_parity_demo(lean_dir: Path | str, db_dsn: str, day: date | str = date(2013, 10, 8),
                    *, seed: bool = False, echo: bool = True) -> ParityReport:
    """Replay the day's decisions (seeded first when ``seed``: throwaway databases only) through
    both venues started in-process, materialize the day's parity assets, print, return."""
    from dagster import DagsterInstance

    from intel_assets.devtools.alpaca_server import start_alpaca_server
    from intel_assets.domain.strategy import seed_trade_decisions
    from intel_assets.devtools.lean_runner import lean_runner_in_background
    from intel_assets.jobs import PARITY_JOB
    from intel_assets.parity_definitions import build_parity_definitions

    day = date.fromisoformat(day) if isinstance(day, str) else day
    lean_dir = Path(lean_dir)
    from intel_assets.devtools.torghut_tables import open_torghut_db

    db = open_torghut_db(db_dsn, seed)
    inserted = seed_trade_decisions(db, lean_dir, day) if seed else None
    found = len(db.decisions_for_day(day))
    with ExitStack() as stack:
        runner_url = stack.enter_context(lean_runner_in_background(lean_dir))
        alpaca = stack.enter_context(start_alpaca_server(lean_dir=lean_dir))
        defs = build_parity_definitions(
            torghut_db_dsn=db_dsn, lean_runner_url=runner_url, alpaca_url=alpaca.url,
            lean_data_dir=lean_dir, alpaca_replay_clock=True, start_date=day.isoformat(),
            end_date=day.isoformat(), default_running=False)
        instance = stack.enter_context(DagsterInstance.ephemeral())
        result = defs.resolve_job_def(PARITY_JOB).execute_in_process(
            partition_key=day.isoformat(), instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    report = db.latest_parity_report(day)
    if report is None:
        raise RuntimeError(f"the parity run for {day} stored no report (run success: "
                           f"{result.success}); see the Dagster events above")
    if echo:
        source = (f"seeded {inserted} new decisions for {day} into {db.where} (throwaway)"
                  if seed else f"read {found} decisions Torghut wrote for {day} from {db.where} "
                  "(read only; results in intel_parity_reports)")
        print(f"{source}; Dagster run "
              f"{'succeeded' if result.success else 'FAILED (evidence incomplete)'}")
        print(format_parity_report(report))
    return report


def parity_cmd(argv: list[str]) -> int:
    """Replay a day of Torghut decisions through both venues, print TCA and drift; with --week,
    run the rollout gate end to end over the LEAN week and print its verdict. A Torghut database
    that cannot be used is one plain error line (exit 2), never a traceback."""
    from intel_assets.stores.torghut_db import TorghutDbError

    try:
        return _parity(argv)
    except TorghutDbError as exc:
        raise SettingsError(str(exc)) from None


def _parity(argv: list[str]) -> int:
    from intel_assets.devtools.pg_cluster import PostgresUnavailableError, start_pg_cluster

    parser = argparse.ArgumentParser(
        prog="intel-assets parity",
        description="Replay a LEAN data day of Torghut's trade_decisions through the Alpaca paper "
        "and LEAN adapters, print per-adapter TCA and drift. With TORGHUT_DB_DSN: the decisions "
        "Torghut wrote, read only (results go to intel_* tables). Without it: a throwaway local "
        "PostgreSQL with Torghut's tables, seeded by a rule-based strategy.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--day", default="2013-10-08", help="a LEAN data day (default 2013-10-08)")
    mode.add_argument("--week", action="store_true", help="the LEAN week 2013-10-07..11 with "
                      "guardrail records from the Torghut consumer on this home's bundle store, "
                      "parity per day, guardrail_daily, rollout_baseline (first two days) and "
                      "rollout_gate as of 2013-10-11 on this home's Dagster instance; prints the "
                      "phase reached, every criterion and its evidence")
    args = parser.parse_args(argv)
    settings = load_settings()
    lean_dir = settings.resolved_lean_dir
    if lean_dir is None:
        raise SettingsError("parity replays LEAN data: set INTEL_LEAN_DATA_DIR to a LEAN Data folder")
    store_dsn = None
    if args.week:
        from intel_assets.stores.dsn_contract import store_connect_dsn
        from intel_assets.torghut.flags import RolloutFlags

        store_dsn = store_connect_dsn(settings)  # fails fast (DsnContractError) like serve
        try:
            RolloutFlags.from_env()
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
    dsn = settings.parity.torghut_db_dsn
    seed = not dsn  # only a throwaway or the demo's database is ever seeded
    if args.week and not dsn and settings.embedded_postgres:
        from intel_assets.cli.rollout import DEMO_DB, torghut_dsn_for

        dsn, _ = torghut_dsn_for(settings)  # persistent: `intel-assets rollout ...` reads it
        say(f"Torghut DB: the demo database {DEMO_DB} of the embedded PostgreSQL (kept for "
            "`intel-assets rollout status/approve`; set TORGHUT_DB_DSN to use yours)")
    with ExitStack() as stack:
        if not dsn:
            try:
                cluster = stack.enter_context(start_pg_cluster())
            except PostgresUnavailableError as exc:
                raise SettingsError(f"{exc}; or set TORGHUT_DB_DSN to a PostgreSQL database") from None
            dsn = cluster.create_database("torghut")
            say(f"Torghut DB: throwaway PostgreSQL on 127.0.0.1:{cluster.port} (set TORGHUT_DB_DSN "
                "to use yours)")
        if args.week:  # on this home's persistent Dagster instance (the demo's)
            from dagster import DagsterInstance

            from intel_assets.drills.parity_week import run_parity_week
            from intel_assets.stores.bundle_store import BundleStore

            home = prepare_dagster_home(settings)
            say(f"Dagster instance: DAGSTER_HOME={home} (persistent: the gate reads the "
                "contract-check evaluations `intel-assets demo` recorded there)")
            from intel_assets.drills.parity_week import DEMO_CANARY_SYMBOLS
            from intel_assets.parity_definitions import rollout_policy_from

            canary = rollout_policy_from(
                settings.parity, default_symbols=DEMO_CANARY_SYMBOLS if seed else ()).canary_symbols
            with DagsterInstance.get() as instance:
                outcome = run_parity_week(lean_dir, dsn, lambda: BundleStore.from_dsn(store_dsn),
                                          safe_dsn(store_dsn), instance, seed=seed,
                                          dagster_home=str(home), canary_symbols=canary)
            for problem in outcome.problems:
                print(f"evidence incomplete: {problem}", file=sys.stderr)
            return 0 if not outcome.problems else 1
        report = run_parity_demo(lean_dir, dsn, args.day, seed=seed)
    problems = report.evidence_problems()
    for problem in problems:
        print(f"evidence incomplete: {problem}", file=sys.stderr)
    return 0 if not problems else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m intel_assets.cli.parity",
                                     description="Replay a day of decisions through both venues.")
    parser.add_argument("--db", required=True, help="PostgreSQL DSN for the Torghut tables")
    parser.add_argument("--lean-dir", type=Path, default=None)
    parser.add_argument("--day", default="2013-10-08")
    parser.add_argument("--seed", action="store_true", help="first write the demo strategy's "
                        "decisions (a throwaway database only: never Torghut's)")
    args = parser.parse_args(argv)
    report = run_parity_demo(args.lean_dir or default_lean_dir(), args.db, args.day,
                             seed=args.seed)
    return 0 if not report.evidence_problems() else 1


if __name__ == "__main__":
    sys.exit(main())
