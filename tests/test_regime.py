"""Regime payload: trend direction, volatility percentile level, liquidity level, graceful degradation."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from intel_assets.domain.indicators import technicals_payload
from intel_assets.domain.regime import RegimeThresholds, regime_payload

NY = "America/New_York"
DAYS = (("2024-03-05", "09:30", 390), ("2024-03-06", "09:30", 390))
NO_QUOTES = pd.DataFrame(columns=["symbol", "ts", "bid", "bid_size", "ask", "ask_size"])


def make_bars(log_close: np.ndarray | None = None, seed=7, drift=0.0, sigma=0.0008,
              volume: np.ndarray | None = None, segments=DAYS) -> pd.DataFrame:
    """Minute bars over New-York sessions; closes from `log_close` or a seeded random walk."""
    rng = np.random.default_rng(seed)
    idx = [pd.date_range(pd.Timestamp(f"{d} {t}", tz=NY), periods=n, freq="min") for d, t, n in segments]
    ws = idx[0].append(idx[1:]).tz_convert("UTC")
    n = len(ws)
    if log_close is None:
        log_close = math.log(100.0) + np.cumsum(drift + sigma * rng.standard_normal(n))
    close = np.exp(log_close[:n])
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0002, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0002, n)))
    if volume is None:
        volume = rng.integers(1000, 3000, n).astype(float)
    return pd.DataFrame({
        "symbol": "TEST", "window_start": ws, "window_end": ws + pd.Timedelta(seconds=60),
        "open": open_, "high": high, "low": low, "close": close, "volume": volume,
        "vwap": (high + low + close) / 3.0, "trade_count": np.full(n, 10),
    })


def quotes_at(bars: pd.DataFrame, bid: float, ask: float) -> pd.DataFrame:
    return pd.DataFrame({"symbol": ["TEST"], "ts": [bars["window_end"].iloc[-1]], "bid": [bid],
                         "bid_size": [5], "ask": [ask], "ask_size": [5]})


def regime(bars: pd.DataFrame, quotes: pd.DataFrame = NO_QUOTES, **thresholds):
    technicals, _ = technicals_payload(bars, quotes)
    return regime_payload(bars, quotes, technicals, RegimeThresholds(**thresholds))


def walk_with_tail(tail_sigma: float, tail: int = 30, sigma=0.0008, seed=21) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = sum(s[2] for s in DAYS)
    steps = sigma * rng.standard_normal(n)
    steps[-tail:] *= tail_sigma / sigma
    return math.log(100.0) + np.cumsum(steps)


def test_trend_direction_up_down_flat():
    up, _ = regime(make_bars(drift=0.0004, sigma=0.0004))
    down, _ = regime(make_bars(drift=-0.0004, sigma=0.0004))
    noise = math.log(100.0) + 0.0005 * np.random.default_rng(3).standard_normal(780)  # i.i.d., no drift
    flat, _ = regime(make_bars(log_close=noise))
    assert up["trend"]["direction"] == "up" and up["trend"]["emaGapAtr"] >= 0.5
    assert down["trend"]["direction"] == "down" and down["trend"]["emaGapAtr"] <= -0.5
    assert flat["trend"]["direction"] == "flat" and abs(flat["trend"]["emaGapAtr"]) < 0.5
    for p in (up, down, flat):
        assert p["trend"]["strength"] == pytest.approx(abs(p["trend"]["emaGapAtr"]))
    assert up["label"].startswith("up/") and down["label"].startswith("down/")


def test_trend_gap_is_ema_gap_over_atr_and_respects_flat_band():
    bars = make_bars(drift=0.0004, sigma=0.0004)
    technicals, _ = technicals_payload(bars, NO_QUOTES)
    payload, _ = regime_payload(bars, NO_QUOTES, technicals)
    expected = (technicals["ema20"] - technicals["ema50"]) / technicals["atr14"]
    assert payload["trend"]["emaGapAtr"] == pytest.approx(expected, rel=1e-12)
    wide_band, _ = regime_payload(bars, NO_QUOTES, technicals, RegimeThresholds(flat_band=expected + 1))
    assert wide_band["trend"]["direction"] == "flat"


def test_volatility_burst_at_end_is_high_and_calm_end_is_low():
    burst, flags = regime(make_bars(log_close=walk_with_tail(0.008)))
    assert burst["volatility"]["level"] == "high" and burst["volatility"]["percentile"] == 1.0
    assert "regime_high_volatility" in flags
    calm, flags = regime(make_bars(log_close=walk_with_tail(0.00005)))
    assert calm["volatility"]["level"] == "low" and calm["volatility"]["percentile"] <= 0.25
    assert "regime_high_volatility" not in flags


def test_volatility_percentile_matches_pandas_rolling_reference():
    bars = make_bars(seed=13)
    payload, _ = regime(bars)
    dates = bars["window_start"].dt.tz_convert(NY).dt.date
    log_ret = np.log(bars["close"]).diff()
    intraday = log_ret[(dates == dates.shift(1)).to_numpy()].reset_index(drop=True)
    rolling = (intraday.rolling(30).std(ddof=1) * math.sqrt(252 * 390)).dropna().to_numpy()
    assert payload["volatility"]["current"] == pytest.approx(rolling[-1], rel=1e-9)
    assert payload["volatility"]["percentile"] == pytest.approx(np.mean(rolling <= rolling[-1]))
    assert payload["volatility"]["samples"] == len(rolling)


def test_wide_spread_is_thin_and_tight_spread_with_heavy_volume_is_deep():
    bars = make_bars()
    wide, flags = regime(bars, quotes_at(bars, 99.9, 100.1))  # 20 bps
    assert wide["liquidity"]["level"] == "thin" and wide["liquidity"]["spreadBps"] > 10
    assert "regime_thin_liquidity" in flags and wide["label"].endswith("/thin-liquidity")

    volume = np.full(780, 1000.0)
    volume[-30:] = 5000.0
    heavy = make_bars(volume=volume)
    deep, flags = regime(heavy, quotes_at(heavy, 99.995, 100.005))  # 1 bps
    assert deep["liquidity"]["level"] == "deep"
    assert deep["liquidity"]["volumeRatio"] == pytest.approx(5000.0 / volume.mean())
    assert "regime_thin_liquidity" not in flags

    normal, _ = regime(bars, quotes_at(bars, 99.97, 100.03))  # 6 bps, ordinary volume
    assert normal["liquidity"]["level"] == "normal"


def test_thin_recent_volume_is_thin_even_with_tight_spread():
    volume = np.full(780, 2000.0)
    volume[-30:] = 100.0
    bars = make_bars(volume=volume)
    payload, flags = regime(bars, quotes_at(bars, 99.995, 100.005))
    assert payload["liquidity"]["volumeRatio"] < 0.5
    assert payload["liquidity"]["level"] == "thin" and "regime_thin_liquidity" in flags


def test_empty_quotes_do_not_crash_and_fall_back_to_volume():
    payload, flags = regime(make_bars())
    assert payload["liquidity"]["spreadBps"] is None
    assert payload["liquidity"]["level"] == "normal"
    assert "regime_liquidity_volume_only" in flags
    json.dumps(payload, allow_nan=False)


def test_missing_inputs_give_unknown_levels_not_errors():
    payload, flags = regime_payload(make_bars().iloc[:0], NO_QUOTES, {})
    assert payload["trend"]["direction"] == "unknown"
    assert payload["volatility"]["level"] == "unknown"
    assert payload["liquidity"]["level"] == "unknown"
    assert payload["label"] == "unknown/unknown-vol/unknown-liquidity"
    assert "regime_insufficient_history" in flags
    json.dumps(payload, allow_nan=False)

    short = make_bars(segments=(("2024-03-06", "09:30", 8),))
    payload, flags = regime(short)
    assert payload["trend"]["direction"] == "unknown" and payload["volatility"]["level"] == "unknown"
    assert "regime_insufficient_history" in flags
    json.dumps(payload, allow_nan=False)


def test_thresholds_are_echoed_and_frozen():
    custom = RegimeThresholds(wide_spread_bps=30.0)
    bars = make_bars()
    technicals, _ = technicals_payload(bars, quotes_at(bars, 99.9, 100.1))
    payload, _ = regime_payload(bars, NO_QUOTES, technicals, custom)
    assert payload["thresholds"] == asdict(custom)
    assert payload["liquidity"]["level"] != "thin"  # 20 bps is within a 30 bps tolerance
    defaults = RegimeThresholds()
    assert (defaults.low_pct, defaults.high_pct, defaults.wide_spread_bps, defaults.thin_volume_ratio) == (
        0.25, 0.75, 10.0, 0.5)
    with pytest.raises(AttributeError):
        defaults.flat_band = 1.0  # type: ignore[misc]
