"""Owns a test client that behaves as Torghut's LEAN authority with both LEAN upstreams set: our
own restatement (none of its code) of proompteng/lab 6b69af37f6584d49c0e3267dd99678f3ba0925c5
``services/torghut/app/trading/lean_runtime.py`` (``_normalize_backtest_lane``,
``_proxy_json_request``, ``submit_backtest``, ``get_backtest``, ``evaluate_strategy_shadow``),
``app/trading/lean_lanes.py`` (``LeanLaneManager``'s rows and ``_derive_backtest_failure_taxonomy``),
``app/trading/scheduler/pipeline/runtime_gates.py`` (the shadow intent) and
``app/trading/empirical_jobs.py`` (``empirical_artifact_truthfulness_reasons``). See
tests/test_lean_upstream.py for what each call restates.
"""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen


class TorghutLeanAuthority:
    """Torghut's lean_runtime with both upstream settings set (restated, module docstring)."""

    def __init__(self, backtest_upstream: str, shadow_upstream: str) -> None:
        self.backtest_upstream = backtest_upstream.strip()
        self.shadow_upstream = shadow_upstream.strip()
        self.filled_in_authority = False
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    @staticmethod
    def normalize_lane(value: str) -> str:
        lane = value.strip().lower().replace("-", "_")
        aliases = {"research": "research_backtest", "shadow": "shadow_replay"}
        return aliases.get(lane, lane or "research_backtest")

    def _proxy(self, method: str, url: str, payload: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
        sent = dict(headers or {})
        data = None
        if payload is not None:
            data = json.dumps(payload, separators=(",", ":")).encode()
            sent["content-type"] = "application/json"
        self.sent.append((method, url, sent))
        try:
            with urlopen(Request(url, data=data, headers=sent, method=method),
                         timeout=10) as response:
                text = response.read().decode()
        except HTTPError as exc:
            raise RuntimeError(f"lean_upstream_http_{exc.code}:"
                               f"{exc.read().decode(errors='ignore')[:200]}") from exc
        except URLError as exc:
            raise RuntimeError(f"lean_upstream_network_error:{exc.reason}") from exc
        if not text:
            return {}
        decoded = json.loads(text)
        if not isinstance(decoded, dict):
            raise RuntimeError("lean_upstream_invalid_payload")
        return decoded

    def submit_backtest(self, lane: str, config: dict[str, Any],
                        correlation_id: str) -> dict[str, Any]:
        return self._proxy("POST", f"{self.backtest_upstream.rstrip('/')}/submit",
                           {"lane": self.normalize_lane(lane), "config": dict(config)},
                           {"accept": "application/json", "X-Correlation-ID": correlation_id})

    def get_backtest(self, backtest_id: str) -> dict[str, Any]:
        payload = self._proxy("GET", f"{self.backtest_upstream.rstrip('/')}/{backtest_id}",
                              headers={"accept": "application/json"})
        result = payload.get("result")
        if isinstance(result, dict) and "artifact_authority" not in result:
            self.filled_in_authority = True  # Torghut would vouch for it itself
            result["artifact_authority"] = {"provenance": "historical_market_replay",
                                            "maturity": "empirically_validated",
                                            "authoritative": True, "placeholder": False}
        return payload

    def evaluate_strategy_shadow(self, strategy_id: str, symbol: str, intent: dict[str, Any],
                                 correlation_id: str) -> dict[str, Any]:
        return self._proxy("POST", self.shadow_upstream.rstrip("/"),
                           {"strategy_id": strategy_id, "symbol": symbol, "intent": dict(intent)},
                           {"accept": "application/json", "X-Correlation-ID": correlation_id})


class TorghutLaneLedger:
    """LeanLaneManager's rows (lean_backtest_runs, lean_strategy_shadow_evaluations) as dicts."""

    def __init__(self, authority: TorghutLeanAuthority) -> None:
        self.authority = authority
        self.backtests: dict[str, dict[str, Any]] = {}
        self.shadows: dict[str, dict[str, Any]] = {}

    def submit_backtest(self, config: dict[str, Any], lane: str) -> dict[str, Any]:
        payload = self.authority.submit_backtest(lane, config, f"torghut-{uuid.uuid4().hex[:20]}")
        backtest_id = str(payload.get("backtest_id") or "").strip()
        if not backtest_id:
            raise RuntimeError("lean_backtest_submit_invalid_response")
        row = self.backtests.setdefault(backtest_id, {"backtest_id": backtest_id, "lane": lane})
        row.update(status=str(payload.get("status") or "queued"), config_json=dict(config),
                   reproducibility_hash=str(payload.get("reproducibility_hash") or "") or None)
        return row

    def refresh_backtest(self, backtest_id: str) -> dict[str, Any]:
        row = self.backtests[backtest_id]
        payload = self.authority.get_backtest(backtest_id)
        previous = row["status"]
        row["status"] = str(payload.get("status") or row["status"])
        result = payload.get("result")
        if isinstance(result, dict):
            row["result_json"] = result
            row["artifacts_json"] = dict(result.get("artifacts") or {})
            if str(result.get("replay_hash") or "").strip():
                row["replay_hash"] = str(result["replay_hash"]).strip()
            if isinstance(result.get("deterministic_replay_passed"), bool):
                row["deterministic_replay_passed"] = result["deterministic_replay_passed"]
        row["failure_taxonomy"] = self._taxonomy(row)
        if row["status"] == "completed" and (previous != "completed" or not row.get("done")):
            row["done"] = True
        return row

    @staticmethod
    def _taxonomy(row: dict[str, Any]) -> str | None:
        if row["status"] in ("queued", "running"):
            return None
        if row["status"] != "completed":
            return "backtest_failed"
        if row.get("deterministic_replay_passed") is False:
            return "replay_nondeterministic"
        if row.get("reproducibility_hash") and row.get("replay_hash"):
            return None
        return "missing_repro_artifacts"

    def shadow_decision(self, strategy_id: str, symbol: str, action: str, qty: Decimal,
                        order_type: str, time_in_force: str,
                        **ours: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """runtime_gates' intent (``ours``: fields Torghut's intent does not carry)."""
        intent = {"action": action, "qty": str(qty), "order_type": order_type,
                  "time_in_force": time_in_force, **ours}
        shadow = self.authority.evaluate_strategy_shadow(
            strategy_id, symbol, intent, f"torghut-shadow-{uuid.uuid4().hex[:18]}")
        run_id = str(shadow.get("run_id") or "").strip()
        assert run_id, "without a run_id Torghut would hash the intent itself"
        row = {"run_id": run_id, "strategy_id": strategy_id, "symbol": symbol,
               "parity_status": str(shadow.get("parity_status") or "unknown"),
               "governance_json": dict(shadow.get("governance") or {}), "shadow_json": shadow}
        self.shadows[run_id] = row
        return row, shadow


def truthfulness_problems(payload: dict[str, Any]) -> list[str]:
    """empirical_artifact_truthfulness_reasons at Torghut's head, restated."""
    problems = []
    authority = payload.get("artifact_authority") or {}
    if authority.get("provenance") not in ("historical_market_replay", "paper_runtime_observed",
                                           "live_runtime_observed"):
        problems.append("artifact_authority_provenance_invalid")
    if authority.get("maturity") != "empirically_validated":
        problems.append("artifact_authority_maturity_invalid")
    if not authority.get("authoritative", False):
        problems.append("artifact_authority_not_authoritative")
    if authority.get("placeholder", False):
        problems.append("artifact_authority_placeholder")
    if not payload.get("promotion_authority_eligible", False):
        problems.append("promotion_authority_ineligible")
    lineage = payload.get("lineage") or {}
    for key in ("dataset_snapshot_ref", "job_run_id"):
        if not str(lineage.get(key) or "").strip():
            problems.append(f"lineage_{key}_missing")
    for key in ("runtime_version_refs", "model_refs"):
        if not [str(v) for v in lineage.get(key) or [] if str(v).strip()]:
            problems.append(f"lineage_{key}_missing")
    return problems


def settle(ledger: TorghutLaneLedger, backtest_id: str, timeout: float = 60) -> list[str]:
    """Refresh as Torghut's lanes do until the backtest leaves queued/running; the statuses."""
    seen = [ledger.backtests[backtest_id]["status"]]
    deadline = time.monotonic() + timeout
    while ledger.backtests[backtest_id]["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"still {seen[-1]} after {timeout} s"
        time.sleep(0.05)
        status = ledger.refresh_backtest(backtest_id)["status"]
        if status != seen[-1]:
            seen.append(status)
    return seen
