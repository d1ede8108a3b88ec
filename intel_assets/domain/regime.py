"""Owns the regime payload: trend, volatility and liquidity classification from bars, quotes and technicals.

Pure functions (no Dagster). Each of the three components degrades to level "unknown" (and the
`regime_insufficient_history` flag) when its inputs are missing; nothing here raises on thin,
empty or quote-less inputs.

Definitions
-----------
trend       emaGapAtr = (EMA20 - EMA50) / ATR14 from the technicals payload; up when
            emaGapAtr >= flat_band, down when <= -flat_band, else flat. strength = |emaGapAtr|.
volatility  1-minute log returns with overnight (cross New-York-date) returns dropped; rolling
            `vol_window`-return stdev, annualized like technicals (sqrt(252*390)). current = the
            latest rolling value; percentile = share of all rolling values in the frame that are
            <= current. low when percentile <= low_pct, high when >= high_pct, else normal.
liquidity   spreadBps (latest quote) and volumeRatio = mean volume of the last `volume_window`
            bars / mean volume of the whole frame. thin when spread > wide_spread_bps OR
            volumeRatio < thin_volume_ratio; deep when spread <= tight_spread_bps AND
            volumeRatio >= deep_volume_ratio (both must be known); unknown when neither is known;
            otherwise normal. Without a quote the level rests on volume alone (never deep).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from intel_assets.domain.indicators import (
    ANNUALIZATION,
    clean,
    intraday_log_returns,
    latest_quote,
    ny_dates,
)

UNKNOWN = "unknown"


@dataclass(frozen=True)
class RegimeThresholds:
    """Cut-offs for the regime classification (all documented in the module docstring)."""

    #: |EMA20 - EMA50| / ATR14 below this is a flat trend.
    flat_band: float = 0.5
    #: Returns per rolling realized-vol window (the "current" vol and its distribution).
    vol_window: int = 30
    #: Minimum rolling-vol samples before a percentile is trusted.
    min_vol_samples: int = 30
    #: Percentile of current vol at/below which volatility is low.
    low_pct: float = 0.25
    #: Percentile of current vol at/above which volatility is high.
    high_pct: float = 0.75
    #: Quoted spread (bps of mid) above which liquidity is thin.
    wide_spread_bps: float = 10.0
    #: Quoted spread (bps of mid) at/below which liquidity may be deep.
    tight_spread_bps: float = 2.0
    #: Bars in the recent-volume average of volumeRatio.
    volume_window: int = 30
    #: volumeRatio below this is thin liquidity.
    thin_volume_ratio: float = 0.5
    #: volumeRatio at/above this (with a tight spread) is deep liquidity.
    deep_volume_ratio: float = 1.5


def _trend(technicals: dict, th: RegimeThresholds) -> dict[str, Any]:
    ema20, ema50, atr = (clean(technicals.get(k)) for k in ("ema20", "ema50", "atr14"))
    if ema20 is None or ema50 is None or atr is None or atr <= 0:
        return {"direction": UNKNOWN, "strength": None, "emaGapAtr": None}
    gap = clean((ema20 - ema50) / atr)
    if gap is None:
        return {"direction": UNKNOWN, "strength": None, "emaGapAtr": None}
    direction = "up" if gap >= th.flat_band else "down" if gap <= -th.flat_band else "flat"
    return {"direction": direction, "strength": abs(gap), "emaGapAtr": gap}


def rolling_realized_vol(bars: pd.DataFrame, window: int) -> np.ndarray:
    """Annualized rolling `window`-return realized vol (overnight returns dropped), oldest first."""
    if bars is None or len(bars) < 2:
        return np.empty(0)
    close = bars["close"].to_numpy(dtype=np.float64)
    rets = intraday_log_returns(close, ny_dates(bars["window_start"]))
    if rets.size < window:
        return np.empty(0)
    windows = np.lib.stride_tricks.sliding_window_view(rets, window)
    return np.std(windows, axis=1, ddof=1) * ANNUALIZATION


def _volatility(bars: pd.DataFrame, th: RegimeThresholds) -> dict[str, Any]:
    dist = rolling_realized_vol(bars, th.vol_window)
    dist = dist[np.isfinite(dist)]
    if dist.size < th.min_vol_samples:
        return {"level": UNKNOWN, "percentile": None, "current": None, "samples": int(dist.size)}
    current = float(dist[-1])
    pct = float(np.mean(dist <= current))
    level = "low" if pct <= th.low_pct else "high" if pct >= th.high_pct else "normal"
    return {"level": level, "percentile": pct, "current": clean(current), "samples": int(dist.size)}


def _volume_ratio(bars: pd.DataFrame, th: RegimeThresholds) -> float | None:
    if bars is None or len(bars) <= th.volume_window:
        return None
    volume = bars["volume"].to_numpy(dtype=np.float64)
    overall = np.nanmean(volume)
    if not overall > 0:
        return None
    return clean(np.nanmean(volume[-th.volume_window:]) / overall)


def _liquidity(bars: pd.DataFrame, quotes: pd.DataFrame, technicals: dict,
               th: RegimeThresholds) -> dict[str, Any]:
    if "spreadBps" in technicals:
        spread = clean(technicals.get("spreadBps"))
    else:
        quote = latest_quote(quotes)
        spread = quote["spreadBps"] if quote else None
    ratio = _volume_ratio(bars, th)
    if spread is None and ratio is None:
        level = UNKNOWN
    elif (spread is not None and spread > th.wide_spread_bps) or (
            ratio is not None and ratio < th.thin_volume_ratio):
        level = "thin"
    elif (spread is not None and ratio is not None and spread <= th.tight_spread_bps
          and ratio >= th.deep_volume_ratio):
        level = "deep"
    else:
        level = "normal"
    return {"level": level, "spreadBps": spread, "volumeRatio": ratio}


def regime_payload(bars: pd.DataFrame, quotes: pd.DataFrame, technicals: dict,
                   thresholds: RegimeThresholds = RegimeThresholds()) -> tuple[dict, list[str]]:
    """(payload, risk_flags) classifying trend / volatility / liquidity for one symbol."""
    technicals = technicals or {}
    trend = _trend(technicals, thresholds)
    vol = _volatility(bars, thresholds)
    liq = _liquidity(bars, quotes, technicals, thresholds)

    flags: list[str] = []
    if UNKNOWN in (trend["direction"], vol["level"], liq["level"]):
        flags.append("regime_insufficient_history")
    if vol["level"] == "high":
        flags.append("regime_high_volatility")
    if liq["level"] == "thin":
        flags.append("regime_thin_liquidity")
    if liq["spreadBps"] is None and liq["level"] != UNKNOWN:
        flags.append("regime_liquidity_volume_only")

    payload = {
        "trend": trend,
        "volatility": vol,
        "liquidity": liq,
        "thresholds": asdict(thresholds),
        "label": f"{trend['direction']}/{vol['level']}-vol/{liq['level']}-liquidity",
    }
    return payload, flags
