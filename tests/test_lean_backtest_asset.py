"""lean_backtest_evidence: a LEAN-week backtest submitted from Dagster to the real runner's
backtest upstream (in the background, as tests/test_lean_upstream.py runs it) materializes
LEAN-exact, reproducible evidence; an unreachable runner, a refused config and a failed backtest
fail the step in plain words. Statistics are LEAN's published ExpectedStatistics
(lean_regressions.REGRESSIONS), never restated here."""

from __future__ import annotations

import hashlib
import json
import re
import socket

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, materialize
from lean_week import week_config

from intel_assets.assets.lean_backtest import LEAN_BACKTEST_ASSET, build_lean_backtest_asset
from intel_assets.assets.parity import PARITY_GROUP
from intel_assets.execution.lean_regressions import REGRESSIONS
from intel_assets.devtools.lean_runner import lean_runner_in_background
from intel_assets.jobs import LEAN_BACKTEST_JOB
from intel_assets.parity_definitions import build_parity_definitions
from intel_assets.resources.execution_venue import ExecutionVenueResource

ASSET = build_lean_backtest_asset()


def _run_config(config: dict, **extra) -> dict:
    return {"ops": {LEAN_BACKTEST_ASSET: {"config": {"backtest": config, **extra}}}}


def _materialize(url: str, config: dict, **extra):
    return materialize([ASSET], instance=DagsterInstance.ephemeral(), raise_on_error=False,
                       resources={"lean_execution": ExecutionVenueResource(kind="lean",
                                                                           base_url=url)},
                       run_config=_run_config(config, **extra))


def _metadata(result) -> dict:
    [materialization] = result.asset_materializations_for_node(LEAN_BACKTEST_ASSET)
    return {name: value.value for name, value in materialization.metadata.items()}


def _failure(result) -> str:
    assert not result.success
    [event] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    return event.step_failure_data.error.message


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_lean_week_backtest_materializes_lean_exact_reproducible_evidence(lean_dir, tmp_path):
    config = week_config("time-in-force")
    published = REGRESSIONS["time-in-force"].published
    with lean_runner_in_background(lean_dir, store_path=tmp_path / "backtests.sqlite3") as url:
        result = _materialize(url, config)
        assert result.success, _failure(result)
        meta = _metadata(result)
        again = _metadata(_materialize(url, config))  # same lane + config: the same backtest

    # LEAN's published statistics of TimeInForceAlgorithm (6 orders, $3.00, 100,070.41)
    assert meta["total_orders"] == int(published["Total Orders"])
    assert meta["total_fees"] == pytest.approx(float(published["Total Fees"].lstrip("$")))
    assert meta["end_equity"] == pytest.approx(float(published["End Equity"]))
    assert meta["start_equity"] == 100_000
    assert meta["net_pnl"] == pytest.approx(float(published["End Equity"]) - 100_000, abs=0.005)
    assert meta["gross_pnl"] - meta["net_pnl"] == pytest.approx(meta["total_fees"], abs=0.005)
    assert 0 < meta["trade_count"] <= meta["total_orders"]
    assert meta["statistics"]["End Equity"] == published["End Equity"]

    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    assert meta["reproducibility_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", meta["replay_hash"])
    assert meta["deterministic_replay_passed"] is True
    assert (meta["status"], meta["lane"]) == ("completed", "research_backtest")
    assert (meta["provenance"], meta["maturity"]) == ("historical_market_replay",
                                                      "empirically_validated")
    assert meta["promotion_authority_eligible"] is True and meta["authoritative"] is True
    assert meta["placeholder"] is False and meta["blocking_reason"] == "none"
    assert meta["calibration_status"] == "validated"
    assert meta["window"] == "2013-10-07..2013-10-11"
    assert meta["report_uri"] == f"{url}/v1/backtests/{meta['backtest_id']}"
    assert meta["replay_dataset_ref"].startswith("lean-data:sha256:")
    for name in ("backtest_id", "reproducibility_hash", "replay_hash", "end_equity"):
        assert again[name] == meta[name], name


def test_the_parity_slice_holds_the_asset_and_fails_it_plainly_without_a_runner(lean_dir):
    url = _closed_port_url()
    defs = build_parity_definitions(
        torghut_db_dsn="postgresql://torghut@127.0.0.1:1/torghut", lean_runner_url=url,
        alpaca_url=url, lean_data_dir=lean_dir, holidays=frozenset(), default_running=False)
    node = defs.resolve_asset_graph().get(AssetKey(LEAN_BACKTEST_ASSET))
    assert node.group_name == PARITY_GROUP
    assert defs.resolve_asset_graph().get(AssetKey("tca_report")).group_name == PARITY_GROUP
    job = defs.resolve_job_def(LEAN_BACKTEST_JOB)
    result = job.execute_in_process(run_config=_run_config(week_config("time-in-force")),
                                    instance=DagsterInstance.ephemeral(), raise_on_error=False)
    message = _failure(result)
    assert f"LEAN runner at {url} is unreachable" in message
    assert "start it with `intel-assets lean-runner`" in message


def test_a_refused_config_and_a_failed_backtest_fail_the_step_in_plain_words(lean_dir, tmp_path):
    with lean_runner_in_background(lean_dir, store_path=tmp_path / "s.sqlite3",
                                   backtest_time_limit=0.0) as url:
        refused = _failure(_materialize(url, {"intents": []}))
        assert "refused the backtest (HTTP 400)" in refused
        assert "intents: List should have at least 1 item" in refused
        bad_lane = _failure(_materialize(url, week_config("time-in-force"),
                                         lane="Research Backtest!"))
        assert "(HTTP 400)" in bad_lane and "lane must be" in bad_lane
        failed = _failure(_materialize(url, week_config("time-in-force")))  # a zero time limit
        assert re.search(r"backtest [0-9a-f]{20} is failed: BacktestTimeout: .*past its time "
                         r"limit", failed), failed
