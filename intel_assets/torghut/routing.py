"""Owns Torghut's execution routing as the consumer runs it: per intent, read the rollout flags,
make sure the intent is not already at a venue, run the market-context guardrail, submit to the
venue ``TRADING_EXECUTION_ADAPTER`` selects.

Restated from proompteng/lab services/torghut/app/trading/execution_adapters.py: 'alpaca' or
'lean' selects the primary adapter; when a LEAN submit fails Torghut falls back to Alpaca and
records ``execution_fallback_reason``. Per intent, ``ExecutionRouter.route``:

1. reads both flags from its environment mapping (``RolloutFlags.from_env``) again, so a flip
   takes effect for the next intent, as an operator's env change and restart would; a bad value
   sends nothing (``flags_invalid``), it never guesses a venue;
2. looks the client_order_id up at **every** venue (the routed one first): a retry of an intent
   that either venue already accepted returns that order (``duplicate_avoided``), sent nowhere.
   A venue that cannot answer the look-up sends nothing (``held``: retry later), since the order
   may be there;
3. runs the guardrail (``guard_trade``: deterministic check, TRADING_MARKET_CONTEXT_ENABLED,
   the context fetch, GuardrailPolicy); a reject sends nothing (``guardrail_rejected``);
4. submits to the routed venue (``submitted``). When the submit fails, the venue is asked
   whether it has the order after all: it does -> ``submitted`` (the answer was lost, the order
   was not); it says no -> a LEAN route falls back to Alpaca (``fallback``, with the reason),
   an Alpaca route is ``failed``; it cannot answer -> ``in_flight`` (outcome unknown, nothing
   else sent: a retry resolves it by step 2).

Difference from Torghut, on purpose: Torghut falls back on any LEAN failure, including a
timeout after the runner took the order, which places it a second time at Alpaca. Here the
fallback waits until LEAN says it does not hold the order.

Venues implement ``OrderVenue`` (submit, and find_order answering None only when the venue says
it has no such order); intel_assets.rollback_rehearsal adapts the execution adapters to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from intel_assets.contracts.orders import OrderIntent, OrderState
from intel_assets.torghut.client import MarketContextResult
from intel_assets.torghut.flags import EXECUTION_ADAPTERS, ExecutionAdapterName, RolloutFlags
from intel_assets.torghut.guardrail import (
    ContextSource,
    DeterministicDecision,
    GuardrailOutcome,
    GuardrailPolicy,
    guard_trade,
)

RouteOutcome = Literal["submitted", "duplicate_avoided", "fallback", "in_flight", "held",
                       "failed", "guardrail_rejected", "flags_invalid"]
#: Torghut's reason for an Alpaca order placed because the LEAN submit failed.
LEAN_SUBMIT_FAILED = "lean_submit_failed"
APPROVED = DeterministicDecision(True, ("approved: no deterministic risk limits given",))


class OrderVenue(Protocol):
    """One execution venue as the router uses it."""

    def submit(self, intent: OrderIntent) -> OrderState:
        """Place the intent (idempotent by client_order_id at this venue); raises on failure."""

    def find_order(self, client_order_id: str) -> OrderState | None:
        """The order under ``client_order_id``, None when the venue answers it has none; raises
        when the venue cannot tell (down, unreachable)."""


@dataclass(frozen=True)
class RoutedIntent:
    """What the router did with one intent."""

    intent: OrderIntent
    outcome: RouteOutcome
    flags: RolloutFlags | None  # as read for this intent (None: a bad value)
    route: ExecutionAdapterName | None  # the venue the flags chose
    venue: ExecutionAdapterName | None  # the venue holding the order, when known
    state: OrderState | None = None
    context_consulted: bool = False  # the market-context client was called for it
    guardrail: GuardrailOutcome | None = None
    fallback_reason: str | None = None
    detail: str = ""

    @property
    def client_order_id(self) -> str:
        return self.intent.client_order_id or ""

    @property
    def duplicate_avoided(self) -> bool:
        """A retry answered with the order a venue already held, sent nowhere."""
        return self.outcome == "duplicate_avoided"


@dataclass
class _CountedSource:
    """The context source of one intent, counting its calls (did the guardrail consult it?)."""

    source: ContextSource
    calls: int = 0

    def fetch(self, symbol: str, as_of: datetime | None = None) -> MarketContextResult:
        self.calls += 1
        return self.source.fetch(symbol, as_of=as_of)


class _LookupFailed(Exception):
    def __init__(self, venue: str, error: Exception) -> None:
        super().__init__(f"could not ask {venue} whether it holds the order: {_text(error)}")
        self.venue = venue


@dataclass
class ExecutionRouter:
    """Routes intents to the 'lean' or 'alpaca' venue by the flags in ``environ`` (module
    docstring). ``environ`` is read for every intent: change it to flip."""

    venues: Mapping[str, OrderVenue]
    environ: Mapping[str, str]
    context: ContextSource | None = None  # None: no TRADING_MARKET_CONTEXT_URL
    policy: GuardrailPolicy = field(default_factory=GuardrailPolicy)
    fallback_to_alpaca: bool = True

    def __post_init__(self) -> None:
        missing = [name for name in EXECUTION_ADAPTERS if name not in self.venues]
        if missing:
            raise ValueError(f"the router needs a venue for each of {EXECUTION_ADAPTERS}; "
                             f"missing {missing}")

    # ---- the steps (overridable, e.g. to plant a fault in a rehearsal) ---------------------
    def read_flags(self) -> RolloutFlags:
        """Step 1: the flags as they stand now (ValueError names a bad variable)."""
        return RolloutFlags.from_env(self.environ)

    def lookup_venues(self, route: ExecutionAdapterName) -> Sequence[ExecutionAdapterName]:
        """Step 2's venues, the routed one first: every venue."""
        return [route] + [name for name in EXECUTION_ADAPTERS if name != route]

    def existing_order(self, client_order_id: str, route: ExecutionAdapterName
                       ) -> tuple[ExecutionAdapterName, OrderState] | None:
        """Step 2: the venue already holding ``client_order_id`` and its order, or None;
        _LookupFailed when a venue cannot tell."""
        for name in self.lookup_venues(route):
            try:
                found = self.venues[name].find_order(client_order_id)
            except Exception as exc:  # noqa: BLE001 - any failure: the venue cannot tell
                raise _LookupFailed(name, exc) from exc
            if found is not None:
                return name, found
        return None

    # ---- routing ---------------------------------------------------------------------------
    def route(self, intent: OrderIntent,
              decision: DeterministicDecision = APPROVED) -> RoutedIntent:
        """Route one intent (module docstring); never raises for a venue's failure."""
        try:
            flags = self.read_flags()
        except ValueError as exc:
            return RoutedIntent(intent, "flags_invalid", None, None, None,
                                detail=f"{exc}; nothing sent")
        route: ExecutionAdapterName = flags.execution_adapter
        cid = intent.client_order_id or ""
        seen = dict(flags=flags, route=route)
        try:
            existing = self.existing_order(cid, route)
        except _LookupFailed as exc:
            return RoutedIntent(intent, "held", venue=None, detail=f"{exc}; nothing sent, "
                                "retry later", **seen)
        if existing is not None:
            venue, state = existing
            return RoutedIntent(intent, "duplicate_avoided", venue=venue, state=state,
                                detail=f"{venue} already holds {cid}: not sent again", **seen)
        counted = _CountedSource(self.context) if self.context is not None else None
        guarded = guard_trade(intent.symbol, decision, client=counted, policy=self.policy,
                              flags=flags, as_of=intent.decision_time)
        consulted = bool(counted and counted.calls)
        seen.update(context_consulted=consulted, guardrail=guarded)
        if guarded.final_action() == "reject":
            return RoutedIntent(intent, "guardrail_rejected", venue=None,
                                detail=guarded.detail or str(guarded.reason), **seen)
        return self._submit(intent, route, seen)

    def _submit(self, intent: OrderIntent, route: ExecutionAdapterName,
                seen: dict) -> RoutedIntent:
        cid = intent.client_order_id or ""
        try:
            state = self.venues[route].submit(intent)
        except Exception as exc:  # noqa: BLE001 - the venue's failure is this intent's answer
            failure = _text(exc)
        else:
            return RoutedIntent(intent, "submitted", venue=route, state=state, **seen)
        try:
            found = self.venues[route].find_order(cid)
        except Exception as exc:  # noqa: BLE001 - cannot tell whether the order landed
            return RoutedIntent(intent, "in_flight", venue=None, detail=(
                f"the {route} submit failed ({failure}) and {route} cannot say whether it took "
                f"{cid} ({_text(exc)}); nothing else sent, retry with the same client_order_id"),
                **seen)
        if found is not None:
            return RoutedIntent(intent, "submitted", venue=route, state=found, detail=(
                f"the {route} submit failed ({failure}) but {route} holds {cid}"), **seen)
        if route == "lean" and self.fallback_to_alpaca:
            reason = f"{LEAN_SUBMIT_FAILED}: {failure}"
            try:
                state = self.venues["alpaca"].submit(intent)
            except Exception as exc:  # noqa: BLE001
                return RoutedIntent(intent, "failed", venue=None, fallback_reason=reason,
                                    detail=f"the Alpaca fallback failed too: {_text(exc)}", **seen)
            return RoutedIntent(intent, "fallback", venue="alpaca", state=state,
                                fallback_reason=reason, **seen)
        return RoutedIntent(intent, "failed", venue=None,
                            detail=f"{route} did not take {cid}: {failure}", **seen)


def _text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


__all__ = ["APPROVED", "LEAN_SUBMIT_FAILED", "ExecutionRouter", "OrderVenue", "RouteOutcome",
           "RoutedIntent"]
