"""Owns the execution-parity assets: parity_backtest[day] (Torghut's intents replayed through both
venues, report stored in Torghut's DB) with its parity_evidence_complete check, and
tca_report[day] (the day's TCA and drift as numeric metadata Dagster plots over trading days).

Partitions are trading days (weekdays minus the exchange holidays of LEAN's market-hours
database) from the first decision to today, or to the replay clock's day. A replay that comes
back incomplete (a venue down or erroring) is stored beside the day's evidence and never
replaces it: the check fails loudly, tca_report is not rebuilt, and the day keeps its last
complete report.
"""

from collections.abc import Collection
from datetime import date, datetime, timedelta

from dagster import (
    AssetSelection,
    Definitions,
    define_asset_job,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    TimeWindowPartitionsDefinition,
    asset,
)

from pydantic import Field

from intel_assets.assets.common import with_code_references
from intel_assets.jobs import PARITY_JOB
from intel_assets.sensors.parity import build_parity_schedule, build_parity_sensor
from intel_assets.contracts.parity import SIDES, ParityReport
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.domain.tca import tca_figures
from intel_assets.execution.parity_replay import replay_day
from intel_assets.resources.execution_venue import ExecutionVenueResource
from intel_assets.resources.lean_data import LeanDataResource
from intel_assets.stores.torghut_db import StoredParityReport, TorghutDbError
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
        default=True, description="keep the final outcomes a venue already gave in the day's "
        "last report (false: submit every intent again, idempotently, and read each order's "
        "final state again)")


def next_trading_day(day: date, holidays: Collection[date] = frozenset()) -> date:
    """The first weekday after ``day`` that is not in ``holidays``."""
    day += timedelta(days=1)
    while day.weekday() >= 5 or day in holidays:
        day += timedelta(days=1)
    return day


def parity_partitions(start_date: str | date = "2013-10-07", end_date: str | date | None = None,
                      holidays: Collection[date] = frozenset()) -> TimeWindowPartitionsDefinition:
    """One partition per trading day (New York; weekdays minus ``holidays``) from ``start_date``
    through ``end_date`` (inclusive; a replay clock's day) or, without it, through today."""
    start = date.fromisoformat(str(start_date))
    excluded = [datetime(h.year, h.month, h.day) for h in sorted(holidays) if h >= start]
    end = None
    if end_date is not None:  # a partition ends at the next trading day's midnight
        end = next_trading_day(date.fromisoformat(str(end_date)), holidays).isoformat()
    return TimeWindowPartitionsDefinition(
        cron_schedule="0 0 * * 1-5", fmt="%Y-%m-%d", start=start.isoformat(), end=end,
        timezone=NEW_YORK.key, end_offset=0 if end else 1, exclusions=excluded or None)


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


def evidence_description(problems: list[str], valid_intents: int,
                         kept: StoredParityReport | None) -> str:
    """The evidence check's text: what is missing, and which report stays the day's evidence."""
    if not problems:
        return f"both venues answered all {valid_intents} valid intents"
    text = "; ".join(problems)
    if kept is not None:
        text += (f". The day's evidence stays run {kept.run_id}'s complete report (generated "
                 f"{kept.generated_at.isoformat()}); this attempt is stored beside it in "
                 "intel_parity_reports (complete = false)")
    return text


def per_symbol_table(report: ParityReport, figures: dict) -> MetadataValue:
    """Per symbol: compared intents, status agreement, drift and each venue's slippage."""
    lines = ["| symbol | compared | agree % | drift bps mean | alpaca bps mean | lean bps mean |",
             "|---|---|---|---|---|---|"]
    for symbol, drift in report.summary.per_symbol.items():
        lines.append(
            f"| {symbol} | {drift.compared} | {_fmt(drift.status_agreement_pct, 1)} | "
            f"{_fmt(figures.get(f'{symbol}_fill_price_drift_bps_mean'))} | "
            f"{_fmt(figures.get(f'{symbol}_alpaca_slippage_bps_mean'))} | "
            f"{_fmt(figures.get(f'{symbol}_lean_slippage_bps_mean'))} |")
    return MetadataValue.md("\n".join(lines))


