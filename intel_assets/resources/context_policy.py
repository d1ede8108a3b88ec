"""Owns ContextPolicyResource: the clock and the freshness budgets every domain asset reads."""


from datetime import datetime, timedelta
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from intel_assets.domain.clock import Clock
from intel_assets.domain.market_clock import MarketClock, clock_for


class ContextPolicyResource(ConfigurableResource):
    """The clock every asset computes as of, the look-back and the freshness budgets."""

    as_of: str | None = Field(
        default=None, description="Replay instant (ISO-8601 with offset); None = live clock."
    )
    lookback_days: int = Field(default=7, ge=1)
    technicals_budget_seconds: float = 60.0
    regime_budget_seconds: float = 60.0
    news_budget_seconds: float = 300.0
    fundamentals_budget_seconds: float = 86_400.0
    lean_data_dir: str | None = Field(
        default=None, description="LEAN Data folder: under a replay clock its market-hours "
        "database is the market clock; None = the exchange calendar.")
    market_calendar: str = Field(
        default="XNYS", description="exchange_calendars calendar of the live market clock.")

    def clock(self) -> Clock:
        if self.as_of is None:
            return Clock()
        replay_at = datetime.fromisoformat(self.as_of)
        if replay_at.tzinfo is None:
            raise ValueError(f"as_of {self.as_of!r} needs a UTC offset, e.g. 2013-10-11T15:59:00-04:00")
        return Clock(replay_at)

    def market_clock(self) -> MarketClock:
        """The market clock technicals and regime are judged by outside the session
        (domain.market_clock.clock_for: the same choice the serving process makes)."""
        replay_at = self.clock().replay_at
        lean_dir = Path(self.lean_data_dir) if self.lean_data_dir else None
        return clock_for(replay_at, lean_dir, self.market_calendar)

    @property
    def lookback(self) -> timedelta:
        return timedelta(days=self.lookback_days)

    def budgets(self) -> dict[str, float]:
        return {
            "technicals": self.technicals_budget_seconds,
            "regime": self.regime_budget_seconds,
            "news": self.news_budget_seconds,
            "fundamentals": self.fundamentals_budget_seconds,
        }


