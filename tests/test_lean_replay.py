"""Fidelity target: LEAN's BasicTemplateAlgorithm replayed on the shared LEAN sample data.

Expected statistics are LEAN's published ones (Algorithm.CSharp/BasicTemplateAlgorithm.cs,
ExpectedStatistics): 1 order, Total Fees $3.44, End Equity 101691.92, Net Profit 1.692%,
Compounding Annual Return 271.453%, Drawdown 2.200%, Portfolio Turnover 19.93%. Other values
were read by hand from the raw files, e.g. ``unzip -p equity/usa/minute/spy/20131007_quote.zip |
grep ^34200000`` (ask close 1674500 = $167.45) and ``grep 2013 factor_files/spy.csv``.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal as D
from pathlib import Path

import pytest
from helpers import LEAN_DIR

from intel_assets.domain.lean_data import (
    lean_minute_snapshots,
    price_scale_factor,
    read_exchange_hours,
    read_factor_rows,
)
from intel_assets.cli.lean_replay import main
from intel_assets.execution.lean_replay import BASIC_TEMPLATE_PUBLISHED, basic_template



@pytest.fixture(scope="module")
def lean_dir() -> Path:
    if not (LEAN_DIR / "equity" / "usa" / "minute" / "spy").is_dir():
        pytest.skip(f"shared LEAN data absent at {LEAN_DIR}: set INTEL_LEAN_DATA_DIR")
    return LEAN_DIR


@pytest.fixture(scope="module")
def replay(lean_dir: Path) -> dict:
    return basic_template(lean_dir)


def test_basic_template_matches_lean_published_statistics(replay: dict) -> None:
    assert replay["total_orders"] == 1
    assert replay["total_fees"] == D("3.44")
    assert replay["end_equity"] == D("101691.92")
    for name, published in BASIC_TEMPLATE_PUBLISHED.items():
        assert replay[name] == published, name


def test_basic_template_order_is_688_shares_at_the_adjusted_0931_ask(replay: dict) -> None:
    assert replay["quantity"] == 688  # 3.44 / 0.005 per share
    assert replay["fill_price"] == D("167.45") * D("0.8646266")  # ask close x factor, exact
    assert replay["filled_at"] == "2013-10-07T09:31:00-04:00"  # first data point: 09:30 bar
    # cash = 100,000 - 688 x fill - fee; equity = cash + 688 x 170.30 x factor (15:59 close)
    assert replay["cash"] == D(100000) - 688 * replay["fill_price"] - D("3.44")
    assert replay["end_equity_exact"] == replay["cash"] + 688 * D("170.30") * D("0.8646266")


def test_cli_prints_the_statistics(lean_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["basic-template", "--lean-dir", str(lean_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    for line in ("Total Orders 1", "Total Fees $3.44", "End Equity 101691.92",
                 "Matches LEAN's published statistics"):
        assert line in out


def test_cli_reports_missing_data_plainly(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["basic-template", "--lean-dir", str(tmp_path)]) == 2
    assert "no LEAN minute data for SPY" in capsys.readouterr().err


def test_factor_row_applies_to_dates_up_to_and_including_its_own(lean_dir: Path) -> None:
    rows = read_factor_rows(lean_dir, "spy")
    assert price_scale_factor(rows, date(2013, 10, 7)) == D("0.8646266")   # row 20131219
    assert price_scale_factor(rows, date(2013, 12, 19)) == D("0.8646266")  # its own date
    assert price_scale_factor(rows, date(2013, 12, 20)) == D("0.8693686")  # next row 20140320
    assert price_scale_factor(rows, date(2013, 9, 19)) == D("0.8604238")
    assert price_scale_factor(rows, date(2060, 1, 1)) == 1  # after the last row (20501231)


def test_snapshots_are_regular_hours_with_bid_ask_ohlc(lean_dir: Path) -> None:
    raw = lean_minute_snapshots(lean_dir, "SPY", [date(2013, 10, 7)], normalization="raw")
    adjusted = lean_minute_snapshots(lean_dir, "SPY", [date(2013, 10, 7)])
    assert len(raw) == 390  # 09:30..15:59 starts; the 04:00-09:29 and 16:00+ rows are dropped
    first = raw[0]
    assert first.start == datetime(2013, 10, 7, 13, 30, tzinfo=timezone.utc)
    # trade 34200000,1674300,1675200,1674100,1674400 and quote ask o/h/l/c 1674100..1674500
    assert (first.trade.open, first.trade.high, first.trade.low, first.trade.close) == (
        D("167.43"), D("167.52"), D("167.41"), D("167.44"))
    assert first.quote.ask.close == D("167.45") and first.quote.bid.close == D("167.44")
    assert first.quote.ask.high == D("167.53")
    assert adjusted[0].trade.close == D("167.44") * D("0.8646266")
    assert raw[-1].start == datetime(2013, 10, 7, 19, 59, tzinfo=timezone.utc)


def test_exchange_hours_come_from_the_market_hours_database(lean_dir: Path) -> None:
    hours = read_exchange_hours(lean_dir)
    assert hours.session(date(2013, 10, 12)) is None  # Saturday
    assert hours.session(date(2013, 12, 25)) is None  # holiday
    assert hours.session(date(2013, 11, 29))[1].hour == 13  # day after Thanksgiving
    friday_close = datetime(2013, 10, 11, 20, 0, tzinfo=timezone.utc)  # 16:00 New York
    assert hours.next_session_day(friday_close) == date(2013, 10, 14)
