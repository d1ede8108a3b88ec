"""Owns the retry policy for transient provider failures (SEC EDGAR, Alpaca news): how many
attempts, the exponential back-off with jitter between them, the total deadline, and which
failures are transient. Pure (no Dagster, no HTTP client): callers classify their own failures.

Transient: HTTP 429 (its Retry-After honoured), 500, 502, 503, 504, timeouts and connection
errors. Never retried: any other 4xx (400, 401, 403, 404, ...) or a body that is not the
document expected; a request the run's budget or circuit breaker refuses is not retried either.

``call_with_retries(attempt, policy, classify)`` runs ``attempt()`` until it succeeds, fails
with a non-transient error (re-raised as it is), or the attempts or the deadline run out
(``RetriesExhausted``, whose message names the attempts: "HTTP 503 after 3 attempts over
2.1 s"). The wait before retry n is ``min(cap, base * 2**(n-1))`` scaled by a jitter factor in
``[1 - jitter, 1]``, at least the server's Retry-After; a wait that would pass the policy's
deadline or the caller's remaining budget is not taken (the call gives up at once). ``sleep``,
``clock`` and ``random`` are injectable so tests assert on the recorded waits, not wall time.
"""

from __future__ import annotations

import math
import random as _random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

T = TypeVar("T")

#: HTTP statuses worth another attempt (429 with its Retry-After).
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts (first try included), back-off base and cap, jitter fraction, and the total
    deadline in seconds for all attempts and waits of one call."""

    attempts: int = 3
    base_seconds: float = 0.5
    cap_seconds: float = 8.0
    jitter: float = 0.5
    max_elapsed_seconds: float = 30.0
    transient_statuses: frozenset[int] = TRANSIENT_STATUSES

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"retry attempts must be >= 1, got {self.attempts}")
        for name in ("base_seconds", "cap_seconds", "max_elapsed_seconds"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"retry {name} must be a finite number >= 0, got {value!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"retry jitter must be in [0, 1], got {self.jitter!r}")

    def is_transient_status(self, status: int | None) -> bool:
        return status is not None and status in self.transient_statuses

    def backoff(self, retry: int, unit: float) -> float:
        """The wait before retry number ``retry`` (1 = the second attempt); ``unit`` in [0, 1)
        is the jitter draw (0 = the full exponential step)."""
        step = min(self.cap_seconds, self.base_seconds * 2 ** (retry - 1))
        return step * (1.0 - self.jitter * unit)


NO_RETRY = RetryPolicy(attempts=1)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if
    absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


@dataclass(frozen=True)
class Transient:
    """A failed attempt worth retrying: a short reason ("HTTP 503", "timeout") and the
    server's Retry-After in seconds, if it sent one."""

    reason: str
    retry_after: float | None = None


class RetriesExhausted(Exception):
    """A transient failure that persisted: ``cause`` is the last attempt's exception."""

    def __init__(self, reason: str, attempts: int, elapsed_seconds: float, cause: BaseException,
                 stopped_by: str = "attempts") -> None:
        self.reason, self.attempts, self.elapsed_seconds = reason, attempts, elapsed_seconds
        self.cause, self.stopped_by = cause, stopped_by
        super().__init__(self.summary())

    def tally(self) -> str:
        """ "3 attempts over 2.1 s" (plus why it stopped early, if it did)."""
        tries = "1 attempt" if self.attempts == 1 else f"{self.attempts} attempts"
        why = "" if self.stopped_by == "attempts" else f" ({self.stopped_by})"
        return f"{tries} over {self.elapsed_seconds:.1f} s{why}"

    def summary(self) -> str:
        return f"{self.reason} after {self.tally()}"


@dataclass
class RetryStats:
    """Counts across calls (thread-safe): calls, attempts, retries, calls that gave up, and
    every wait taken (seconds, in order)."""

    calls: int = 0
    attempts: int = 0
    retries: int = 0
    exhausted: int = 0
    waits: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def snapshot(self) -> dict[str, float | int]:
        with self._lock:
            return {"calls": self.calls, "attempts": self.attempts, "retries": self.retries,
                    "exhausted": self.exhausted, "waitedSeconds": round(sum(self.waits), 3)}


def call_with_retries(attempt: Callable[[], T], policy: RetryPolicy,
                      classify: Callable[[BaseException], Transient | None], *,
                      remaining: Callable[[], float] | None = None,
                      stats: RetryStats | None = None,
                      sleep: Callable[[float], None] = time.sleep,
                      clock: Callable[[], float] = time.monotonic,
                      random: Callable[[], float] = _random.random) -> T:
    """``attempt()``'s result, retried on failures ``classify`` calls transient (see the module
    doc). ``remaining()`` is the caller's time budget left (e.g. the run's); a wait is only
    taken if it leaves time for the next attempt within both that and the policy's deadline."""
    started = clock()
    stats = stats if stats is not None else RetryStats()
    with stats._lock:
        stats.calls += 1
    number = 0
    while True:
        number += 1
        with stats._lock:
            stats.attempts += 1
        try:
            return attempt()
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised if not transient
            transient = classify(exc)
            if transient is None:
                raise

            if number >= policy.attempts:
                raise _give_up(stats, transient, number, clock() - started, exc,
                               "attempts") from exc
            wait = policy.backoff(number, random())
            if transient.retry_after is not None:
                wait = max(wait, transient.retry_after)
            left = policy.max_elapsed_seconds - (clock() - started)
            if remaining is not None:
                left = min(left, remaining())
            if wait >= left:
                raise _give_up(stats, transient, number, clock() - started, exc,
                               f"no time left for attempt {number + 1}: the wait would be "
                               f"{wait:.1f} s") from exc
            with stats._lock:
                stats.retries += 1
                stats.waits.append(wait)
            sleep(wait)


def _give_up(stats: RetryStats, transient: Transient, attempts: int, elapsed: float,
             cause: BaseException, stopped_by: str) -> RetriesExhausted:
    with stats._lock:
        stats.exhausted += 1
    return RetriesExhausted(transient.reason, attempts, elapsed, cause, stopped_by)


__all__ = ["NO_RETRY", "TRANSIENT_STATUSES", "RetriesExhausted", "RetryPolicy", "RetryStats",
           "Transient", "call_with_retries", "parse_retry_after"]
