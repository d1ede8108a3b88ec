"""Owns the LEAN fidelity replays: LEAN regression algorithms (``lean_regressions``) re-run on our
engine and models, in process or through a LEAN runner over HTTP, with LEAN's published
statistics beside ours.

``basic-template`` is LEAN's ``BasicTemplateAlgorithm``: 2013-10-07..2013-10-11, $100,000,
SPY minute data (Adjusted, regular hours), ``SetHoldings(SPY, 1)`` on the first data point
(the 09:30-09:31 bar, delivered at 09:31) and hold. LEAN publishes: 1 order, Total Fees $3.44,
End Equity 101691.92, Net Profit 1.692 %, Compounding Annual Return 271.453 %, Drawdown 2.2 %.

The command line is ``intel-assets lean-replay basic-template|all [--lean-dir DIR] [--runner URL]``
(intel_assets/cli/lean_replay.py).
"""

from __future__ import annotations

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

BasicTemplateAlgorithm = BasicTemplate  # the name this module used before the registry

#: LEAN's published statistics for BasicTemplateAlgorithm (Algorithm.CSharp ExpectedStatistics).
BASIC_TEMPLATE_PUBLISHED = {"Total Orders": "1", "Total Fees": "$3.44",
                            "End Equity": "101691.92", "Net Profit": "1.692%",
                            "Compounding Annual Return": "271.453%", "Drawdown": "2.200%",
                            "Portfolio Turnover": "19.93%"}

#: builds the broker of a replay: (regression, algorithm, exchange hours) -> Broker
BrokerFactory = Callable[[Regression, object, ExchangeHours], Broker]


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
