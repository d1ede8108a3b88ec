"""Owns Torghut's ClickHouse row shapes: the columns of ``torghut.ta_microbars`` and
``torghut.ta_signals``, and our minute bars / quotes written as such rows (for seeding).

The shapes restate proompteng/lab services/dorvud/technical-analysis-flink/src/main/resources/
ta-schema.sql (255d330fe and head): both tables are keyed ``(symbol, event_ts, seq)`` with
``ingest_ts`` as the ReplacingMergeTree version; a microbar's ``event_ts`` is its window end
(Torghut's Flink job emits 1-second bars, ``window_size 'PT1S'``, only for seconds that traded);
bid/ask live in ``ta_signals.imbalance_bid_px`` / ``imbalance_ask_px``. Seeded rows are
stamped ``ingest_ts = event_ts`` (as if ingested when the bar closed) and carry the window size
they really have (LEAN and synthetic data are 1-minute bars, ``'PT1M'``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MICROBARS = "ta_microbars"
SIGNALS = "ta_signals"
KEY_COLUMNS = ("symbol", "event_ts", "seq", "ingest_ts", "is_final", "source", "window_size",
               "window_step", "window_start", "window_end", "version")
MICROBAR_COLUMNS = KEY_COLUMNS + ("o", "h", "l", "c", "v", "vwap", "count")
#: Torghut's own indicator columns in ta_signals (all Nullable), and how our payload names them.
SIGNAL_VALUE_COLUMNS = {
    "macd": "macd", "macd_signal": "macdSignal", "macd_hist": "macdHist", "ema12": "ema12",
    "ema26": "ema26", "rsi14": "rsi14", "boll_mid": "bollMid", "boll_upper": "bollUpper",
    "boll_lower": "bollLower", "vwap_session": "vwapSession", "vwap_w5m": "vwapW5m",
    "vol_realized_w60s": "volRealizedW60s",
}
QUOTE_COLUMNS = ("imbalance_spread", "imbalance_bid_px", "imbalance_ask_px",
                 "imbalance_bid_sz", "imbalance_ask_sz")
SIGNAL_COLUMNS = KEY_COLUMNS + tuple(SIGNAL_VALUE_COLUMNS) + QUOTE_COLUMNS


def _keys(symbol: pd.Series, event_ts: pd.Series, start: pd.Series | None, source: str,
          window_size: str) -> pd.DataFrame:
    seq = symbol.groupby(symbol, sort=False).cumcount().to_numpy(dtype=np.uint64) + 1
    return pd.DataFrame({
        "symbol": symbol.astype(str).to_numpy(), "event_ts": event_ts.to_numpy(), "seq": seq,
        "ingest_ts": event_ts.to_numpy(), "is_final": np.ones(len(symbol), dtype=np.uint8),
        "source": source, "window_size": window_size, "window_step": window_size,
        "window_start": (event_ts if start is None else start).to_numpy(),
        "window_end": event_ts.to_numpy(), "version": np.ones(len(symbol), dtype=np.uint32)})


def microbar_rows(bars: pd.DataFrame, source: str, window_size: str = "PT1M") -> pd.DataFrame:
    """Minute bars (market_data.BARS_COLUMNS) as ta_microbars rows, ``event_ts`` = bar end."""
    bars = bars.sort_values(["symbol", "window_end"], kind="stable").reset_index(drop=True)
    rows = _keys(bars["symbol"], bars["window_end"], bars["window_start"], source, window_size)
    rows["o"], rows["h"], rows["l"], rows["c"] = (bars[k].to_numpy(dtype=np.float64)
                                                  for k in ("open", "high", "low", "close"))
    rows["v"] = bars["volume"].to_numpy(dtype=np.float64)
    rows["vwap"] = bars["vwap"].to_numpy(dtype=np.float64)
    rows["count"] = bars["trade_count"].to_numpy(dtype=np.uint64)
    return rows.loc[:, list(MICROBAR_COLUMNS)]


def signal_rows(quotes: pd.DataFrame, source: str, window_size: str = "PT1M") -> pd.DataFrame:
    """Quotes (market_data.QUOTES_COLUMNS, stamped at their bar end) as ta_signals rows carrying
    only bid/ask (``imbalance_*``); Torghut's indicator columns stay NULL (we do not invent
    them)."""
    quotes = quotes.sort_values(["symbol", "ts"], kind="stable").reset_index(drop=True)
    rows = _keys(quotes["symbol"], quotes["ts"], None, source, window_size)
    for column in SIGNAL_VALUE_COLUMNS:
        rows[column] = np.nan
    bid, ask = (quotes[k].to_numpy(dtype=np.float64) for k in ("bid", "ask"))
    rows["imbalance_spread"] = ask - bid
    rows["imbalance_bid_px"], rows["imbalance_ask_px"] = bid, ask
    rows["imbalance_bid_sz"] = pd.array(np.round(quotes["bid_size"].to_numpy(dtype=np.float64)),
                                        dtype="UInt64")
    rows["imbalance_ask_sz"] = pd.array(np.round(quotes["ask_size"].to_numpy(dtype=np.float64)),
                                        dtype="UInt64")
    return rows.loc[:, list(SIGNAL_COLUMNS)]


__all__ = ["KEY_COLUMNS", "MICROBARS", "MICROBAR_COLUMNS", "QUOTE_COLUMNS", "SIGNALS",
           "SIGNAL_COLUMNS", "SIGNAL_VALUE_COLUMNS", "microbar_rows", "signal_rows"]
