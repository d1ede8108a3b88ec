"""LEAN regression algorithms through the HTTP runner: each algorithm trades over contract v2
with the runner's replay clock (RunnerBroker), or, for those whose orders are a fixed list,
through ``POST /v1/backtests/submit``; orders, total fees and end equity equal LEAN's published
``ExpectedStatistics`` (QuantConnect/Lean master 24863901deffa9ec7985e21ef8fbdb0258efb9e4
``Algorithm.CSharp/<Name>.cs``, named per case in ``REGRESSIONS``).
"""

from __future__ import annotations

import time as time_module
from datetime import date, datetime, time, timedelta
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
from helpers import LEAN_DIR

from intel_assets.domain.backtest import money
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.execution.lean_regressions import REGRESSIONS
from intel_assets.execution.lean_replay import replay
from intel_assets.devtools.lean_runner import lean_runner_in_background
from intel_assets.execution.lean_runner_broker import RunnerBroker

WEEK = [date(2013, 10, 7) + timedelta(days=i) for i in range(5)]


@pytest.fixture(scope="module")
def lean_dir():
    if not (LEAN_DIR / "equity" / "usa" / "minute" / "spy").is_dir():
        pytest.skip(f"shared LEAN data absent at {LEAN_DIR}: set INTEL_LEAN_DATA_DIR")
    return LEAN_DIR


@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_the_runner_reproduces_leans_published_statistics_over_http(lean_dir, name):
    """Reproduces REGRESSIONS[name].lean_file at QuantConnect/Lean 24863901: the algorithm's
    orders go to ``intel-assets lean-runner`` (adjusted prices, LEAN's backtest default) and
    every fill, fee and fill time comes back from it."""
    options = {}
    buffer = getattr(REGRESSIONS[name].build(WEEK), "moc_buffer", None)
    if buffer is not None:
        options["moc_buffer"] = buffer
    brokers: list[RunnerBroker] = []
    with lean_runner_in_background(lean_dir, normalization="adjusted", **options) as url:
        def through_runner(regression, algorithm, hours):
            brokers.append(RunnerBroker(url))
            return brokers[0]

        run = replay(name, lean_dir, through_runner)
        at_runner = httpx.get(f"{url}/v1/orders", params={"status": "all"}).json()["orders"]
    published = run.regression.published
    assert str(run.statistics.total_orders) == published["Total Orders"]
    assert f"${money(run.statistics.total_fees)}" == published["Total Fees"]
    assert str(money(run.statistics.end_equity)) == published["End Equity"]
    assert run.mismatches == []
    # the runner holds exactly these orders, and its fees are the ones counted
    assert len(at_runner) == run.statistics.total_orders
    runner_fees = sum((D(o["_lean_execution"]["fee"]) for o in at_runner), D(0))
    assert runner_fees == run.statistics.total_fees
    assert {o["id"] for o in at_runner} == {o.order_id for o in run.result.orders}
    assert brokers[0].requests > 0


def _ny(day: date, hh: int, mm: int, ss: int = 0) -> str:
    return datetime.combine(day, time(hh, mm, ss), tzinfo=NEW_YORK).isoformat()


def _market(when: str, qty: int = 1, **extra: Any) -> dict[str, Any]:
    return {"at": when, "symbol": "SPY", "side": "buy", "qty": qty, "order_type": "market",
            "time_in_force": "day", **extra}


def _limit(when: str, price: int, tif: str, **extra: Any) -> dict[str, Any]:
    return {**_market(when, 10), "order_type": "limit", "limit_price": price,
            "time_in_force": tif, **extra}


#: The fixed order lists of three regressions, restated from their Initialize/OnData.
BACKTEST_CASES = {
    # MarketOrderStaleDataFillRegressionAlgorithm.cs: 1 share at 09:30:01 and 12:00:00 every day
    # (LEAN refuses the first, before any data: HasData is false)
    "market-order-stale-data-fill": {"intents": [
        _market(_ny(d, hh, mm, ss)) for d in WEEK for hh, mm, ss in ((9, 30, 1), (12, 0, 0))]},
    # TimeInForceAlgorithm.cs: six buy limits of 10 at the first data point (09:31)
    "time-in-force": {"start": "2013-10-07", "end": "2013-10-11", "intents": [
        _limit(_ny(WEEK[0], 9, 31), 100, "gtc"), _limit(_ny(WEEK[0], 9, 31), 160, "gtc"),
        _limit(_ny(WEEK[0], 9, 31), 140, "day"), _limit(_ny(WEEK[0], 9, 31), 180, "day"),
        _limit(_ny(WEEK[0], 9, 31), 100, "gtd", extra_params={"expire_date": "2013-10-10"}),
        _limit(_ny(WEEK[0], 9, 31), 160, "gtd", extra_params={"expire_date": "2013-10-10"})]},
    # MarketOnCloseOrderBufferRegressionAlgorithm.cs: MOC of 2 at 15:49, 15:51 and 17:00 with a
    # 10-minute submission buffer, 2013-10-07..08
    "market-on-close-buffer": {"end": "2013-10-08", "moc_buffer_minutes": 10, "intents": [
        _market(_ny(WEEK[0], hh, mm), 2, time_in_force="cls")
        for hh, mm in ((15, 49), (15, 51), (17, 0))]},
}


@pytest.mark.parametrize("name", list(BACKTEST_CASES))
def test_the_backtests_endpoint_reproduces_leans_published_statistics(lean_dir, name):
    """Reproduces REGRESSIONS[name].lean_file at QuantConnect/Lean 24863901 through
    ``POST /v1/backtests/submit`` (their orders are a fixed list)."""
    published = REGRESSIONS[name].published
    config = {"cash": 100000, "normalization": "adjusted", **BACKTEST_CASES[name]}
    with lean_runner_in_background(lean_dir) as url, httpx.Client(base_url=url) as http:
        accepted = http.post("/v1/backtests/submit", json={"lane": "research", "config": config})
        assert accepted.status_code == 200, accepted.text
        deadline = time_module.monotonic() + 30
        while True:  # backtests run on the runner's worker: queued -> running -> completed
            backtest = http.get(f"/v1/backtests/{accepted.json()['backtest_id']}").json()
            if backtest["status"] not in ("queued", "running") or \
                    time_module.monotonic() > deadline:
                break
            time_module.sleep(0.05)
    assert backtest["status"] == "completed"
    stats = backtest["result"]["statistics"]
    for key in ("Total Orders", "Total Fees", "End Equity"):
        assert stats[key] == published[key], key
    refused = backtest["result"]["rejected"]
    assert len(refused) == len(config["intents"]) - int(published["Total Orders"])
