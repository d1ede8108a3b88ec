"""Owns the rollback rehearsal (issue 19, ``intel-assets rollout rehearse-rollback``): a day's
strategy intents routed by Torghut's execution routing (torghut/routing.py) through the real
venues, with the rollback flipped mid window, judged from the venues' own order lists.

Set-up: the reference LEAN runner and the Alpaca paper server are started on 127.0.0.1 on
replay clocks, as parity runs them (each order placed at its decision time); the bundle store
is served by the serving app and read by Torghut's MarketContextClient (asOf = the decision
time). The intents are the day's strategy decisions (domain/strategy.py) validated as parity
validates them (client_order_id = decision_hash), in decision-time order, optionally the first
``limit``.

Run:

1. the first half (rounded up) with ``TRADING_EXECUTION_ADAPTER=lean`` and
   ``TRADING_MARKET_CONTEXT_ENABLED=true``. The **dangerous case**: the last intent of that half
   reaches LEAN, which places the order, but its answer is lost and LEAN stays unreachable
   until the flip (a dropped connection): the submit is in flight, its outcome unknown;
2. the flip: the environment becomes ``alpaca`` / ``false`` (the operator's env change and
   restart; LEAN reachable again), read by the router for the next intent;
3. the in-flight intent is retried under the same client_order_id (Torghut never saw an
   answer), then the second half is routed.

Variant ``lean_down_after_flip``: LEAN stays unreachable after the flip (the usual reason to roll
back), healed only for the final verification read. The router was told it sent nothing before
(``sent={}``), so it skips LEAN's look-up for the post-flip intents (never sent there) and
routes them to Alpaca, and holds the in-flight retry (sent to LEAN without an answer): the retry
must be ``held``, its one order the one LEAN placed before the drop.

Verdict, from each venue's own order list (LEAN ``GET /v1/orders?status=all``, Alpaca
``GET /v2/orders?status=all``) counted by client_order_id, cross-checked by a look-up of every
client_order_id at both venues: each intent the guardrail let through has exactly one order
across both venues (``lost`` 0, ``doubled`` 0), on LEAN before the flip and for the in-flight
retry, on Alpaca after it (``misrouted`` 0); no order exists for an intent the guardrail
rejected (the judge decides that itself, not from the router's answer: before the flip by
``guard_trade`` with the same policy and flags and a context client of its own; after the flip
the context is off and the risk decision approved, so every post-flip intent must have its
order), nor for a client_order_id that is no intent of the rehearsal; the context client
made some fetches before the flip and none after it. Each failed condition is one sentence in
``problems``; the rehearsal passed when there is none.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from intel_assets.contracts.orders import OrderIntent, OrderState
from intel_assets.contracts.rehearsal import InFlightRetry, Phase, RehearsalIntent, RehearsalRecord
from intel_assets.devtools.sample_keys import SAMPLE_KEY_ID as PAPER_KEY
from intel_assets.devtools.sample_keys import SAMPLE_SECRET_KEY as PAPER_SECRET
from intel_assets.torghut.flags import (
    EXECUTION_ADAPTER_VAR,
    MARKET_CONTEXT_ENABLED_VAR,
    RolloutFlags,
)
from intel_assets.torghut.routing import APPROVED, ExecutionRouter, OrderVenue, RoutedIntent

DEFAULT_DAY = date(2013, 10, 8)
ENV_BEFORE = {EXECUTION_ADAPTER_VAR: "lean", MARKET_CONTEXT_ENABLED_VAR: "true"}
ENV_AFTER = {EXECUTION_ADAPTER_VAR: "alpaca", MARKET_CONTEXT_ENABLED_VAR: "false"}
VENUES = ("lean", "alpaca")
_SHOWN = 3  # client ids named per problem sentence
_PHASE_WORDS = {"before_flip": "before the flip", "after_flip": "after the flip",
                "in_flight_retry": "as the in-flight retry"}
RouterFactory = Callable[..., ExecutionRouter]


class AdapterVenue:
    """An execution adapter (execution/adapter.py) as the router's OrderVenue: ``find_order``
    is ``status`` with the venue's 404 answered None."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter

    def submit(self, intent: OrderIntent) -> OrderState:
        return self.adapter.submit(intent)

    def find_order(self, client_order_id: str) -> OrderState | None:
        from intel_assets.contracts.execution_errors import OrderNotFoundError

        try:
            return self.adapter.status(client_order_id)
        except OrderNotFoundError:
            return None


