"""Owns the parity slice of the Definitions: assets, check, job, sensor, schedule and resources,
built from explicit values or from environment variables (merged into definitions.py). The
slice also holds lean_backtest_evidence (a backtest at the same LEAN runner, run config only).

Environment (``parity_config_from_env``): TORGHUT_DB_DSN (required), INTEL_LEAN_RUNNER_URL
(default http://127.0.0.1:8787), INTEL_ALPACA_TRADING_URL (alpaca-py url_override; unset =
Alpaca's paper API), INTEL_ALPACA_REPLAY_CLOCK=1 when that URL is the devtools paper server,
INTEL_LEAN_DATA_DIR, INTEL_PARITY_START_DATE (default: the day of Torghut's first decision, read
when the definitions load), ALPACA_API_KEY_ID / ALPACA_API_SECRET_KEY (read by Dagster at run
time through EnvVar, never stored here), INTEL_ROLLOUT_APPROVAL_TOKEN (the rollout gate's
phase-4 approval token, read through EnvVar), INTEL_CANARY_SYMBOLS / INTEL_CANARY_ACCOUNTS
(the canary subset, comma-separated; accounts default ``paper``), INTEL_SERVING_URL (the
serving API canary_slo scrapes for context latency) and INTEL_CANARY_LEAN_RUNNER_URL (the LEAN
runner Torghut's canary routes to, scraped for its error rate and latency); the replay clock (INTEL_AS_OF, passed in as
``as_of``) ends the partitions at its day and stops parity automation by default.

Partitions are trading days: weekdays minus the exchange holidays of LEAN's market-hours
database, from the first decision through today (or the replay clock's day). The parity sensor
and nightly schedule run by default on a live clock only; the rollout schedules
(guardrail_daily_nightly, rollout_gate_daily) always start stopped.
"""

import logging
import os
from collections.abc import Collection, Mapping
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from dagster import AssetSelection, Definitions, EnvVar, define_asset_job

from intel_assets.assets.canary import TORGHUT_EXECUTIONS, build_canary_asset
from intel_assets.assets.lean_backtest import build_lean_backtest_asset
from intel_assets.assets.parity import build_parity_assets, parity_partitions
from intel_assets.assets.rollout import build_rollout_assets, exchange_holidays
from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.resources.execution_venue import ExecutionVenueResource
from intel_assets.resources.lean_data import LeanDataResource
from intel_assets.resources.rollout_policy import APPROVAL_TOKEN_ENV, RolloutPolicyResource
from intel_assets.stores.torghut_db import TorghutDb, TorghutDbError
from intel_assets.resources.torghut_db import TorghutDbResource
from intel_assets.sensors.parity import build_parity_schedule, build_parity_sensor
from intel_assets.resources.canary_telemetry import CanaryTelemetryResource
from intel_assets.sensors.rollout import build_canary_schedule, build_rollout_schedules

PARITY_JOB = "parity_job"
GUARDRAIL_JOB = "guardrail_daily_job"
ROLLOUT_GATE_JOB = "rollout_gate_job"
CANARY_SLO_JOB = "canary_slo_job"
LEAN_BACKTEST_JOB = "lean_backtest_job"
ALPACA_PAPER_API = "https://paper-api.alpaca.markets"
DEFAULT_LEAN_RUNNER_URL = "http://127.0.0.1:8787"


class ParityConfigError(ValueError):
    """Parity configuration that cannot work; the message names the variable and the fix."""


