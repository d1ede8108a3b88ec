"""Owns the names of every job and the run tags the CLI, sensors and tests refer to. Importing
this module builds nothing: the jobs themselves are defined by the slices (definitions.py)."""

from intel_assets.dagster_internals import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from intel_assets.run_limits import MAX_RUNTIME_TAG

# ---- market context ------------------------------------------------------------------------
#: Refreshes every domain and publishes (demo, backfills, the UI's "materialize all").
REFRESH_JOB = "refresh_market_context"
#: Technicals and regime of a symbol range, then republish (the per-symbol freshness sensor).
REFRESH_TECHNICALS_JOB = "refresh_technicals"
#: News of a symbol range, then republish.
REFRESH_NEWS_JOB = "refresh_news"
#: SEC fundamentals of a symbol range, then republish.
REFRESH_FUNDAMENTALS_JOB = "refresh_fundamentals"

# ---- execution parity and rollout ----------------------------------------------------------
PARITY_JOB = "parity_job"
GUARDRAIL_JOB = "guardrail_daily_job"
ROLLOUT_GATE_JOB = "rollout_gate_job"
CANARY_SLO_JOB = "canary_slo_job"
LEAN_BACKTEST_JOB = "lean_backtest_job"

# ---- run tags ------------------------------------------------------------------------------
#: First and last partition key of a single-run backfill over a partition range.
PARTITION_RANGE_START_TAG = ASSET_PARTITION_RANGE_START_TAG
PARTITION_RANGE_END_TAG = ASSET_PARTITION_RANGE_END_TAG

__all__ = ["CANARY_SLO_JOB", "GUARDRAIL_JOB", "LEAN_BACKTEST_JOB", "MAX_RUNTIME_TAG", "PARITY_JOB",
           "PARTITION_RANGE_END_TAG", "PARTITION_RANGE_START_TAG", "REFRESH_FUNDAMENTALS_JOB",
           "REFRESH_JOB", "REFRESH_NEWS_JOB", "REFRESH_TECHNICALS_JOB", "ROLLOUT_GATE_JOB"]
