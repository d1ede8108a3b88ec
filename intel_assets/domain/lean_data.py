"""Owns LEAN reference data beyond raw bars: factor files, exchange hours, symbol properties, and
minute snapshots (trade + bid/ask OHLC quote bars) normalized the way LEAN feeds an algorithm.

LEAN semantics reproduced here (verified against LEAN's ``FactorFile.GetPriceScaleFactor`` and
``SubscriptionDataConfig.GetNormalizedPrice``):

* A factor-file row applies to every date up to and including its own date: the scale factor
  for day ``d`` is ``price_factor x split_factor`` of the *first* row whose date is ``>= d``
  (LEAN walks the rows newest-first and stops at the first row dated before ``d``); after the
  last row (or without a factor file) it is 1.
* ``adjusted`` price = raw price x that scale factor, exact ``Decimal``, no rounding;
  ``raw`` = the deci-cent integer / 10,000.
* Without extended market hours LEAN only emits bars that start inside the regular session
  (09:30-16:00 New York, early closes and holidays from the market-hours database).
"""

from __future__ import annotations

import csv
import json
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Literal

import numpy as np

from intel_assets.domain.fills import MarketSnapshot, PriceBar, QuoteBar, TradeBar
from intel_assets.domain.market_data import (
    NEW_YORK,
    QUOTE_SPEC,
    TRADE_SPEC,
    LeanDataError,
    _minute_folder,
    _read_lean_csv,
    lean_minute_days,
)

Normalization = Literal["raw", "adjusted"]
_SCALE = Decimal(10_000)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- factor files


@dataclass(frozen=True)
class FactorRow:
    day: date
    price_factor: Decimal
    split_factor: Decimal
    reference_price: Decimal

    @property
    def price_scale_factor(self) -> Decimal:
        return self.price_factor * self.split_factor


def read_factor_rows(lean_dir: Path, symbol: str) -> list[FactorRow]:
    """Rows of ``equity/usa/factor_files/<ticker>.csv`` sorted by date ([] when there is none)."""
    path = Path(lean_dir) / "equity" / "usa" / "factor_files" / f"{symbol.lower()}.csv"
    if not path.exists():
        return []
    rows: list[FactorRow] = []
    with path.open(newline="") as fh:
        for lineno, parts in enumerate(csv.reader(fh), start=1):
            if not parts or not "".join(parts).strip():
                continue
            try:
                day = datetime.strptime(parts[0].strip(), "%Y%m%d").date()
                ref = Decimal(parts[3]) if len(parts) > 3 and parts[3].strip() else Decimal(0)
                rows.append(FactorRow(day, Decimal(parts[1]), Decimal(parts[2]), ref))
            except (ValueError, IndexError, ArithmeticError) as exc:
                raise LeanDataError(f"{path} line {lineno}: {parts!r} is not 'YYYYMMDD,price "
                                    f"factor,split factor[,reference price]' ({exc})") from exc
    return sorted(rows, key=lambda r: r.day)


def price_scale_factor(rows: list[FactorRow], day: date) -> Decimal:
    """LEAN's adjusted-price multiplier for ``day``: the first row dated on/after ``day``."""
    i = bisect_left([r.day for r in rows], day)
    return rows[i].price_scale_factor if i < len(rows) else Decimal(1)


# --------------------------------------------------------------------------- exchange hours


@dataclass(frozen=True)
class ExchangeHours:
    """Regular-session hours of one market-hours-database entry (exchange-local times)."""

    regular: dict[int, tuple[time, time]]  # weekday -> (open, close); absent = closed
    holidays: frozenset[date] = frozenset()
    early_closes: dict[date, time] = field(default_factory=dict)
    late_opens: dict[date, time] = field(default_factory=dict)

    def session(self, day: date) -> tuple[time, time] | None:
        """(open, close) of the regular session on ``day``, or None when the market is closed."""
        if day in self.holidays or day.weekday() not in self.regular:
            return None
        open_, close = self.regular[day.weekday()]
        return self.late_opens.get(day, open_), self.early_closes.get(day, close)

    def next_session_day(self, moment: datetime) -> date:
        """The day of the first regular session that has not closed at ``moment``."""
        local = moment.astimezone(NEW_YORK)
        day = local.date()
        for _ in range(30):
            hours = self.session(day)
            if hours is not None and (day > local.date() or local.time() < hours[1]):
                return day
            day += timedelta(days=1)
        raise LeanDataError(f"no regular session within 30 days after {moment.isoformat()}")

    def is_open(self, moment: datetime) -> bool:
        """Whether ``moment`` is inside a regular session (open <= t < close, New York time)."""
        local = moment.astimezone(NEW_YORK)
        hours = self.session(local.date())
        return hours is not None and hours[0] <= local.time() < hours[1]

    def next_close(self, moment: datetime) -> datetime:
        """The first regular-session close strictly after ``moment`` (UTC; LEAN's
        ``GetNextMarketClose``, also ``GetLastDailyMarketClose`` for one-segment days)."""
        local = moment.astimezone(NEW_YORK)
        day = local.date()
        for _ in range(30):
            hours = self.session(day)
            if hours is not None:
                close = datetime.combine(day, hours[1], tzinfo=NEW_YORK)
                if close > local:
                    return close.astimezone(timezone.utc)
            day += timedelta(days=1)
        raise LeanDataError(f"no regular session close within 30 days after {moment.isoformat()}")

    def local_date(self, moment: datetime) -> date:
        """The exchange-local (New York) date of ``moment``."""
        return moment.astimezone(NEW_YORK).date()


