"""Owns `intel-assets rollout`: sign-offs of the rollout gate as records, and the gate's status.

* ``approve --phase N --approver NAME --token-env VAR [--baseline-version V] [--note TEXT]``:
  appends an approval to intel_rollout_signoffs for the token in environment variable VAR:
  who, when, the phase, the baseline version (default: the newest in intel_rollout_baselines)
  and the token's sha256, never the token. The gate (p4_approval) passes for
  INTEL_ROLLOUT_APPROVAL_TOKEN while that token's latest sign-off approves the gate's phase and
  baseline version.
* ``revoke --token-env VAR --by NAME --reason TEXT``: appends a revocation of that approval.
* ``status [--as-of YYYY-MM-DD]``: evaluates the gate now (the same evidence rollout_gate
  gathers) and prints the phase reached, every criterion with its evidence, and what to do next.
* ``rehearse-rollback ...``: the rollback rehearsal (intel_assets/cli/rehearse_rollback.py).

The database is TORGHUT_DB_DSN, or else (embedded PostgreSQL on) the demo database
``torghut_demo`` of INTEL_HOME's embedded cluster (torghut_dsn_for). Every error is one
``error: ...`` line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta, timezone

from intel_assets.contracts.gates import PHASES, BaselineSnapshot, GateVerdict
from intel_assets.domain.rollout_metrics import token_sha256
from intel_assets.stores.dsn_contract import TORGHUT_DB_DSN_ENV
from intel_assets.settings import Settings, SettingsError, environment_value, load_settings

#: The embedded cluster's database standing in for Torghut's in the demo.
DEMO_DB = "torghut_demo"
STATUS_RUN = "none: evaluated by `intel-assets rollout status`, not materialized"


def torghut_dsn_for(settings: Settings) -> tuple[str, bool]:
    """(DSN of Torghut's database, whether it is the demo's): TORGHUT_DB_DSN when set; else, with
    the embedded PostgreSQL on, the ``torghut_demo`` database of INTEL_HOME's cluster (started
    and the database created when absent); else SettingsError asking for TORGHUT_DB_DSN."""
    dsn = settings.parity.torghut_db_dsn
    if dsn:
        return dsn, False
    if not settings.embedded_postgres:
        raise SettingsError(f"no Torghut database: set {TORGHUT_DB_DSN_ENV} to Torghut's "
                            "PostgreSQL (or leave INTEL_EMBEDDED_POSTGRES on for the demo "
                            f"database {DEMO_DB})")
    import psycopg2

    from intel_assets.stores.local_postgres import EmbeddedPostgresError, ensure_running

    cluster = ensure_running(settings.home)
    try:
        _demo_database_present(cluster, create=True)
    except psycopg2.OperationalError as exc:
        raise EmbeddedPostgresError(f"the embedded PostgreSQL in {cluster.root} refused a "
                                    f"connection: {_first_line(exc)}; see {cluster.log}") from None
    return cluster.url(DEMO_DB), True


def _demo_database_present(cluster, create: bool) -> bool:
    """Whether ``torghut_demo`` exists in the embedded ``cluster`` (created first when
    ``create``). psycopg2.OperationalError when the cluster refuses a connection."""
    import psycopg2
    from psycopg2 import errors

    conn = psycopg2.connect(cluster.url("postgres"), connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DEMO_DB,))
            if cur.fetchone() is not None:
                return True
            if not create:
                return False
            try:
                cur.execute(f'CREATE DATABASE "{DEMO_DB}"')
            except errors.DuplicateDatabase:  # another process created it meanwhile
                pass
            return True
    finally:
        conn.close()


def existing_demo_dsn(settings: Settings) -> str | None:
    """The DSN of the embedded cluster's ``torghut_demo`` when `intel-assets parity --week`
    (`make gate`) created it and TORGHUT_DB_DSN is unset; else None. Never creates anything, so
    `intel-assets ui` shows the gate the demo measured without a Torghut database of its own."""
    if settings.parity.torghut_db_dsn or not settings.embedded_postgres:
        return None
    import psycopg2

    from intel_assets.stores.local_postgres import ensure_running

    cluster = ensure_running(settings.home)
    try:
        present = _demo_database_present(cluster, create=False)
    except psycopg2.OperationalError:
        return None
    return cluster.url(DEMO_DB) if present else None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write YYYY-MM-DD") from None


def _version(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a baseline version (1, 2, ...)")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intel-assets rollout", description="Rollout sign-offs as records (approve, revoke "
        "the token of INTEL_ROLLOUT_APPROVAL_TOKEN, by sha256), the rollout gate's status now, "
        "and the rollback rehearsal.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    approve = sub.add_parser("approve", help="record an approval of the token in VAR (by sha256)")
    approve.add_argument("--phase", type=int, required=True, choices=range(5), metavar="N",
                         help="the phase approved, 0..4 (the gate wants 4)")
    approve.add_argument("--approver", required=True, metavar="NAME", help="who approves")
    approve.add_argument("--token-env", required=True, metavar="VAR",
                         help="environment variable holding the approval token")
    approve.add_argument("--baseline-version", type=_version, metavar="V",
                         help="the baseline approved (default: the newest)")
    approve.add_argument("--note", default="", metavar="TEXT", help="why (kept with the record)")
    revoke = sub.add_parser("revoke", help="record a revocation of the token's approval")
    revoke.add_argument("--token-env", required=True, metavar="VAR",
                        help="environment variable holding the approved token")
    revoke.add_argument("--by", required=True, metavar="NAME", help="who revokes")
    revoke.add_argument("--reason", required=True, metavar="TEXT", help="why")
    status = sub.add_parser("status", help="evaluate the rollout gate now and say what is next")
    status.add_argument("--as-of", type=_day, metavar="YYYY-MM-DD",
                        help="last day of every window (default: the newest parity day, else "
                        "yesterday in New York)")
    sub.add_parser("rehearse-rollback", add_help=False, help="rehearse Torghut's rollback")
    return parser


def main(argv: list[str]) -> int:
    """`intel-assets rollout ...`; returns the exit code (errors: one line, exit 2)."""
    argv = list(argv)
    if argv[:1] == ["rehearse-rollback"]:
        try:
            from intel_assets.cli.rehearse_rollback import main as rehearse_main
        except ModuleNotFoundError as exc:
            if exc.name != "intel_assets.cli.rehearse_rollback":
                raise
            print("error: rehearse-rollback is not part of this build of intel_assets",
                  file=sys.stderr)
            return 2
        return rehearse_main(argv[1:])
    args = _parser().parse_args(argv)

    import psycopg2

    from intel_assets.stores.local_postgres import EmbeddedPostgresError
    from intel_assets.stores.dsn_contract import DsnContractError
    from intel_assets.settings import ParityConfigError
    from intel_assets.stores.rollout_signoffs import SignoffError
    from intel_assets.stores.torghut_db import TorghutDbError

    try:
        if args.cmd == "approve":
            return _approve(args)
        if args.cmd == "revoke":
            return _revoke(args)
        return _status(args)
    except (SettingsError, DsnContractError, TorghutDbError, EmbeddedPostgresError,
            SignoffError, ParityConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except psycopg2.OperationalError as exc:
        print(f"error: the Torghut database failed the request: {_first_line(exc)}; check "
              f"{TORGHUT_DB_DSN_ENV} and that the server is up", file=sys.stderr)
        return 2


# ---- approve / revoke ---------------------------------------------------------------------------

def _token(var: str) -> str:
    token = environment_value(var)  # stripped, as RolloutPolicyResource reads it
    if not token:
        raise SettingsError(f"environment variable {var} is unset or empty: put the approval "
                            f"token in it (only its sha256 is recorded)")
    return token


def _open_db(settings: Settings):
    """(RolloutDb with its tables, where it is for messages, whether it is the demo's)."""
    from intel_assets.stores.rollout_db import RolloutDb

    dsn, demo = torghut_dsn_for(settings)
    db = RolloutDb(dsn)
    db.ensure_rollout_schema()
    where = (f"demo database {DEMO_DB} of the embedded PostgreSQL (set {TORGHUT_DB_DSN_ENV} for "
             "Torghut's)" if demo else db.where)
    return db, where, demo


def _baseline(db, version: int | None, where: str) -> BaselineSnapshot:
    found = db.baseline(version)
    if found is not None:
        return found
    newest = db.baseline()
    if version is not None and newest is not None:
        raise SettingsError(f"intel_rollout_baselines has no version {version} (newest: "
                            f"v{newest.version}) in {where}")
    raise SettingsError(f"no baseline in intel_rollout_baselines ({where}): materialize "
                        "rollout_baseline (or run `make gate`), then approve it")


def _approve(args: argparse.Namespace) -> int:
    digest = token_sha256(_token(args.token_env))
    db, where, _ = _open_db(load_settings())
    base = _baseline(db, args.baseline_version, where)
    event = db.record_signoff("approve", digest, args.approver, phase=args.phase,
                              baseline_version=base.version, reason=args.note)
    print(f"approved: {event.actor} signed off phase {event.phase} on baseline v{base.version} "
          f"({base.start_day}..{base.end_day}) for the token with sha256 {digest[:12]}... "
          f"(intel_rollout_signoffs #{event.id} at {event.at.isoformat(timespec='seconds')}, "
          f"{where})")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    digest = token_sha256(_token(args.token_env))
    db, where, _ = _open_db(load_settings())
    event = db.record_signoff("revoke", digest, args.by, reason=args.reason)
    print(f"revoked: {event.actor} withdrew the approval of phase {event.phase} on baseline "
          f"v{event.baseline_version} for the token with sha256 {digest[:12]}...: {event.reason} "
          f"(intel_rollout_signoffs #{event.id} at {event.at.isoformat(timespec='seconds')}, "
          f"{where})")
    return 0


# ---- status -------------------------------------------------------------------------------------

def _newest_parity_day(db) -> date | None:
    with db._cursor() as cur:
        cur.execute("SELECT max(day) FROM intel_parity_reports")
        return cur.fetchone()[0]


def format_status(verdict: GateVerdict) -> str:
    """The verdict as `parity --week` prints it (execution/parity_week.format_gate_verdict),
    then a ``next:`` block naming each blocker with what to do."""
    from intel_assets.drills.parity_week import GateOutcome, format_gate_verdict

    reached = verdict.phase_reached
    blockers = verdict.blockers()
    outcome = GateOutcome(
        run_id=STATUS_RUN, success=True, as_of_day=str(verdict.as_of_day),
        phase_reached=reached, phase_name=PHASES.get(reached, "none reached"),
        criteria=[c.model_dump(mode="json", exclude={"evidence"}) for c in verdict.criteria],
        evidence={c.id: [e.model_dump(mode="json") for e in c.evidence]
                  for c in verdict.criteria},
        checks={c.id: c.passed for c in verdict.criteria},
        blockers=", ".join(c.id for c in blockers) or "none")
    lines = [format_gate_verdict(outcome).lstrip("\n"), ""]
    if not blockers:
        lines.append(f"next: nothing blocks: phase {reached} ({PHASES[reached]}) is reached")
    else:
        lines.append(f"next: to reach phase {reached + 1} ({PHASES[reached + 1]}), fix:")
        lines += [f"  - {c.id}: {c.message}" for c in blockers]
    return "\n".join(lines)


def _status(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from intel_assets.assets.rollout import exchange_holidays, gather_evidence
    from intel_assets.cli.dagster_home import prepare_dagster_home
    from intel_assets.domain.gates import evaluate_gates
    from intel_assets.domain.market_data import NEW_YORK
    from intel_assets.drills.parity_week import DEMO_CANARY_SYMBOLS
    from intel_assets.parity_definitions import rollout_policy_from
    from intel_assets.resources.rollout_policy import APPROVAL_TOKEN_ENV

    settings = load_settings()
    db, where, demo = _open_db(settings)
    now = datetime.now(timezone.utc)
    as_of = args.as_of or _newest_parity_day(db) or (now.astimezone(NEW_YORK).date()
                                                     - timedelta(days=1))
    lean_dir = settings.resolved_lean_dir
    holidays, calendar = (exchange_holidays(lean_dir) if lean_dir is not None else
                          (frozenset(), "weekends only (no LEAN data: set INTEL_LEAN_DATA_DIR "
                           "for the exchange holidays)"))
    # The canary subset the week demo and the gate use (INTEL_CANARY_SYMBOLS; the demo's SPY).
    resource = rollout_policy_from(settings.parity, default_symbols=DEMO_CANARY_SYMBOLS if demo
                                   else ()).with_approval_token(
        environment_value(APPROVAL_TOKEN_ENV))
    home = prepare_dagster_home(settings)
    with DagsterInstance.get() as instance:
        evidence = gather_evidence(db, instance, resource, as_of, now, holidays)
    verdict = evaluate_gates(evidence, resource.policy(), holidays)
    print(f"Torghut DB: {where}\nDagster instance: DAGSTER_HOME={home}\ntrading calendar: "
          f"{calendar}\n")
    print(format_status(verdict))
    return 0


__all__ = ["DEMO_DB", "format_status", "main", "torghut_dsn_for"]