def build_parity_definitions(
    *,
    torghut_db_dsn: str | EnvVar,
    lean_runner_url: str,
    alpaca_url: str,
    lean_data_dir: str | Path,
    alpaca_kind: str = "alpaca",
    alpaca_replay_clock: bool = False,
    alpaca_api_key_id: Any = None,
    alpaca_api_secret_key: Any = None,
    start_date: str = "2013-10-07",
    end_date: str | None = None,
    holidays: Collection[date] | None = None,
    default_running: bool = True,
    sensor_settle_seconds: float = 5.0,
    rollout_policy: RolloutPolicyResource | None = None,
    rollout_approval_token: Any = None,
    serving_url: str | None = None,
    canary_runner_url: str | None = None,
    canary_telemetry: CanaryTelemetryResource | None = None,
) -> Definitions:
    """Parity assets + check + ``parity_job`` + sensor + nightly schedule, with their resources;
    ``lean_backtest_evidence`` and ``lean_backtest_job`` (a backtest at the same LEAN runner,
    given as run config) beside them.

    ``alpaca_kind="lean"`` puts a second LEAN runner in the alpaca slot (tests, or before the
    Alpaca adapter is deployed); key/secret may be dagster ``EnvVar``s. The rollout gate
    (rollout_baseline, guardrail_daily, rollout_gate) joins with ``rollout_policy`` (default
    thresholds when None) and ``rollout_approval_token`` (an EnvVar) as its approval token;
    canary_slo scrapes ``canary_runner_url`` (the LEAN runner Torghut's canary routes to, not
    the replay runner at ``lean_runner_url``) and ``serving_url`` (None: not scraped), or what
    ``canary_telemetry`` names.
    Partitions: trading days ``start_date``..``end_date`` (None: today) without ``holidays``
    (None: those of LEAN's market-hours database under ``lean_data_dir``). ``default_running``
    starts the parity sensor and nightly schedule; the rollout schedules always start stopped.
    """
    if holidays is None:
        holidays, _ = exchange_holidays(lean_data_dir)
    partitions = parity_partitions(start_date, end_date, holidays)
    source, parity_backtest, tca_report = build_parity_assets(partitions)
    job = define_asset_job(
        PARITY_JOB, selection=AssetSelection.assets(parity_backtest, tca_report),
        description="Replay a day's Torghut decisions through Alpaca and LEAN, then its TCA.")
    lean_backtest = build_lean_backtest_asset()
    backtest_job = define_asset_job(
        LEAN_BACKTEST_JOB, selection=AssetSelection.assets(lean_backtest),
        description="Submit a backtest (run config) to the LEAN runner's backtest upstream.")
    canary = build_canary_asset(partitions)
    canary_job = define_asset_job(CANARY_SLO_JOB, selection=AssetSelection.assets(canary),
                                  description="A day's canary SLOs of the LEAN route.")
    baseline, guardrail_daily, gate = build_rollout_assets(partitions, [tca_report, canary])
    guardrail_job = define_asset_job(GUARDRAIL_JOB, selection=AssetSelection.assets(
        guardrail_daily), description="A day's rejection and guardrail metrics.")
    gate_job = define_asset_job(ROLLOUT_GATE_JOB, selection=AssetSelection.assets(gate),
                                description="Evaluate the rollout phases' exit criteria.")
    policy = rollout_policy or RolloutPolicyResource()
    if rollout_approval_token is not None:
        policy = policy.with_approval_token(rollout_approval_token)
    return Definitions(
        assets=[source, TORGHUT_EXECUTIONS, parity_backtest, tca_report, lean_backtest,
                baseline, guardrail_daily, canary, gate],
        jobs=[job, guardrail_job, gate_job, backtest_job, canary_job],
        sensors=[build_parity_sensor(job, partitions, settle_seconds=sensor_settle_seconds,
                                     default_running=default_running)],
        schedules=[build_parity_schedule(job, partitions, default_running=default_running),
                   *build_rollout_schedules(guardrail_job, gate_job, partitions,
                                            default_running=False),
                   build_canary_schedule(canary_job, partitions, default_running=False)],
        resources={
            "rollout_policy": policy,
            "torghut_db": TorghutDbResource(dsn=torghut_db_dsn),
            "alpaca_execution": ExecutionVenueResource(
                kind=alpaca_kind, base_url=alpaca_url, replay_clock=alpaca_replay_clock,
                api_key_id=alpaca_api_key_id, api_secret_key=alpaca_api_secret_key),
            "lean_execution": ExecutionVenueResource(kind="lean", base_url=lean_runner_url),
            "lean_data": LeanDataResource(lean_dir=str(lean_data_dir)),
            "canary_telemetry": canary_telemetry or CanaryTelemetryResource(
                lean_runner_url=canary_runner_url, serving_url=serving_url),
        },
    )


def first_decision_day(dsn: str, fallback: date) -> tuple[date, str]:
    """(start day, why) for the partitions: the day of Torghut's first decision, read now with a
    short timeout, or ``fallback`` when the table is empty or the database cannot be read."""
    try:
        first = TorghutDb(dsn, connect_timeout=3).first_decision_day()
    except TorghutDbError as exc:
        return fallback, f"{fallback} (Torghut's database could not be read: {exc})"
    if first is None:
        return fallback, f"{fallback} (trade_decisions is empty)"
    return first, f"{first} (Torghut's first decision)"


def rollout_policy_from_env(environ: Mapping[str, str] | None = None,
                            default_symbols: Collection[str] = ()) -> RolloutPolicyResource:
    """The rollout policy with the canary subset of INTEL_CANARY_SYMBOLS / INTEL_CANARY_ACCOUNTS
    (comma-separated; ``default_symbols`` when the first is unset, accounts default ``paper``):
    what the gate, canary_slo, ``parity --week`` and ``rollout status`` all judge with."""
    env = os.environ if environ is None else environ
    symbols = []
    for raw in env.get("INTEL_CANARY_SYMBOLS", "").split(","):
        if raw.strip():
            try:
                symbols.append(normalize_symbol(raw))
            except InvalidSymbolError as exc:
                raise ParityConfigError(f"INTEL_CANARY_SYMBOLS: {exc}") from None
    accounts = [a.strip() for a in env.get("INTEL_CANARY_ACCOUNTS", "").split(",") if a.strip()]
    return RolloutPolicyResource(canary_symbols=sorted(set(symbols or default_symbols)),
                                 **({"canary_accounts": sorted(set(accounts))} if accounts
                                    else {}))


