"""Market-data loading: LEAN minute zips (shared sample data) and the seeded synthetic market.

Expected LEAN values below were read by hand from the raw CSVs, e.g.
``unzip -p $LEAN/equity/usa/minute/spy/20131011_trade.zip | head -1``; row counts with
``unzip -p ... | awk 'END{print NR}'`` (the files have no trailing newline, so ``wc -l`` is one
short). Milliseconds are converted to New-York wall time by hand (14400000 ms = 04:00).
"""

from __future__ import annotations

import zipfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import LEAN_DIR

from intel_assets.domain.market_data import (
    BARS_COLUMNS,
    QUOTES_COLUMNS,
    LeanDataError,
    lean_minute_days,
    load_lean_minute,
    synthetic_market,
)

NY = "America/New_York"


@pytest.fixture
def lean_dir() -> Path:
    if not (LEAN_DIR / "equity" / "usa" / "minute").is_dir():
        pytest.skip(f"shared LEAN data absent at {LEAN_DIR}: set INTEL_LEAN_DATA_DIR")
    return LEAN_DIR


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def write_lean_zip(root: Path, ticker: str, name: str, text: str) -> Path:
    folder = root / "equity" / "usa" / "minute" / ticker
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(name.replace(".zip", ".csv"), text)
    return path


def assert_tz_utc(series: pd.Series) -> None:
    assert isinstance(series.dtype, pd.DatetimeTZDtype)
    assert str(series.dtype.tz) == "UTC"


# --------------------------------------------------------------------------- LEAN: real files


def test_lean_minute_days_lists_spy_weekdays(lean_dir: Path) -> None:
    days = lean_minute_days(lean_dir, "SPY")
    october = [d for d in days if d.year == 2013]
    # ls spy/: 20131004 (Fri), 07..11 (Mon..Fri) and 20230803
    assert october == [date(2013, 10, 4)] + [date(2013, 10, d) for d in range(7, 12)]
    assert all(d.weekday() < 5 for d in october)
    assert days == sorted(days) and days[-1] == date(2023, 8, 3)
    assert lean_minute_days(lean_dir, "spy") == days  # ticker case does not matter


def test_spy_trade_bars_convert_time_and_prices(lean_dir: Path) -> None:
    bars, quotes = load_lean_minute(lean_dir, "SPY", days=[date(2013, 10, 11)])
    assert tuple(bars.columns) == BARS_COLUMNS and tuple(quotes.columns) == QUOTES_COLUMNS
    # awk 'END{print NR}' on 20131011_trade.zip -> 776 rows, 20131011_quote.zip -> 896 rows
    assert len(bars) == 776 and len(quotes) == 896
    # head -1: 14400000,1689500,1689800,1689500,1689800,800 -> 04:00 EDT = 08:00 UTC
    first = bars.iloc[0]
    assert first.symbol == "SPY"
    assert first.window_start == utc("2013-10-11T08:00:00")
    assert first.window_end == utc("2013-10-11T08:01:00")
    assert (first.open, first.high, first.low, first.close) == pytest.approx(
        (168.95, 168.98, 168.95, 168.98))
    assert first.volume == 800.0
    assert first.vwap == pytest.approx((168.98 + 168.95 + 168.98) / 3)  # typical-price proxy
    assert first.trade_count == 0  # unknown in LEAN bars
    # awk 'END{print $0}': 71940000,1704100,1704100,1704100,1704100,525 -> 19:59 EDT = 23:59 UTC
    last = bars.iloc[-1]
    assert last.window_start == utc("2013-10-11T23:59:00")
    assert (last.close, last.volume) == pytest.approx((170.41, 525.0))
    # the 09:30 EDT line: 34200000,1689000,1689600,1688300,1688400,732235
    open_bar = bars.loc[bars.window_start == utc("2013-10-11T13:30:00")].iloc[0]
    assert open_bar.open == pytest.approx(168.90) and open_bar.volume == 732235.0
    assert bars.window_start.is_monotonic_increasing
    assert ((bars.window_end - bars.window_start) == pd.Timedelta(minutes=1)).all()
    assert_tz_utc(bars.window_start)
    assert_tz_utc(bars.window_end)
    assert bars.trade_count.dtype == np.int64
    assert all(bars[c].dtype == np.float64 for c in ("open", "high", "low", "close", "volume"))


