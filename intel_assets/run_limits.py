"""Owns the time limits of runs, derived from the freshness budgets: each refresh job's max
runtime, the settings of Dagster's run monitoring and the providers' per-run budgets (pure: no
Dagster import; definitions.py tags the jobs with them, the CLI writes them into dagster.yaml).

Derivation (defaults in brackets: technicals budget 60 s, INTEL_MAX_STALENESS_SECONDS 300 s):

* Run overhead H = max(max staleness, 2 x technicals budget) [300 s]: loading the code location,
  reading ClickHouse and Dagster's own event writes (benchmark P1: 112 s for a 500-symbol universe
  on SQLite storage). H is the staleness Torghut tolerates: a technicals refresh still running
  after H can only publish context Torghut already calls stale, while it holds the ClickHouse
  pool; ending it lets a fresh one start.
* Each provider's per-run wall-clock budget (enforced by intel_assets.bounded_http): news
  NEWS_RUN_SECONDS [60 s: a fifth of the 5-min news budget], SEC EDGAR EDGAR_RUN_SECONDS
  [900 s: 500 symbols x 3 documents at SEC's 10 requests/s need >= 150 s].
* Max runtime of a refresh job = H + the run budgets of the providers it calls:
  refresh_technicals 300 s, refresh_news 360 s, refresh_fundamentals 1,200 s,
  refresh_market_context 1,260 s (Dagster's ``dagster/max_runtime`` job tag).
* Monitoring poll interval = technicals budget / 4 [15 s]: a dead run worker holding the
  ClickHouse pool is found within a quarter of the technicals budget.
* Start timeout = cancel timeout = 2 x technicals budget [120 s]: a worker starts in ~5 s
  (code location load); one not started in two technicals budgets is not going to.
* Backstop max runtime for runs without the tag (ad-hoc UI materializations, parity):
  BACKSTOP_SECONDS [2 h], above the longest bounded run (a parity day: two venues with
  30-minute run budgets each).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

#: Per-run wall-clock budgets of the market-context providers (the resources' defaults).
NEWS_RUN_SECONDS = 60.0
EDGAR_RUN_SECONDS = 900.0
BACKSTOP_SECONDS = 7200
#: Dagster's per-run max runtime tag (read by its run monitoring).
MAX_RUNTIME_TAG = "dagster/max_runtime"
#: The concurrency pool of every step that opens ClickHouse (chdb: one process per data path).
CLICKHOUSE_POOL = "clickhouse"

_PROVIDER_RUN_SECONDS = {"news": NEWS_RUN_SECONDS, "fundamentals": EDGAR_RUN_SECONDS}
#: A healthy refresh run's length without provider calls, launch included: benchmark P5 at 500
#: symbols measured run p50 6.3 s + launch 2.2 s (spacing p95 19.8 s); 15 s leaves room.
BASE_RUN_SECONDS = 15.0


def expected_run_seconds(domain: str) -> float:
    """The length of a healthy refresh run of ``domain`` the refresh cadence plans for
    (domain/refresh_cadence.py): the base run plus the provider's per-run budget (bounded)."""
    return BASE_RUN_SECONDS + _PROVIDER_RUN_SECONDS.get(domain, 0.0)


@dataclass(frozen=True)
class RunLimits:
    overhead_seconds: int
    poll_interval_seconds: int
    start_timeout_seconds: int
    cancel_timeout_seconds: int
    backstop_seconds: int
    provider_run_seconds: dict[str, float]

    def max_runtime_seconds(self, domains: Iterable[str]) -> int:
        """The max runtime of a run refreshing ``domains`` (and publishing them)."""
        return self.overhead_seconds + math.ceil(
            sum(self.provider_run_seconds.get(d, 0.0) for d in set(domains)))

    def monitoring(self) -> dict[str, int | bool]:
        """dagster.yaml's ``run_monitoring`` section. Resume is off: Dagster's local launcher
        cannot resume a run, and a freshness sensor re-requests whatever a failed refresh left
        stale on its next tick, from scratch and at the current clock."""
        return {"enabled": True, "start_timeout_seconds": self.start_timeout_seconds,
                "cancel_timeout_seconds": self.cancel_timeout_seconds,
                "max_runtime_seconds": self.backstop_seconds, "max_resume_run_attempts": 0,
                "poll_interval_seconds": self.poll_interval_seconds}


def run_limits(technicals_budget_seconds: float = 60.0, max_staleness_seconds: float = 300.0,
               provider_run_seconds: dict[str, float] | None = None) -> RunLimits:
    """The limits for these budgets (see the module doc for each derivation)."""
    for name, value in (("technicals budget", technicals_budget_seconds),
                        ("max staleness", max_staleness_seconds)):
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    overhead = math.ceil(max(max_staleness_seconds, 2 * technicals_budget_seconds))
    start = math.ceil(2 * technicals_budget_seconds)
    return RunLimits(
        overhead_seconds=overhead,
        poll_interval_seconds=max(5, math.floor(technicals_budget_seconds / 4)),
        start_timeout_seconds=start, cancel_timeout_seconds=start,
        backstop_seconds=BACKSTOP_SECONDS,
        provider_run_seconds=dict(provider_run_seconds or _PROVIDER_RUN_SECONDS),
    )


def monitoring_yaml(limits: RunLimits) -> str:
    """The ``run_monitoring:`` block of a dagster.yaml, with one comment line per value."""
    values = limits.monitoring()
    why = {
        "start_timeout_seconds": "2 x technicals budget",
        "cancel_timeout_seconds": "2 x technicals budget",
        "max_runtime_seconds": "backstop for runs without a dagster/max_runtime tag",
        "max_resume_run_attempts": "fail, never resume: the freshness sensors re-request",
        "poll_interval_seconds": "technicals budget / 4",
    }
    lines = ["run_monitoring:"]
    for key, value in values.items():
        text = "true" if value is True else str(value)
        lines.append(f"  {key}: {text}" + (f"  # {why[key]}" if key in why else ""))
    return "\n".join(lines) + "\n"


__all__ = ["BACKSTOP_SECONDS", "BASE_RUN_SECONDS", "CLICKHOUSE_POOL", "EDGAR_RUN_SECONDS",
           "MAX_RUNTIME_TAG", "NEWS_RUN_SECONDS", "RunLimits", "expected_run_seconds",
           "monitoring_yaml", "run_limits"]