def _mdy(text: str) -> date:
    return datetime.strptime(text, "%m/%d/%Y").date()


def _hms(text: str) -> time:
    return datetime.strptime(text, "%H:%M:%S").time()


@lru_cache(maxsize=8)
def _market_hours_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LeanDataError(f"{path}: cannot read the market-hours database ({exc})") from exc


def read_exchange_hours(lean_dir: Path, symbol: str = "[*]", market: str = "usa",
                        security_type: str = "Equity") -> ExchangeHours:
    """Regular hours for ``<security_type>-<market>-<symbol>`` (falling back to ``[*]``)."""
    path = Path(lean_dir) / "market-hours" / "market-hours-database.json"
    entries = _market_hours_json(path.resolve()).get("entries", {})
    entry = (entries.get(f"{security_type}-{market}-{symbol.upper()}")
             or entries.get(f"{security_type}-{market}-[*]"))
    if entry is None:
        raise LeanDataError(f"{path}: no '{security_type}-{market}-[*]' entry")
    names = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    regular = {}
    for weekday, name in enumerate(names):
        segments = [s for s in entry.get(name, []) if s.get("state") == "market"]
        if segments:
            regular[weekday] = (_hms(segments[0]["start"]), _hms(segments[-1]["end"]))
    return ExchangeHours(
        regular, frozenset(_mdy(d) for d in entry.get("holidays", [])),
        {_mdy(d): _hms(t) for d, t in entry.get("earlyCloses", {}).items()},
        {_mdy(d): _hms(t) for d, t in entry.get("lateOpens", {}).items()})


def read_lot_size(lean_dir: Path, symbol: str, market: str = "usa",
                  security_type: str = "equity") -> Decimal:
    """Lot size from ``symbol-properties-database.csv`` (the symbol's row, else ``[*]``; 1)."""
    path = Path(lean_dir) / "symbol-properties" / "symbol-properties-database.csv"
    if not path.exists():
        return Decimal(1)
    wildcard = Decimal(1)
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("market") == market and row.get("type") == security_type:
                if row.get("symbol", "").upper() == symbol.upper():
                    return Decimal(row["lot_size"])
                if row.get("symbol") == "[*]":
                    wildcard = Decimal(row["lot_size"])
    return wildcard


# --------------------------------------------------------------------------- minute snapshots


def _bar(values: np.ndarray, scale: Decimal) -> PriceBar | None:
    if not all(v > 0 for v in values):  # NaN compares False: an empty side is missing
        return None
    o, h, l, c = (Decimal(int(round(v))) / _SCALE * scale for v in values)
    return PriceBar(o, h, l, c)


