"""Owns "as of": a live clock (now) or a replay clock fixed at a given instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class Clock:
    """Every asset computes as of this clock; only data stamped <= now() may be used."""

    replay_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.replay_at is not None and self.replay_at.tzinfo is None:
            raise ValueError("a replay clock needs a timezone-aware instant")

    @property
    def is_replay(self) -> bool:
        return self.replay_at is not None

    def now(self) -> datetime:
        if self.replay_at is not None:
            return self.replay_at.astimezone(timezone.utc)
        return datetime.now(timezone.utc)
