"""Owns lean_backtest_evidence: a backtest submitted to the LEAN runner's backtest upstream (the
one Torghut's LEAN authority calls, lean_upstream.py) from Dagster, so its evidence sits in
lineage beside parity_backtest and tca_report (group execution_parity).

The backtest is run config, not a default: the runner's config carries its intents inline
(lean_backtests.py), and nothing here is a backtest that would be evidence without being chosen
(the parity decisions live per day in Torghut's database; a fixed LEAN regression week would
only be a test). The asset submits ``{lane, config}`` through ``lean_execution`` (the parity
slice's LEAN runner), waits for it within ``max_wait_seconds`` and materializes the record's
figures; the same lane and config is the same backtest at the runner, so a rematerialization
reads it back rather than running it again.
"""

from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetSelection,
    Config,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
)
from pydantic import Field

from intel_assets.assets.common import with_code_references
from intel_assets.assets.parity import PARITY_GROUP
from intel_assets.jobs import LEAN_BACKTEST_JOB
from intel_assets.contracts.execution_errors import OrderRequestError, RunnerUnavailableError
from intel_assets.execution.lean_adapter import LeanAdapter
from intel_assets.execution.lean_backtest_evidence import BacktestRecordError, backtest_evidence
from intel_assets.resources.execution_venue import ExecutionVenueResource

LEAN_BACKTEST_ASSET = "lean_backtest_evidence"
#: figures shown as numbers (the asset's Plots tab), the rest as text or booleans
_FLOATS = ("gross_pnl", "net_pnl", "max_drawdown", "total_fees", "start_equity", "end_equity")
_INTS = ("total_orders", "trade_count", "rejected_intents")
_BOOLS = ("deterministic_replay_passed", "promotion_authority_eligible", "authoritative",
          "placeholder")
_TEXTS = ("backtest_id", "lane", "status", "reproducibility_hash", "replay_hash",
          "blocking_reason", "provenance", "maturity", "calibration_status", "window",
          "replay_dataset_ref")


class LeanBacktestConfig(Config):
    """Run config of lean_backtest_evidence."""

    backtest: dict[str, Any] = Field(
        description="the runner's backtest config (README 'Torghut's LEAN upstreams'; "
        "lean_backtests.py): cash, start, end, symbols, normalization, fill_model, fee_model, "
        "moc_buffer_minutes and intents inline (a POST /v1/orders/submit body plus 'at'); the "
        "runner refuses a bad one in plain words")
    lane: str = Field(default="research_backtest", description="Torghut's lane name (1-32 "
                      "lower-case letters, digits, '_' or '-')")
    max_wait_seconds: float = Field(default=600.0, gt=0, description="how long to wait for "
                                    "the backtest to complete (the runner stops a run after "
                                    "its own time limit, 120 s by default)")


def evidence_metadata(evidence: dict[str, Any]) -> dict[str, MetadataValue]:
    """The evidence figures as typed Dagster metadata under stable names."""
    metadata: dict[str, MetadataValue] = {
        **{name: MetadataValue.float(evidence[name]) for name in _FLOATS},
        **{name: MetadataValue.int(evidence[name]) for name in _INTS},
        **{name: MetadataValue.bool(evidence[name]) for name in _BOOLS},
        **{name: MetadataValue.text(evidence[name]) for name in _TEXTS},
        "statistics": MetadataValue.json(evidence["statistics"]),
    }
    if evidence["report_uri"]:
        metadata["report_uri"] = MetadataValue.url(evidence["report_uri"])
    return metadata


def build_lean_backtest_asset():
    """The lean_backtest_evidence asset (unpartitioned; resource ``lean_execution``)."""

    @asset(
        name=LEAN_BACKTEST_ASSET,
        group_name=PARITY_GROUP,
        owners=["team:execution-parity"], tags={"domain": "lean_backtest", "layer": "evidence"},
        kinds={"python"},
        description="A backtest (run config: lane and the runner's config with its intents "
        "inline) submitted to the LEAN runner's backtest upstream exactly as Torghut's LEAN "
        "authority submits it, polled to its end: backtest id, reproducibility and replay "
        "hashes, whether the rerun reproduced it, the artifact authority (provenance, maturity, "
        "promotion eligibility) and the summary (orders, fills, P&L, fees, end equity) as "
        "metadata. Fails when the runner is unreachable, refuses the config or the backtest "
        "fails.",
    )
    def lean_backtest_evidence(context: AssetExecutionContext, config: LeanBacktestConfig,
                               lean_execution: ExecutionVenueResource) -> MaterializeResult:
        if lean_execution.kind != "lean":
            raise Failure(f"lean_execution is a {lean_execution.kind} venue at "
                          f"{lean_execution.base_url}; backtests need a LEAN runner",
                          allow_retries=False)
        adapter = lean_execution.adapter()
        assert isinstance(adapter, LeanAdapter)
        try:
            record = adapter.run_backtest(config.lane, config.backtest,
                                          max_wait_seconds=config.max_wait_seconds)
        except RunnerUnavailableError as exc:
            raise Failure(str(exc)) from None
        except OrderRequestError as exc:
            raise Failure(f"the LEAN runner at {adapter.base_url} refused the backtest (HTTP "
                          f"{exc.status_code}): {exc.reason}", allow_retries=False) from None
        finally:
            adapter.close()
        try:
            evidence = backtest_evidence(record)
        except BacktestRecordError as exc:
            raise Failure(f"LEAN runner at {adapter.base_url}: {exc}",
                          allow_retries=False) from None
        if not evidence["promotion_authority_eligible"]:
            context.log.warning(f"backtest {evidence['backtest_id']} completed but is not "
                                f"promotion evidence: {evidence['blocking_reason']}")
        return MaterializeResult(metadata=evidence_metadata(evidence))

    return lean_backtest_evidence


__all__ = ["LEAN_BACKTEST_ASSET", "LeanBacktestConfig", "build_lean_backtest_asset",
           "evidence_metadata"]


def lean_backtest_definitions() -> Definitions:
    """lean_backtest_evidence and ``lean_backtest_job`` (a backtest given as run config)."""
    evidence = build_lean_backtest_asset()
    job = define_asset_job(
        LEAN_BACKTEST_JOB, selection=AssetSelection.assets(evidence),
        description="Submit a backtest (run config) to the LEAN runner's backtest upstream.")
    return Definitions(assets=with_code_references([evidence]), jobs=[job])
