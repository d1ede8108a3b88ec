"""Owns the execution-parity assets: parity_backtest[day] (Torghut's intents replayed through both
venues, report stored in Torghut's DB) with its parity_evidence_complete check, and
tca_report[day] (the day's TCA and drift as numeric metadata Dagster plots over days)."""


from datetime import date

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    DailyPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from pydantic import Field

from intel_assets.contracts.parity import SIDES, ParityReport
from intel_assets.domain.tca import tca_figures
from intel_assets.execution.parity_replay import replay_day
from intel_assets.resources.execution import ExecutionVenueResource, LeanDataResource
from intel_assets.resources.torghut_db import TorghutDbResource

PARITY_GROUP = "execution_parity"
EVIDENCE_CHECK = "parity_evidence_complete"
#: Torghut's decisions table, written by Torghut; we read it.
TRADE_DECISIONS = AssetSpec(
    key=AssetKey(["torghut", "trade_decisions"]), group_name=PARITY_GROUP, kinds={"postgres"},
    description="Torghut's trade_decisions (order intents in decision_json), in Torghut's DB.")


class ParityBacktestConfig(Config):
    """Run config of parity_backtest."""

    reuse_previous_outcomes: bool = Field(
        default=True, description="keep the outcomes a venue already gave in the day's last "
        "report (false: submit every intent again and record the venues' current answers)")


