"""Owns `intel-assets lean-replay`: LEAN regression algorithms (NAME or all) replayed on our
engine (intel_assets/execution/lean_replay.py), in process or through a LEAN runner, with LEAN's
published statistics beside ours.

    intel-assets lean-replay basic-template|all [--lean-dir DIR] [--runner URL]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from intel_assets.cli.common import default_lean_dir
from intel_assets.domain.backtest import money
from intel_assets.domain.market_data import NEW_YORK, LeanDataError
from intel_assets.execution.lean_regressions import REGRESSIONS
from intel_assets.execution.lean_replay import BrokerFactory, local_broker, replay


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="intel-assets lean-replay",
                                     description="Replay LEAN regression algorithms.")
    parser.add_argument("algorithm", choices=[*REGRESSIONS, "all"],
                        help="the regression algorithm to replay, or all")
    parser.add_argument("--lean-dir", type=Path, default=None,
                        help="LEAN Data folder (default $INTEL_LEAN_DATA_DIR or "
                             "../shared/data/lean next to the repository)")
    parser.add_argument("--runner", default=None, metavar="URL",
                        help="send the orders to a LEAN runner (replay clock, adjusted prices) "
                             "instead of the in-process order book")
    args = parser.parse_args(argv)
    lean_dir = args.lean_dir or default_lean_dir()
    factory: BrokerFactory = local_broker
    if args.runner:
        from intel_assets.execution.lean_runner_broker import runner_broker_factory

        factory = runner_broker_factory(args.runner)
    names = list(REGRESSIONS) if args.algorithm == "all" else [args.algorithm]
    failed = False
    for name in names:
        try:
            run = replay(name, lean_dir, factory)
        except LeanDataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        where = f"the LEAN runner at {args.runner}" if args.runner else "the in-process engine"
        print(f"{run.regression.lean_file} replayed on {lean_dir} through {where}")
        for line in run.statistics.lean_lines():
            print(line)
        if name == "basic-template" and run.result.orders:
            order = run.result.orders[0]
            filled = order.filled_at.astimezone(NEW_YORK).isoformat() if order.filled_at else "-"
            print(f"Order: {order.signed_quantity} SPY filled at {order.fill_price} ({filled}), "
                  f"cash left {money(run.result.cash)}")
        print("Matches LEAN's published statistics" if not run.mismatches
              else "Differs from LEAN's published statistics: " + "; ".join(run.mismatches))
        failed = failed or bool(run.mismatches)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
