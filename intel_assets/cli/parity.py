"""Owns the parity demo: replay a day of Torghut decisions through both venues (the LEAN runner
and the Alpaca paper server, started on 127.0.0.1), materialize parity_backtest + tca_report
for the day in an ephemeral Dagster instance, and print per-venue TCA and the drift.

``seed=True`` (a throwaway database only) first writes the demo strategy and its decisions in
Torghut's shapes; ``seed=False`` (TORGHUT_DB_DSN, Torghut's database) checks Torghut's tables and
replays what Torghut wrote, writing nothing but our intel_* tables. The week demo is
parity_week.py.

    python -m intel_assets.cli.parity --db postgresql://... [--day 2013-10-08] [--seed]
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from datetime import date
from pathlib import Path

from intel_assets.contracts.parity import SIDES, Aggregate, ParityReport


def number_text(value: float | None, digits: int = 2) -> str:
    """``value`` for people: ``digits`` decimals, "-" for None, never "-0.00"."""
    return "-" if value is None else f"{round(value, digits) + 0.0:.{digits}f}"  # no "-0.00"


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


def open_torghut(db_dsn: str, seed: bool):
    """The Torghut database to replay from: a throwaway one (Torghut's tables created, ready to
    seed) or Torghut's own (its tables checked; TorghutSchemaError names what is missing)."""
    if seed:
        from intel_assets.devtools.torghut_tables import ThrowawayTorghutDb

        db = ThrowawayTorghutDb(db_dsn)
        db.ensure_schema()
        return db
    from intel_assets.stores.torghut_db import TorghutDb

    db = TorghutDb(db_dsn)
    db.check_torghut_schema()
    return db


def run_parity_demo(lean_dir: Path | str, db_dsn: str, day: date | str = date(2013, 10, 8),
                    *, seed: bool = False, echo: bool = True) -> ParityReport:
    """Replay the day's decisions (seeded first when ``seed``: throwaway databases only) through
    both venues started in-process, materialize the day's parity assets, print, return."""
    from dagster import DagsterInstance

    from intel_assets.devtools.alpaca_server import start_alpaca_server
    from intel_assets.domain.strategy import seed_trade_decisions
    from intel_assets.execution.lean_runner import lean_runner_in_background
    from intel_assets.jobs import PARITY_JOB
    from intel_assets.parity_definitions import build_parity_definitions

    day = date.fromisoformat(day) if isinstance(day, str) else day
    lean_dir = Path(lean_dir)
    db = open_torghut(db_dsn, seed)
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


def main(argv: list[str] | None = None) -> int:
    from intel_assets.execution.lean_replay import default_lean_dir

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
