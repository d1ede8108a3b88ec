"""Owns the LEAN fidelity replays: LEAN regression algorithms (``lean_regressions``) re-run on our
engine and models, in process or through a LEAN runner over HTTP, with LEAN's published
statistics beside ours.

``basic-template`` is LEAN's ``BasicTemplateAlgorithm``: 2013-10-07..2013-10-11, $100,000,
SPY minute data (Adjusted, regular hours), ``SetHoldings(SPY, 1)`` on the first data point
(the 09:30-09:31 bar, delivered at 09:31) and hold. LEAN publishes: 1 order, Total Fees $3.44,
End Equity 101691.92, Net Profit 1.692 %, Compounding Annual Return 271.453 %, Drawdown 2.2 %.

    python -m intel_assets.execution.lean_replay basic-template|all [--lean-dir DIR] [--runner URL]
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Callable

from intel_assets.domain.backtest import (
    BacktestResult,
    BacktestStatistics,
    Broker,
    LocalBroker,
    backtest_statistics,
    money,
    run_backtest,
)
from intel_assets.domain.fills import lean_models
from intel_assets.domain.lean_data import ExchangeHours, lean_minute_snapshots, read_exchange_hours
from intel_assets.domain.market_data import NEW_YORK, LeanDataError, lean_minute_days
from intel_assets.execution.lean_regressions import REGRESSIONS, BasicTemplate, Regression

REPO = Path(__file__).resolve().parents[2]
BasicTemplateAlgorithm = BasicTemplate  # the name this module used before the registry

#: LEAN's published statistics for BasicTemplateAlgorithm (Algorithm.CSharp ExpectedStatistics).
BASIC_TEMPLATE_PUBLISHED = {"Total Orders": "1", "Total Fees": "$3.44",
                            "End Equity": "101691.92", "Net Profit": "1.692%",
                            "Compounding Annual Return": "271.453%", "Drawdown": "2.200%",
                            "Portfolio Turnover": "19.93%"}

#: builds the broker of a replay: (regression, algorithm, exchange hours) -> Broker
BrokerFactory = Callable[[Regression, object, ExchangeHours], Broker]


def default_lean_dir() -> Path:
    """``$INTEL_LEAN_DATA_DIR``, else ``<repo>/../shared/data/lean``."""
    env = os.environ.get("INTEL_LEAN_DATA_DIR")
    return Path(env).expanduser() if env else REPO.parent / "shared" / "data" / "lean"


def local_broker(regression: Regression, algorithm: object, hours: ExchangeHours) -> Broker:
    """The in-process broker (the shared OrderBook) configured as the algorithm asks."""
    options = {}
    if getattr(algorithm, "moc_buffer", None) is not None:
        options["moc_buffer"] = algorithm.moc_buffer  # type: ignore[attr-defined]
    return LocalBroker(lean_models(), {s: hours for s in regression.symbols}, **options)


@dataclass
class Replay:
    """One replay: the engine's result, LEAN-spelled statistics and LEAN's published ones."""

    regression: Regression
    algorithm: object
    result: BacktestResult
    statistics: BacktestStatistics

    @property
    def ours(self) -> dict[str, str]:
        return {line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1]
                for line in self.statistics.lean_lines()}

    @property
    def mismatches(self) -> list[str]:
        return [f"{k}: ours {self.ours.get(k)} vs LEAN {v}"
                for k, v in self.regression.published.items() if self.ours.get(k) != v]


def trading_days(hours: ExchangeHours, start: date, end: date) -> list[date]:
    """The regular-session days from ``start`` to ``end`` (inclusive)."""
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return [d for d in days if hours.session(d) is not None]


def replay(name: str, lean_dir: Path | str, broker: BrokerFactory = local_broker) -> Replay:
    """Run the regression ``name`` on ``lean_dir`` (LeanDataError when its data is missing)."""
    regression = REGRESSIONS[name]
    lean_dir = Path(lean_dir)
    for symbol in regression.symbols:
        if not lean_minute_days(lean_dir, symbol):
            raise LeanDataError(f"no LEAN minute data for {symbol} in {lean_dir} "
                                "(equity/usa/minute); point --lean-dir at a LEAN Data folder")
    hours = read_exchange_hours(lean_dir, regression.symbols[0])
    days = trading_days(hours, regression.start, regression.end)
    snapshots = [s for symbol in regression.symbols for s in lean_minute_snapshots(
        lean_dir, symbol, days, normalization="adjusted", fill_forward=True)]
    algorithm = regression.build(days)
    start = datetime.combine(regression.start, time(), tzinfo=NEW_YORK)
    result = run_backtest(algorithm, snapshots, lean_models(), regression.cash, start,
                          broker=broker(regression, algorithm, hours))
    return Replay(regression, algorithm, result, backtest_statistics(result))


def basic_template(lean_dir: Path | str) -> dict[str, Any]:
    """Replay BasicTemplateAlgorithm on ``lean_dir``; LEAN-spelled statistics plus the fill."""
    run = replay("basic-template", lean_dir)
    stats, result = run.statistics, run.result
    out: dict[str, Any] = dict(run.ours)
    order = result.orders[0] if result.orders else None
    out.update({
        "lines": stats.lean_lines(),
        "total_orders": stats.total_orders,
        "total_fees": money(stats.total_fees),
        "end_equity": money(stats.end_equity),
        "end_equity_exact": stats.end_equity,
        "quantity": None if order is None else order.signed_quantity,
        "fill_price": None if order is None else order.fill_price,
        "filled_at": None if order is None or order.filled_at is None
        else order.filled_at.astimezone(NEW_YORK).isoformat(),
        "cash": result.cash,
        "published": dict(BASIC_TEMPLATE_PUBLISHED),
    })
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m intel_assets.execution.lean_replay",
                                     description="Replay LEAN regression algorithms.")
    parser.add_argument("algorithm", choices=[*REGRESSIONS, "all"])
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