class AnswerLost(Exception):
    """The venue took the order, the answer never came back (the rehearsal's fault)."""


class DroppingVenue(AdapterVenue):
    """A venue whose connection drops once armed: the next submit reaches the venue (the order
    is placed), its answer is lost, and every call fails until ``heal``."""

    def __init__(self, adapter: Any) -> None:
        super().__init__(adapter)
        self.armed = self.down = False
        self.dropped: str | None = None  # the client_order_id whose answer was lost

    def arm(self) -> None:
        self.armed = True

    def heal(self) -> None:
        self.armed = self.down = False

    def _check(self) -> None:
        if self.down:
            raise AnswerLost(f"the connection to the venue dropped after the submit of "
                             f"{self.dropped}; it is unreachable until the rollback")

    def submit(self, intent: OrderIntent) -> OrderState:
        self._check()
        state = super().submit(intent)
        if self.armed:
            self.armed, self.down, self.dropped = False, True, intent.client_order_id
            self._check()
        return state

    def find_order(self, client_order_id: str) -> OrderState | None:
        self._check()
        return super().find_order(client_order_id)


@dataclass
class RehearsalResult:
    """The rehearsal's evidence (``record``) and what the router answered, in order."""

    record: RehearsalRecord
    routed: list[tuple[Phase, RoutedIntent]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.record.passed


def rehearsal_intents(lean_dir: Path, day: date,
                      limit: int | None = None) -> tuple[list[OrderIntent], list[str]]:
    """The day's strategy decisions as intents (validated as parity validates them), in
    decision-time order, the first ``limit``; and a sentence per decision that could not be."""
    from intel_assets.contracts.decisions import DecisionRow, parse_event_ts
    from intel_assets.domain.decisions import MarketTape, validate_decisions
    from intel_assets.domain.strategy import strategy_decisions

    rows = [DecisionRow(id=r["id"], strategy_id=r["strategy_id"], symbol=r["symbol"],
                        timeframe=r["timeframe"], decision_json=r["decision_json"],
                        status=r["status"], alpaca_account_label=r["alpaca_account_label"],
                        rationale=r["rationale"], decision_hash=r["decision_hash"],
                        created_at=parse_event_ts(r["decision_json"]["event_ts"]))
            for r in strategy_decisions(Path(lean_dir), day)]
    valid, rejected = validate_decisions(rows, MarketTape(Path(lean_dir)))
    problems = [f"decision {r.decision_id} could not be replayed ({r.code}): {r.reason}"
                for r in rejected]
    intents = [v.intent for v in valid]
    return (intents if limit is None else intents[:limit]), problems


def lean_order_counts(adapter: Any) -> Counter:
    """Orders per client_order_id in the LEAN runner's own list (every status)."""
    return Counter(str(o.get("client_order_id") or "") for o in adapter.list_orders("all"))


def alpaca_order_counts(base_url: str, key: str = PAPER_KEY,
                        secret: str = PAPER_SECRET) -> Counter:
    """Orders per client_order_id in the Alpaca paper server's own list (every status), read
    with alpaca-py as any Alpaca client would (pages of 500, oldest first)."""
    from datetime import timedelta

    from alpaca.common.enums import Sort
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import QueryOrderStatus
    from alpaca.trading.requests import GetOrdersRequest

    client = TradingClient(key, secret, paper=True, url_override=base_url)
    counts: Counter = Counter()
    seen: set[str] = set()
    after = None
    try:
        while True:
            page = client.get_orders(GetOrdersRequest(
                status=QueryOrderStatus.ALL, limit=500, direction=Sort.ASC, nested=False,
                after=after))
            fresh = [o for o in page if str(o.id) not in seen]
            for order in fresh:
                seen.add(str(order.id))
                counts[str(order.client_order_id or "")] += 1
            if len(page) < 500 or not fresh:
                return counts
            after = page[-1].submitted_at - timedelta(microseconds=1)
    finally:
        client._session.close()


def rehearse_rollback(lean_dir: Path | str, day: date, store_factory: Callable[[], Any], *,
                      limit: int | None = None, router_factory: RouterFactory = ExecutionRouter,
                      policy: Any = None, lean_down_after_flip: bool = False
                      ) -> RehearsalResult:
    """Run the rehearsal (module docstring) and judge it; never raises for what the venues
    do (their failures are the verdict's problems). ``store_factory`` opens the bundle store
    the serving app reads; ``router_factory(venues, environ, context=, policy=, sent=)``
    builds the router (a variant plants a fault; ``sent={}``: nothing was sent before);
    ``policy`` is a GuardrailPolicy (default Torghut's); ``lean_down_after_flip``: LEAN stays
    unreachable after the flip (module docstring)."""
    from intel_assets.devtools.alpaca_server import start_alpaca_server
    from intel_assets.devtools.asgi import asgi_in_background
    from intel_assets.execution.alpaca_adapter import AlpacaAdapter
    from intel_assets.execution.lean_adapter import LeanAdapter
    from intel_assets.devtools.lean_runner import lean_runner_in_background
    from intel_assets.serving.app import create_app
    from intel_assets.torghut.client import MarketContextClient
    from intel_assets.torghut.guardrail import GuardrailPolicy

    started, clock = datetime.now(timezone.utc), time.perf_counter()
    lean_dir = Path(lean_dir)
    intents, problems = rehearsal_intents(lean_dir, day, limit)
    run = _Run(run_id=str(uuid.uuid4()), day=day, started_at=started, problems=problems,
               lean_down_after_flip=lean_down_after_flip)
    if len(intents) < 2:
        run.problems.append(f"{len(intents)} intents on {day}: a rehearsal needs at least 2 (one "
                            "on each side of the flip)")
        return run.result([], Counter(), Counter(), {}, clock)
    half = (len(intents) + 1) // 2
    before, after = intents[:half], intents[half:]
    environ = dict(ENV_BEFORE)
    with ExitStack() as stack:
        runner_url = stack.enter_context(lean_runner_in_background(lean_dir))
        paper = stack.enter_context(start_alpaca_server(lean_dir=lean_dir))
        lean = stack.enter_context(LeanAdapter(runner_url))
        alpaca = stack.enter_context(AlpacaAdapter(PAPER_KEY, PAPER_SECRET, base_url=paper.url,
                                                   replay_clock=True))
        context_url = stack.enter_context(asgi_in_background(create_app(store_factory)))
        client = stack.enter_context(MarketContextClient(context_url))
        run.venues = {"lean": f"LEAN runner at {runner_url} (replay clock)",
                      "alpaca": f"Alpaca paper server at {paper.url} (replay clock)"}
        lean_venue, alpaca_venue = DroppingVenue(lean), AdapterVenue(alpaca)
        venues: dict[str, OrderVenue] = {"lean": lean_venue, "alpaca": alpaca_venue}
        policy = policy or GuardrailPolicy()
        router = router_factory(venues, environ, context=client, policy=policy, sent={})
        routed: list[tuple[Phase, RoutedIntent]] = []
        for intent in before[:-1]:
            routed.append(("before_flip", router.route(intent)))
        lean_venue.arm()  # the dangerous case: its answer is lost, LEAN unreachable
        in_flight = before[-1]
        first = router.route(in_flight)
        run.context_fetches_before = client.stats.fetches
        environ.update(ENV_AFTER)  # the rollback: env changed, Torghut restarted
        if not lean_down_after_flip:
            lean_venue.heal()
        retry = router.route(in_flight)
        routed.append(("in_flight_retry", retry))
        for intent in after:
            routed.append(("after_flip", router.route(intent)))
        run.context_fetches_after = client.stats.fetches - run.context_fetches_before
        run.in_flight = (first, retry)
        lean_venue.heal()  # reachable again for the verification read
        try:
            # the judge's own guardrail answers before the flip, on a client of its own
            judge = stack.enter_context(MarketContextClient(context_url))
            run.expected_actions = _guardrail_actions(before[:-1], judge, policy)
        except Exception as exc:  # noqa: BLE001 - the verdict cannot be judged: it fails
            run.problems.append(f"the judge could not recompute the guardrail before the flip: "
                                f"{type(exc).__name__}: {exc}")
        try:
            held = {"lean": lean_order_counts(lean), "alpaca": alpaca_order_counts(paper.url)}
            looked_up = _look_up(venues, intents)
        except Exception as exc:  # noqa: BLE001 - the verdict cannot be read: it fails
            run.problems.append(f"the venues' order lists could not be read, so nothing is "
                                f"proven: {type(exc).__name__}: {exc}")
            return run.result(routed, Counter(), Counter(), {}, clock)
    return run.result(routed, held["lean"], held["alpaca"], looked_up, clock)


def _guardrail_actions(intents: list[OrderIntent], client: Any, policy: Any) -> dict[str, str]:
    """client_order_id -> the guardrail's final action for it before the flip, as the judge
    computes it (guard_trade with the pre-flip flags, an approved risk decision)."""
    from intel_assets.torghut.guardrail import guard_trade

    flags = RolloutFlags.from_env(ENV_BEFORE)
    return {i.client_order_id or "": guard_trade(i.symbol, APPROVED, client=client, policy=policy,
                                                 flags=flags, as_of=i.decision_time
                                                 ).final_action() for i in intents}


def _look_up(venues: Mapping[str, OrderVenue], intents: list[OrderIntent]
             ) -> dict[tuple[str, str], bool]:
    """(venue, client_order_id) -> whether the venue's look-up by client order id finds it."""
    return {(name, i.client_order_id or ""): venues[name].find_order(i.client_order_id or "")
            is not None for name in VENUES for i in intents}


@dataclass
class _Run:
    """The rehearsal's figures while it runs, then its judgement (``result``)."""

    run_id: str
    day: date
    started_at: datetime
    problems: list[str]
    venues: dict[str, str] = field(default_factory=dict)
    context_fetches_before: int = 0
    context_fetches_after: int = 0
    in_flight: tuple[RoutedIntent, RoutedIntent] | None = None
    lean_down_after_flip: bool = False
    #: client_order_id -> the judge's guardrail action before the flip (None: not computed,
    #: then the router's guardrail outcome is read instead)
    expected_actions: dict[str, str] | None = None

    def result(self, routed: list[tuple[Phase, RoutedIntent]], lean: Counter, alpaca: Counter,
               looked_up: dict[tuple[str, str], bool], clock: float) -> RehearsalResult:
        rows = [self._row(phase, r, lean, alpaca) for phase, r in routed]
        problems = list(self.problems)
        if rows:
            problems += self._judge(rows, lean, alpaca, looked_up)
        retry = self._in_flight_retry(lean, alpaca)
        finished = datetime.now(timezone.utc)
        record = RehearsalRecord(
            run_id=self.run_id, day=self.day, started_at=self.started_at, finished_at=finished,
            passed=not problems, intents=len(rows),
            before_flip=sum(r.phase != "after_flip" for r in rows),
            after_flip=sum(r.phase == "after_flip" for r in rows),
            lost=sum(r.verdict == "lost" for r in rows),
            doubled=sum(r.verdict == "doubled" for r in rows),
            misrouted=sum(r.verdict == "misrouted" for r in rows),
            context_fetches_before=self.context_fetches_before,
            context_fetches_after=self.context_fetches_after, in_flight_retry=retry,
            env_before=dict(ENV_BEFORE), env_after=dict(ENV_AFTER), venues=self.venues,
            guardrail_rejected=sum(r.expected_venue is None for r in rows),
            guardrail_before=self._guardrail_before(routed), rows=rows,
            problems=problems)
        return RehearsalResult(record, routed, time.perf_counter() - clock)

    def _guardrail_before(self, routed: list[tuple[Phase, RoutedIntent]]) -> dict[str, int]:
        first = [self.in_flight[0]] if self.in_flight is not None else []
        seen = [r for phase, r in routed if phase == "before_flip"] + first
        return dict(sorted(Counter((r.guardrail.reason or "ok") if r.guardrail else "not guarded"
                                   for r in seen).items()))

    def _expected(self, phase: Phase, r: RoutedIntent) -> str | None:
        """The venue that must hold the intent's order (None: the guardrail rejects it), by
        the judge, not by the router's answer."""
        if phase == "after_flip":  # context off, risk approved: nothing may be rejected
            return "alpaca"
        if phase == "in_flight_retry":  # LEAN placed it before the drop
            return "lean"
        actions = self.expected_actions
        if actions is not None and r.client_order_id in actions:
            rejected = actions[r.client_order_id] == "reject"
        else:
            rejected = r.outcome == "guardrail_rejected"
        return None if rejected else "lean"

    def _row(self, phase: Phase, r: RoutedIntent, lean: Counter,
             alpaca: Counter) -> RehearsalIntent:
        cid = r.client_order_id
        orders = {"lean": lean[cid], "alpaca": alpaca[cid]}
        expected = self._expected(phase, r)
        total = sum(orders.values())
        if expected is None:
            verdict = "leaked" if total else "ok"
        elif total == 0:
            verdict = "lost"
        elif total > 1:
            verdict = "doubled"
        else:
            verdict = "ok" if orders[expected] == 1 else "misrouted"
        return RehearsalIntent(
            client_order_id=cid, intent_id=r.intent.intent_id, symbol=r.intent.symbol,
            decision_time=r.intent.decision_time, phase=phase,
            flags_adapter=r.flags.execution_adapter if r.flags else None,
            flags_context_enabled=r.flags.market_context_enabled if r.flags else None,
            route=r.route, outcome=r.outcome, router_venue=r.venue,
            context_consulted=r.context_consulted,
            guardrail_action=r.guardrail.final_action() if r.guardrail else None,
            expected_venue=expected, orders=orders, verdict=verdict)

    def _judge(self, rows: list[RehearsalIntent], lean: Counter, alpaca: Counter,
               looked_up: dict[tuple[str, str], bool]) -> list[str]:
        problems = []

        def named(chosen: list[RehearsalIntent]) -> str:
            ids = ", ".join(r.client_order_id for r in chosen[:_SHOWN])
            return ids + (f" and {len(chosen) - _SHOWN} more" if len(chosen) > _SHOWN else "")

        def where(r: RehearsalIntent) -> str:
            return ", ".join(f"{v} {n}" for v, n in r.orders.items())

        lost = [r for r in rows if r.verdict == "lost"]
        if lost:
            problems.append(f"{len(lost)} intents the guardrail let through have no order at "
                            f"either venue (lost): {named(lost)}; the router answered "
                            f"{lost[0].outcome} for {lost[0].client_order_id}")
        for r in (r for r in rows if r.verdict == "doubled"):
            problems.append(f"intent {r.client_order_id} (routed {_PHASE_WORDS[r.phase]}) has "
                            f"{sum(r.orders.values())} orders ({where(r)}): doubled")
        for phase, wanted in (("before_flip", "lean"), ("in_flight_retry", "lean"),
                              ("after_flip", "alpaca")):
            wrong = [r for r in rows if r.verdict == "misrouted" and r.phase == phase]
            if wrong:
                problems.append(f"{len(wrong)} intents routed {_PHASE_WORDS[phase]} are not on "
                                f"{wanted} (misrouted): {named(wrong)}; the router read "
                                f"{EXECUTION_ADAPTER_VAR}={wrong[0].flags_adapter}")
        leaked = [r for r in rows if r.verdict == "leaked"]
        if leaked:
            problems.append(f"{len(leaked)} intents the guardrail rejected have orders anyway: "
                            f"{named(leaked)}")
        ours = {r.client_order_id for r in rows}
        stray = sorted((set(lean) | set(alpaca)) - ours)
        if stray:
            problems.append(f"{len(stray)} orders at the venues belong to no intent of the "
                            f"rehearsal: {', '.join(stray[:_SHOWN])}")
        mismatched = [f"{venue} {cid}" for (venue, cid), found in looked_up.items()
                      if found != bool((lean if venue == "lean" else alpaca)[cid])]
        if mismatched:
            problems.append(f"the look-up by client order id disagrees with the venue's order "
                            f"list for {', '.join(mismatched[:_SHOWN])}")
        if self.context_fetches_before == 0:
            problems.append("the market-context client made no fetch before the flip: the "
                            "context path was never on, so turning it off proves nothing")
        if self.context_fetches_after:
            problems.append(f"the market-context client made {self.context_fetches_after} "
                            f"fetches after {MARKET_CONTEXT_ENABLED_VAR}=false (expected 0): the "
                            "context path is still on")
        if self.in_flight is not None:
            first, retry = self.in_flight
            if not lean[first.client_order_id]:
                problems.append(f"the in-flight intent {first.client_order_id} never reached "
                                "LEAN: the dangerous case was not rehearsed")
            if self.lean_down_after_flip and retry.outcome != "held":
                problems.append(f"the in-flight retry {retry.client_order_id} was answered "
                                f"{retry.outcome} while LEAN was unreachable (expected held: it "
                                "may be at LEAN)")
        return problems

    def _in_flight_retry(self, lean: Counter, alpaca: Counter) -> InFlightRetry | None:
        if self.in_flight is None:
            return None
        first, retry = self.in_flight
        cid = first.client_order_id
        venues = {"lean": lean[cid], "alpaca": alpaca[cid]}
        holding = [v for v, n in venues.items() if n]
        return InFlightRetry(client_order_id=cid, intent_id=first.intent.intent_id,
                             venue=holding[0] if sum(venues.values()) == 1 else None,
                             venues=venues, first_outcome=first.outcome,
                             retry_outcome=retry.outcome)


def _reasons(counts: Mapping[str, int]) -> str:
    """' (guardrail: ok 7, market_context_stale 1)' or nothing."""
    shown = ", ".join(f"{reason} {n}" for reason, n in counts.items())
    return f" (guardrail: {shown})" if shown else ""


def format_rehearsal(record: RehearsalRecord, seconds: float | None = None) -> str:
    """The short report the command prints."""
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    env = lambda e: ", ".join(f"{k}={v}" for k, v in e.items())  # noqa: E731
    lines = [f"rollback rehearsal {record.run_id} on {record.day}{took}",
             f"  before the flip ({env(record.env_before)}): {record.before_flip} intents",
             f"  after the flip ({env(record.env_after)}): {record.after_flip} intents",
             f"  lost {record.lost}, doubled {record.doubled}, misrouted {record.misrouted}"
             + (f", guardrail rejected {record.guardrail_rejected}"
                if record.guardrail_rejected else ""),
             f"  context fetches: {record.context_fetches_before} before the flip"
             f"{_reasons(record.guardrail_before)}, {record.context_fetches_after} after"]
    retry = record.in_flight_retry
    if retry is not None:
        held = ", ".join(f"{v} {n}" for v, n in retry.venues.items())
        lines.append(f"  in-flight retry: {retry.client_order_id} ({retry.first_outcome}, then "
                     f"{retry.retry_outcome}); orders: {held}")
    lines.append(f"  {'PASS' if record.passed else 'FAIL'}")
    lines += [f"  problem: {p}" for p in record.problems]
    return "\n".join(lines)


__all__ = ["DEFAULT_DAY", "ENV_AFTER", "ENV_BEFORE", "AdapterVenue", "AnswerLost",
           "DroppingVenue", "RehearsalResult", "alpaca_order_counts", "format_rehearsal",
           "lean_order_counts", "rehearsal_intents", "rehearse_rollback"]
