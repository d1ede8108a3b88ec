"""Owns the parity slice of the Definitions: assets, check, job, sensor, schedule and resources,
built from explicit values or from environment variables (merged into definitions.py). The
slice also holds lean_backtest_evidence (a backtest at the same LEAN runner, run config only).

Settings (``settings.parity``, read by settings.py; checked by ``parity_config``):
TORGHUT_DB_DSN (required), INTEL_LEAN_RUNNER_URL (default http://127.0.0.1:8787),
INTEL_ALPACA_TRADING_URL (alpaca-py url_override; unset = Alpaca's paper API),
INTEL_ALPACA_REPLAY_CLOCK=1 when that URL is the devtools paper server,
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
from collections.abc import Collection
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from dagster import AssetKey, Definitions, EnvVar

from intel_assets.assets.canary import canary_definitions
from intel_assets.assets.lean_backtest import lean_backtest_definitions
from intel_assets.assets.parity import parity_partitions, parity_slice
from intel_assets.assets.rollout import exchange_holidays, rollout_definitions
from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.resources.canary_telemetry import CanaryTelemetryResource
from intel_assets.resources.execution_venue import ExecutionVenueResource
from intel_assets.resources.lean_data import LeanDataResource
from intel_assets.resources.rollout_policy import APPROVAL_TOKEN_ENV, RolloutPolicyResource
from intel_assets.resources.torghut_db import TorghutDbResource
from intel_assets.settings import (
    ALPACA_PAPER_API,
    DEFAULT_LEAN_RUNNER_URL,
    ParityConfigError,
    ParitySettings,
)
from intel_assets.stores.torghut_db import TorghutDb, TorghutDbError

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
    parity = parity_slice(partitions, settle_seconds=sensor_settle_seconds,
                          default_running=default_running)
    canary = canary_definitions(partitions)
    evidence = [AssetKey("tca_report"), AssetKey("canary_slo")]  # the gate's lineage
    policy = rollout_policy or RolloutPolicyResource()
    if rollout_approval_token is not None:
        policy = policy.with_approval_token(rollout_approval_token)
    return Definitions.merge(
        parity, lean_backtest_definitions(), canary, rollout_definitions(partitions, evidence),
        Definitions(resources={
            "rollout_policy": policy,
            "torghut_db": TorghutDbResource(dsn=torghut_db_dsn),
            "alpaca_execution": ExecutionVenueResource(
                kind=alpaca_kind, base_url=alpaca_url, replay_clock=alpaca_replay_clock,
                api_key_id=alpaca_api_key_id, api_secret_key=alpaca_api_secret_key),
            "lean_execution": ExecutionVenueResource(kind="lean", base_url=lean_runner_url),
            "lean_data": LeanDataResource(lean_dir=str(lean_data_dir)),
            "canary_telemetry": canary_telemetry or CanaryTelemetryResource(
                lean_runner_url=canary_runner_url, serving_url=serving_url),
        }))


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


def rollout_policy_from(parity: ParitySettings,
                        default_symbols: Collection[str] = ()) -> RolloutPolicyResource:
    """The rollout policy with the canary subset of INTEL_CANARY_SYMBOLS / INTEL_CANARY_ACCOUNTS
    (comma-separated; ``default_symbols`` when the first is unset, accounts default ``paper``):
    what the gate, canary_slo, ``parity --week`` and ``rollout status`` all judge with."""
    symbols = []
    for raw in parity.canary_symbols.split(","):
        if raw.strip():
            try:
                symbols.append(normalize_symbol(raw))
            except InvalidSymbolError as exc:
                raise ParityConfigError(f"INTEL_CANARY_SYMBOLS: {exc}") from None
    accounts = [a.strip() for a in parity.canary_accounts.split(",") if a.strip()]
    return RolloutPolicyResource(canary_symbols=sorted(set(symbols or default_symbols)),
                                 **({"canary_accounts": sorted(set(accounts))} if accounts
                                    else {}))


def parity_config(parity: ParitySettings, default_lean_dir: Path | None = None,
                  as_of: datetime | None = None) -> dict[str, Any]:
    """Keyword arguments for build_parity_definitions from ``settings.parity`` (see module doc);
    ``as_of`` is the replay clock (settings.as_of), None for a live clock. Raises
    ParityConfigError (a SettingsError) naming the variable and the fix."""
    dsn = parity.torghut_db_dsn
    if not dsn:
        raise ParityConfigError("TORGHUT_DB_DSN is not set: write postgresql://user@host:5432/"
                                "torghut (Torghut's database, where trade_decisions live)")
    lean_dir = parity.lean_data_dir or default_lean_dir
    if not lean_dir or not (Path(lean_dir) / "equity" / "usa" / "minute").is_dir():
        raise ParityConfigError(f"INTEL_LEAN_DATA_DIR={lean_dir or '(unset)'} is not a LEAN Data "
                                "folder (equity/usa/minute inside): parity needs its quotes")
    today = (as_of or datetime.now(timezone.utc)).astimezone(NEW_YORK).date()
    start = parity.start_date
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
    clock = parity.alpaca_replay_clock.lower()
    if clock not in ("", "0", "1", "true", "false"):
        raise ParityConfigError(f"INTEL_ALPACA_REPLAY_CLOCK={clock!r}: write 1 (devtools paper "
                                "server) or 0")
    urls = {}
    for name, value, example in (
            ("INTEL_SERVING_URL", parity.serving_url,
             "the serving API's base URL, e.g. http://127.0.0.1:8080"),
            ("INTEL_CANARY_LEAN_RUNNER_URL", parity.canary_lean_runner_url,
             "the LEAN runner Torghut's canary routes orders to, e.g. "
             "http://lean-runner.torghut.svc:8787")):
        urls[name] = value or None
        if value and not value.startswith(("http://", "https://")):
            raise ParityConfigError(f"{name}={value!r}: write {example}")
    return {
        "rollout_policy": rollout_policy_from(parity),
        "serving_url": urls["INTEL_SERVING_URL"],
        "canary_runner_url": urls["INTEL_CANARY_LEAN_RUNNER_URL"],
        # from the process environment: an EnvVar Dagster resolves at run time, so the
        # password never lands in run or job snapshots (settings given in code: the value)
        "torghut_db_dsn": EnvVar("TORGHUT_DB_DSN") if parity.dsn_from_environment else dsn,
        "lean_runner_url": parity.lean_runner_url or DEFAULT_LEAN_RUNNER_URL,
        "alpaca_url": parity.alpaca_trading_url or ALPACA_PAPER_API,
        "lean_data_dir": str(lean_dir),
        "alpaca_replay_clock": clock in ("1", "true"),
        "alpaca_api_key_id": EnvVar("ALPACA_API_KEY_ID") if parity.alpaca_keys_set else None,
        "alpaca_api_secret_key": (EnvVar("ALPACA_API_SECRET_KEY")
                                  if parity.alpaca_secret_set else None),
        "start_date": start,
        "end_date": today.isoformat() if as_of is not None else None,
        "default_running": as_of is None,
        "rollout_approval_token": (EnvVar(APPROVAL_TOKEN_ENV)
                                   if parity.approval_token_set else None),
    }


__all__ = ["build_parity_definitions", "first_decision_day", "parity_config",
           "rollout_policy_from"]
