"""Owns `intel-assets doctor`: checks every configured dependency and explains each failure in plain words."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Mapping, Sequence

from intel_assets.stores.bundle_store import redact_dsn
from intel_assets.stores.dsn_contract import (
    BUNDLE_STORE_DSN_ENV,
    BUNDLE_STORE_SSLROOTCERT_ENV,
    ENV_VAR,
    TORGHUT_DB_DSN_ENV,
    TORGHUT_DB_SSLROOTCERT_ENV,
    DsnContract,
    DsnContractError,
    check_dsn_tls,
    diagnose_connect_error,
    is_postgres_dsn,
    production_mode,
    with_params,
)
from intel_assets.settings import Settings, process_environment

LEAN_RUNNER_URL_ENV = "INTEL_LEAN_RUNNER_URL"
ALPACA_LIVE_DATA_URL = "https://data.alpaca.markets"
# Unconfigured dependencies are reported as skipped, never failed; DSNs and URLs are redacted.
CHECKS = ("environment", "clickhouse", "bundle_store", "torghut_db", "alpaca", "edgar", "lean_runner")


@dataclass(frozen=True)
class CheckResult:
    """One dependency's verdict: what was found (detail) and, when it failed, what to change (fix)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False


def _ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, True, detail)


def _fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, False, detail, fix)


def _skip(name: str, detail: str) -> CheckResult:
    return CheckResult(name, True, detail, skipped=True)


