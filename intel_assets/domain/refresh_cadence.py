"""Owns the refresh cadence: from a domain's freshness budget and the expected length of one
refresh run, the age at which the freshness sensor requests a symbol again, how often it
evaluates, the Dagster freshness policy's windows and the pre-open refresh window (pure: no
Dagster import; sensors/freshness.py and definitions.py use the same Cadence).

The one inequality everything follows from: a symbol refreshed (its data as of ``a``) is due
again at ``a + refresh``, found by the next tick within ``interval`` and refreshed by a run of at
most ``run`` seconds, so a healthy loop materializes within ``refresh + interval + run`` of the
last materialization. The policy's fail window is never below that (it is the budget whenever
the budget leaves room, which the defaults always do), so a healthy loop is green.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The Dagster daemon evaluates sensors at most every 5 s; policies cannot fail sooner than 60 s.
MIN_INTERVAL_SECONDS = 5
MAX_INTERVAL_SECONDS = 300
MIN_REFRESH_SECONDS = 5.0
MIN_POLICY_SECONDS = 60
#: The pre-open refresh window is at least this long (one refresh before the open).
MIN_PRE_OPEN_SECONDS = 300
MAX_PRE_OPEN_SECONDS = 3600


class CadenceError(ValueError):
    """A refresh age the budget leaves no room for; the message says what to set instead."""


@dataclass(frozen=True)
class Cadence:
    budget_seconds: float
    run_seconds: float  # expected length of one healthy refresh run, launch included
    refresh_seconds: float  # a symbol's data older than this is due
    interval_seconds: int  # the sensor's minimum_interval_seconds
    fail_seconds: int  # the freshness policy's fail window
    warn_seconds: int | None  # its warn window (the budget when the fail window exceeds it)
    pre_open_seconds: int  # market closed: one refresh in the last this-many seconds pre-open

    @property
    def healthy_worst_seconds(self) -> float:
        """The longest a healthy loop goes between materializations of a symbol."""
        return self.refresh_seconds + self.interval_seconds + self.run_seconds

    def backoff_seconds(self, failures: int) -> float:
        """Wait after the ``failures``-th consecutive failed refresh of a symbol (error or
        missing block): the sensor interval doubled per failure, capped at the budget."""
        if failures <= 0:
            return 0.0
        return float(min(self.budget_seconds,
                         self.interval_seconds * 2 ** min(failures - 1, 40)))


def _interval(budget: float, run: float) -> int:
    return int(min(MAX_INTERVAL_SECONDS, max(MIN_INTERVAL_SECONDS, (budget - run) // 6)))


def cadence(budget_seconds: float, run_seconds: float,
            refresh_seconds: float | None = None) -> Cadence:
    """The cadence of a domain with this budget whose refresh runs take ``run_seconds``.
    Default refresh age: what the budget leaves after one sensor interval and one run (at least
    5 s). An explicit ``refresh_seconds`` (INTEL_TECHNICALS_REFRESH_SECONDS) must keep
    refresh + interval + run within the budget: CadenceError says the largest that does."""
    for name, value in (("budget", budget_seconds), ("run length", run_seconds)):
        if not (math.isfinite(value) and value > 0):
            raise CadenceError(f"the {name} must be a finite number of seconds > 0, got {value!r}")
    if refresh_seconds is None:
        interval = _interval(budget_seconds, run_seconds)
        refresh = max(MIN_REFRESH_SECONDS, budget_seconds - interval - run_seconds)
    else:
        refresh = float(refresh_seconds)
        interval = int(min(MAX_INTERVAL_SECONDS, max(MIN_INTERVAL_SECONDS, refresh // 2)))
        if not (math.isfinite(refresh) and refresh >= MIN_REFRESH_SECONDS
                and refresh + interval + run_seconds <= budget_seconds):
            largest = _largest_refresh(budget_seconds, run_seconds)
            hint = (f"set it from {MIN_REFRESH_SECONDS:g} to {largest:g}" if largest
                    else "raise the budget or unset it")
            raise CadenceError(
                f"refresh age {refresh_seconds!r} s does not fit the {budget_seconds:g} s budget: "
                f"refresh + sensor interval ({interval} s) + expected run ({run_seconds:g} s) must "
                f"be at most the budget; {hint}")
    worst = refresh + interval + run_seconds
    fail = max(MIN_POLICY_SECONDS, math.ceil(max(budget_seconds, worst)))
    warn = (math.floor(budget_seconds) if fail > budget_seconds >= MIN_POLICY_SECONDS
            else None)
    pre_open = min(MAX_PRE_OPEN_SECONDS, max(MIN_PRE_OPEN_SECONDS, math.ceil(2 * worst)))
    return Cadence(budget_seconds=float(budget_seconds), run_seconds=float(run_seconds),
                   refresh_seconds=float(refresh), interval_seconds=interval, fail_seconds=fail,
                   warn_seconds=warn if warn is None or warn < fail else None,
                   pre_open_seconds=pre_open)


def _largest_refresh(budget: float, run: float) -> float | None:
    """The largest explicit refresh age whose cadence fits the budget (None when none does)."""
    best = None
    refresh = MIN_REFRESH_SECONDS
    while refresh <= budget:
        interval = min(MAX_INTERVAL_SECONDS, max(MIN_INTERVAL_SECONDS, refresh // 2))
        if refresh + interval + run <= budget:
            best = refresh
        refresh += 1.0
        if refresh > 100_000:  # budgets up to 30 days: coarse above this
            refresh += 999.0
    return best




# ---- per-symbol dueness (the freshness sensor's rule, pure) ------------------------------------
#: Why a symbol is due (run tags and SkipReasons count them) or held.
NEVER_STAGED, DATA_AGE, RETRY, PRE_OPEN = "never_staged", "data_age", "retry", "pre_open"
FRESH, BACKOFF, MARKET_CLOSED = "fresh", "backoff", "market_closed"
#: Block states that are never fresh: the source failed or returned nothing.
FAILED_STATES = frozenset({"error", "missing"})


@dataclass(frozen=True)
class SymbolFacts:
    state: str | None  # the staged block's state (ok, stale, missing, error)
    as_of: float | None  # its asOf (newest bar's end for technicals), epoch seconds
    staged_at: float  # when it was staged (the last poll that produced it), epoch seconds


def dueness(facts: SymbolFacts | None, failures: int, now: float, plan: Cadence, *,
            session_bound: bool, is_open: bool = True,
            next_open: float | None = None) -> str:
    """Why the symbol is due (NEVER_STAGED, DATA_AGE, RETRY, PRE_OPEN) or held (FRESH, BACKOFF,
    MARKET_CLOSED). ``session_bound`` domains (technicals, regime) age by their data's asOf and
    idle while the regular session is closed, but for one refresh in the pre-open window;
    others (news, fundamentals) age from their last successful poll. A failed block (error,
    missing) is never fresh: it is retried after ``plan.backoff_seconds(failures)``."""
    if facts is None:
        return NEVER_STAGED
    if session_bound and not is_open:
        if next_open is not None and 0 < next_open - now <= plan.pre_open_seconds \
                and facts.staged_at < next_open - plan.pre_open_seconds:
            return PRE_OPEN
        return MARKET_CLOSED
    if facts.state in FAILED_STATES or facts.state is None:
        waited = now - facts.staged_at
        return RETRY if waited >= plan.backoff_seconds(max(1, failures)) else BACKOFF
    if session_bound:
        age = now - (facts.as_of if facts.as_of is not None else facts.staged_at)
    else:
        age = now - facts.staged_at
    return DATA_AGE if age >= plan.refresh_seconds else FRESH


DUE = frozenset({NEVER_STAGED, DATA_AGE, RETRY, PRE_OPEN})

__all__ = ["BACKOFF", "DATA_AGE", "DUE", "FAILED_STATES", "FRESH", "MARKET_CLOSED", "NEVER_STAGED",
           "PRE_OPEN", "RETRY", "Cadence", "CadenceError", "SymbolFacts", "cadence", "dueness"]