def test_spy_quotes_take_closing_side_at_bar_end(lean_dir: Path) -> None:
    _, quotes = load_lean_minute(lean_dir, "SPY", days=[date(2013, 10, 11)])
    # head -1 of 20131011_quote.zip:
    # 14400000,1686900,1689800,1686900,1689800,20000,1689900,1690000,1689500,1690000,100
    first = quotes.iloc[0]
    assert first.ts == utc("2013-10-11T08:01:00")  # bar 08:00-08:01 UTC, stamped at its end
    assert (first.bid, first.bid_size, first.ask, first.ask_size) == pytest.approx(
        (168.98, 20000.0, 169.00, 100.0))
    # awk 'END{print $0}': 72000000,...,1704100,700,...,1704800,500 -> the 20:00 EDT bar
    # ends 00:01 UTC the next day
    last = quotes.iloc[-1]
    assert last.ts == utc("2013-10-12T00:01:00")
    assert (last.bid, last.bid_size, last.ask, last.ask_size) == pytest.approx(
        (170.41, 700.0, 170.48, 500.0))
    assert_tz_utc(quotes.ts)
    assert quotes.ts.is_monotonic_increasing


def test_dst_offsets_per_date(lean_dir: Path) -> None:
    bars, quotes = load_lean_minute(lean_dir, "SHY")
    # DST began 2008-03-09. 20080307_trade.zip head -1: 32040000 (08:54 EST), 842200, vol 100
    first_fri = bars.iloc[0]
    assert first_fri.window_start == utc("2008-03-07T13:54:00")  # UTC-5
    assert first_fri.close == pytest.approx(84.22) and first_fri.volume == 100.0
    # 20080310_trade.zip line 3: 34200000,840900,841300,840900,840900,2327 (09:30 EDT, UTC-4)
    monday_open = bars.loc[bars.window_start == utc("2008-03-10T13:30:00")].iloc[0]
    assert (monday_open.open, monday_open.high, monday_open.volume) == pytest.approx(
        (84.09, 84.13, 2327.0))
    # the same 09:30 wall time on the Friday is 14:30 UTC: 20080307 line 2 is 34200000,842600,..
    friday_open = bars.loc[bars.window_start == utc("2008-03-07T14:30:00")].iloc[0]
    assert friday_open.open == pytest.approx(84.26)
    # quotes, head -1 of both quote zips: 15300000 (04:15) -> bar end 04:16 local
    assert set(quotes.ts[quotes.ts.dt.tz_convert(NY).dt.strftime("%H:%M") == "04:16"]) == {
        utc("2008-03-07T09:16:00"), utc("2008-03-10T08:16:00")}


def test_missing_side_is_nan_not_zero(lean_dir: Path) -> None:
    _, quotes = load_lean_minute(lean_dir, "FOXA", days=[date(2013, 7, 1)])
    # foxa/20130701_quote.zip head -1: 14400000,270000,270000,270000,270000,100,,,,,0
    first = quotes.iloc[0]
    assert first.bid == pytest.approx(27.0) and first.bid_size == 100.0
    assert np.isnan(first.ask) and np.isnan(first.ask_size)
    assert not (quotes[["bid", "ask", "bid_size", "ask_size"]] == 0).any().any()


def test_day_without_quote_zip_yields_bars_only(lean_dir: Path) -> None:
    seen: list[tuple[str, date]] = []
    bars, quotes = load_lean_minute(lean_dir, "GOOG", on_day=lambda s, d: seen.append((s, d)))
    # ls goog/: 20151223_trade.zip has no _quote.zip; 24 and 28 have both
    assert seen == [("GOOG", date(2015, 12, 23)), ("GOOG", date(2015, 12, 24)),
                    ("GOOG", date(2015, 12, 28))]
    bar_days = set(bars.window_start.dt.tz_convert(NY).dt.date)
    assert date(2015, 12, 23) in bar_days
    assert len(bars.loc[bars.window_start.dt.tz_convert(NY).dt.date == date(2015, 12, 23)]) == 432
    quote_days = set((quotes.ts - pd.Timedelta(minutes=1)).dt.tz_convert(NY).dt.date)
    assert quote_days == {date(2015, 12, 24), date(2015, 12, 28)}
    assert len(quotes) == 260 + 480  # awk NR of the two quote zips