def _first_line(exc: BaseException) -> str:
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _scrub(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _with_warnings(detail: str, contract: DsnContract) -> str:
    return detail + ("; warnings: " + "; ".join(contract.warnings) if contract.warnings else "")


# ---- checks ---------------------------------------------------------------------------------
def check_environment(environ: Mapping[str, str]) -> CheckResult:
    """INTEL_ENV: production enforces the database TLS contract, development only warns."""
    try:
        production = production_mode(environ)
    except DsnContractError as exc:
        return _fail("environment", exc.problem, exc.fix)
    if production:
        return _ok("environment", f"production ({ENV_VAR}=production): database TLS is enforced")
    value = f"{ENV_VAR}={environ[ENV_VAR]}" if environ.get(ENV_VAR) else f"{ENV_VAR} unset"
    return _ok("environment", f"development ({value}): TLS contract breaches are warnings; set "
               f"{ENV_VAR}=production to enforce them")


def check_clickhouse(settings: Settings, timeout: float, environ: Mapping[str, str] | None = None,
                     production: bool = False) -> CheckResult:
    """The TLS contract for a server (clickhouse_tls.py), then open the warehouse (embedded
    chdb: folder writable, lock free) and run SELECT 1."""
    from intel_assets.stores.warehouse import EMBEDDED_MISSING, WarehouseError, open_warehouse
    from intel_assets.stores.clickhouse_tls import ClickHouseTlsError, check_clickhouse_tls

    environ = process_environment() if environ is None else environ
    dsn, database = settings.clickhouse_dsn, settings.clickhouse_database
    shown = redact_dsn(dsn)
    try:
        contract = check_clickhouse_tls(dsn, production=production,
                                        ca_file=settings.clickhouse_ca_file, environ=environ)
    except ClickHouseTlsError as exc:
        return _fail("clickhouse", exc.problem, exc.fix)
    if dsn.startswith("chdb://"):
        path = dsn[len("chdb://"):]
        folder = next((p for p in (path, os.path.dirname(path)) if os.path.isdir(p)), None)
        if folder is not None and not os.access(folder, os.W_OK):
            return _fail("clickhouse", f"the embedded ClickHouse folder {folder} is not writable",
                         f"make {folder} writable by this user, or point INTEL_HOME elsewhere")
    try:
        with open_warehouse(dsn, database, lock_timeout_seconds=max(timeout, 0.5),
                            ca_file=settings.clickhouse_ca_file, environ=environ) as warehouse:
            answer = warehouse.client.command("SELECT 1")
            tables = [t for t in ("ta_microbars", "ta_signals") if int(warehouse.client.command(
                "EXISTS TABLE {db:Identifier}.{t:Identifier}", parameters={"db": database, "t": t}))]
    except WarehouseError as exc:
        if str(exc) == EMBEDDED_MISSING:
            return _fail("clickhouse", "chdb (the embedded ClickHouse) is not installed",
                         "pip install 'intel_assets[embedded]', or set INTEL_CLICKHOUSE_URL to a "
                         "ClickHouse server")
        if ". Fix: " in str(exc):  # a TLS failure, already diagnosed (clickhouse_tls.py)
            return _fail("clickhouse", *str(exc).split(". Fix: ", 1))
        return _fail("clickhouse", str(exc),
                     "wait for the other run to finish, or set INTEL_CLICKHOUSE_URL to a server"
                     if "held by another process" in str(exc) else
                     "check INTEL_CLICKHOUSE_URL (host, port 8123/8443, user, password)")
    except ValueError as exc:
        return _fail("clickhouse", str(exc), "fix INTEL_CLICKHOUSE_URL / INTEL_CLICKHOUSE_DATABASE")
    except Exception as exc:  # noqa: BLE001 - any engine error is a failed check, in plain words
        return _fail("clickhouse", f"ClickHouse at {shown} failed a trivial query: "
                     f"{redact_dsn(_first_line(exc))}", "check INTEL_CLICKHOUSE_URL and the server log")
    if str(answer).strip() != "1":
        return _fail("clickhouse", f"ClickHouse at {shown} answered {answer!r} to SELECT 1",
                     "check that INTEL_CLICKHOUSE_URL points at ClickHouse's HTTP interface")
    missing = [t for t in ("ta_microbars", "ta_signals") if t not in tables]
    kind = "embedded ClickHouse" if dsn.startswith("chdb://") else "ClickHouse server"
    if missing:
        return _fail("clickhouse", f"{kind} at {shown} answers, but database {database} lacks "
                     f"{', '.join(missing)}", "run `intel-assets seed` (embedded) or check "
                     "INTEL_CLICKHOUSE_DATABASE names Torghut's database")
    if contract.embedded:
        return _ok("clickhouse", f"{kind} at {shown} answers SELECT 1; {database}.ta_microbars "
                   "and ta_signals exist")
    warnings = "; warnings: " + "; ".join(contract.warnings) if contract.warnings else ""
    return _ok("clickhouse", f"{kind} answers SELECT 1: {contract.describe()}; "
               f"{database}.ta_microbars and ta_signals exist{warnings}")


def _contract(dsn: str, name: str, env: str, production: bool,
              environ: Mapping[str, str]) -> DsnContract | CheckResult:
    check = name.lower().removeprefix("intel_").removesuffix("_dsn")
    try:
        return check_dsn_tls(dsn, name=name, production=production, sslrootcert_env=env, environ=environ)
    except DsnContractError as exc:
        return _fail(check, exc.problem, exc.fix)


def _timed(dsn: str, timeout: float) -> str:
    import psycopg2.extensions

    params = psycopg2.extensions.parse_dsn(dsn)
    if "connect_timeout" in params:
        return dsn
    return with_params(dsn, {"connect_timeout": str(max(1, round(timeout)))})


def check_bundle_store(settings: Settings, environ: Mapping[str, str], production: bool,
                       timeout: float) -> CheckResult:
    """Open the bundle store (TLS contract first when PostgreSQL) and ping it."""
    from intel_assets.stores.bundle_store import (
        BundleStore,
        StoreConfigError,
        StoreUnavailableError,
    )

    dsn, contract = settings.store_dsn, None
    if settings.embedded_store:  # the embedded cluster: started on demand, as every command does
        from intel_assets.stores.local_postgres import EmbeddedPostgresError, ensure_for

        try:
            ensure_for(settings)
        except EmbeddedPostgresError as exc:
            return _fail("bundle_store", f"the embedded PostgreSQL cluster does not start: {exc}",
                         "run `intel-assets postgres start` for details, or set "
                         "INTEL_EMBEDDED_POSTGRES=false / INTEL_BUNDLE_STORE_DSN")
    if is_postgres_dsn(dsn):
        checked = _contract(dsn, BUNDLE_STORE_DSN_ENV, BUNDLE_STORE_SSLROOTCERT_ENV, production, environ)
        if isinstance(checked, CheckResult):
            return checked
        contract, dsn = checked, _timed(checked.connect_dsn, timeout)
    try:
        store = BundleStore.from_dsn(dsn, max_connections=1)
        try:
            store.ping()
        finally:
            store.close()
    except StoreConfigError as exc:
        return _fail("bundle_store", str(exc), f"fix {BUNDLE_STORE_DSN_ENV}")
    except StoreUnavailableError as exc:
        if contract is None:
            return _fail("bundle_store", str(exc), f"check {BUNDLE_STORE_DSN_ENV} / INTEL_HOME "
                         "(folder exists, is writable, and the file is not locked)")
        problem, fix = diagnose_connect_error(exc, dsn, BUNDLE_STORE_SSLROOTCERT_ENV,
                                              name=BUNDLE_STORE_DSN_ENV, environ=environ)
        return _fail("bundle_store", problem, fix)
    if contract is None:
        return _ok("bundle_store", f"SQLite bundle store /{dsn[len('sqlite:'):].lstrip('/')} answers")
    return _ok("bundle_store", _with_warnings(f"PostgreSQL bundle store answers: {contract.describe()}",
                                              contract))


def check_torghut_db(environ: Mapping[str, str], production: bool, timeout: float) -> CheckResult:
    """TORGHUT_DB_DSN, when set: TLS contract, a real connect, then Torghut's tables and the
    columns parity reads (as `intel-assets parity` would find them)."""
    dsn = environ.get(TORGHUT_DB_DSN_ENV, "").strip()
    if not dsn:
        return _skip("torghut_db", f"{TORGHUT_DB_DSN_ENV} is not set")
    checked = _contract(dsn, TORGHUT_DB_DSN_ENV, TORGHUT_DB_SSLROOTCERT_ENV, production, environ)
    if isinstance(checked, CheckResult):
        return checked
    import psycopg2

    from intel_assets.stores.torghut_db import missing_torghut_columns, schema_error_message

    connect_dsn = _timed(checked.connect_dsn, timeout)
    try:
        conn = psycopg2.connect(connect_dsn)
        try:
            with conn.cursor() as cursor:
                missing = missing_torghut_columns(cursor)
        finally:
            conn.close()
    except psycopg2.Error as exc:
        problem, fix = diagnose_connect_error(exc, connect_dsn, TORGHUT_DB_SSLROOTCERT_ENV,
                                              name=TORGHUT_DB_DSN_ENV, environ=environ)
        return _fail("torghut_db", problem, fix)
    if missing:  # the parity reads would fail: say so now, in the reader's own words
        return _fail("torghut_db", schema_error_message(checked.redacted, missing),
                     f"point {TORGHUT_DB_DSN_ENV} at Torghut's own database, or run its "
                     "migrations there (alembic upgrade head)")
    return _ok("torghut_db", _with_warnings(f"Torghut's database answers: {checked.describe()}", checked))


def _http_get(url: str, headers: Mapping[str, str], timeout: float) -> int:
    """The HTTP status of a GET (body not read); httpx errors propagate."""
    import httpx

    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        with client.stream("GET", url, headers=dict(headers)) as response:
            return response.status_code


def _http_failure(name: str, url: str, exc: Exception, timeout: float, fix: str,
                  secrets: Sequence[str | None] = ()) -> CheckResult:
    import httpx

    shown = redact_dsn(url)
    if isinstance(exc, httpx.TimeoutException):
        return _fail(name, f"{shown} did not answer within {timeout:g} s", fix)
    if isinstance(exc, httpx.ConnectError):
        return _fail(name, f"cannot reach {shown}: {_scrub(_first_line(exc), secrets)}", fix)
    return _fail(name, f"request to {shown} failed: {_scrub(_first_line(exc), secrets)}", fix)


def check_alpaca(settings: Settings, environ: Mapping[str, str], timeout: float) -> CheckResult:
    """Alpaca data API: reachable, and the keys accepted when keys are set (never printed)."""
    key, secret = environ.get("ALPACA_API_KEY_ID"), environ.get("ALPACA_API_SECRET_KEY")
    if not (key or secret or settings.alpaca_data_url):
        return _skip("alpaca", "no Alpaca keys or INTEL_ALPACA_DATA_URL: the news domain will be "
                     "missing (demo/ui serve sample news)")
    if bool(key) != bool(secret):
        given, absent = ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY")[:: 1 if key else -1]
        return _fail("alpaca", f"{given} is set but {absent} is not", f"set both {given} and {absent}")
    base = (settings.alpaca_data_url or ALPACA_LIVE_DATA_URL).rstrip("/")
    url = f"{base}/v1beta1/news?limit=1"
    headers = {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret} if key and secret else {}
    fix = "check INTEL_ALPACA_DATA_URL (unset = Alpaca's live data API) and outbound HTTPS"
    try:
        status = _http_get(url, headers, timeout)
    except Exception as exc:  # noqa: BLE001 - reported in plain words
        return _http_failure("alpaca", url, exc, timeout, fix, (key, secret))
    if status in (401, 403) and headers:
        return _fail("alpaca", f"the Alpaca data API at {redact_dsn(base)} rejected the keys (HTTP {status})",
                     "check ALPACA_API_KEY_ID / ALPACA_API_SECRET_KEY (live vs paper keys, not revoked)")
    if status >= 400 and not (status in (401, 403) and not headers):
        return _fail("alpaca", f"{redact_dsn(base)}/v1beta1/news answered HTTP {status}",
                     "point INTEL_ALPACA_DATA_URL at an Alpaca data API base URL (or unset it)")
    keys = "keys accepted" if headers else "no keys set: the news domain will be missing"
    return _ok("alpaca", f"Alpaca data API at {redact_dsn(base)} answers ({keys})")


def check_edgar(settings: Settings, timeout: float) -> CheckResult:
    """SEC EDGAR: a User-Agent SEC accepts, and the tickers URL reachable with it."""
    from intel_assets.providers.edgar import DEFAULT_TICKERS_URL, EdgarConfigError, check_user_agent

    agent = settings.edgar_user_agent
    if agent is None and settings.edgar_base_url is None and settings.edgar_tickers_url is None:
        return _skip("edgar", "INTEL_EDGAR_USER_AGENT is not set: fundamentals will be missing "
                     "(demo/ui serve sample filings)")
    try:
        agent = check_user_agent(agent)
    except EdgarConfigError:
        return _fail("edgar", f"INTEL_EDGAR_USER_AGENT={agent!r} is not a User-Agent SEC accepts "
                     "(it needs a name and a contact email)",
                     "set INTEL_EDGAR_USER_AGENT='<your name or company> <contact email>', "
                     "e.g. 'Acme Research ops@acme.example'")
    url = settings.edgar_tickers_url or DEFAULT_TICKERS_URL
    fix = "check INTEL_EDGAR_TICKERS_URL (unset = SEC's) and outbound HTTPS"
    try:
        status = _http_get(url, {"User-Agent": agent, "Accept": "application/json"}, timeout)
    except Exception as exc:  # noqa: BLE001
        return _http_failure("edgar", url, exc, timeout, fix)
    if status == 403:
        return _fail("edgar", f"{redact_dsn(url)} refused the request (HTTP 403)", "SEC answers 403 to "
                     "User-Agents it does not accept or to more than 10 requests/s; check "
                     "INTEL_EDGAR_USER_AGENT and other EDGAR clients on this address")
    if status >= 400:
        return _fail("edgar", f"{redact_dsn(url)} answered HTTP {status}", fix)
    return _ok("edgar", f"User-Agent accepted by the rule; {redact_dsn(url)} answers HTTP {status}")


def check_lean_runner(environ: Mapping[str, str], timeout: float) -> CheckResult:
    """INTEL_LEAN_RUNNER_URL, when set: GET /healthz answers 2xx (LEAN runner contract v2)."""
    base = environ.get(LEAN_RUNNER_URL_ENV, "").strip().rstrip("/")
    if not base:
        return _skip("lean_runner", f"{LEAN_RUNNER_URL_ENV} is not set")
    url = f"{base}/healthz"
    fix = f"check {LEAN_RUNNER_URL_ENV} and that the LEAN runner is up"
    try:
        status = _http_get(url, {}, timeout)
    except Exception as exc:  # noqa: BLE001
        return _http_failure("lean_runner", url, exc, timeout, fix)
    if not 200 <= status < 300:
        return _fail("lean_runner", f"{redact_dsn(url)} answered HTTP {status}", fix)
    return _ok("lean_runner", f"{redact_dsn(url)} answers HTTP {status}")


# ---- running and reporting ----------------------------------------------------------------
def run_doctor(settings: Settings, environ: Mapping[str, str] | None = None, *,
               only: Iterable[str] | None = None, timeout: float = 5.0) -> list[CheckResult]:
    """Run the checks (all, or those named in `only`) and return one result per check."""
    environ = process_environment() if environ is None else environ
    wanted = tuple(only) if only else CHECKS
    unknown = [name for name in wanted if name not in CHECKS]
    if unknown:
        raise ValueError(f"unknown doctor checks {unknown}; choose from {', '.join(CHECKS)}")
    try:
        production = production_mode(environ)
    except DsnContractError:
        production = True  # an unrecognised INTEL_ENV is reported; check as strictly as production
    runners: dict[str, Callable[[], CheckResult]] = {
        "environment": lambda: check_environment(environ),
        "clickhouse": lambda: check_clickhouse(settings, timeout, environ, production),
        "bundle_store": lambda: check_bundle_store(settings, environ, production, timeout),
        "torghut_db": lambda: check_torghut_db(environ, production, timeout),
        "alpaca": lambda: check_alpaca(settings, environ, timeout),
        "edgar": lambda: check_edgar(settings, timeout),
        "lean_runner": lambda: check_lean_runner(environ, timeout),
    }
    results = []
    for name in CHECKS:
        if name not in wanted:
            continue
        try:
            results.append(runners[name]())
        except Exception as exc:  # noqa: BLE001 - a check never crashes the doctor
            results.append(_fail(name, f"the check itself failed: {redact_dsn(_first_line(exc))}",
                                 "report this; the other checks still ran"))
    return results


def format_report(results: Sequence[CheckResult]) -> str:
    """A fixed-width report: one line per check, the fix under each failure, then a summary."""
    width = max((len(r.name) for r in results), default=0)
    lines = []
    for r in results:
        label = "SKIP" if r.skipped else "OK" if r.ok else "FAIL"
        lines.append(f"{label:<5} {r.name:<{width}}  {r.detail}")
        if not r.ok and r.fix:
            lines.append(f"{'':<5} {'':<{width}}  fix: {r.fix}")
    failed = sum(not r.ok for r in results)
    skipped = sum(r.skipped for r in results)
    lines.append(f"{len(results) - failed - skipped} ok, {failed} failed, {skipped} skipped")
    return "\n".join(lines)


def exit_code(results: Sequence[CheckResult]) -> int:
    """0 when every check passed (or was skipped), 1 otherwise."""
    return 0 if all(r.ok for r in results) else 1


def main_doctor(argv: Sequence[str] | None = None) -> int:
    """`intel-assets doctor [--only NAME ...] [--timeout S] [--json]`; returns the exit code."""
    from intel_assets.settings import SettingsError, load_settings

    parser = argparse.ArgumentParser(prog="intel-assets doctor",
                                     description="Check every configured dependency.")
    parser.add_argument("--only", action="append", choices=CHECKS, help="run only this check (repeatable)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per network check")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        results = [_fail("settings", str(exc), "fix the INTEL_* variable named above")]
    else:
        results = run_doctor(settings, only=args.only, timeout=args.timeout)
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(format_report(results))
    sys.stdout.flush()
    return exit_code(results)
