"""Owns the market clock: whether the US equity market is in its regular session at an instant,
the latest close and the next open, and how many regular-session seconds lie between two
instants (what technicals and regime quality decays by outside the session).

Two sources, one interface (``MarketClock``):

* ``exchange_clock`` (live): the exchange_calendars package's XNYS calendar (holidays, early
  closes, late opens maintained upstream).
* ``lean_clock`` (replay with LEAN data): LEAN's market-hours database, read by
  ``domain.lean_data.read_exchange_hours`` (the same hours LEAN's own engine trades on).

``clock_for(as_of, lean_dir)`` makes the choice in one place for the Dagster resource and the
serving process. Extended hours are 04:00 until the open and the close until 20:00 (New York)
of a trading day. Per-day schedules are cached: the clock is asked once per block.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Callable, Protocol

from intel_assets.domain.market_data import NEW_YORK

#: Pre-market starts and after-hours end at these New York times on a trading day.
EXTENDED_START = time(4, 0)
EXTENDED_END = time(20, 0)
#: The first day exchange_clock's calendar covers (exchange_calendars' default is 20 years back).
CALENDAR_START = "1990-01-02"
#: How far a clock looks for a session before it says the schedule has none.
_SEARCH_DAYS = 30


@dataclass(frozen=True)
class Session:
    """What the clock says at one moment (all datetimes tz-aware UTC)."""

    now: datetime
    is_open: bool  # inside a regular session (09:30-16:00 New York, early closes honoured)
    extended: bool  # inside pre-market (04:00-09:30) or after-hours (16:00-20:00) of a trading day
    last_close: datetime | None  # end of the latest regular session that ended at or before now
    next_open: datetime  # start of the next regular session strictly after now


class MarketClock(Protocol):
    def session(self, now: datetime) -> Session: ...

    def session_seconds_between(self, start: datetime, end: datetime) -> float: ...


class MarketClockError(ValueError):
    """The schedule has no answer for the instant asked (outside the calendar's range)."""


Hours = tuple[datetime, datetime]  # (open, close) of one day's regular session, UTC


class ScheduleClock:
    """A MarketClock over a per-day schedule: ``hours(day)`` is the (open, close) of the regular
    session on that New York date, or None when the market is closed all day."""

    def __init__(self, hours: Callable[[date], Hours | None], name: str) -> None:
        self._hours = lru_cache(maxsize=4096)(hours)
        self.name = name

    def __repr__(self) -> str:
        return f"ScheduleClock({self.name})"

    def hours(self, day: date) -> Hours | None:
        return self._hours(day)

    def session(self, now: datetime) -> Session:
        if now.tzinfo is None:
            raise ValueError("the market clock needs a timezone-aware instant")
        now = now.astimezone(timezone.utc)
        local = now.astimezone(NEW_YORK)
        today = local.date()
        hours = self.hours(today)
        is_open = hours is not None and hours[0] <= now < hours[1]
        extended = (hours is not None and not is_open
                    and EXTENDED_START <= local.time() < EXTENDED_END)
        return Session(now=now, is_open=is_open, extended=extended,
                       last_close=self._last_close(now, today),
                       next_open=self._next_open(now, today))

    def _last_close(self, now: datetime, today: date) -> datetime | None:
        for back in range(_SEARCH_DAYS):
            hours = self.hours(today - timedelta(days=back))
            if hours is not None and hours[1] <= now:
                return hours[1]
        return None

    def _next_open(self, now: datetime, today: date) -> datetime:
        for ahead in range(_SEARCH_DAYS):
            hours = self.hours(today + timedelta(days=ahead))
            if hours is not None and hours[0] > now:
                return hours[0]
        raise MarketClockError(f"{self.name}: no regular session within {_SEARCH_DAYS} days "
                               f"after {now.isoformat()}")

    def session_seconds_between(self, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        total = 0.0
        day = start.astimezone(NEW_YORK).date()
        last = end.astimezone(NEW_YORK).date()
        while day <= last:
            hours = self.hours(day)
            if hours is not None:
                overlap = (min(end, hours[1]) - max(start, hours[0])).total_seconds()
                total += max(0.0, overlap)
            day += timedelta(days=1)
        return total


def _utc(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=NEW_YORK).astimezone(timezone.utc)


@lru_cache(maxsize=4)
def exchange_clock(calendar: str = "XNYS") -> MarketClock:
    """The live clock: the exchange_calendars calendar named ``calendar`` (XNYS = NYSE)."""
    import exchange_calendars
    import pandas as pd

    try:
        # from 1990: replays of old data (LEAN's samples are 2013) stay inside the calendar
        cal = exchange_calendars.get_calendar(calendar, start=CALENDAR_START)
    except Exception as exc:  # InvalidCalendarName and friends
        raise MarketClockError(f"no exchange calendar {calendar!r} in exchange_calendars "
                               f"({exc}); set INTEL_MARKET_CALENDAR to one, e.g. XNYS") from exc
    first, last = cal.first_session.date(), cal.last_session.date()

    def hours(day: date) -> Hours | None:
        if not first <= day <= last:
            raise MarketClockError(f"{calendar}: {day} is outside the calendar's range "
                                   f"{first}..{last}")
        label = pd.Timestamp(day)
        if not cal.is_session(label):
            return None
        return (cal.session_open(label).to_pydatetime().astimezone(timezone.utc),
                cal.session_close(label).to_pydatetime().astimezone(timezone.utc))

    return ScheduleClock(hours, f"exchange_calendars {calendar}")


def lean_clock(market_hours_database: Path, market: str = "usa",
               security_type: str = "Equity") -> MarketClock:
    """The replay clock: LEAN's market-hours database (``market-hours-database.json``)."""
    path = Path(market_hours_database)
    if path.is_dir():  # a LEAN Data folder or its market-hours folder
        path = (path / "market-hours-database.json" if path.name == "market-hours"
                else path / "market-hours" / "market-hours-database.json")
    return _lean_clock(path.resolve(), market, security_type)


@lru_cache(maxsize=8)
def _lean_clock(path: Path, market: str, security_type: str) -> MarketClock:
    from intel_assets.domain.lean_data import read_exchange_hours

    if path.parent.name != "market-hours":
        raise MarketClockError(f"{path}: the LEAN market-hours database lives at "
                               "<LEAN Data>/market-hours/market-hours-database.json")
    exchange = read_exchange_hours(path.parent.parent, "[*]", market, security_type)

    def hours(day: date) -> Hours | None:
        session = exchange.session(day)
        return None if session is None else (_utc(day, session[0]), _utc(day, session[1]))

    return ScheduleClock(hours, f"LEAN {security_type}-{market} {path}")


def clock_for(as_of: datetime | None, lean_dir: Path | None,
              calendar: str = "XNYS") -> MarketClock:
    """The market clock a process uses: LEAN's market hours under a replay clock (``as_of``
    set) with LEAN data configured, else the exchange calendar (the live clock's source)."""
    if as_of is not None and lean_dir is not None:
        path = Path(lean_dir) / "market-hours" / "market-hours-database.json"
        if path.exists():
            return lean_clock(path)
    return exchange_clock(calendar)


__all__ = ["EXTENDED_END", "EXTENDED_START", "MarketClock", "MarketClockError", "ScheduleClock",
           "Session", "clock_for", "exchange_clock", "lean_clock"]
