"""Owns ``intel-assets rollout rehearse-rollback``: run the rollback rehearsal
(drills/rollback_rehearsal.py) on a LEAN data day, print its short report, record the evidence in
Torghut's database (intel_rollout_rehearsals, read by the rollout gate before phase 4).

Exit 0 when the rehearsal passed, 1 when it failed (its problems printed), 2 on an error (one
``error:`` line: no LEAN data, a bad --day, an unreachable database, ...).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from intel_assets.drills.rollback_rehearsal import DEFAULT_DAY

PROG = "intel-assets rollout rehearse-rollback"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(
        "Replay a LEAN data day's strategy intents through Torghut's execution routing with "
        "TRADING_EXECUTION_ADAPTER=lean and TRADING_MARKET_CONTEXT_ENABLED=true, flip both to "
        "alpaca/false mid window (the last LEAN submit before the flip in flight, retried after "
        "it), and check from both venues' order lists that no order is lost, doubled or "
        "misrouted and that the context path is off; records the evidence with a run id."))
    parser.add_argument("--day", default=DEFAULT_DAY.isoformat(),
                        help=f"a LEAN data day (default {DEFAULT_DAY.isoformat()})")
    parser.add_argument("--dsn", default=None, help="PostgreSQL DSN of the database the evidence "
                        "is recorded in (default: Torghut's database as `intel-assets rollout` "
                        "chooses it)")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the day's first N intents (default: all)")
    return parser


def _torghut_dsn(settings, explicit: str | None) -> tuple[str, bool]:
    """(dsn, is_demo): --dsn as given, else cli.rollout.torghut_dsn_for(settings)."""
    if explicit:
        return explicit, False
    try:
        from intel_assets.cli.rollout import torghut_dsn_for
    except ImportError:
        raise LookupError("no Torghut database to record the evidence in: pass --dsn "
                          "postgresql://...") from None
    return torghut_dsn_for(settings)


def _run(args: argparse.Namespace) -> int:
    from intel_assets.stores.local_postgres import ensure_for
    from intel_assets.stores.bundle_store import BundleStore
    from intel_assets.stores.dsn_contract import store_connect_dsn
    from intel_assets.stores.rollout_rehearsals import (
        TABLE,
        ensure_rehearsal_schema,
        save_rehearsal,
    )
    from intel_assets.stores.torghut_db import TorghutDb
    from intel_assets.drills.rollback_rehearsal import format_rehearsal, rehearse_rollback
    from intel_assets.settings import load_settings

    try:
        day = date.fromisoformat(args.day)
    except ValueError:
        raise ValueError(f"--day {args.day!r} is not a date: write YYYY-MM-DD, e.g. "
                         f"{DEFAULT_DAY.isoformat()}") from None
    if args.limit is not None and args.limit < 2:
        raise ValueError(f"--limit {args.limit}: a rehearsal needs at least 2 intents (one on "
                         "each side of the flip)")
    settings = load_settings()
    lean_dir = settings.resolved_lean_dir
    if lean_dir is None:
        raise LookupError("the rollback rehearsal replays LEAN data: set INTEL_LEAN_DATA_DIR to "
                          "a LEAN Data folder")
    dsn, is_demo = _torghut_dsn(settings, args.dsn)
    db = TorghutDb(dsn)
    ensure_rehearsal_schema(db)  # fails fast when the database is unreachable
    store_dsn = store_connect_dsn(settings)
    ensure_for(settings)  # the embedded bundle store: started, or joined
    result = rehearse_rollback(lean_dir, day, lambda: BundleStore.from_dsn(store_dsn),
                               limit=args.limit)
    save_rehearsal(db, result.record)
    print(format_rehearsal(result.record, result.seconds))
    demo = " (the demo's database)" if is_demo else ""
    print(f"  recorded: run {result.record.run_id} in {TABLE} at {db.where}{demo}")
    return 0 if result.passed else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except Exception as exc:  # noqa: BLE001 - every error is one plain line
        text = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
