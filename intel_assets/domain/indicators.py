"""Owns the technicals payload: TA-Lib indicators, returns, realized vol, VWAP and spread on one symbol's minute bars.

Pure functions over pandas frames (no Dagster). The caller filters bars/quotes to rows stamped
<= as_of for one symbol, sorted ascending. Everything is vectorised (TA-Lib + numpy) because
this runs for ~500 symbols x ~2000 bars per materialization. Every number leaving this module
is a plain float/int or None (never NaN/inf) so payloads are JSON-safe.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pandas as pd
import talib

NEW_YORK = "America/New_York"
#: Regular-session minutes per day and trading days per year: annualize 1-minute vol by sqrt of their product.
MINUTES_PER_SESSION = 390
TRADING_DAYS_PER_YEAR = 252
ANNUALIZATION = math.sqrt(TRADING_DAYS_PER_YEAR * MINUTES_PER_SESSION)

RSI_PERIOD = 14
EMA_FAST = 20
EMA_SLOW = 50
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
ATR_PERIOD = 14
BB_PERIOD, BB_DEV_UP, BB_DEV_DN = 20, 2.0, 2.0
RV_MAX_RETURNS = 390
VOLUME_Z_LOOKBACK = 30
VOLUME_Z_MIN_BARS = 10
RETURN_HORIZONS = {"r1m": 1, "r5m": 5, "r30m": 30}

INDICATOR_SETTINGS: dict[str, Any] = {
    "source": "TA-Lib",
    "series": "1-minute close (high/low for ATR) aggregated from Torghut's ta_microbars; every "
              "bar in the look-back incl. extended hours; a minute in progress ends at its newest "
              "second",
    "rsi": {"period": RSI_PERIOD, "smoothing": "Wilder"},
    "ema": {"periods": [EMA_FAST, EMA_SLOW], "seed": "SMA of the first period closes (TA-Lib default)"},
    "macd": {"fast": MACD_FAST, "slow": MACD_SLOW, "signal": MACD_SIGNAL},
    "atr": {"period": ATR_PERIOD, "smoothing": "Wilder"},
    "bollinger": {"period": BB_PERIOD, "devUp": BB_DEV_UP, "devDown": BB_DEV_DN, "maType": "SMA"},
    "realizedVolatility": {
        "returns": "1-minute log returns within the last bar's New York date",
        "maxReturns": RV_MAX_RETURNS,
        "annualization": f"sqrt({TRADING_DAYS_PER_YEAR}*{MINUTES_PER_SESSION})",
        "ddof": 1,
    },
    "volumeZScore": {"lookback": VOLUME_Z_LOOKBACK, "minBars": VOLUME_Z_MIN_BARS, "ddof": 1},
    "sessionVwap": "sum(vwap*volume)/sum(volume) over bars of the last bar's New York date",
}


def clean(value: Any) -> float | None:
    """A plain float, or None for None/NaN/inf."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def iso_utc(value: Any) -> str:
    """ISO-8601 UTC with a trailing Z (the wire convention)."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.isoformat().replace("+00:00", "Z")


def ny_dates(stamps: pd.Series) -> np.ndarray:
    """New York calendar date of each stamp as an int yyyymmdd (vectorised)."""
    idx = pd.DatetimeIndex(stamps)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    local = idx.tz_convert(NEW_YORK)
    return np.asarray(local.year * 10000 + local.month * 100 + local.day, dtype=np.int64)


def intraday_log_returns(close: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """1-minute log returns with overnight (cross-date) returns removed."""
    if close.size < 2:
        return np.empty(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rets = np.diff(np.log(close))
    same_day = dates[1:] == dates[:-1]
    rets = rets[same_day]
    return rets[np.isfinite(rets)]


def indicator_series(close: np.ndarray, high: np.ndarray, low: np.ndarray) -> dict[str, np.ndarray]:
    """Full TA-Lib indicator series (NaN during each warm-up) aligned with the inputs."""
    close = np.ascontiguousarray(close, dtype=np.float64)
    high = np.ascontiguousarray(high, dtype=np.float64)
    low = np.ascontiguousarray(low, dtype=np.float64)
    macd, signal, hist = talib.MACD(close, MACD_FAST, MACD_SLOW, MACD_SIGNAL)
    upper, middle, lower = talib.BBANDS(close, BB_PERIOD, BB_DEV_UP, BB_DEV_DN, 0)
    return {
        "rsi14": talib.RSI(close, RSI_PERIOD),
        "ema20": talib.EMA(close, EMA_FAST),
        "ema50": talib.EMA(close, EMA_SLOW),
        "macd": macd,
        "macdSignal": signal,
        "macdHist": hist,
        "atr14": talib.ATR(high, low, close, ATR_PERIOD),
        "bbUpper": upper,
        "bbMiddle": middle,
        "bbLower": lower,
    }


def latest_quote(quotes: pd.DataFrame | None) -> dict[str, Any] | None:
    """The most recent quote as {ts, bid, ask, spreadBps, crossed}, or None when there are none."""
    if quotes is None or len(quotes) == 0:
        return None
    i = int(np.argmax(pd.DatetimeIndex(quotes["ts"]).asi8)) if "ts" in quotes else len(quotes) - 1
    row = quotes.iloc[i]
    bid, ask = clean(row["bid"]), clean(row["ask"])
    spread = None
    if bid is not None and ask is not None and bid > 0 and ask > 0:
        spread = clean((ask - bid) / ((ask + bid) / 2.0) * 1e4)
    crossed = bid is not None and ask is not None and ask < bid
    return {"ts": row["ts"], "bid": bid, "ask": ask, "spreadBps": spread, "crossed": crossed}


#: Torghut's ta_signals columns carried beside ours, under payload names (domain/ta_tables.py).
_TORGHUT_SIGNALS = {"rsi14": "rsi14", "ema12": "ema12", "ema26": "ema26",
                    "vwap_session": "vwapSession", "vwap_w5m": "vwapW5m",
                    "vol_realized_w60s": "volRealizedW60s"}


def torghut_signals(quotes: pd.DataFrame | None) -> dict[str, Any] | None:
    """Torghut's own indicator values from its newest ta_signals row (the quotes frame's
    ``signal_ts`` and signal columns), or None when the frame carries none."""
    if quotes is None or len(quotes) == 0 or "signal_ts" not in quotes:
        return None
    row = quotes.iloc[-1]
    values = {name: clean(row.get(column)) for column, name in _TORGHUT_SIGNALS.items()}
    values["macd"] = {"macd": clean(row.get("macd")), "signal": clean(row.get("macd_signal")),
                      "histogram": clean(row.get("macd_hist"))}
    values["bollinger"] = {"upper": clean(row.get("boll_upper")),
                           "middle": clean(row.get("boll_mid")),
                           "lower": clean(row.get("boll_lower"))}
    present = [v for v in values.values() if v is not None and not isinstance(v, dict)] + [
        x for v in values.values() if isinstance(v, dict) for x in v.values() if x is not None]
    if not present:
        return None
    return {"asOf": iso_utc(row["signal_ts"]), "source": "torghut.ta_signals", **values}


def _last(arr: np.ndarray) -> float | None:
    return clean(arr[-1]) if arr.size else None


def _simple_return(close: np.ndarray, lag: int) -> float | None:
    if close.size <= lag:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return clean(close[-1] / close[-1 - lag] - 1.0)


def _realized_vol(close: np.ndarray, dates: np.ndarray) -> tuple[float | None, int]:
    session = close[dates == dates[-1]]
    rets = intraday_log_returns(session, np.zeros(session.size, dtype=np.int64))[-RV_MAX_RETURNS:]
    if rets.size < 2:
        return None, int(rets.size)
    return clean(np.std(rets, ddof=1) * ANNUALIZATION), int(rets.size)


def _session_vwap(bars: pd.DataFrame, dates: np.ndarray) -> float | None:
    mask = dates == dates[-1]
    vol = bars["volume"].to_numpy(dtype=np.float64)[mask]
    px = bars["vwap"].to_numpy(dtype=np.float64)[mask]
    ok = np.isfinite(vol) & np.isfinite(px)
    total = vol[ok].sum()
    if total <= 0:
        return None
    return clean((px[ok] * vol[ok]).sum() / total)


def _volume_zscore(volume: np.ndarray) -> float | None:
    if volume.size < VOLUME_Z_MIN_BARS:
        return None
    prior = volume[-1 - VOLUME_Z_LOOKBACK:-1]
    prior = prior[np.isfinite(prior)]
    if prior.size < 2:
        return None
    sd = np.std(prior, ddof=1)
    if not sd > 0:
        return None
    return clean((volume[-1] - prior.mean()) / sd)


def technicals_payload(bars: pd.DataFrame, quotes: pd.DataFrame) -> tuple[dict, list[str]]:
    """(payload, risk_flags) for one symbol; raises ValueError on an empty bar frame."""
    if bars is None or len(bars) == 0:
        raise ValueError("no bars for technicals (empty frame after as-of filtering)")
    flags: list[str] = []
    close = bars["close"].to_numpy(dtype=np.float64)
    high = bars["high"].to_numpy(dtype=np.float64)
    low = bars["low"].to_numpy(dtype=np.float64)
    volume = bars["volume"].to_numpy(dtype=np.float64)
    dates = ny_dates(bars["window_start"])
    series = indicator_series(close, high, low)
    last_price = clean(close[-1])

    prior_dates = dates[dates < dates[-1]]
    r1d = None
    if prior_dates.size:
        prev_close = close[np.flatnonzero(dates == prior_dates.max())[-1]]
        with np.errstate(divide="ignore", invalid="ignore"):
            r1d = clean(close[-1] / prev_close - 1.0)
    returns = {name: _simple_return(close, lag) for name, lag in RETURN_HORIZONS.items()}
    returns["r1d"] = r1d

    upper, middle, lower = (_last(series[k]) for k in ("bbUpper", "bbMiddle", "bbLower"))
    percent_b = bandwidth = None
    if None not in (upper, middle, lower, last_price):
        if upper > lower:
            percent_b = clean((last_price - lower) / (upper - lower))
        if middle != 0:
            bandwidth = clean((upper - lower) / middle)

    rv, rv_n = _realized_vol(close, dates)
    vwap = _session_vwap(bars, dates)
    vwap_bps = None
    if vwap and last_price is not None:
        vwap_bps = clean((last_price / vwap - 1.0) * 1e4)

    quote = latest_quote(quotes)
    if quote is None:
        flags.append("technicals_no_quotes")
    elif quote["crossed"]:
        flags.append("technicals_crossed_quote")
    if close.size < EMA_SLOW:
        flags.append("technicals_insufficient_history")

    last_start, last_end = (pd.Timestamp(bars[k].iloc[-1]) for k in ("window_start", "window_end"))
    payload = {
        "lastPrice": last_price,
        "lastBarEnd": iso_utc(last_end),
        "barCount": int(close.size),
        "barSize": "1m",
        "sourceBarSize": str(bars["source_window"].iloc[-1]) if "source_window" in bars else None,
        "lastBarComplete": bool(last_end - last_start >= pd.Timedelta(minutes=1)),
        "returns": returns,
        "rsi14": _last(series["rsi14"]),
        "ema20": _last(series["ema20"]),
        "ema50": _last(series["ema50"]),
        "macd": {
            "macd": _last(series["macd"]),
            "signal": _last(series["macdSignal"]),
            "histogram": _last(series["macdHist"]),
        },
        "atr14": _last(series["atr14"]),
        "bollinger": {"upper": upper, "middle": middle, "lower": lower,
                      "percentB": percent_b, "bandwidth": bandwidth},
        "realizedVolatility": rv,
        "realizedVolatilityWindow": rv_n,
        "vwapDistanceBps": vwap_bps,
        "spreadBps": quote["spreadBps"] if quote else None,
        "quoteAsOf": iso_utc(quote["ts"]) if quote else None,
        "volumeZScore": _volume_zscore(volume),
        "torghutSignals": torghut_signals(quotes),
        "indicatorSettings": copy.deepcopy(INDICATOR_SETTINGS),
    }
    return payload, flags
