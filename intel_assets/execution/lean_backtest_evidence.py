"""Owns the reading of a LEAN runner backtest record (``GET /v1/backtests/{id}``, see
lean_upstream.py) as flat evidence figures: the ids and hashes, the reproducibility check, the
artifact authority and the summary (orders, fills, P&L, fees, end equity), as the
lean_backtest_evidence asset shows them. No Dagster here.
"""

from __future__ import annotations

from typing import Any

class BacktestRecordError(ValueError):
    """A record that is not a completed backtest in the runner's result shape; the message says
    what is missing."""


def _number(text: Any) -> float:
    """A LEAN statistic (``$3.00``, ``100070.41``, ``1,234.5``) as a float."""
    return float(str(text).strip().lstrip("$").replace(",", ""))


def backtest_evidence(record: dict[str, Any]) -> dict[str, Any]:
    """The figures of a completed backtest record (``status`` completed and a ``result`` in the
    runner's shape); BacktestRecordError otherwise, with the runner's error for a failed one."""
    status = record.get("status")
    if status != "completed":
        raise BacktestRecordError(f"backtest {record.get('backtest_id')} is {status}: "
                                  f"{record.get('error') or 'no reason given'}")
    result = record.get("result")
    if not isinstance(result, dict):
        raise BacktestRecordError(f"backtest {record.get('backtest_id')} is completed without "
                                  "a result")
    try:
        summary, stats = result["summary"], result["statistics"]
        authority = result["artifact_authority"]
        evidence = {
            "backtest_id": str(record["backtest_id"]), "lane": str(record.get("lane") or ""),
            "status": status, "reproducibility_hash": str(record["reproducibility_hash"]),
            "replay_hash": str(result["replay_hash"]),
            "deterministic_replay_passed": bool(result["deterministic_replay_passed"]),
            "promotion_authority_eligible": bool(result["promotion_authority_eligible"]),
            "blocking_reason": result.get("blocking_reason") or "none",
            "provenance": str(authority["provenance"]), "maturity": str(authority["maturity"]),
            "authoritative": bool(authority["authoritative"]),
            "placeholder": bool(authority["placeholder"]),
            "total_orders": int(_number(stats["Total Orders"])),
            "trade_count": int(summary["trade_count"]),
            "rejected_intents": len(result.get("rejected") or []),
            "gross_pnl": float(summary["gross_pnl"]), "net_pnl": float(summary["net_pnl"]),
            "max_drawdown": float(summary["max_drawdown"]),
            "total_fees": _number(stats["Total Fees"]),
            "start_equity": _number(stats["Start Equity"]),
            "end_equity": _number(stats["End Equity"]),
            "calibration_status": str((result.get("calibration_inputs") or {}).get("status")
                                      or "unknown"),
            "report_uri": str((result.get("artifacts") or {}).get("report_uri") or ""),
            "replay_dataset_ref": str((result.get("artifacts") or {}).get("replay_dataset_ref")
                                      or ""),
            "statistics": dict(stats),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise BacktestRecordError(f"backtest {record.get('backtest_id')}: the result is not in "
                                  f"the runner's shape ({type(exc).__name__}: {exc})") from exc
    days = (result.get("engine") or {}).get("days") or []
    evidence["window"] = f"{days[0]}..{days[-1]}" if days else "unknown"
    return evidence


__all__ = ["BacktestRecordError", "backtest_evidence"]
