"""Owns the week demo's canary route: the canary symbols' intents of each replayed day sent the
way Torghut's canary sends them (ExecutionRouter with ``TRADING_EXECUTION_ADAPTER=lean``: the
guardrail with the market context fetched from the serving API, then one submit per order to
the LEAN runner, Alpaca as fallback), recorded as Torghut executions rows, with the canary's
LEAN runner and the serving API scraped before and after each session.

The canary has venues of its own (a LEAN runner and an Alpaca paper server beside the parity
replay's), as a canary deployment does, so parity's replays of the same client order ids
never meet the canary's orders. The scrapes are stamped on the replay clock (an hour before the
session opens and after it closes: parity_week.scrape_stamped) so canary_slo[day] reads each
replayed session's window exactly as the nightly run reads a live one.

Used by ``intel-assets parity --week`` on the demo's own database only (it writes Torghut's
executions table).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable

from intel_assets.domain.canary_slo import RUNNER_SOURCE, SERVING_SOURCE

#: Torghut's canary environment: the LEAN route on, market context on.
CANARY_ENV = {"TRADING_EXECUTION_ADAPTER": "lean", "TRADING_MARKET_CONTEXT_ENABLED": "true"}
#: Our order status -> Torghut executions.status (an open order is "new" there).
EXECUTION_STATUS = {"open": "new", "filled": "filled", "canceled": "canceled",
                    "rejected": "rejected"}


@dataclass
class CanaryDaySession:
    """What the canary route did on one day."""

    day: date
    intents: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    recorded: int = 0


class CanaryRoute:
    """The canary's venues, serving API, context client and router, for a ``with`` block."""

    def __init__(self, lean_dir: Path | str, store_factory: Callable[[], Any]) -> None:
        self.lean_dir, self.store_factory = Path(lean_dir), store_factory
        self._stack = ExitStack()
        self.runner_url = self.serving_url = ""

    def __enter__(self) -> "CanaryRoute":
        from intel_assets.devtools.alpaca_server import start_alpaca_server
        from intel_assets.devtools.asgi import asgi_in_background
        from intel_assets.execution.alpaca_adapter import AlpacaAdapter
        from intel_assets.execution.lean_adapter import LeanAdapter
        from intel_assets.devtools.lean_runner import lean_runner_in_background
        from intel_assets.drills.rollback_rehearsal import PAPER_KEY, PAPER_SECRET, AdapterVenue
        from intel_assets.serving.app import create_app
        from intel_assets.torghut.client import MarketContextClient
        from intel_assets.torghut.routing import ExecutionRouter

        stack = self._stack
        self.runner_url = stack.enter_context(lean_runner_in_background(self.lean_dir))
        paper = stack.enter_context(start_alpaca_server(lean_dir=self.lean_dir))
        lean = stack.enter_context(LeanAdapter(self.runner_url))
        alpaca = stack.enter_context(AlpacaAdapter(PAPER_KEY, PAPER_SECRET, base_url=paper.url,
                                                   replay_clock=True))
        self.serving_url = stack.enter_context(asgi_in_background(create_app(self.store_factory)))
        client = stack.enter_context(MarketContextClient(self.serving_url))
        self.router = ExecutionRouter({"lean": AdapterVenue(lean), "alpaca": AdapterVenue(alpaca)},
                                      dict(CANARY_ENV), context=client)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def run_day(self, db, day: date, symbols: Collection[str], present: set[str]
                ) -> CanaryDaySession:
        """Route the canary symbols' intents of ``day`` between two stamped scrapes; record the
        orders as Torghut's executions rows. Decisions already recorded in ``present`` are
        skipped, and a day with none left is not scraped again (a rerun of the week keeps the
        first run's windows instead of replacing them with an idle runner's)."""
        from intel_assets.drills.parity_week import bracket, scrape_stamped
        from intel_assets.drills.rollback_rehearsal import rehearsal_intents

        session = CanaryDaySession(day=day)
        intents, _ = rehearsal_intents(self.lean_dir, day)
        intents = [i for i in intents if i.symbol in symbols and i.intent_id not in present]
        if not intents:  # a rerun: the day was routed and scraped before; its evidence stands
            return session
        before, after = bracket(day)
        scrape_stamped(db, RUNNER_SOURCE, self.runner_url, before)
        scrape_stamped(db, SERVING_SOURCE, self.serving_url, before)
        routed = [self.router.route(intent) for intent in intents]
        scrape_stamped(db, RUNNER_SOURCE, self.runner_url, after)
        scrape_stamped(db, SERVING_SOURCE, self.serving_url, after)
        session.intents = len(intents)
        for r in routed:
            session.outcomes[r.outcome] = session.outcomes.get(r.outcome, 0) + 1
        session.recorded = db.insert_executions(executions_rows(routed, self.runner_url))
        return session


def executions_rows(routed: Sequence[Any], runner_url: str) -> list[dict]:
    """Torghut executions rows for the router's answers (RoutedIntent with an order), in
    Torghut's route provenance: expected ``lean``, actual the venue that holds the order, a
    fallback's reason and count 1 (route_metadata.normalize_route_provenance)."""
    import uuid

    rows = []
    for r in routed:
        if r.state is None or r.venue is None:
            continue  # rejected by the guardrail, held or in flight: no order recorded
        intent, fill = r.state.intent, r.state.fill
        fell_back = r.venue != "lean"
        rows.append({
            "trade_decision_id": intent.intent_id, "client_order_id": r.client_order_id,
            "alpaca_order_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"canary:{r.client_order_id}")),
            "symbol": intent.symbol, "side": intent.side, "order_type": intent.type,
            "time_in_force": intent.time_in_force, "submitted_qty": intent.qty,
            "filled_qty": fill.filled_qty, "avg_fill_price": fill.avg_fill_price,
            "status": EXECUTION_STATUS.get(r.state.status, r.state.status),
            "created_at": intent.decision_time,
            "execution_expected_adapter": "lean", "execution_actual_adapter": r.venue,
            "execution_fallback_reason": (r.fallback_reason or "lean_submit_failed")
            if fell_back else None, "execution_fallback_count": 1 if fell_back else 0,
            "raw_order": {"client_order_id": r.client_order_id, "status": r.state.status,
                          "_source": f"intel_assets week demo canary route ({r.outcome}, LEAN "
                          f"runner {runner_url}); alpaca_order_id derived from client_order_id"}})
    return rows


__all__ = ["CANARY_ENV", "CanaryDaySession", "CanaryRoute", "executions_rows"]
