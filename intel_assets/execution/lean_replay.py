"""Owns the LEAN fidelity replays: LEAN regression algorithms re-run on our engine and models.

``basic_template`` is LEAN's ``BasicTemplateAlgorithm``: 2013-10-07..2013-10-11, $100,000,
SPY minute data (Adjusted, regular hours), ``SetHoldings(SPY, 1)`` on the first data point
(the 09:30-09:31 bar, delivered at 09:31) and hold. LEAN publishes: 1 order, Total Fees $3.44,
End Equity 101691.92, Net Profit 1.692 %, Compounding Annual Return 271.453 %, Drawdown 2.2 %.

    python -m intel_assets.execution.lean_replay basic-template [--lean-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from intel_assets.domain.backtest import (
    BacktestContext,
    backtest_statistics,
    money,
    run_backtest,
)
from intel_assets.domain.fills import MarketSnapshot, lean_models
from intel_assets.domain.lean_data import lean_minute_snapshots
from intel_assets.domain.market_data import NEW_YORK, LeanDataError

REPO = Path(__file__).resolve().parents[2]

#: LEAN's published statistics for BasicTemplateAlgorithm (Algorithm.CSharp ExpectedStatistics).
BASIC_TEMPLATE_PUBLISHED = {"Total Orders": "1", "Total Fees": "$3.44",
                            "End Equity": "101691.92", "Net Profit": "1.692%",
                            "Compounding Annual Return": "271.453%", "Drawdown": "2.200%",
                            "Portfolio Turnover": "19.93%"}


def default_lean_dir() -> Path:
    """``$INTEL_LEAN_DATA_DIR``, else ``<repo>/../shared/data/lean``."""
    env = os.environ.get("INTEL_LEAN_DATA_DIR")
    return Path(env).expanduser() if env else REPO.parent / "shared" / "data" / "lean"


class BasicTemplateAlgorithm:
    """``if not Portfolio.Invested: SetHoldings(SPY, 1)`` on every data point."""

    def __init__(self, symbol: str = "SPY") -> None:
        self.symbol = symbol

    def on_data(self, ctx: BacktestContext, data: dict[str, MarketSnapshot]) -> None:
        if not ctx.invested:
            ctx.set_holdings(self.symbol, 1)


def basic_template(lean_dir: Path | str) -> dict[str, Any]:
    """Replay BasicTemplateAlgorithm on ``lean_dir``; LEAN-spelled statistics plus the fill."""
    lean_dir = Path(lean_dir)
    start_day, end_day = date(2013, 10, 7), date(2013, 10, 11)
    days = [start_day + timedelta(days=i) for i in range((end_day - start_day).days + 1)]
    snapshots = lean_minute_snapshots(lean_dir, "SPY", [d for d in days if d.weekday() < 5],
                                      normalization="adjusted")
    start = datetime.combine(start_day, time(), tzinfo=NEW_YORK)
    result = run_backtest(BasicTemplateAlgorithm(), snapshots, lean_models(), 100_000, start)
    stats = backtest_statistics(result)
    lines = stats.lean_lines()
    out: dict[str, Any] = {line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1] for line in lines}
    order = result.orders[0] if result.orders else None
    out.update({
        "lines": lines,
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
                                     description="Replay a LEAN regression algorithm.")
    parser.add_argument("algorithm", choices=["basic-template"])
    parser.add_argument("--lean-dir", type=Path, default=None,
                        help="LEAN Data folder (default $INTEL_LEAN_DATA_DIR or "
                             "../shared/data/lean next to the repository)")
    args = parser.parse_args(argv)
    lean_dir = args.lean_dir or default_lean_dir()
    try:
        stats = basic_template(lean_dir)
    except LeanDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"BasicTemplateAlgorithm replay on {lean_dir}")
    for line in stats["lines"]:
        print(line)
    print(f"Order: {stats['quantity']} SPY filled at {stats['fill_price']} "
          f"({stats['filled_at']}), cash left {money(stats['cash'])}")
    mismatched = [f"{k}: ours {stats.get(k)} vs LEAN {v}"
                  for k, v in BASIC_TEMPLATE_PUBLISHED.items() if stats.get(k) != v]
    print("Matches LEAN's published statistics" if not mismatched
          else "Differs from LEAN's published statistics: " + "; ".join(mismatched))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
