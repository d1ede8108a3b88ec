"""The rollback rehearsal (issue 19 part 4): Torghut's execution routing (torghut/routing.py) on
the real LEAN runner and Alpaca paper server, the serving app and MarketContextClient, the
flags flipped mid window; the evidence recorded in PostgreSQL and read back. Planted faults
(a router without the both-venue look-up, one reading the flags once) are caught.

The flags and route provenance follow proompteng/lab 255d330fe: services/torghut/app/config.py
(TRADING_EXECUTION_ADAPTER, TRADING_MARKET_CONTEXT_*), services/torghut/app/trading/
execution_adapters.py (the LEAN adapter's fallback to Alpaca and its fallback reason) and
services/torghut/app/trading/route_metadata.py (``alpaca_fallback`` recorded as ``alpaca``).
Where we deliberately differ (no fallback after a timeout) the router's docstring says so.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from helpers import make_bundle
from intel_assets.contracts.orders import Fill, OrderIntent, OrderState
from intel_assets.contracts.execution_errors import OrderRequestError, RunnerUnavailableError
from intel_assets.stores.bundle_store import BundleStore
from intel_assets.stores.rollout_rehearsals import latest_rehearsal, save_rehearsal
from intel_assets.drills.rollback_rehearsal import rehearsal_intents, rehearse_rollback
from intel_assets.torghut.routing import APPROVED, ExecutionRouter, RoutedIntent

DAY = date(2013, 10, 8)


@pytest.fixture
def store(tmp_path, lean_dir):
    """A bundle store holding, per intent of the day, its symbol's bundle (every domain ok)
    built 30 s before the decision: each fetch as of a decision gets a fresh, good bundle."""
    dsn = f"sqlite:///{tmp_path / 'bundles.sqlite3'}"
    intents, problems = rehearsal_intents(lean_dir, DAY)
    assert not problems and len(intents) >= 12
    with BundleStore.from_dsn(dsn) as opened:
        opened.ensure_schema()
        for intent in intents:
            opened.publish([make_bundle(intent.symbol, intent.decision_time - timedelta(seconds=30),
                                        {"news": "ok", "fundamentals": "ok"})])
    return lambda: BundleStore.from_dsn(dsn)


class NoCrossVenueLookup(ExecutionRouter):
    """Planted fault: looks the client_order_id up at the routed venue only."""

    def lookup_venues(self, route):
        return [route]


class RejectsAfterFlip(ExecutionRouter):
    """Planted fault: answers guardrail_rejected for every intent routed to Alpaca."""

    def route(self, intent, decision=APPROVED):
        flags = self.read_flags()
        if flags.execution_adapter == "alpaca":
            return RoutedIntent(intent, "guardrail_rejected", flags, "alpaca", None)
        return super().route(intent, decision)


class FlagsReadOnce(ExecutionRouter):
    """Planted fault: reads the flags at the first intent and never again."""

    _flags = None

    def read_flags(self):
        if self._flags is None:
            self._flags = super().read_flags()
        return self._flags


def test_rehearsal_passes_with_nothing_lost_or_doubled_and_records_its_evidence(
        lean_dir, store, torghut_db):
    result = rehearse_rollback(lean_dir, DAY, store)
    record = result.record
    assert record.problems == [] and record.passed
    assert (record.intents, record.before_flip, record.after_flip) == (16, 8, 8)
    assert (record.lost, record.doubled, record.misrouted) == (0, 0, 0)
    assert record.context_fetches_before == 8 and record.context_fetches_after == 0
    assert record.guardrail_before == {"ok": 8}  # each fetch found a fresh, good bundle
    retry = record.in_flight_retry
    assert retry is not None and retry.venue == "lean" and retry.venues == {"lean": 1, "alpaca": 0}
    assert (retry.first_outcome, retry.retry_outcome) == ("in_flight", "duplicate_avoided")
    rows = record.rows
    assert [r.phase for r in rows] == ["before_flip"] * 7 + ["in_flight_retry"] + ["after_flip"] * 8
    for r in rows:
        expected = "alpaca" if r.phase == "after_flip" else "lean"
        assert r.verdict == "ok" and r.orders[expected] == 1 and sum(r.orders.values()) == 1
        assert r.router_venue == expected
    before = [r for r in rows if r.phase == "before_flip"]
    assert all(r.route == "lean" and r.flags_context_enabled and r.context_consulted
               for r in before)
    assert all(r.route == "alpaca" and r.flags_context_enabled is False
               and not r.context_consulted for r in rows if r.phase != "before_flip")
    assert result.seconds < 30

    save_rehearsal(torghut_db, record)
    assert latest_rehearsal(torghut_db) == record
    assert latest_rehearsal(torghut_db, passed_only=True) == record


def test_router_without_the_both_venue_lookup_doubles_the_in_flight_retry(lean_dir, store,
                                                                           torghut_db):
    result = rehearse_rollback(lean_dir, DAY, store, limit=12, router_factory=NoCrossVenueLookup)
    record = result.record
    assert not record.passed and (record.doubled, record.lost, record.misrouted) == (1, 0, 0)
    retry = record.in_flight_retry
    assert retry.venues == {"lean": 1, "alpaca": 1} and retry.venue is None
    assert retry.retry_outcome == "submitted"
    assert f"intent {retry.client_order_id} (routed as the in-flight retry) has 2 orders " \
        "(lean 1, alpaca 1): doubled" in record.problems
    assert (record.before_flip, record.after_flip) == (6, 6)

    save_rehearsal(torghut_db, record)
    assert latest_rehearsal(torghut_db) == record
    assert latest_rehearsal(torghut_db, passed_only=True) is None  # a failed run is no evidence


def test_router_reading_the_flags_once_leaves_post_flip_intents_on_lean(lean_dir, store):
    record = rehearse_rollback(lean_dir, DAY, store, limit=12, router_factory=FlagsReadOnce).record
    assert not record.passed and (record.lost, record.doubled) == (0, 0)
    assert record.misrouted == record.after_flip == 6
    assert all(r.orders == {"lean": 1, "alpaca": 0} and r.verdict == "misrouted"
               for r in record.rows if r.phase == "after_flip")
    assert record.context_fetches_after == 6
    assert any(p.startswith("6 intents routed after the flip are not on alpaca (misrouted)")
               and "TRADING_EXECUTION_ADAPTER=lean" in p for p in record.problems)
    assert any("6 fetches after TRADING_MARKET_CONTEXT_ENABLED=false" in p
               for p in record.problems)


def test_rollback_keeps_trading_on_alpaca_while_lean_stays_down(lean_dir, store):
    result = rehearse_rollback(lean_dir, DAY, store, limit=12, lean_down_after_flip=True)
    record = result.record
    assert record.problems == [] and record.passed
    assert (record.lost, record.doubled, record.misrouted) == (0, 0, 0)
    retry = record.in_flight_retry
    assert (retry.first_outcome, retry.retry_outcome) == ("in_flight", "held")
    assert retry.venues == {"lean": 1, "alpaca": 0} and retry.venue == "lean"
    after = [r for r in record.rows if r.phase == "after_flip"]
    assert len(after) == 6 and all(r.outcome == "submitted" and r.orders == {"lean": 0, "alpaca": 1}
                                   for r in after)
    assert all("lean look-up skipped" in routed.detail
               for phase, routed in result.routed if phase == "after_flip")


def test_judge_does_not_trust_the_router_about_post_flip_rejections(lean_dir, store):
    record = rehearse_rollback(lean_dir, DAY, store, limit=12,
                               router_factory=RejectsAfterFlip).record
    assert not record.passed and record.lost == record.after_flip == 6
    assert record.guardrail_rejected == 0
    assert all(r.expected_venue == "alpaca" and r.verdict == "lost"
               for r in record.rows if r.phase == "after_flip")


def test_command_prints_the_report_records_it_and_exits_by_the_verdict(
        lean_dir, tmp_path, monkeypatch, capsys, postgres_schema_dsn):
    from intel_assets.stores.torghut_db import TorghutDb
    from intel_assets.cli.rehearse_rollback import main

    monkeypatch.setenv("INTEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("INTEL_BUNDLE_STORE_DSN", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    monkeypatch.setenv("INTEL_LEAN_DATA_DIR", str(lean_dir))
    BundleStore.from_dsn(f"sqlite:///{tmp_path / 'empty.sqlite3'}").ensure_schema()
    assert main(["--dsn", postgres_schema_dsn, "--limit", "4"]) == 0
    out = capsys.readouterr().out
    stored = latest_rehearsal(TorghutDb(postgres_schema_dsn))
    assert stored is not None and stored.passed and stored.intents == 4
    assert f"rollback rehearsal {stored.run_id} on 2013-10-08" in out
    assert "lost 0, doubled 0, misrouted 0" in out
    # the store is empty: the context path is on (2 fetches), each answered not found
    assert "context fetches: 2 before the flip (guardrail: market_context_fetch_error 2), " \
        "0 after" in out
    assert "PASS" in out and f"recorded: run {stored.run_id} in intel_rollout_rehearsals" in out

    assert main(["--dsn", postgres_schema_dsn, "--day", "2013-10-32"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --day '2013-10-32' is not a date: write YYYY-MM-DD, e.g. 2013-10-08"]
    monkeypatch.setenv("INTEL_MARKET_SOURCE", "synthetic")
    assert main(["--dsn", postgres_schema_dsn]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "INTEL_LEAN_DATA_DIR" in err[0] and err[0].startswith("error: ")


# ---- the router alone, on in-memory venues ----------------------------------------------

class MemoryVenue:
    """An idempotent venue in memory; ``down`` makes every call fail."""

    def __init__(self, name: str) -> None:
        self.name, self.orders, self.down, self.refuse = name, {}, False, False
        self.timeout = False  # the submit reaches the venue, which commits it later
        self.late: dict = {}

    def _state(self, intent: OrderIntent) -> OrderState:
        cid = intent.client_order_id
        return OrderState(client_order_id=cid, status="open", intent=intent,
                          fill=Fill(client_order_id=cid, status="unfilled", filled_qty=0))

    def submit(self, intent):
        if self.down:
            raise ConnectionError(f"{self.name} is down")
        if self.refuse:
            raise OrderRequestError(422, f"{self.name} refused it")
        if self.timeout:
            self.late[intent.client_order_id] = intent
            raise RunnerUnavailableError(f"{self.name} timed out")
        self.orders.setdefault(intent.client_order_id, intent)
        return self._state(intent)

    def find_order(self, client_order_id):
        if self.down:
            raise ConnectionError(f"{self.name} is down")
        found = self.orders.get(client_order_id)
        return None if found is None else self._state(found)


def _intent(n: int) -> OrderIntent:
    return OrderIntent(intent_id=f"i{n}", strategy_id="s", symbol="SPY", side="buy", qty=1,
                       decision_time=datetime(2013, 10, 8, 14, n, tzinfo=timezone.utc),
                       client_order_id=f"cid-{n}")


def test_router_holds_what_a_venue_cannot_rule_out_and_falls_back_only_when_lean_says_no():
    lean, alpaca = MemoryVenue("lean"), MemoryVenue("alpaca")
    env = {"TRADING_EXECUTION_ADAPTER": "lean", "TRADING_MARKET_CONTEXT_ENABLED": "false"}
    router = ExecutionRouter({"lean": lean, "alpaca": alpaca}, env)

    alpaca.down = True  # the order may sit there: nothing is sent anywhere
    held = router.route(_intent(1))
    assert held.outcome == "held" and not lean.orders and "alpaca" in held.detail
    alpaca.down = False

    lean.refuse = True  # LEAN answers, and does not hold it: Torghut's fallback to Alpaca
    fell = router.route(_intent(2))
    assert fell.outcome == "fallback" and fell.venue == "alpaca"
    assert fell.fallback_reason.startswith("lean_submit_failed: OrderRequestError")
    lean.refuse = False

    env["TRADING_EXECUTION_ADAPTER"] = "bogus"
    bad = router.route(_intent(3))
    assert bad.outcome == "flags_invalid" and "bogus" in bad.detail
    assert set(lean.orders) == set() and set(alpaca.orders) == {"cid-2"}

    env["TRADING_EXECUTION_ADAPTER"] = "alpaca"
    again = router.route(_intent(2))
    assert again.outcome == "duplicate_avoided" and again.venue == "alpaca"
    assert not again.context_consulted and len(alpaca.orders) == 1


def test_router_skips_a_down_venue_it_never_sent_to_and_falls_back_only_on_a_refusal():
    lean, alpaca = MemoryVenue("lean"), MemoryVenue("alpaca")
    env = {"TRADING_EXECUTION_ADAPTER": "lean", "TRADING_MARKET_CONTEXT_ENABLED": "false"}
    router = ExecutionRouter({"lean": lean, "alpaca": alpaca}, env, sent={})

    lean.timeout = True  # LEAN may commit it later: nothing else sent
    late = router.route(_intent(1))
    assert late.outcome == "in_flight" and late.venue is None
    assert not alpaca.orders and "cid-1" in router.unconfirmed
    lean.timeout = False

    lean.refuse = True  # LEAN's definite refusal: Torghut's fallback to Alpaca
    fell = router.route(_intent(2))
    assert fell.outcome == "fallback" and fell.venue == "alpaca"
    assert fell.fallback_reason.startswith("lean_submit_failed: OrderRequestError")
    assert set(alpaca.orders) == {"cid-2"} and router.sent["cid-2"] == "alpaca"
    lean.refuse = False

    lean.down = True  # the rollback while LEAN is down
    env["TRADING_EXECUTION_ADAPTER"] = "alpaca"
    rolled = router.route(_intent(3))
    assert rolled.outcome == "submitted" and rolled.venue == "alpaca"
    assert "lean look-up skipped" in rolled.detail and "cid-3" in alpaca.orders
    retry = router.route(_intent(1))  # sent to LEAN without an answer: it may be there
    assert retry.outcome == "held" and "cid-1" not in alpaca.orders
    again = router.route(_intent(2))  # at Alpaca already
    assert again.outcome == "duplicate_avoided" and again.venue == "alpaca"

    restarted = ExecutionRouter({"lean": lean, "alpaca": alpaca}, env, sent={"cid-9": "lean"})
    known = restarted.route(_intent(9))  # the record says LEAN took it: not sent again
    assert known.outcome == "duplicate_avoided" and known.venue == "lean"
    assert "cid-9" not in alpaca.orders
    unknown = ExecutionRouter({"lean": lean, "alpaca": alpaca}, env).route(_intent(4))
    assert unknown.outcome == "held" and "cid-4" not in alpaca.orders  # no record: conservative