def test_unknown_symbol_and_missing_day_raise(lean_dir: Path) -> None:
    with pytest.raises(LeanDataError, match=r"equity/usa/minute/zzzz") as err:
        load_lean_minute(lean_dir, "ZZZZ")
    assert "INTEL_LEAN_DATA_DIR" in str(err.value)
    assert isinstance(err.value, ValueError)
    with pytest.raises(LeanDataError, match="2013-10-05"):
        load_lean_minute(lean_dir, "SPY", days=[date(2013, 10, 4), date(2013, 10, 5)])


def test_whole_shared_dataset_loads(lean_dir: Path) -> None:
    minute = lean_dir / "equity" / "usa" / "minute"
    for folder in sorted(p for p in minute.iterdir() if p.is_dir()):
        bars, quotes = load_lean_minute(lean_dir, folder.name)
        assert len(bars) > 0 and bars.symbol.eq(folder.name.upper()).all()
        assert (bars.high >= bars.low).all() and (bars.low > 0).all()
        assert not bars[list(BARS_COLUMNS[3:])].isna().any().any()
        both = quotes.dropna(subset=["bid", "ask"])
        assert (both.bid > 0).all() and (both.ask > 0).all()


# --------------------------------------------------------------------------- LEAN: bad files


def test_no_lean_folder_raises_with_hint(tmp_path: Path) -> None:
    with pytest.raises(LeanDataError, match="does not exist"):
        load_lean_minute(tmp_path / "nowhere", "SPY")
    assert lean_minute_days(tmp_path / "nowhere", "SPY") == []


@pytest.mark.parametrize("text, line", [
    ("14400000,1,1,1,1,5\n14460000,1,1,1,1,5,9\n", 2),  # too many fields
    ("14400000,1,1,1,1,5\n14460000,1,1,1,1,5\n14520000,1,1,1\n", 3),  # too few fields
    ("14400000,1,1,1,1,5\n14460000,1,x,1,1,5\n", 2),  # non-numeric
    ("14400000,1,1,1,1,5\n14460000,1,,1,1,5\n", 2),  # empty trade price
    ("14400000,1,1,1,1,5\n14460000,0,1,1,1,5\n", 2),  # zero trade price
])
def test_malformed_trade_csv_names_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    write_lean_zip(tmp_path, "bad", "20200102_trade.zip", text)
    with pytest.raises(LeanDataError, match=rf"20200102_trade\.zip.*line {line}\b"):
        load_lean_minute(tmp_path, "BAD")


def test_malformed_quote_csv_and_broken_zip(tmp_path: Path) -> None:
    write_lean_zip(tmp_path, "bad", "20200102_trade.zip", "34200000,10000,10000,10000,10000,1\n")
    write_lean_zip(tmp_path, "bad", "20200102_quote.zip",
                   "34200000,1,1,1,1,100,2,2,2,2,100\n34260000,1,1,1,1,,2,2,2,2,100\n")
    with pytest.raises(LeanDataError, match=r"20200102_quote\.zip.*line 2\b"):
        load_lean_minute(tmp_path, "BAD")
    (tmp_path / "equity/usa/minute/bad/20200102_quote.zip").write_bytes(b"not a zip")
    with pytest.raises(LeanDataError, match="not a readable zip"):
        load_lean_minute(tmp_path, "BAD")


