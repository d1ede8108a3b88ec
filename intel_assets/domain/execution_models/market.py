"""Owns the market data a venue model may look at: bars, one-minute snapshots, the security
cache view at the venue clock (``MarketView``) and the session-hours protocol.

All prices are ``Decimal``. A ``MarketView`` is LEAN's ``Security`` as a fill model sees it at
``now``: the latest trade bar and the latest quote bar received at or before ``now`` (they may
come from different minutes), the exchange hours, the data resolution and the stale-price window
(LEAN's ``Settings.StalePriceTimeSpan``, one hour by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol

Side = Literal["buy", "sell"]
ZERO = Decimal(0)
ONE_MINUTE = timedelta(minutes=1)
ONE_HOUR = timedelta(hours=1)


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """``value`` as a Decimal that keeps its shortest decimal spelling (0.1 -> Decimal('0.1'))."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass(frozen=True)
class PriceBar:
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


@dataclass(frozen=True)
class TradeBar(PriceBar):
    volume: Decimal = ZERO


@dataclass(frozen=True)
class QuoteBar:
    bid: PriceBar | None
    ask: PriceBar | None

    @property
    def close(self) -> Decimal | None:
        """LEAN's ``QuoteBar.Close``: the mid of both closes, else the one side present."""
        if self.bid is not None and self.ask is not None:
            return (self.bid.close + self.ask.close) / 2
        side = self.bid or self.ask
        return None if side is None else side.close


@dataclass(frozen=True)
class MarketSnapshot:
    """One bar interval ``[start, end)`` of one symbol: its trade bar and quote bar, if any.

    ``fill_forward`` marks a bar LEAN would emit for a minute without data (a copy of the last
    bar, re-stamped; trade volume 0).
    """

    symbol: str
    start: datetime
    end: datetime
    trade: TradeBar | None
    quote: QuoteBar | None
    fill_forward: bool = False

    @property
    def price(self) -> Decimal | None:
        """LEAN's ``Security.Price`` for equities: the trade close (quotes are not the default
        data type for equities, so they never set the price)."""
        return None if self.trade is None else self.trade.close


class SessionHours(Protocol):
    """Regular-session hours of one exchange (``lean_data.ExchangeHours`` implements it)."""

    def is_open(self, moment: datetime) -> bool:
        """Whether ``moment`` falls inside a regular session (open <= t < close)."""

    def next_close(self, moment: datetime) -> datetime:
        """The first regular-session close strictly after ``moment`` (LEAN GetNextMarketClose)."""


@dataclass(frozen=True)
class MarketView:
    """One security at the venue clock ``now``: what LEAN's fill models read from its cache.

    ``trade``/``quote`` are the latest snapshots (ending at or before ``now``) that carried a
    trade bar / a quote bar. ``hours`` None means the market is always open (unit tests).
    """

    symbol: str
    now: datetime
    trade: MarketSnapshot | None
    quote: MarketSnapshot | None
    hours: SessionHours | None = None
    resolution: timedelta = ONE_MINUTE
    stale_price_window: timedelta = ONE_HOUR
    extended_hours: bool = False

    @classmethod
    def of(cls, snapshot: MarketSnapshot, now: datetime | None = None,
           hours: SessionHours | None = None) -> "MarketView":
        """The view right at the end of one snapshot (its trade and quote are the latest)."""
        return cls(snapshot.symbol, snapshot.end if now is None else now,
                   snapshot if snapshot.trade is not None else None,
                   snapshot if snapshot.quote is not None else None, hours)

    @property
    def trade_bar(self) -> TradeBar | None:
        return None if self.trade is None else self.trade.trade

    @property
    def quote_bar(self) -> QuoteBar | None:
        return None if self.quote is None else self.quote.quote

    @property
    def price(self) -> Decimal | None:
        """``Security.Price``: the latest trade close."""
        bar = self.trade_bar
        return None if bar is None else bar.close

    @property
    def last_data(self) -> MarketSnapshot | None:
        """``Security.GetLastData()``: the most recent of the trade and quote snapshots."""
        candidates = [s for s in (self.trade, self.quote) if s is not None]
        return max(candidates, key=lambda s: s.end) if candidates else None

    def exchange_open(self, extended_hours: bool = False) -> bool:
        """LEAN ``FillModel.IsExchangeOpen``: open now, or ``now`` is within the latest bar and
        the market was open during that bar (so a bar that ended at the close still fills).
        Remembered per view (a pure function of its fields; a book shares one view among the
        orders of a symbol in a scan)."""
        known = self.__dict__.get("_exchange_open")
        if known is None:
            known = {}
            object.__setattr__(self, "_exchange_open", known)  # a cache, not a field
        if extended_hours not in known:
            known[extended_hours] = self._is_exchange_open(extended_hours)
        return known[extended_hours]

    def _is_exchange_open(self, extended_hours: bool) -> bool:
        if self.hours is None or extended_hours:
            return True
        if self.hours.is_open(self.now):
            return True
        bar = self.last_data
        return (bar is not None and self.now <= bar.end
                and self.hours.is_open(bar.start))


__all__ = ["MarketSnapshot", "MarketView", "ONE_HOUR", "ONE_MINUTE", "PriceBar", "QuoteBar",
           "SessionHours", "Side", "TradeBar", "ZERO", "to_decimal"]
