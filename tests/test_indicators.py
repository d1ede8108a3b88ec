"""Technicals payload: TA-Lib outputs vs independent pandas references, returns, VWAP, spread, NaN safety."""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from intel_assets.domain.indicators import indicator_series, technicals_payload

NY = "America/New_York"
RTOL = 1e-9
DAY1, DAY2 = "2024-03-05", "2024-03-06"  # EST (UTC-5): 19:00-20:00 NY post-market is the next UTC date
LEAN_SPY = Path("/work/shared/data/lean/equity/usa/minute/spy")


def make_bars(segments=((DAY1, "09:30", 390), (DAY2, "09:30", 390)), seed=7, drift=0.0,
              sigma=0.0008, start=100.0, symbol="TEST") -> pd.DataFrame:
    """Seeded random-walk minute bars; segments are (NY date, NY start time, minutes)."""
    rng = np.random.default_rng(seed)
    idx = [pd.date_range(pd.Timestamp(f"{d} {t}", tz=NY), periods=n, freq="min") for d, t, n in segments]
    ws = idx[0].append(idx[1:]).tz_convert("UTC")
    n = len(ws)
    close = start * np.exp(np.cumsum(drift + sigma * rng.standard_normal(n)))
    open_ = np.r_[start, close[:-1]]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, sigma / 2, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, sigma / 2, n)))
    volume = rng.integers(100, 5000, n).astype(float)
    return pd.DataFrame({
        "symbol": symbol, "window_start": ws, "window_end": ws + pd.Timedelta(seconds=60),
        "open": open_, "high": high, "low": low, "close": close, "volume": volume,
        "vwap": (high + low + close) / 3.0, "trade_count": rng.integers(1, 80, n),
    })


def make_quotes(bars: pd.DataFrame, bid: float, ask: float) -> pd.DataFrame:
    ts = bars["window_end"].iloc[-3:].reset_index(drop=True)
    return pd.DataFrame({"symbol": "TEST", "ts": ts, "bid": [bid - 1, bid - 0.5, bid],
                         "bid_size": [1, 2, 3], "ask": [ask + 1, ask + 0.5, ask], "ask_size": [1, 2, 3]})


NO_QUOTES = pd.DataFrame(columns=["symbol", "ts", "bid", "bid_size", "ask", "ask_size"])


# --- independent references (pandas, no TA-Lib) -------------------------------------------

def seeded_smoothing(values: pd.Series, period: int, alpha: float) -> np.ndarray:
    """SMA of the first `period` values, then y = (1-alpha)*y + alpha*x; NaN before the seed."""
    values = values.reset_index(drop=True)
    seed = values.iloc[:period].mean()
    tail = pd.concat([pd.Series([seed]), values.iloc[period:]], ignore_index=True)
    out = np.full(len(values), np.nan)
    out[period - 1:] = tail.ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


def ref_ema(close: np.ndarray, period: int) -> np.ndarray:
    return seeded_smoothing(pd.Series(close), period, 2.0 / (period + 1))


def ref_rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    diff = pd.Series(close).diff().iloc[1:]
    avg_gain = seeded_smoothing(diff.clip(lower=0), period, 1.0 / period)
    avg_loss = seeded_smoothing((-diff).clip(lower=0), period, 1.0 / period)
    return np.r_[np.nan, 100.0 * avg_gain / (avg_gain + avg_loss)]


def ref_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    prev = pd.Series(close).shift(1)
    h, l = pd.Series(high), pd.Series(low)
    tr = pd.concat([h - l, (h - prev).abs(), (l - prev).abs()], axis=1).max(axis=1).iloc[1:]
    return np.r_[np.nan, seeded_smoothing(tr, period, 1.0 / period)]


def ny_date(bars: pd.DataFrame) -> pd.Series:
    return bars["window_start"].dt.tz_convert(NY).dt.date


def assert_plain_json(obj) -> None:
    """Only plain Python JSON types, and no NaN/inf anywhere."""
    json.dumps(obj, allow_nan=False)
    if isinstance(obj, dict):
        for value in obj.values():
            assert_plain_json(value)
    elif isinstance(obj, list):
        for value in obj:
            assert_plain_json(value)
    else:
        assert type(obj) in (float, int, str, bool, type(None)), (obj, type(obj))


# --- tests -----------------------------------------------------------------------------------

def test_rsi_ema_atr_match_independent_references():
    bars = make_bars()
    c, h, l = (bars[k].to_numpy() for k in ("close", "high", "low"))
    payload, flags = technicals_payload(bars, make_quotes(bars, 99.99, 100.01))
    series = indicator_series(c, h, l)
    refs = {"rsi14": ref_rsi(c), "ema20": ref_ema(c, 20), "ema50": ref_ema(c, 50), "atr14": ref_atr(h, l, c)}
    for key, ref in refs.items():
        got = series[key]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{key} warm-up differs")
        np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=RTOL, err_msg=key)
        assert payload[key] == pytest.approx(ref[-1], rel=RTOL)
    assert 0.0 <= payload["rsi14"] <= 100.0
    assert "technicals_insufficient_history" not in flags