def test_zero_quote_side_becomes_nan(tmp_path: Path) -> None:
    write_lean_zip(tmp_path, "abc", "20200102_trade.zip", "34200000,10000,10000,10000,10000,1")
    write_lean_zip(tmp_path, "abc", "20200102_quote.zip",
                   "34200000,0,0,0,0,0,10100,10100,10100,10100,300\n"
                   "34260000,9900,9900,9900,9900,200,0,0,0,0,0\n")
    bars, quotes = load_lean_minute(tmp_path, "abc")
    assert bars.symbol.tolist() == ["ABC"] and bars.close.tolist() == [1.0]
    assert np.isnan(quotes.bid[0]) and np.isnan(quotes.bid_size[0])
    assert (quotes.ask[0], quotes.ask_size[0]) == (1.01, 300.0)
    assert (quotes.bid[1], quotes.bid_size[1]) == (0.99, 200.0)
    assert np.isnan(quotes.ask[1]) and np.isnan(quotes.ask_size[1])
    # 2020-01-02 is EST: 09:30 local = 14:30 UTC, so the quote bars end 14:31 and 14:32
    assert quotes.ts.tolist() == [utc("2020-01-02T14:31"), utc("2020-01-02T14:32")]


# --------------------------------------------------------------------------- synthetic market

FRIDAY_CLOSE = datetime(2024, 5, 17, 20, 0, tzinfo=timezone.utc)  # 16:00 EDT


def test_synthetic_is_deterministic_and_symbol_specific() -> None:
    a_bars, a_quotes = synthetic_market(["AAA", "BBB"], 2, FRIDAY_CLOSE, seed=11)
    b_bars, b_quotes = synthetic_market(["AAA", "BBB"], 2, FRIDAY_CLOSE, seed=11)
    pd.testing.assert_frame_equal(a_bars, b_bars)
    pd.testing.assert_frame_equal(a_quotes, b_quotes)
    aaa = a_bars[a_bars.symbol == "AAA"].close.to_numpy()
    bbb = a_bars[a_bars.symbol == "BBB"].close.to_numpy()
    assert not np.allclose(aaa, bbb)
    other_seed, _ = synthetic_market(["AAA", "BBB"], 2, FRIDAY_CLOSE, seed=12)
    assert not np.allclose(other_seed.close, a_bars.close)
    # a symbol's series does not depend on which other symbols are requested
    alone, alone_q = synthetic_market(["AAA"], 2, FRIDAY_CLOSE, seed=11)
    pd.testing.assert_frame_equal(alone, a_bars[a_bars.symbol == "AAA"].reset_index(drop=True))
    pd.testing.assert_frame_equal(alone_q,
                                  a_quotes[a_quotes.symbol == "AAA"].reset_index(drop=True))


def test_synthetic_shapes_columns_and_sessions() -> None:
    bars, quotes = synthetic_market(["AAA", "BBB", "CCC"], 3, FRIDAY_CLOSE)
    assert tuple(bars.columns) == BARS_COLUMNS and tuple(quotes.columns) == QUOTES_COLUMNS
    assert len(bars) == len(quotes) == 3 * 3 * 390
    assert bars.groupby("symbol").size().to_dict() == {"AAA": 1170, "BBB": 1170, "CCC": 1170}
    assert_tz_utc(bars.window_start)
    assert_tz_utc(bars.window_end)
    assert_tz_utc(quotes.ts)
    assert bars.trade_count.dtype == np.int64
    float_cols = ["open", "high", "low", "close", "volume", "vwap"]
    assert all(bars[c].dtype == np.float64 for c in float_cols)
    assert all(quotes[c].dtype == np.float64 for c in QUOTES_COLUMNS[2:])
    local = bars.window_start.dt.tz_convert(NY)
    assert sorted(set(local.dt.date)) == [date(2024, 5, 15), date(2024, 5, 16),
                                          date(2024, 5, 17)]
    minutes = local.dt.hour * 60 + local.dt.minute
    assert minutes.min() == 9 * 60 + 30 and minutes.max() == 15 * 60 + 59
    assert ((bars.window_end - bars.window_start) == pd.Timedelta(minutes=1)).all()
    assert (quotes.ts.to_numpy() == bars.window_end.to_numpy()).all()  # one quote per bar end