def parity_config_from_env(environ: Mapping[str, str] | None = None,
                           default_lean_dir: Path | None = None,
                           as_of: datetime | None = None) -> dict[str, Any]:
    """Keyword arguments for build_parity_definitions from the environment (see module doc);
    ``as_of`` is the replay clock (settings.as_of), None for a live clock."""
    env = os.environ if environ is None else environ
    dsn = env.get("TORGHUT_DB_DSN", "").strip()
    if not dsn:
        raise ParityConfigError("TORGHUT_DB_DSN is not set: write postgresql://user@host:5432/"
                                "torghut (Torghut's database, where trade_decisions live)")
    lean_dir = env.get("INTEL_LEAN_DATA_DIR", "").strip() or default_lean_dir
    if not lean_dir or not (Path(lean_dir) / "equity" / "usa" / "minute").is_dir():
        raise ParityConfigError(f"INTEL_LEAN_DATA_DIR={lean_dir or '(unset)'} is not a LEAN Data "
                                "folder (equity/usa/minute inside): parity needs its quotes")
    today = (as_of or datetime.now(timezone.utc)).astimezone(NEW_YORK).date()
    start = env.get("INTEL_PARITY_START_DATE", "").strip()
    if start:
        try:
            date.fromisoformat(start)
        except ValueError:
            raise ParityConfigError(f"INTEL_PARITY_START_DATE={start!r} is not a date: write "
                                    "YYYY-MM-DD (the first day with decisions)") from None
    else:
        first, why = first_decision_day(dsn, today)
        start = min(first, today).isoformat()  # decisions after a replay clock wait for it
        logging.getLogger(__name__).info("parity partitions start %s", why)
    clock = env.get("INTEL_ALPACA_REPLAY_CLOCK", "").strip().lower()
    if clock not in ("", "0", "1", "true", "false"):
        raise ParityConfigError(f"INTEL_ALPACA_REPLAY_CLOCK={clock!r}: write 1 (devtools paper "
                                "server) or 0")
    urls = {}
    for name, example in (("INTEL_SERVING_URL", "the serving API's base URL, e.g. "
                           "http://127.0.0.1:8080"),
                          ("INTEL_CANARY_LEAN_RUNNER_URL", "the LEAN runner Torghut's canary "
                           "routes orders to, e.g. http://lean-runner.torghut.svc:8787")):
        urls[name] = env.get(name, "").strip() or None
        if urls[name] and not urls[name].startswith(("http://", "https://")):
            raise ParityConfigError(f"{name}={urls[name]!r}: write {example}")
    return {
        "rollout_policy": rollout_policy_from_env(env),
        "serving_url": urls["INTEL_SERVING_URL"],
        "canary_runner_url": urls["INTEL_CANARY_LEAN_RUNNER_URL"],
        # the process environment's value: an EnvVar Dagster resolves at run time, so the
        # password never lands in run or job snapshots (a mapping given in code: the value)
        "torghut_db_dsn": EnvVar("TORGHUT_DB_DSN") if os.environ.get("TORGHUT_DB_DSN",
                                                                   "").strip() == dsn else dsn,
        "lean_runner_url": env.get("INTEL_LEAN_RUNNER_URL", "").strip() or DEFAULT_LEAN_RUNNER_URL,
        "alpaca_url": env.get("INTEL_ALPACA_TRADING_URL", "").strip() or ALPACA_PAPER_API,
        "lean_data_dir": str(lean_dir),
        "alpaca_replay_clock": clock in ("1", "true"),
        "alpaca_api_key_id": EnvVar("ALPACA_API_KEY_ID") if env.get("ALPACA_API_KEY_ID") else None,
        "alpaca_api_secret_key": (EnvVar("ALPACA_API_SECRET_KEY")
                                  if env.get("ALPACA_API_SECRET_KEY") else None),
        "start_date": start,
        "end_date": today.isoformat() if as_of is not None else None,
        "default_running": as_of is None,
        "rollout_approval_token": (EnvVar(APPROVAL_TOKEN_ENV)
                                   if env.get(APPROVAL_TOKEN_ENV) else None),
    }


__all__ = ["ALPACA_PAPER_API", "CANARY_SLO_JOB", "DEFAULT_LEAN_RUNNER_URL", "GUARDRAIL_JOB",
           "LEAN_BACKTEST_JOB",
           "PARITY_JOB",
           "ROLLOUT_GATE_JOB", "ParityConfigError",
           "build_parity_definitions", "first_decision_day", "parity_config_from_env",
           "rollout_policy_from_env"]