def test_macd_and_bollinger_match_direct_talib():
    bars = make_bars(seed=11)
    c = bars["close"].to_numpy()
    payload, _ = technicals_payload(bars, NO_QUOTES)
    macd, signal, hist = talib.MACD(c, fastperiod=12, slowperiod=26, signalperiod=9)
    assert payload["macd"]["macd"] == pytest.approx(macd[-1], rel=RTOL)
    assert payload["macd"]["signal"] == pytest.approx(signal[-1], rel=RTOL)
    assert payload["macd"]["histogram"] == pytest.approx(hist[-1], rel=RTOL)
    up, mid, lo = talib.BBANDS(c, timeperiod=20, nbdevup=2, nbdevdn=2, matype=talib.MA_Type.SMA)
    bb = payload["bollinger"]
    assert (bb["upper"], bb["middle"], bb["lower"]) == pytest.approx((up[-1], mid[-1], lo[-1]), rel=RTOL)
    assert bb["percentB"] == pytest.approx((c[-1] - lo[-1]) / (up[-1] - lo[-1]), rel=RTOL)
    assert bb["bandwidth"] == pytest.approx((up[-1] - lo[-1]) / mid[-1], rel=RTOL)


def test_returns_use_bar_lags_and_previous_new_york_date():
    # Day 1 has post-market to 20:00 NY (= 01:00 UTC next day), day 2 starts pre-market at 04:00.
    bars = make_bars(segments=((DAY1, "09:30", 630), (DAY2, "04:00", 600)), seed=3)
    c = bars["close"].to_numpy()
    payload, _ = technicals_payload(bars, NO_QUOTES)
    dates = ny_date(bars)
    prev_close = c[np.flatnonzero((dates < dates.iloc[-1]).to_numpy())[-1]]
    assert bars["window_start"].iloc[629].date() != dates.iloc[629]  # the UTC date would be wrong here
    expected = {"r1m": c[-1] / c[-2] - 1, "r5m": c[-1] / c[-6] - 1, "r30m": c[-1] / c[-31] - 1,
                "r1d": c[-1] / prev_close - 1}
    for key, value in expected.items():
        assert payload["returns"][key] == pytest.approx(value, rel=RTOL), key
    assert payload["lastPrice"] == c[-1]
    assert payload["barCount"] == len(bars)
    assert pd.Timestamp(payload["lastBarEnd"]) == bars["window_end"].iloc[-1]


def test_r1d_is_none_with_a_single_new_york_date():
    bars = make_bars(segments=((DAY2, "09:30", 120),))
    payload, _ = technicals_payload(bars, NO_QUOTES)
    assert payload["returns"]["r1d"] is None
    assert payload["returns"]["r30m"] is not None


def test_session_vwap_distance_and_realized_vol():
    bars = make_bars(segments=((DAY1, "09:30", 390), (DAY2, "04:00", 600)), seed=5)
    payload, _ = technicals_payload(bars, NO_QUOTES)
    session = bars[(ny_date(bars) == ny_date(bars).iloc[-1]).to_numpy()]
    vwap = (session["vwap"] * session["volume"]).sum() / session["volume"].sum()
    assert payload["vwapDistanceBps"] == pytest.approx((bars["close"].iloc[-1] / vwap - 1) * 1e4, rel=RTOL)
    log_ret = np.diff(np.log(session["close"].to_numpy()))[-390:]
    assert payload["realizedVolatilityWindow"] == 390
    assert payload["realizedVolatility"] == pytest.approx(
        np.std(log_ret, ddof=1) * math.sqrt(252 * 390), rel=RTOL)


def test_realized_vol_uses_fewer_returns_early_in_session():
    bars = make_bars(segments=((DAY1, "09:30", 390), (DAY2, "09:30", 40)))
    payload, _ = technicals_payload(bars, NO_QUOTES)
    assert payload["realizedVolatilityWindow"] == 39
    log_ret = np.diff(np.log(bars["close"].to_numpy()[-40:]))
    assert payload["realizedVolatility"] == pytest.approx(np.std(log_ret, ddof=1) * math.sqrt(252 * 390), rel=RTOL)


def test_zero_volume_session_gives_no_vwap_distance():
    bars = make_bars()
    bars.loc[(ny_date(bars) == ny_date(bars).iloc[-1]).to_numpy(), "volume"] = 0.0
    payload, _ = technicals_payload(bars, NO_QUOTES)
    assert payload["vwapDistanceBps"] is None
    assert payload["volumeZScore"] is None  # constant (zero) prior volume: stdev 0
    assert_plain_json(payload)


