"""Owns the runner as Torghut's LEAN **backtest upstream**: asynchronous, stored, reproducible
backtests whose ``result`` is what Torghut's LEAN authority expects of an empirical upstream.

Torghut at proompteng/lab 6b69af37 (2026-08-22, ``services/torghut/app/trading/lean_runtime.py``
and ``lean_lanes.py``) sends ``POST {TRADING_LEAN_BACKTEST_UPSTREAM_URL}/submit`` with
``{"lane", "config"}`` and ``X-Correlation-ID``, keeps ``backtest_id``, ``status`` and
``reproducibility_hash`` of the answer, later ``GET {upstream}/{backtest_id}`` and stores
``status``, ``result``, ``result.artifacts``, ``result.replay_hash`` and
``result.deterministic_replay_passed`` (a completed row without both hashes is
``missing_repro_artifacts``, a false replay check ``replay_nondeterministic``). With the upstream
``http://runner/v1/backtests`` these are the runner's ``/v1/backtests/submit`` and
``/v1/backtests/{id}``: the same paths Torghut's February runner (255d330fe) served.

* **Asynchronous**: a submit is validated (plain-words 400s), stored ``queued`` and answered at
  once; one worker thread takes the queue in order (``running``) and stores the result
  (``completed``) or the reason (``failed``). The store (``lean_upstream_store``) is a SQLite file
  under the runner's home, so backtests outlive the runner; one running at a stop is rerun.
* **Bounded**: the config's bounds (``lean_backtests``), at most ``max_pending`` waiting backtests
  (429 beyond), and ``time_limit_seconds`` per run (then ``failed``).
* **Reproducible**: ``reproducibility_hash`` = sha256 of the canonical config; the worker runs
  the config twice, from the files up, and ``replay_hash`` = sha256 of everything a run
  produced (statistics, orders, refusals, models, the sha256 of every LEAN file it read);
  ``deterministic_replay_passed`` is true only when the second run gave the same hash.
* **Authority**: ``artifact_authority`` is ``historical_market_replay`` and
  ``empirically_validated`` only when the fill model is LEAN's and the engine reproduces LEAN's
  published regression statistics on this runner's data (``calibration_inputs``, measured once
  per process), the rerun reproduced the run and an order filled; otherwise ``calibrated``, not
  authoritative, with ``blocking_reason``. ``lineage`` carries what Torghut's empirical-artifact
  check (``app/trading/empirical_jobs.py``) asks of any artifact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from intel_assets.domain.execution_models.compositions import ExecutionModels
from intel_assets.domain.execution_models.fills.lean_equity_fill_model import LeanEquityFillModel
from intel_assets.domain.market_data import LeanDataError, lean_minute_days
from intel_assets.execution.lean_backtests import (
    BacktestConfig,
    BacktestTimeout,
    backtest_id,
    parse_config,
    run_config,
)
from intel_assets.execution.lean_regressions import LEAN_COMMIT, REGRESSIONS
from intel_assets.execution.lean_runner_state import RunnerRequestError
from intel_assets.execution.lean_upstream_store import PENDING, BacktestStore, StoredBacktest

log = logging.getLogger(__name__)

INTEGRATION_MODE = "intel_assets_lean_runner"
LANE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")  # Torghut's lean_backtest_runs.lane: 32 chars


def _sha256(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def dataset_files(lean_dir: Path, config: BacktestConfig) -> dict[str, str]:
    """sha256 of every LEAN file the backtest reads (minute zips of its days, factor and map
    files), by path relative to ``lean_dir``."""
    root = Path(lean_dir)
    assert config.start is not None and config.end is not None
    days = {(config.start + timedelta(days=n)).strftime("%Y%m%d")
            for n in range((config.end - config.start).days + 1)}
    files: dict[str, str] = {}
    for symbol in config.all_symbols():
        low = symbol.lower()
        minute = root / "equity" / "usa" / "minute" / low
        candidates = [p for p in sorted(minute.glob("*.zip")) if p.name[:8] in days]
        candidates += [root / "equity" / "usa" / kind / f"{low}.csv"
                       for kind in ("factor_files", "map_files")]
        for path in candidates:
            if path.is_file():
                with path.open("rb") as handle:
                    files[str(path.relative_to(root))] = hashlib.file_digest(
                        handle, "sha256").hexdigest()
    return files


def check_data(lean_dir: Path, config: BacktestConfig) -> None:
    """A 400 naming the symbol when one has no LEAN minute data in the window."""
    for symbol in config.all_symbols():
        days = lean_minute_days(lean_dir, symbol)
        if not days:
            raise RunnerRequestError(400, "invalid_config", (
                f"unknown symbol {symbol}: this runner has no LEAN minute data for it"))
        assert config.start is not None and config.end is not None
        if not any(config.start <= d <= config.end for d in days):
            raise RunnerRequestError(400, "invalid_config", (
                f"no {symbol} minute data between {config.start} and {config.end}; this "
                f"runner's data covers {min(days)}..{max(days)}"))


@lru_cache(maxsize=4)
def lean_calibration(lean_dir: str) -> dict[str, Any]:
    """The engine against LEAN's published regression statistics on ``lean_dir`` (each
    regression of ``lean_regressions`` replayed in process): status ``validated`` when all match,
    ``mismatch`` when one differs, ``unavailable`` without their data."""
    from intel_assets.execution.lean_replay import replay

    regressions: dict[str, Any] = {}
    status = "validated"
    for name, regression in REGRESSIONS.items():
        try:
            run = replay(name, lean_dir)
        except LeanDataError as exc:
            regressions[name] = {"matches": False, "problem": str(exc)}
            status = "unavailable"
            continue
        regressions[name] = {"matches": not run.mismatches, "mismatches": run.mismatches,
                             "published": regression.published,
                             "lean_file": regression.lean_file}
        if run.mismatches and status == "validated":
            status = "mismatch"
    return {"status": status, "reference": f"QuantConnect/Lean {LEAN_COMMIT} "
            "Algorithm.CSharp ExpectedStatistics", "regressions": regressions}


class BacktestUpstream:
    """The backtests of one runner: validation, the store and the worker (module docstring)."""

    def __init__(self, lean_dir: Path, store: BacktestStore, models: ExecutionModels, *,
                 time_limit_seconds: float = 120.0, max_pending: int = 16) -> None:
        self.lean_dir = Path(lean_dir)
        self.store = store
        self.models = models
        self.time_limit_seconds = time_limit_seconds
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        if store.pending_count():
            self._wake()  # backtests left queued (or running) by a previous runner

    # ---- HTTP side --------------------------------------------------------------------------
    def submit(self, lane: str, raw: dict[str, Any], correlation_id: str,
               base_url: str) -> StoredBacktest:
        if not LANE.match(lane):
            raise RunnerRequestError(400, "invalid_lane", (
                f"lane must be 1-32 lower-case letters, digits, '_' or '-' (Torghut sends "
                f"research_backtest or shadow_replay), not {lane!r}"))
        bt_id, digest = backtest_id(lane, raw)
        known = self.store.get(bt_id)
        if known is not None and known.status == "failed":
            self._refuse_when_full()
            known = self.store.retry(bt_id, correlation_id) or self.store.get(bt_id)
            self._wake()  # a failure is not final: the same config submitted again runs again
        if known is not None:
            return known
        try:
            config = parse_config(raw)
        except ValueError as exc:
            raise RunnerRequestError(400, "invalid_config", str(exc)) from exc
        assert isinstance(config, BacktestConfig)
        check_data(self.lean_dir, config)
        self._refuse_when_full()
        stored, _ = self.store.add(bt_id, lane, digest, raw, correlation_id, base_url)
        self._wake()
        return stored

    def _refuse_when_full(self) -> None:
        """429 when max_pending backtests already wait: before a new one, or a failed one again."""
        if self.store.pending_count() >= self.max_pending:
            raise RunnerRequestError(429, "busy", (
                f"{self.max_pending} backtests are already waiting at this runner; submit "
                "again once one has completed"))

    def record(self, backtest: StoredBacktest) -> dict[str, Any]:
        """``GET /v1/backtests/{id}``: Torghut's fields plus when and why. Reading a pending
        backtest makes sure a worker runs the queue."""
        if backtest.status in PENDING:
            self._wake()
        return {"backtest_id": backtest.backtest_id, "lane": backtest.lane,
                "status": backtest.status,
                "reproducibility_hash": backtest.reproducibility_hash,
                "result": backtest.result, "error": backtest.error,
                "submitted_at": backtest.submitted_at, "started_at": backtest.started_at,
                "finished_at": backtest.finished_at}

    # ---- worker -----------------------------------------------------------------------------
    def _wake(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, daemon=True,
                                                name="lean-backtests")
                self._worker.start()

    def _work(self) -> None:
        """Run the queue until it is empty. A backtest that raises is failed with the reason;
        if the store itself fails (claim or finish), the worker logs it and exits cleanly, so
        the next submit (or read of a pending backtest) starts a new one: never a dead worker
        that leaves the queue stuck."""
        try:
            while True:
                with self._lock:  # an empty queue and the worker's exit are one step
                    job = self.store.claim_next()
                    if job is None:
                        self._worker = None
                        return
                try:
                    result, error = self.run(job), None
                except (BacktestTimeout, LeanDataError, ValueError) as exc:
                    result, error = None, f"{type(exc).__name__}: {exc}"
                except Exception as exc:  # noqa: BLE001 - a failed backtest, never a dead worker
                    result, error = None, f"internal {type(exc).__name__}: {exc}"
                self.store.finish(job.backtest_id, result, error)
        except Exception:  # noqa: BLE001 - the store failed: log, exit, restart on next call
            log.exception("LEAN backtest worker stopped on a store error; the next request "
                          "restarts it")
        finally:
            with self._lock:
                if self._worker is threading.current_thread():
                    self._worker = None

    def run(self, job: StoredBacktest) -> dict[str, Any]:
        """The config run twice, compared, and answered in Torghut's result shape."""
        config = parse_config(job.config)
        assert isinstance(config, BacktestConfig)
        deadline = time.monotonic() + self.time_limit_seconds
        runs, hashes, seconds = [], [], []
        for _ in range(2):  # the second run is the reproducibility check, from the files up
            started = time.perf_counter()
            result = run_config(self.lean_dir, config, self.models, deadline)
            files = dataset_files(self.lean_dir, config)
            runs.append((result, files))
            hashes.append(_sha256({"result": result, "files": files}))
            seconds.append(round(time.perf_counter() - started, 3))
        (result, files), replay_hash = runs[0], hashes[0]
        reproduced = hashes[0] == hashes[1]
        return self._torghut_result(job, config, result, files, replay_hash, reproduced,
                                    {"runs": 2, "replay_hashes": hashes,
                                     "elapsed_seconds": seconds})

    def _torghut_result(self, job: StoredBacktest, config: BacktestConfig,
                        result: dict[str, Any], files: dict[str, str], replay_hash: str,
                        reproduced: bool, replay: dict[str, Any]) -> dict[str, Any]:
        models = config.models(self.models)
        lean_fill = type(models.fill) is LeanEquityFillModel  # a subclass has other rules
        calibration = lean_calibration(str(self.lean_dir)) if lean_fill else {
            "status": "not_applicable",
            "reason": f"fill model {type(models.fill).__name__} is not LEAN's EquityFillModel, "
                      "which the LEAN regressions validate"}
        blocking = None
        if not reproduced:
            blocking = "replay_nondeterministic"
        elif calibration["status"] != "validated":
            blocking = f"lean_calibration_{calibration['status']}"
        elif result["summary"]["trade_count"] == 0:
            blocking = "no_filled_orders"
        eligible = blocking is None
        dataset_ref = f"lean-data:sha256:{_sha256(files)}"
        base = (job.base_url or "").rstrip("/")
        report = f"{base}/v1/backtests/{job.backtest_id}"
        names = {"fill": type(models.fill).__name__, "fee": type(models.fee).__name__,
                 "slippage": type(models.slippage).__name__}
        return {
            **result,
            "integration_mode": INTEGRATION_MODE,
            "authority_mode": job.lane,
            "promotion_authority_eligible": eligible,
            "blocking_reason": blocking,
            "execution_assumptions": {
                "mode": job.lane, "venue": "lean_backtesting_brokerage",
                "partial_fill_model": "none: LEAN EquityFillModel fills the whole quantity",
                "fill_model": names["fill"], "fee_model": names["fee"],
                "slippage_model": names["slippage"], "normalization": config.normalization,
                "moc_buffer_minutes": config.moc_buffer_minutes, "cash": config.cash},
            "calibration_inputs": calibration,
            "artifacts": {
                "report_uri": report, "trades_uri": f"{report}#result.orders",
                "replay_dataset_ref": dataset_ref, "replay_dataset_files": files,
                "fees_model_ref": f"fees/{names['fee']}",
                "spread_model_ref": "spread/lean-quote-bars (bid/ask closes of the data)",
                "slippage_model_ref": f"slippage/{names['slippage']}"},
            "replay_hash": replay_hash,
            "deterministic_replay_passed": reproduced,
            "replay": replay,
            "lineage": {"job_run_id": job.backtest_id, "dataset_snapshot_ref": dataset_ref,
                        "correlation_id": job.correlation_id,
                        "runtime_version_refs": [f"intel-assets-lean-runner/{INTEGRATION_MODE}",
                                                 f"QuantConnect/Lean@{LEAN_COMMIT}"],
                        "model_refs": [f"fill/{names['fill']}", f"fees/{names['fee']}",
                                       f"slippage/{names['slippage']}"]},
            "artifact_authority": {
                "provenance": "historical_market_replay",
                "maturity": "empirically_validated" if eligible else "calibrated",
                "authoritative": eligible, "placeholder": False,
                "notes": (f"LEAN-semantics replay of {len(config.intents)} intents on LEAN "
                          f"minute data {config.start}..{config.end}, run twice "
                          f"({'same' if reproduced else 'different'} replay hash); engine "
                          f"calibration against LEAN's regressions: {calibration['status']}"
                          + ("" if eligible else f"; blocked: {blocking}"))},
        }


__all__ = ["BacktestUpstream", "INTEGRATION_MODE", "check_data", "dataset_files",
           "lean_calibration"]
