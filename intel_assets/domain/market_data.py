"""Owns market-data loading: LEAN minute zips and a seeded synthetic market, as Torghut-shaped frames.

Both sources return ``(bars, quotes)`` with the columns of Torghut's ClickHouse tables
(``BARS_COLUMNS`` / ``QUOTES_COLUMNS``); timestamps are tz-aware UTC. Pure Python: no Dagster.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

__all__ = ["BARS_COLUMNS", "QUOTES_COLUMNS", "LeanDataError", "lean_minute_days",
           "load_lean_minute", "synthetic_market"]

BARS_COLUMNS = ("symbol", "window_start", "window_end", "open", "high", "low", "close",
                "volume", "vwap", "trade_count")
QUOTES_COLUMNS = ("symbol", "ts", "bid", "bid_size", "ask", "ask_size")

NEW_YORK = ZoneInfo("America/New_York")
BAR_NS = 60 * 10**9
DAY_MS = 86_400_000
PRICE_SCALE = 10_000.0  # LEAN stores prices in deci-cents
_CsvSpec = tuple[int, tuple[int, ...], tuple[int, ...]]  # fields, optional cols, price cols > 0
# Trade: ms, open, high, low, close, volume; every field required, prices > 0.
TRADE_SPEC: _CsvSpec = (6, (), (1, 2, 3, 4))
# Quote: ms, bid o/h/l/c, bid size, ask o/h/l/c, ask size. LEAN leaves a missing side's
# prices empty (or 0) with size 0, so prices are optional and may be 0.
QUOTE_SPEC: _CsvSpec = (11, (1, 2, 3, 4, 6, 7, 8, 9), ())
SESSION_MINUTES = 390  # 09:30-16:00 New York
_DAY_FILE = re.compile(r"^(\d{8})_trade\.zip$")


class LeanDataError(ValueError):
    """LEAN data is missing or malformed; the message names the file/folder and what to do."""


# --------------------------------------------------------------------------- shared helpers


def _local_midnight_ns(day: date) -> int:
    """UTC epoch ns of New-York midnight on ``day``, using that date's DST-correct offset.

    US DST switches at 02:00 on a Sunday, so one offset (taken at noon) is right for every
    bar of a weekday session.
    """
    offset = NEW_YORK.utcoffset(datetime.combine(day, time(12)))
    assert offset is not None
    midnight_utc = datetime.combine(day, time(), tzinfo=timezone.utc) - offset
    return int(midnight_utc.timestamp()) * 10**9


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("M8[ns]")).tz_localize("UTC")


def _frames(sym: np.ndarray, start_ns: np.ndarray, o, h, l, c, vol, vwap, trades,
            q_sym: np.ndarray, q_ns: np.ndarray, bid, bid_sz, ask, ask_sz):
    sym_str = pd.array(sym, dtype="str")
    bars = pd.DataFrame({
        "symbol": sym_str, "window_start": _utc(start_ns),
        "window_end": _utc(start_ns + BAR_NS), "open": o, "high": h, "low": l, "close": c,
        "volume": np.asarray(vol, dtype=np.float64), "vwap": vwap,
        "trade_count": np.asarray(trades, dtype=np.int64)})
    quotes = pd.DataFrame({
        "symbol": sym_str if q_sym is sym else pd.array(q_sym, dtype="str"), "ts": _utc(q_ns), "bid": bid,
        "bid_size": bid_sz, "ask": ask, "ask_size": ask_sz})
    return bars, quotes


# --------------------------------------------------------------------------- LEAN minute data


def _minute_folder(lean_dir: Path, symbol: str) -> Path:
    return Path(lean_dir) / "equity" / "usa" / "minute" / symbol.lower()


def lean_minute_days(lean_dir: Path, symbol: str) -> list[date]:
    """Sorted dates with an ``equity/usa/minute/<ticker>/<YYYYMMDD>_trade.zip`` ([] if none)."""
    folder = _minute_folder(lean_dir, symbol)
    if not folder.is_dir():
        return []
    days = []
    for path in folder.iterdir():
        match = _DAY_FILE.match(path.name)
        if match:
            try:
                days.append(datetime.strptime(match.group(1), "%Y%m%d").date())
            except ValueError as exc:
                raise LeanDataError(f"{path}: file name is not a valid YYYYMMDD date "
                                    f"({exc}); rename or remove it") from exc
    return sorted(days)


def _bad_line(path: Path, member: str, raw: bytes, spec: _CsvSpec, cause: object,
              ) -> LeanDataError:
    """Slow path, only on failure: find the first offending physical line for the message."""
    fields, optional, positive = spec
    text = raw.decode("utf-8", errors="replace")
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} ({member}) line {lineno}: {line[:100]!r}"
        parts = line.split(",")
        if len(parts) != fields:
            return LeanDataError(f"{where}: expected {fields} comma-separated fields, "
                                 f"found {len(parts)}; fix or re-download the file")
        try:
            values = [np.nan if p == "" and i in optional else float(p)
                      for i, p in enumerate(parts)]
        except ValueError:
            values = []
        if len(values) != fields or any(np.isnan(v) != (p == "") or np.isinf(v)
                                        for v, p in zip(values, parts)):
            return LeanDataError(f"{where}: empty, non-numeric or non-finite field; fix or "
                                 "re-download the file")
        if not 0 <= values[0] < DAY_MS:
            return LeanDataError(f"{where}: time {values[0]} is not ms since midnight")
        if any(values[i] <= 0 for i in positive):
            return LeanDataError(f"{where}: price <= 0 in a trade bar; fix the file")
    return LeanDataError(f"{path} ({member}): cannot parse as LEAN CSV: {cause}")


def _read_lean_csv(path: Path, spec: _CsvSpec) -> np.ndarray:
    """The single CSV inside a LEAN zip as an (n, fields) float64 array, strictly validated.

    Empty fields are allowed only in ``spec``'s optional columns (they become NaN).
    """
    fields, optional, positive = spec
    try:
        with zipfile.ZipFile(path) as zf:
            members = [n for n in zf.namelist() if not n.endswith("/")]
            if len(members) != 1:
                raise LeanDataError(f"{path}: expected exactly one CSV inside, found "
                                    f"{members}; re-download the file")
            raw = zf.read(members[0])
    except (zipfile.BadZipFile, OSError) as exc:
        raise LeanDataError(f"{path}: not a readable zip ({exc}); re-download it") from exc
    try:
        values = pd.read_csv(io.BytesIO(raw), header=None, names=range(fields), index_col=False,
                             dtype=np.float64, engine="c", keep_default_na=False,
                             na_values=[""]).to_numpy()
    except ValueError as exc:  # ParserError (too many fields) or float conversion
        raise _bad_line(path, members[0], raw, spec, exc) from exc
    required = [i for i in range(fields) if i not in optional]
    ok = (np.isfinite(values[:, required]).all() and not np.isinf(values).any()
          and ((values[:, 0] >= 0) & (values[:, 0] < DAY_MS)).all()
          and not (values[:, list(positive)] <= 0).any())
    if not ok:  # short rows show up here as NaN in the (required) last column
        raise _bad_line(path, members[0], raw, spec, "invalid values")
    return values


def load_lean_minute(lean_dir: Path, symbol: str, days: Iterable[date] | None = None,
                     on_day: Callable[[str, date], None] | None = None,
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """LEAN minute trade/quote zips for ``symbol`` as Torghut ``(bars, quotes)`` frames.

    ``days`` defaults to every day on disk; ``on_day(symbol, day)`` is called before each day.
    Bars: a LEAN bar stamped ``t`` (ms after New-York midnight) covers ``[t, t+1min)``;
    prices are raw (unadjusted) dollars. LEAN trade bars carry no VWAP, so ``vwap`` is the
    typical price ``(high+low+close)/3`` as a per-bar proxy, and no trade count, so
    ``trade_count`` is 0 (unknown). Quotes: one row per quote bar at its *end* ``t+60s`` (when
    the closing quote is known), bid/ask = the bar's closing bid/ask; a side LEAN leaves empty
    or 0 (missing) becomes NaN price and NaN size. A day without ``_quote.zip`` yields bars only.
    Raises LeanDataError for a missing symbol/day or any malformed file (naming the line).
    """
    folder = _minute_folder(lean_dir, symbol)
    available = lean_minute_days(lean_dir, symbol)
    if not available:
        hint = ("" if Path(lean_dir).is_dir() else
                f" (the LEAN data folder {lean_dir} itself does not exist)")
        raise LeanDataError(f"no LEAN minute data for {symbol!r}: no <YYYYMMDD>_trade.zip in "
                            f"{folder}{hint}; check the ticker, or set INTEL_LEAN_DATA_DIR to "
                            "a LEAN Data folder that contains equity/usa/minute/<ticker>/")
    wanted = available if days is None else sorted(set(days))
    missing = sorted(set(wanted) - set(available))
    if missing:
        raise LeanDataError(f"no {symbol} minute trade zip in {folder} for "
                            f"{[d.isoformat() for d in missing]}; available days: "
                            f"{available[0]}..{available[-1]} ({len(available)} files)")
    trade_parts, quote_parts = [], []
    for day in wanted:
        if on_day is not None:
            on_day(symbol, day)
        base = _local_midnight_ns(day)
        stem = folder / day.strftime("%Y%m%d")
        trades = _read_lean_csv(Path(f"{stem}_trade.zip"), TRADE_SPEC)
        trade_parts.append((base + np.rint(trades[:, 0]).astype(np.int64) * 10**6, trades))
        quote_path = Path(f"{stem}_quote.zip")
        if quote_path.exists():
            quotes = _read_lean_csv(quote_path, QUOTE_SPEC)
            end_ns = base + np.rint(quotes[:, 0]).astype(np.int64) * 10**6 + BAR_NS
            quote_parts.append((end_ns, quotes))
    t_ns = np.concatenate([p[0] for p in trade_parts])
    t = np.concatenate([p[1] for p in trade_parts])
    q_ns = np.concatenate([p[0] for p in quote_parts]) if quote_parts else np.empty(0, np.int64)
    q = (np.concatenate([p[1] for p in quote_parts]) if quote_parts
         else np.empty((0, QUOTE_SPEC[0])))
    o, h, l, c = (t[:, i] / PRICE_SCALE for i in (1, 2, 3, 4))
    bid, ask = q[:, 4] / PRICE_SCALE, q[:, 9] / PRICE_SCALE
    bid_sz, ask_sz = q[:, 5].copy(), q[:, 10].copy()
    no_bid, no_ask = ~(bid > 0), ~(ask > 0)  # empty (NaN) or 0 = side missing
    bid[no_bid] = bid_sz[no_bid] = np.nan
    ask[no_ask] = ask_sz[no_ask] = np.nan
    ticker = symbol.upper()
    bars, quotes_df = _frames(
        np.full(len(t), ticker, dtype=object), t_ns, o, h, l, c, t[:, 5], (h + l + c) / 3.0,
        np.zeros(len(t), np.int64), np.full(len(q), ticker, dtype=object), q_ns,
        bid, bid_sz, ask, ask_sz)
    bars = bars.sort_values("window_start", kind="stable", ignore_index=True)
    return bars, quotes_df.sort_values("ts", kind="stable", ignore_index=True)


# --------------------------------------------------------------------------- synthetic market


def _sessions_ending(end: datetime, days: int) -> list[date]:
    """``days`` weekdays (holidays ignored) ending at the session containing/preceding ``end``.

    A session "contains" ``end`` once its first bar is complete (09:31 New York), so the
    last session always contributes at least one bar.
    """
    local = end.astimezone(NEW_YORK)
    day = local.date()
    if local.replace(tzinfo=None) < datetime.combine(day, time(9, 31)):
        day -= timedelta(days=1)
    out: list[date] = []
    while len(out) < days:
        if day.weekday() < 5:
            out.append(day)
        day -= timedelta(days=1)
    return out[::-1]


def _u_shape(minute: np.ndarray, floor: float, curve: float, open_peak: float,
             close_peak: float) -> np.ndarray:
    x = (minute - (SESSION_MINUTES - 1) / 2) / ((SESSION_MINUTES - 1) / 2)
    shape = (floor + curve * x**2 + open_peak * np.exp(-minute / 10.0)
             + close_peak * np.exp(-(SESSION_MINUTES - 1 - minute) / 10.0))
    return shape / shape.mean()


def synthetic_market(symbols: Sequence[str], days: int, end: datetime, seed: int = 7,
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A deterministic synthetic US-equity minute market as Torghut ``(bars, quotes)`` frames.

    ``days`` regular sessions (09:30-16:00 New York, weekdays; holidays are not modelled)
    ending at the session containing or preceding ``end``; bars with ``window_end > end`` are
    dropped, so nothing is in the future of ``end``. Each symbol draws from its own RNG
    seeded by ``(seed, crc32(symbol))``, so a symbol's series does not depend on which other
    symbols are requested. Per symbol: start price 20..500, log returns with GARCH(1,1)
    volatility clustering and a U-shaped intraday volatility profile, overnight gaps, high/low
    wicks around open/close, a U-shaped volume "smile" times lognormal noise, and one quote per
    bar at bar end whose spread (bps) widens with volatility and for low-priced names.
    """
    if end.tzinfo is None:
        raise ValueError("synthetic_market needs a timezone-aware `end`")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    names = [str(s).upper() for s in symbols]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate symbols in {list(symbols)}")
    sessions = _sessions_ending(end, days)
    minute = np.arange(SESSION_MINUTES)
    open_ns = np.array([_local_midnight_ns(d) + (9 * 60 + 30) * BAR_NS for d in sessions])
    start_ns = (open_ns[:, None] + minute[None, :] * BAR_NS).ravel()
    n_bars, n_sym = start_ns.size, len(names)
    keep = start_ns + BAR_NS <= int(end.timestamp() * 10**9)

    params = np.empty((n_sym, 4))  # start price, daily vol, base volume/min, shares/trade
    z = np.empty((6, n_sym, n_bars))  # returns, high wick, low wick, volume, gap, spread
    u = np.empty((3, n_sym, n_bars))  # vwap position, bid size, ask size
    for i, name in enumerate(names):
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        params[i] = (np.exp(rng.uniform(np.log(20), np.log(500))), rng.uniform(0.01, 0.035),
                     np.exp(rng.normal(np.log(20_000), 0.8)), rng.uniform(80, 300))
        z[:, i] = rng.standard_normal((6, n_bars))
        u[:, i] = rng.random((3, n_bars))
    p0, daily_vol, base_volume, trade_size = (params[:, j : j + 1] for j in range(4))

    # GARCH(1,1) on per-minute innovations; recursion over time, vectorized over symbols.
    var_target = (daily_vol[:, 0] / np.sqrt(SESSION_MINUTES)) ** 2
    alpha, beta = 0.10, 0.85
    omega = var_target * (1 - alpha - beta)
    var, shock = var_target.copy(), np.zeros(n_sym)
    sigma = np.empty((n_sym, n_bars))
    for t in range(n_bars):
        var = omega + alpha * shock**2 + beta * var
        sigma[:, t] = np.sqrt(var)
        shock = sigma[:, t] * z[0, :, t]
    season = np.tile(_u_shape(minute, 0.7, 0.8, 1.0, 0.6), len(sessions))
    vol_ratio = sigma / np.sqrt(var_target)[:, None]
    step_sigma = sigma * season
    ret = step_sigma * z[0]
    gap = np.zeros_like(ret)
    first_bars = np.arange(1, len(sessions)) * SESSION_MINUTES
    gap[:, first_bars] = 0.3 * daily_vol * z[4][:, first_bars]
    log_close = np.log(p0) + np.cumsum(ret + gap, axis=1)
    close, open_ = np.exp(log_close), np.exp(log_close - ret)
    high = np.maximum(open_, close) * np.exp(0.5 * step_sigma * np.abs(z[1]))
    low = np.minimum(open_, close) * np.exp(-0.5 * step_sigma * np.abs(z[2]))
    open_, high, low, close = (np.round(a, 2) for a in (open_, high, low, close))
    smile = np.tile(_u_shape(minute, 0.5, 1.5, 2.5, 2.0), len(sessions))
    volume = np.maximum(1.0, np.rint(base_volume * smile * np.sqrt(vol_ratio)
                                     * np.exp(0.6 * z[3] - 0.18)))
    vwap = np.round(low + (high - low) * (0.25 + 0.5 * u[0]), 4)
    trades = np.maximum(1, np.rint(volume / trade_size)).astype(np.int64)
    spread_bps = (0.5 + 150.0 / close) * vol_ratio * np.exp(0.3 * z[5])
    half = close * spread_bps / 2e4
    bid = np.floor((close - half) * 100) / 100
    ask = np.maximum(np.ceil((close + half) * 100) / 100, bid + 0.01)
    bid_size, ask_size = 100.0 * np.floor(1 + 30 * u[1]), 100.0 * np.floor(1 + 30 * u[2])

    mask = np.tile(keep, n_sym)
    sym = np.repeat(np.array(names, dtype=object), n_bars)[mask]
    starts = np.tile(start_ns, n_sym)[mask]
    flat = [a.ravel()[mask] for a in (open_, high, low, close, volume, vwap, trades,
                                      bid, bid_size, ask, ask_size)]
    o, h, l, c, vol, vw, tc, b, bs, a, asz = flat
    return _frames(sym, starts, o, h, l, c, vol, vw, tc, sym, starts + BAR_NS, b, bs, a, asz)