def test_spread_from_latest_quote_and_quote_flags():
    bars = make_bars()
    quotes = make_quotes(bars, 99.95, 100.05)
    payload, flags = technicals_payload(bars, quotes.iloc[::-1])  # latest picked by ts, not position
    assert payload["spreadBps"] == pytest.approx((100.05 - 99.95) / 100.0 * 1e4, rel=RTOL)
    assert pd.Timestamp(payload["quoteAsOf"]) == quotes["ts"].max()
    assert "technicals_no_quotes" not in flags and "technicals_crossed_quote" not in flags

    _, flags = technicals_payload(bars, make_quotes(bars, 100.05, 99.95))
    assert "technicals_crossed_quote" in flags

    payload, flags = technicals_payload(bars, NO_QUOTES)
    assert payload["spreadBps"] is None and payload["quoteAsOf"] is None
    assert "technicals_no_quotes" in flags

    payload, _ = technicals_payload(bars, make_quotes(bars, 0.0, 100.05))
    assert payload["spreadBps"] is None


def test_volume_zscore_against_previous_30_bars():
    bars = make_bars()
    bars.loc[bars.index[-1], "volume"] = 50_000.0
    v = bars["volume"].to_numpy()
    payload, _ = technicals_payload(bars, NO_QUOTES)
    prior = v[-31:-1]
    assert payload["volumeZScore"] == pytest.approx((v[-1] - prior.mean()) / prior.std(ddof=1), rel=RTOL)
    assert payload["volumeZScore"] > 3

    payload, _ = technicals_payload(bars.iloc[:9], NO_QUOTES)
    assert payload["volumeZScore"] is None


def test_short_frame_is_json_safe_and_flagged():
    bars = make_bars(segments=((DAY2, "09:30", 5),))
    payload, flags = technicals_payload(bars, NO_QUOTES)
    assert_plain_json(payload)
    assert "technicals_insufficient_history" in flags
    assert payload["ema50"] is None and payload["rsi14"] is None and payload["returns"]["r30m"] is None
    assert payload["returns"]["r1m"] == pytest.approx(bars["close"].iloc[-1] / bars["close"].iloc[-2] - 1)
    single, _ = technicals_payload(bars.iloc[:1], NO_QUOTES)
    assert_plain_json(single)
    assert single["realizedVolatility"] is None and single["realizedVolatilityWindow"] == 0


def test_full_payload_is_plain_json_and_settings_are_documented():
    payload, _ = technicals_payload(make_bars(), make_quotes(make_bars(), 99.99, 100.01))
    assert_plain_json(payload)
    settings = payload["indicatorSettings"]
    assert settings["ema"]["periods"] == [20, 50] and "SMA" in settings["ema"]["seed"]
    assert settings["rsi"]["period"] == 14 and settings["atr"]["period"] == 14


def test_empty_bars_raise():
    with pytest.raises(ValueError, match="no bars"):
        technicals_payload(make_bars().iloc[:0], NO_QUOTES)


def load_lean_minute_trades(path: Path, day: str) -> pd.DataFrame:
    """LEAN minute trade CSV (ms since NY midnight, OHLC in deci-cents, volume) -> bar frame."""
    with zipfile.ZipFile(path) as zf:
        raw = pd.read_csv(io.BytesIO(zf.read(zf.namelist()[0])), header=None,
                          names=["ms", "open", "high", "low", "close", "volume"])
    ws = (pd.Timestamp(day, tz=NY) + pd.to_timedelta(raw["ms"], unit="ms")).dt.tz_convert("UTC")
    bars = raw[["open", "high", "low", "close"]] / 10000.0
    bars["volume"] = raw["volume"].astype(float)
    bars["vwap"] = (bars["high"] + bars["low"] + bars["close"]) / 3.0
    bars["trade_count"] = 0
    bars.insert(0, "window_end", ws + pd.Timedelta(seconds=60))
    bars.insert(0, "window_start", ws)
    bars.insert(0, "symbol", "SPY")
    return bars


def test_real_spy_minute_day_is_sane():
    path = LEAN_SPY / "20131011_trade.zip"
    if not path.exists():
        pytest.skip(f"shared LEAN data absent: {path}")
    bars = load_lean_minute_trades(path, "2013-10-11")
    prev_path = LEAN_SPY / "20131010_trade.zip"
    if prev_path.exists():
        bars = pd.concat([load_lean_minute_trades(prev_path, "2013-10-10"), bars], ignore_index=True)
    day = bars[(ny_date(bars) == ny_date(bars).iloc[-1]).to_numpy()]
    payload, flags = technicals_payload(bars, NO_QUOTES)
    assert_plain_json(payload)
    assert day["low"].min() <= payload["lastPrice"] <= day["high"].max()
    assert 0 <= payload["rsi14"] <= 100
    assert day["low"].min() <= payload["ema50"] <= day["high"].max()
    assert 0 < payload["realizedVolatility"] < 2.0  # SPY annualized minute vol: well under 200%
    assert flags == ["technicals_no_quotes"]
    if prev_path.exists():
        assert payload["returns"]["r1d"] is not None and abs(payload["returns"]["r1d"]) < 0.1