def test_synthetic_never_after_end_and_skips_weekends() -> None:
    wednesday_11am = datetime(2024, 5, 15, 15, 0, tzinfo=timezone.utc)  # 11:00 EDT
    bars, quotes = synthetic_market(["AAA"], 2, wednesday_11am)
    assert bars.window_end.max() == pd.Timestamp(wednesday_11am)
    assert quotes.ts.max() <= pd.Timestamp(wednesday_11am)
    assert len(bars) == 390 + 90  # Tuesday in full, Wednesday 09:30-11:00
    sunday = datetime(2024, 5, 19, 12, 0, tzinfo=timezone.utc)
    bars, _ = synthetic_market(["AAA"], 3, sunday)
    days = sorted(set(bars.window_start.dt.tz_convert(NY).dt.date))
    assert days == [date(2024, 5, 15), date(2024, 5, 16), date(2024, 5, 17)]
    monday_pre_open = datetime(2024, 5, 20, 13, 0, tzinfo=timezone.utc)  # 09:00 EDT
    bars, _ = synthetic_market(["AAA"], 1, monday_pre_open)
    assert set(bars.window_start.dt.tz_convert(NY).dt.date) == {date(2024, 5, 17)}
    assert len(bars) == 390
    with pytest.raises(ValueError, match="timezone-aware"):
        synthetic_market(["AAA"], 1, datetime(2024, 5, 17, 16, 0))


def test_synthetic_price_and_quote_invariants() -> None:
    bars, quotes = synthetic_market([f"S{i:02d}" for i in range(20)], 2, FRIDAY_CLOSE)
    assert (bars.high >= np.maximum(bars.open, bars.close)).all()
    assert (bars.low <= np.minimum(bars.open, bars.close)).all()
    assert (bars.low > 0).all()
    assert ((bars.vwap >= bars.low) & (bars.vwap <= bars.high)).all()
    assert (bars.volume >= 1).all() and (bars.trade_count >= 1).all()
    assert (quotes.ask > quotes.bid).all() and (quotes.bid > 0).all()
    assert (quotes.bid_size > 0).all() and (quotes.ask_size > 0).all()
    first_close = bars.groupby("symbol").close.first()
    assert first_close.between(10, 1000).all() and first_close.nunique() == 20
    # spreads (bps) are wider for low-priced names
    bps = (quotes.ask - quotes.bid) / ((quotes.ask + quotes.bid) / 2) * 1e4
    per_symbol = pd.DataFrame({"bps": bps.groupby(quotes.symbol).median(),
                               "price": bars.groupby("symbol").close.median()})
    assert per_symbol.corr(method="spearman").loc["bps", "price"] < 0


def test_synthetic_volume_smile_and_volatility_clustering() -> None:
    bars, _ = synthetic_market([f"S{i:02d}" for i in range(30)], 5, FRIDAY_CLOSE)
    local = bars.window_start.dt.tz_convert(NY)
    minute = (local.dt.hour * 60 + local.dt.minute - (9 * 60 + 30)).to_numpy()
    edges = (minute < 30) | (minute >= 360)
    assert bars.volume[edges].mean() > bars.volume[~edges].mean()
    # clustering: |return| divided by its mean for that minute of day (removes the intraday
    # profile), then lag-1 autocorrelation per symbol
    ret = np.log(bars.close / bars.open)
    scaled = ret.abs() / ret.abs().groupby(minute).transform("mean")
    autocorr = scaled.groupby(bars.symbol).apply(lambda s: s.autocorr(1))
    assert autocorr.mean() > 0 and (autocorr > 0).mean() > 0.8


def test_synthetic_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="days"):
        synthetic_market(["AAA"], 0, FRIDAY_CLOSE)
    with pytest.raises(ValueError, match="duplicate"):
        synthetic_market(["AAA", "aaa"], 1, FRIDAY_CLOSE)
    assert synthetic_market(["AAA"], 1, FRIDAY_CLOSE + timedelta(hours=5))[0].window_end.max() \
        == pd.Timestamp(FRIDAY_CLOSE)
