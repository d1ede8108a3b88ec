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
   A venue that cannot answer the look-up sends nothing (``held``: retry later) only when the
   order may be there, by the router's record of what it sent (below); otherwise that venue's
   look-up is skipped (said in ``detail``) and routing goes on;
3. runs the guardrail (``guard_trade``: deterministic check, TRADING_MARKET_CONTEXT_ENABLED,
   the context fetch, GuardrailPolicy); a reject sends nothing (``guardrail_rejected``);
4. submits to the routed venue (``submitted``). When the submit fails, the venue is asked
   whether it has the order after all: it does -> ``submitted`` (the answer was lost, the order
   was not); it says no and the submit failed by a definite refusal (``OrderRequestError``, the
   venue's 4xx answer) -> a LEAN route falls back to Alpaca (``fallback``, with the reason), an
   Alpaca route is ``failed``; it says no but the submit failed otherwise (timeout, venue
   unavailable: the venue may still commit it) or it cannot answer -> ``in_flight`` (outcome
   unknown, nothing else sent: a retry resolves it by step 2).

The record of what was sent (``sent``: client_order_id -> venue; ``unconfirmed``: the ids whose
submit got no definite answer, in flight). A venue's failed look-up holds the intent only when
the intent may be at that venue: it was sent there without a definite answer (``unconfirmed``),
or the router cannot know (below). An intent sent there with a definite answer is at that venue
(``duplicate_avoided`` from the record, nothing sent). An intent never sent to that venue skips
its look-up and proceeds to the routed venue: so a rollback to Alpaca keeps trading while LEAN
is down, and only LEAN's in-flight intents wait. Torghut keeps the same knowledge in its
executions rows and decision status; a restarted process must be given it: pass ``sent`` (and
``unconfirmed``, else the entries count as definite) to the constructor, ``{}`` meaning nothing
was sent before. With ``sent=None`` (the default) the router has no record of what earlier
processes sent, so for every id it did not send itself it keeps the conservative rule: any
failed look-up holds the intent.

Differences from Torghut, on purpose: Torghut falls back on any LEAN failure, including a
timeout after the runner took the order, which places it a second time at Alpaca. Here the
fallback needs LEAN's definite refusal and LEAN's answer that it does not hold the order.

Venues implement ``OrderVenue`` (submit, and find_order answering None only when the venue says
it has no such order); intel_assets.drills.rollback_rehearsal adapts the execution adapters to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol

from intel_assets.contracts.orders import OrderIntent, OrderState
from intel_assets.contracts.execution_errors import OrderRequestError
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


def _refused(exc: Exception) -> bool:
    """The venue's definite refusal (a 4xx answer): it did not take the order, and will not."""
    return isinstance(exc, OrderRequestError)


@dataclass
class ExecutionRouter:
    """Routes intents to the 'lean' or 'alpaca' venue by the flags in ``environ`` (module
    docstring). ``environ`` is read for every intent: change it to flip."""

    venues: Mapping[str, OrderVenue]
    environ: Mapping[str, str]
    context: ContextSource | None = None  # None: no TRADING_MARKET_CONTEXT_URL
    policy: GuardrailPolicy = field(default_factory=GuardrailPolicy)
    fallback_to_alpaca: bool = True
    #: client_order_id -> the venue it was sent to (module docstring); None: no record of what
    #: earlier processes sent (conservative look-ups for ids this router did not send).
    sent: dict[str, ExecutionAdapterName] | None = None
    #: the ids in ``sent`` whose submit got no definite answer (in flight).
    unconfirmed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        missing = [name for name in EXECUTION_ADAPTERS if name not in self.venues]
        if missing:
            raise ValueError(f"the router needs a venue for each of {EXECUTION_ADAPTERS}; "
                             f"missing {missing}")
        self._complete = self.sent is not None
        self.sent = dict(self.sent or {})
        self.unconfirmed = set(self.unconfirmed)
        self.skipped: list[str] = []  # the venues whose look-up the last route skipped

    def unreachable(self, client_order_id: str, venue: ExecutionAdapterName
                    ) -> Literal["hold", "there", "skip"]:
        """What ``venue``'s failed look-up of ``client_order_id`` means, by the router's record
        (module docstring): ``hold`` (the order may be there), ``there`` (sent there, definite
        answer) or ``skip`` (never sent there)."""
        assert self.sent is not None
        if client_order_id in self.sent:
            if self.sent[client_order_id] != venue:
                return "skip"
            return "hold" if client_order_id in self.unconfirmed else "there"
        return "skip" if self._complete else "hold"

    def _record(self, client_order_id: str, venue: ExecutionAdapterName,
                definite: bool) -> None:
        assert self.sent is not None
        self.sent[client_order_id] = venue
        if definite:
            self.unconfirmed.discard(client_order_id)
        else:
            self.unconfirmed.add(client_order_id)

    # ---- the steps (overridable, e.g. to plant a fault in a rehearsal) ---------------------
    def read_flags(self) -> RolloutFlags:
        """Step 1: the flags as they stand now (ValueError names a bad variable)."""
        return RolloutFlags.from_env(self.environ)

    def lookup_venues(self, route: ExecutionAdapterName) -> Sequence[ExecutionAdapterName]:
        """Step 2's venues, the routed one first: every venue."""
        return [route] + [name for name in EXECUTION_ADAPTERS if name != route]

    def existing_order(self, client_order_id: str, route: ExecutionAdapterName
                       ) -> tuple[ExecutionAdapterName, OrderState] | None:
        """Step 2: the venue already holding ``client_order_id`` and its order (None when the
        order is known from the router's record only), or None; _LookupFailed when a venue
        cannot tell and the order may be there. Skipped venues are listed in ``skipped``."""
        self.skipped = []
        for name in self.lookup_venues(route):
            try:
                found = self.venues[name].find_order(client_order_id)
            except Exception as exc:  # noqa: BLE001 - any failure: the venue cannot tell
                meaning = self.unreachable(client_order_id, name)
                if meaning == "hold":
                    raise _LookupFailed(name, exc) from exc
                if meaning == "there":  # sent there with a definite answer: it is there
                    return name, None
                self.skipped.append(f"{name} look-up skipped ({_text(exc)}): this router never "
                                    f"sent {client_order_id} to {name}")
                continue
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
            how = "" if state is not None else (
                " (by the router's record; the venue cannot be asked now)")
            return RoutedIntent(intent, "duplicate_avoided", venue=venue, state=state,
                                detail=f"{venue} already holds {cid}{how}: not sent again",
                                **seen)
        skipped = "; ".join(self.skipped)
        counted = _CountedSource(self.context) if self.context is not None else None
        guarded = guard_trade(intent.symbol, decision, client=counted, policy=self.policy,
                              flags=flags, as_of=intent.decision_time)
        consulted = bool(counted and counted.calls)
        seen.update(context_consulted=consulted, guardrail=guarded)
        if guarded.final_action() == "reject":
            return RoutedIntent(intent, "guardrail_rejected", venue=None, detail=_joined(
                skipped, guarded.detail or str(guarded.reason)), **seen)
        routed = self._submit(intent, route, seen)
        if skipped:
            routed = replace(routed, detail=_joined(skipped, routed.detail))
        return routed

    def _send(self, venue: ExecutionAdapterName, intent: OrderIntent) -> OrderState:
        """Submit at ``venue``, keeping the record: unconfirmed until the venue answers."""
        cid = intent.client_order_id or ""
        self._record(cid, venue, definite=False)
        state = self.venues[venue].submit(intent)
        self._record(cid, venue, definite=True)
        return state

    def _forget(self, client_order_id: str) -> None:
        """The venue definitely did not take it: as if never sent."""
        assert self.sent is not None
        self.sent.pop(client_order_id, None)
        self.unconfirmed.discard(client_order_id)

    def _submit(self, intent: OrderIntent, route: ExecutionAdapterName,
                seen: dict) -> RoutedIntent:
        cid = intent.client_order_id or ""
        try:
            state = self._send(route, intent)
        except Exception as exc:  # noqa: BLE001 - the venue's failure is this intent's answer
            failure, refused = _text(exc), _refused(exc)
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
            self._record(cid, route, definite=True)
            return RoutedIntent(intent, "submitted", venue=route, state=found, detail=(
                f"the {route} submit failed ({failure}) but {route} holds {cid}"), **seen)
        if not refused:  # a timeout / unavailability: the venue may still commit the order
            return RoutedIntent(intent, "in_flight", venue=None, detail=(
                f"the {route} submit failed ({failure}) without a refusal and {route} does not "
                f"hold {cid} yet; it may still commit it: nothing else sent, retry with the same "
                "client_order_id"), **seen)
        self._forget(cid)
        if route == "lean" and self.fallback_to_alpaca:
            reason = f"{LEAN_SUBMIT_FAILED}: {failure}"
            try:
                state = self._send("alpaca", intent)
            except Exception as exc:  # noqa: BLE001
                if _refused(exc):
                    self._forget(cid)
                return RoutedIntent(intent, "failed", venue=None, fallback_reason=reason,
                                    detail=f"the Alpaca fallback failed too: {_text(exc)}", **seen)
            return RoutedIntent(intent, "fallback", venue="alpaca", state=state,
                                fallback_reason=reason, **seen)
        return RoutedIntent(intent, "failed", venue=None,
                            detail=f"{route} did not take {cid}: {failure}", **seen)


def _joined(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


__all__ = ["APPROVED", "LEAN_SUBMIT_FAILED", "ExecutionRouter", "OrderVenue", "RouteOutcome",
           "RoutedIntent"]