def parity_partitions(start_date: str = "2013-10-07") -> DailyPartitionsDefinition:
    """One partition per New York day from ``start_date`` through today (live decisions too)."""
    return DailyPartitionsDefinition(start_date=start_date, timezone="America/New_York",
                                     end_offset=1)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def rows_table(report: ParityReport) -> MetadataValue:
    """Per-intent parity as a markdown table (status, fills, slippage per venue)."""
    lines = ["| time (UTC) | symbol | side | type | mid | alpaca | lean | alpaca bps | "
             "lean bps | diff bps |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report.rows:
        lines.append(
            f"| {r.decision_time:%H:%M} | {r.symbol} | {r.side} | {r.order_type} | "
            f"{r.arrival_mid:.4f} | {r.alpaca.status} {_fmt(r.alpaca.avg_fill_price, 4)} | "
            f"{r.lean.status} {_fmt(r.lean.avg_fill_price, 4)} | {_fmt(r.alpaca.slippage_bps)} | "
            f"{_fmt(r.lean.slippage_bps)} | {_fmt(r.fill_price_diff_bps)} |")
    return MetadataValue.md("\n".join(lines))


def rejected_table(report: ParityReport) -> MetadataValue:
    """Rejected decisions with their codes and reasons as a markdown table."""
    lines = ["| decision | symbol | code | reason |", "|---|---|---|---|"]
    lines += [f"| {r.decision_id} | {r.symbol or '-'} | {r.code} | {r.reason.replace('|', '/')} |"
              for r in report.rejected]
    return MetadataValue.md("\n".join(lines) if report.rejected else "no rejected decisions")


def build_parity_assets(partitions_def: PartitionsDefinition) -> list:
    """[trade_decisions source spec, parity_backtest, tca_report] over ``partitions_def``."""

    @asset(
        partitions_def=partitions_def,
        deps=[TRADE_DECISIONS.key],
        group_name=PARITY_GROUP,
        kinds={"python", "postgres"},
        check_specs=[AssetCheckSpec(
            EVIDENCE_CHECK, asset="parity_backtest", blocking=True,
            description="Both venues answered every valid intent of the day (a venue down or "
                        "erroring makes the evidence incomplete; tca_report is not built).")],
        description="The day's Torghut decisions replayed through both venues (alpaca_execution "
        "and lean_execution): per intent arrival mid, outcomes, slippage, shortfall, time to fill "
        "and parity; invalid decisions rejected with reasons. Stored in Torghut's DB "
        "(intel_parity_reports, one row per day and run). A rerun keeps outcomes the venues "
        "already gave and submits only what is new or was unavailable.",
    )
    def parity_backtest(
        context: AssetExecutionContext,
        config: ParityBacktestConfig,
        torghut_db: TorghutDbResource,
        alpaca_execution: ExecutionVenueResource,
        lean_execution: ExecutionVenueResource,
        lean_data: LeanDataResource,
    ) -> MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        db = torghut_db.db()
        db.ensure_parity_schema()
        decisions = db.decisions_for_day(day)
        previous = db.latest_parity_report(day) if config.reuse_previous_outcomes else None
        venues = {"alpaca": alpaca_execution.venue(), "lean": lean_execution.venue()}
        try:
            report = replay_day(day, decisions, lean_data.tape(), venues, previous=previous)
        finally:
            for venue in venues.values():
                venue.close()
        db.save_parity_report(report, context.run.run_id)
        problems = report.evidence_problems()
        for problem in problems:
            context.log.error(f"parity evidence for {day} is incomplete: {problem}")
        summary = report.summary
        check = AssetCheckResult(
            check_name=EVIDENCE_CHECK, passed=not problems, severity=AssetCheckSeverity.ERROR,
            description=("; ".join(problems) if problems else
                         f"both venues answered all {summary.valid_intents} valid intents"),
            metadata={"unavailable_sides": ", ".join(summary.unavailable_sides) or "none",
                      "valid_intents": summary.valid_intents})
        return MaterializeResult(
            metadata={
                "decisions": summary.decisions, "valid_intents": summary.valid_intents,
                "rejected_intents": summary.rejected_intents,
                "compared_intents": summary.compared_intents,
                **{f"{side}_state": report.tca[side].state for side in SIDES},
                **{f"{side}_filled": report.tca[side].filled for side in SIDES},
                **{f"{side}_reused": report.tca[side].reused_outcomes for side in SIDES},
                "status_agreement_pct": MetadataValue.float(summary.status_agreement_pct),
                "venues": MetadataValue.json(report.venues),
                "rows": rows_table(report), "rejected": rejected_table(report),
            },
            check_results=[check])

    @asset(
        partitions_def=partitions_def,
        deps=[parity_backtest],
        group_name=PARITY_GROUP,
        kinds={"python"},
        description="TCA of the day per venue (slippage and shortfall vs arrival mid in bps, "
        "time to fill, fill rate, fees; mean/p95/max, per symbol) and the drift between venues "
        "(fill-price drift bps, status agreement, duplicate submissions) as numeric metadata.",
    )
    def tca_report(context: AssetExecutionContext, torghut_db: TorghutDbResource
                   ) -> MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        report = torghut_db.db().latest_parity_report(day)
        if report is None:
            raise Failure(f"no parity report stored for {day}: materialize parity_backtest[{day}]"
                          " first")
        figures = tca_figures(report)
        per_symbol = ["| symbol | compared | agree % | drift bps mean | alpaca bps mean | "
                      "lean bps mean |", "|---|---|---|---|---|---|"]
        for symbol, drift in report.summary.per_symbol.items():
            per_symbol.append(
                f"| {symbol} | {drift.compared} | {_fmt(drift.status_agreement_pct, 1)} | "
                f"{_fmt(drift.fill_price_drift_bps.mean)} | "
                f"{_fmt(figures.get(f'{symbol}_alpaca_slippage_bps_mean'))} | "
                f"{_fmt(figures.get(f'{symbol}_lean_slippage_bps_mean'))} |")
        return MaterializeResult(metadata={
            **{name: MetadataValue.float(value) for name, value in figures.items()},
            "report_generated_at": report.generated_at.isoformat(),
            "per_symbol": MetadataValue.md("\n".join(per_symbol)),
        })

    return [TRADE_DECISIONS, parity_backtest, tca_report]


__all__ = ["EVIDENCE_CHECK", "PARITY_GROUP", "TRADE_DECISIONS", "ParityBacktestConfig",
           "build_parity_assets", "parity_partitions"]