def lean_minute_snapshots(lean_dir: Path, symbol: str, days: Iterable[date] | None = None,
                          normalization: Normalization = "adjusted",
                          extended_hours: bool = False,
                          fill_forward: bool = False) -> list[MarketSnapshot]:
    """LEAN minute trade + quote bars of ``symbol`` as time-ordered MarketSnapshots.

    Each snapshot covers ``[start, start + 1 min)`` (UTC-aware); ``trade``/``quote`` is None
    when that minute has no such row; a quote side LEAN left empty is None. Prices are
    ``normalization``-scaled Decimals. With ``fill_forward`` (regular hours only) every session
    minute has both bars, as LEAN's fill-forward feeds them (``fill_forward_minutes``). Raises
    LeanDataError for missing days or bad files.
    """
    if normalization not in ("raw", "adjusted"):
        raise ValueError(f"normalization must be 'raw' or 'adjusted', not {normalization!r}")
    available = lean_minute_days(lean_dir, symbol)
    wanted = available if days is None else sorted(set(days))
    missing = sorted(set(wanted) - set(available))
    if not available or missing:
        raise LeanDataError(f"no LEAN minute data for {symbol.upper()} on "
                            f"{[d.isoformat() for d in missing] or 'any day'} in "
                            f"{_minute_folder(lean_dir, symbol)}")
    factors = read_factor_rows(lean_dir, symbol) if normalization == "adjusted" else []
    hours = read_exchange_hours(lean_dir, symbol)
    ticker, out = symbol.upper(), []
    for day in wanted:
        scale = price_scale_factor(factors, day) if normalization == "adjusted" else Decimal(1)
        session = hours.session(day)
        stem = _minute_folder(lean_dir, symbol) / day.strftime("%Y%m%d")
        trades = {int(r[0]): r for r in _read_lean_csv(Path(f"{stem}_trade.zip"), TRADE_SPEC)}
        quote_path = Path(f"{stem}_quote.zip")
        quotes = ({int(r[0]): r for r in _read_lean_csv(quote_path, QUOTE_SPEC)}
                  if quote_path.exists() else {})
        midnight = datetime.combine(day, time(), tzinfo=NEW_YORK)
        for ms in sorted(set(trades) | set(quotes)):
            start_local = midnight + timedelta(milliseconds=ms)
            if not extended_hours and (session is None
                                       or not session[0] <= start_local.time() < session[1]):
                continue
            t, q = trades.get(ms), quotes.get(ms)
            trade = None
            if t is not None:
                bar = _bar(t[1:5], scale)
                trade = None if bar is None else TradeBar(bar.open, bar.high, bar.low, bar.close,
                                                          Decimal(int(t[5])))
            quote = None if q is None else QuoteBar(_bar(q[1:5], scale), _bar(q[6:10], scale))
            start = start_local.astimezone(timezone.utc)
            out.append(MarketSnapshot(ticker, start, start + timedelta(minutes=1), trade, quote))
    if fill_forward and not extended_hours:
        return fill_forward_minutes(out, hours)
    return out


def fill_forward_minutes(snapshots: list[MarketSnapshot],
                         hours: ExchangeHours) -> list[MarketSnapshot]:
    """LEAN's fill-forward over regular-session minutes: a minute of a data day without a trade
    (or quote) bar gets a copy of the last one, re-stamped to that minute (trade volume 0;
    ``fill_forward`` set). Minutes before the symbol's first bar stay empty."""
    if not snapshots:
        return []
    by_start = {s.start: s for s in snapshots}
    days = sorted({s.start.astimezone(NEW_YORK).date() for s in snapshots})
    out: list[MarketSnapshot] = []
    last_trade: TradeBar | None = None
    last_quote: QuoteBar | None = None
    minute = timedelta(minutes=1)
    for day in days:
        session = hours.session(day)
        if session is None:
            continue
        start = datetime.combine(day, session[0], tzinfo=NEW_YORK).astimezone(timezone.utc)
        close = datetime.combine(day, session[1], tzinfo=NEW_YORK).astimezone(timezone.utc)
        while start < close:
            real = by_start.get(start)
            trade = real.trade if real is not None else None
            quote = real.quote if real is not None else None
            filled = False
            if trade is None and last_trade is not None:
                trade, filled = TradeBar(last_trade.open, last_trade.high, last_trade.low,
                                         last_trade.close, Decimal(0)), True
            if quote is None and last_quote is not None:
                quote, filled = last_quote, True
            if trade is not None or quote is not None:
                out.append(MarketSnapshot(snapshots[0].symbol, start, start + minute, trade,
                                          quote, fill_forward=filled))
            last_trade = real.trade if real is not None and real.trade else last_trade
            last_quote = real.quote if real is not None and real.quote else last_quote
            start += minute
    return out


def first_snapshot_at_or_after(snapshots: list[MarketSnapshot], moment: datetime) -> int:
    """Index of the first snapshot starting at or after ``moment`` (len() when none)."""
    return bisect_left([s.start for s in snapshots], moment)


__all__ = ["ExchangeHours", "FactorRow", "Normalization", "fill_forward_minutes",
           "first_snapshot_at_or_after",
           "lean_minute_snapshots", "price_scale_factor", "read_exchange_hours",
           "read_factor_rows", "read_lot_size"]