def torghut_tca_table(report: ParityReport) -> MetadataValue:
    """Per fill, in Torghut's terms: arrival price (and source), slippage, shortfall notional,
    expected vs realized shortfall and divergence, churn, submit latency."""
    lines = ["| time (UTC) | symbol | side | venue | arrival (source) | fill | slippage bps | "
             "shortfall USD | expected p50 bps | divergence bps | churn qty/ratio | submit ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report.rows:
        for side in SIDES:
            o = r.outcome(side)
            t = o.torghut
            if t is None:
                continue
            lines.append(
                f"| {r.decision_time:%H:%M} | {r.symbol} | {r.side} | {side} | "
                f"{_fmt(t.arrival_price, 4)} ({t.arrival_source or '-'}) | "
                f"{_fmt(o.avg_fill_price, 4)} | {_fmt(t.slippage_bps)} | "
                f"{_fmt(t.shortfall_notional)} | {_fmt(t.expected_shortfall_bps_p50)} | "
                f"{_fmt(t.divergence_bps)} | {t.churn_qty:g}/{_fmt(t.churn_ratio)} | "
                f"{_fmt(o.submit_latency_ms, 1)} |")
    return MetadataValue.md("\n".join(lines) if len(lines) > 2 else "no fills")


def build_parity_assets(partitions_def: PartitionsDefinition) -> list:
    """[trade_decisions source spec, parity_backtest, tca_report] over ``partitions_def``."""

    @asset(
        partitions_def=partitions_def,
        deps=[TRADE_DECISIONS.key],
        group_name=PARITY_GROUP,
        owners=["team:execution-parity"], tags={"domain": "parity", "layer": "evidence"},
        kinds={"python", "postgres"},
        check_specs=[AssetCheckSpec(
            EVIDENCE_CHECK, asset="parity_backtest", blocking=True,
            description="Both venues answered every valid intent of the day (a venue down or "
                        "erroring makes the evidence incomplete; tca_report is not built).")],
        description="The day's Torghut decisions (trade_decisions, read only) replayed through "
        "both venues (alpaca_execution and lean_execution): per intent arrival mid, each "
        "order's final state for its day (read once both venues' clocks pass the session's "
        "close), slippage, shortfall, time to fill, TCA in Torghut's terms and parity; invalid "
        "decisions "
        "and those Torghut rejected itself are reported with reasons, not replayed. Stored in "
        "intel_parity_reports (one row per day and run); an incomplete replay never replaces "
        "the day's complete evidence. A rerun keeps the final outcomes the venues already gave "
        "and submits only what is new or was not read to its end.",
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
        try:
            db.check_torghut_schema()
            db.ensure_parity_schema()
            decisions = db.decisions_for_day(day)
            evidence = db.parity_evidence(day)
            executions = db.executions_for(decisions)
        except TorghutDbError as exc:
            raise Failure(description=str(exc), allow_retries=False) from None
        previous = evidence.report if evidence is not None and config.reuse_previous_outcomes \
            else None
        venues = {"alpaca": alpaca_execution.venue(), "lean": lean_execution.venue()}
        try:
            report = replay_day(day, decisions, lean_data.tape(), venues, previous=previous,
                                torghut_executions=executions)
        finally:
            for venue in venues.values():
                venue.close()
        stored = db.save_parity_report(report, context.run.run_id)
        kept = evidence if (not stored.complete and evidence is not None
                            and evidence.complete) else None
        for problem in stored.problems:
            context.log.error(f"parity replay of {day} is incomplete: {problem}")
        if kept is not None:
            context.log.warning(
                f"{day}: the day's evidence stays run {kept.run_id}'s complete report (generated "
                f"{kept.generated_at.isoformat()}); this incomplete attempt is stored beside it")
        summary = report.summary
        check = AssetCheckResult(
            check_name=EVIDENCE_CHECK, passed=stored.complete, severity=AssetCheckSeverity.ERROR,
            description=evidence_description(stored.problems, summary.valid_intents, kept),
            metadata={"unavailable_sides": ", ".join(summary.unavailable_sides) or "none",
                      "valid_intents": summary.valid_intents,
                      "evidence_run_id": kept.run_id if kept else context.run.run_id})
        return MaterializeResult(
            metadata={
                "decisions": summary.decisions, "valid_intents": summary.valid_intents,
                "rejected_intents": summary.rejected_intents,
                "rejected_by_code": MetadataValue.json(summary.rejected_by_code),
                "compared_intents": summary.compared_intents,
                "complete": stored.complete,
                "evidence_run_id": kept.run_id if kept else context.run.run_id,
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
        owners=["team:execution-parity"], tags={"domain": "tca", "layer": "evidence"},
        kinds={"python"},
        description="TCA of the day's evidence per venue (slippage and shortfall vs arrival mid "
        "in bps, time to fill, fill rate, fees; in Torghut's terms: slippage vs arrival price, "
        "shortfall notional, expected vs realized shortfall and divergence, churn, submit "
        "latency; Torghut's own decision-to-submit latency) and the drift between venues, as "
        "numeric metadata under stable names, rounded: the asset's Plots tab shows each figure "
        "per trading day.",
    )
    def tca_report(context: AssetExecutionContext, torghut_db: TorghutDbResource
                   ) -> MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        try:
            evidence = torghut_db.db().parity_evidence(day)
        except TorghutDbError as exc:
            raise Failure(description=str(exc), allow_retries=False) from None
        if evidence is None:
            raise Failure(f"no parity report stored for {day}: materialize parity_backtest[{day}]"
                          " first")
        if not evidence.complete:
            raise Failure(f"{day} has no complete parity report (newest attempt, run "
                          f"{evidence.run_id}: {'; '.join(evidence.problems)}); fix the venue and"
                          f" rematerialize parity_backtest[{day}]")
        report = evidence.report
        figures = tca_figures(report)
        return MaterializeResult(metadata={
            **{name: MetadataValue.float(value) for name, value in figures.items()},
            "evidence_run_id": evidence.run_id,
            "report_generated_at": report.generated_at.isoformat(),
            "simulator_versions": ", ".join(sorted({v for side in SIDES for v in report.tca[
                side].torghut.simulator_versions})) or "none",
            "per_symbol": per_symbol_table(report, figures),
            "torghut_tca": torghut_tca_table(report),
        })

    return [TRADE_DECISIONS, parity_backtest, tca_report]


__all__ = ["EVIDENCE_CHECK", "PARITY_GROUP", "TRADE_DECISIONS", "ParityBacktestConfig",
           "build_parity_assets", "evidence_description", "next_trading_day",
           "parity_partitions", "per_symbol_table", "torghut_tca_table"]


def parity_slice(partitions_def: PartitionsDefinition, *, settle_seconds: float,
                 default_running: bool) -> Definitions:
    """The parity slice proper: Torghut's trade_decisions (observable source), parity_backtest
    and tca_report per trading day, ``parity_job``, the new-decisions sensor and the nightly
    schedule (both running by default on a live clock only)."""
    source, parity_backtest, tca_report = build_parity_assets(partitions_def)
    job = define_asset_job(
        PARITY_JOB, selection=AssetSelection.assets(parity_backtest, tca_report),
        description="Replay a day's Torghut decisions through Alpaca and LEAN, then its TCA.")
    return Definitions(
        assets=with_code_references([source, parity_backtest, tca_report]), jobs=[job],
        sensors=[build_parity_sensor(job, partitions_def, settle_seconds=settle_seconds,
                                     default_running=default_running)],
        schedules=[build_parity_schedule(job, partitions_def, default_running=default_running)])
