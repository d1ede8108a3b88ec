"""LEAN regression algorithms on the shared LEAN week, through the in-process engine (the shared
OrderBook): orders, total fees and end equity equal LEAN's published ``ExpectedStatistics``.

Each case reproduces QuantConnect/Lean master 24863901deffa9ec7985e21ef8fbdb0258efb9e4
``Algorithm.CSharp/<Name>.cs`` (the file is named per case in ``REGRESSIONS``); the checks on
order statuses restate the assertions those algorithms make in ``OnEndOfAlgorithm``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
import pytest
from helpers import LEAN_DIR

from intel_assets.domain.backtest import LocalBroker, money
from intel_assets.domain.execution_models.fills.fill_prices import best_effort_price
from intel_assets.domain.execution_models.fills.lean_equity_fill_model import LeanEquityFillModel
from intel_assets.domain.execution_models.orders import FillDecision
from intel_assets.domain.fills import lean_models
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.execution.lean_regressions import REGRESSIONS
from intel_assets.cli.lean_replay import main
from intel_assets.execution.lean_replay import replay


@pytest.fixture(scope="module")
def lean_dir():
    if not (LEAN_DIR / "equity" / "usa" / "minute" / "spy").is_dir():
        pytest.skip(f"shared LEAN data absent at {LEAN_DIR}: set INTEL_LEAN_DATA_DIR")
    return LEAN_DIR


@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_engine_reproduces_leans_published_statistics(lean_dir, name):
    """Reproduces REGRESSIONS[name].lean_file at QuantConnect/Lean 24863901 (ExpectedStatistics)."""
    run = replay(name, lean_dir)
    published = run.regression.published
    assert str(run.statistics.total_orders) == published["Total Orders"]
    assert f"${money(run.statistics.total_fees)}" == published["Total Fees"]
    assert str(money(run.statistics.end_equity)) == published["End Equity"]
    assert run.mismatches == []


def test_time_in_force_orders_end_as_lean_asserts(lean_dir):
    """Algorithm.CSharp/TimeInForceAlgorithm.cs at 24863901: GTC 100 open, GTC 160 filled, DAY
    140 canceled at the close, DAY 180 filled, GTD(10-10) 100 canceled, GTD 160 filled."""
    run = replay("time-in-force", lean_dir)
    statuses = {k: t.status for k, t in run.algorithm.tickets.items()}
    assert statuses == run.algorithm.EXPECTED
    day1 = run.algorithm.tickets["day1"]
    assert "expired" in day1.reason


def test_order_ticket_demo_fills_nine_of_twelve_orders(lean_dir):
    """Algorithm.CSharp/OrderTicketDemoAlgorithm.cs at 24863901 OnEndOfAlgorithm: 9 filled
    orders, 12 tickets, none open; the synchronous market order is filled when it returns (and
    the asynchronous one is filled before its cancel arrives, as in a LEAN backtest)."""
    run = replay("order-ticket-demo", lean_dir)
    orders = run.result.orders
    assert len(orders) == 12 and sum(o.status == "filled" for o in orders) == 9
    assert not any(o.is_open for o in orders)
    assert run.algorithm.sync_market_filled is True
    assert [o.terms.order_type for o in orders[:2]] == ["market", "market"]
    assert orders[1].status == "filled"
    assert len(run.result.rejected) == 1 and "before the close" in run.result.rejected[0].reason


def test_market_on_close_buffer_accepts_refuses_and_fills_after_hours_orders(lean_dir):
    """Algorithm.CSharp/MarketOnCloseOrderBufferRegressionAlgorithm.cs at 24863901: 15:49 valid
    and filled, 15:51 invalid (10-minute buffer), 17:00 valid and filled at the next close."""
    run = replay("market-on-close-buffer", lean_dir)
    algo = run.algorithm
    assert algo.valid.status == "filled" and algo.invalid.status == "invalid"
    assert algo.after_hours.status == "filled"
    assert algo.after_hours.filled_at.astimezone(NEW_YORK) == datetime(2013, 10, 8, 16, 0,
                                                                        tzinfo=NEW_YORK)


def test_stale_data_orders_wait_for_the_sessions_first_bar(lean_dir):
    """Algorithm.CSharp/MarketOrderStaleDataFillRegressionAlgorithm.cs at 24863901: an order at
    09:30:01 fills on the first session bar (at 09:31), never on the previous close."""
    run = replay("market-order-stale-data-fill", lean_dir)
    opening = [o for o in run.result.orders
               if o.terms.submitted_at.astimezone(NEW_YORK).time().second == 1]
    assert len(opening) == 4  # 10-08..10-11; on 10-07 there is no data yet at 09:30:01
    for order in opening:
        assert order.filled_at.astimezone(NEW_YORK).strftime("%H:%M:%S") == "09:31:00"
    noon = [o for o in run.result.orders if o not in opening]
    assert all(o.filled_at == o.terms.submitted_at for o in noon)  # the bar that closed at 12:00


@dataclass(frozen=True)
class _Pre2023Rules(LeanEquityFillModel):
    """LEAN's limit and stop rules before 2023: a buy limit at min(high, limit) (sell: max(low,
    limit)); a buy stop when high > stop at max(stop, ask) (sell: low < stop, min(stop, bid))."""

    def limit_fill(self, order, market, slippage):
        bar, limit = self._fresh_trade_bar(order, market), order.limit_price
        if bar is not None and order.side == "buy" and bar.low < limit:
            return FillDecision(True, min(bar.high, limit), "old rule")
        if bar is not None and order.side == "sell" and bar.high > limit:
            return FillDecision(True, max(bar.low, limit), "old rule")
        return FillDecision(False, None, "not filled")

    def stop_market_fill(self, order, market, slippage):
        bar, stop = self._fresh_trade_bar(order, market), order.stop_price
        quote = best_effort_price(market, order.side, order.submitted_at)
        if bar is not None and order.side == "buy" and bar.high > stop:
            return FillDecision(True, max(stop, quote.price), "old rule")
        if bar is not None and order.side == "sell" and bar.low < stop:
            return FillDecision(True, min(stop, quote.price), "old rule")
        return FillDecision(False, None, "not filled")


@pytest.mark.parametrize("name", ["order-ticket-demo", "stop-loss-on-order-event"])
def test_the_regressions_tell_the_current_rules_from_the_pre_2023_ones(lean_dir, name):
    """With LEAN's pre-2023 limit/stop rules these end equities are not LEAN's published ones."""
    def old_broker(regression, algorithm, hours):
        return LocalBroker(replace(lean_models(), fill=_Pre2023Rules()), {"SPY": hours})

    old = replay(name, lean_dir, old_broker)
    assert str(money(old.statistics.end_equity)) != old.regression.published["End Equity"]
    assert f"${money(old.statistics.total_fees)}" == old.regression.published["Total Fees"]


def test_cli_replays_every_regression(lean_dir, capsys):
    assert main(["all", "--lean-dir", str(lean_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count("Matches LEAN's published statistics") == len(REGRESSIONS)
    assert "End Equity 100709.93" in out
