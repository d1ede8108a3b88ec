"""Our LEAN runner as the two LEAN upstreams of Torghut's current LEAN authority, called exactly
as Torghut calls them.

``TorghutLeanAuthority`` and ``TorghutLaneLedger`` (tests/torghut_lean_upstream.py) restate, in
our own code (none of theirs), what proompteng/lab at 6b69af37f6584d49c0e3267dd99678f3ba0925c5
(2026-08-22) does:
``services/torghut/app/trading/lean_runtime.py`` (``_normalize_backtest_lane``,
``_proxy_json_request`` over urllib with compact JSON, ``accept`` and ``content-type`` headers and
a 10 s timeout, errors as ``lean_upstream_http_<code>:<200 chars>``; ``submit_backtest`` = POST
``{TRADING_LEAN_BACKTEST_UPSTREAM_URL}/submit`` with ``{lane, config}`` and ``X-Correlation-ID``;
``get_backtest`` = GET ``{upstream}/{backtest_id}``, adding an ``artifact_authority`` when the
result has none; ``evaluate_strategy_shadow`` = POST ``TRADING_LEAN_STRATEGY_SHADOW_UPSTREAM_URL``
itself), ``app/trading/lean_lanes.py`` (``LeanLaneManager``: the fields it keeps and
``_derive_backtest_failure_taxonomy``), ``app/trading/scheduler/pipeline/runtime_gates.py`` (the
shadow intent ``{action, qty: str, order_type, time_in_force}`` and ``torghut-shadow-<18 hex>``),
``app/trading/empirical_jobs.py`` (``empirical_artifact_truthfulness_reasons``) and the column
widths of ``app/models/entities/whitepaper_runtime.py``. The February paths (255d330fe
``app/trading/lean_lanes.py`` and ``execution_adapters.py``: ``{TRADING_LEAN_RUNNER_URL}/v1/
backtests/submit``, ``/v1/backtests/{id}``, ``/v1/strategy-shadow/evaluate`` with the strategy
and symbol repeated in the intent) are called on the same base URL.

LEAN-exact: the LEAN-week configs (tests/lean_week.py) restate the fixed order lists of LEAN
regression algorithms (QuantConnect/Lean 24863901 ``Algorithm.CSharp/TimeInForceAlgorithm.cs``
and ``MarketOrderStaleDataFillRegressionAlgorithm.cs``) and the statistics are compared with
LEAN's published ``ExpectedStatistics``. Shadow prices were read by hand from the shared raw files
(see tests/test_lean_runner.py): 2013-10-07 09:31 SPY bar, trade open 167.47, ask close 167.38.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import datetime
from decimal import Decimal

import httpx
import pytest
from lean_contract import check_exchange
from lean_week import LEAN_WEEK, week_config
from torghut_lean_upstream import (
    TorghutLaneLedger,
    TorghutLeanAuthority,
    settle,
    truthfulness_problems,
)

from intel_assets.execution.lean_regressions import REGRESSIONS
from intel_assets.devtools.lean_runner import lean_runner_in_background
from intel_assets.execution.lean_upstream_store import BacktestStore


@pytest.fixture
def runner(lean_dir, tmp_path):
    """(base URL, store file) of a runner with its backtest store under tmp_path."""
    store = tmp_path / "lean-runner" / "backtests.sqlite3"
    with lean_runner_in_background(lean_dir, store_path=store) as url:
        yield url, store


# --------------------------------------------------------------------------- backtests


@pytest.mark.parametrize("name", list(LEAN_WEEK))
def test_a_lean_week_backtest_is_completed_lean_exact_and_reproducible(lean_dir, runner, name):
    """Reproduces REGRESSIONS[name].lean_file at QuantConnect/Lean 24863901 through Torghut's
    backtest upstream calls (lean_runtime.py / lean_lanes.py at proompteng/lab 6b69af37)."""
    url, store = runner
    config = week_config(name)
    authority = TorghutLeanAuthority(f"{url}/v1/backtests",
                                     f"{url}/v1/strategy-shadow/evaluate")
    ledger = TorghutLaneLedger(authority)
    row = ledger.submit_backtest(config, lane="research")
    method, sent_url, headers = authority.sent[0]
    assert (method, sent_url) == ("POST", f"{url}/v1/backtests/submit")
    assert headers["X-Correlation-ID"].startswith("torghut-")
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    assert row["reproducibility_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert len(row["backtest_id"]) <= 64 and len(row["reproducibility_hash"]) <= 128
    seen = settle(ledger, row["backtest_id"])
    assert seen[0] in ("queued", "running") and seen[-1] == "completed"
    assert seen == [s for s in ("queued", "running", "completed") if s in seen]

    assert row["failure_taxonomy"] is None and row["deterministic_replay_passed"] is True
    assert re.fullmatch(r"[0-9a-f]{64}", row["replay_hash"])
    result = row["result_json"]
    published = REGRESSIONS[name].published
    for key in ("Total Orders", "Total Fees", "End Equity"):
        assert result["statistics"][key] == published[key], key
    summary = result["summary"]
    assert summary["net_pnl"] == pytest.approx(float(published["End Equity"]) - 100000, abs=0.005)
    fees = float(published["Total Fees"].lstrip("$"))
    assert summary["gross_pnl"] - summary["net_pnl"] == pytest.approx(fees, abs=0.005)
    assert summary["trade_count"] == sum(o["status"] == "filled" for o in result["orders"])
    assert result["execution_assumptions"]["mode"] == "research_backtest"
    assert result["calibration_inputs"]["status"] == "validated"
    assert not authority.filled_in_authority, "the runner vouches for its own result"
    assert result["artifact_authority"]["placeholder"] is False
    assert truthfulness_problems(result) == []
    assert row["artifacts_json"]["replay_dataset_ref"].startswith("lean-data:sha256:")
    assert result["replay"]["replay_hashes"] == [row["replay_hash"]] * 2

    again = ledger.submit_backtest(config, lane="research_backtest")
    assert again["backtest_id"] == row["backtest_id"]  # same lane + config: the same backtest
    finished_at = authority.get_backtest(row["backtest_id"])["finished_at"]

    # a runner restarted on the same store still has it, as it was
    with lean_runner_in_background(lean_dir, store_path=store) as restarted:
        later = TorghutLeanAuthority(f"{restarted}/v1/backtests", "").get_backtest(
            row["backtest_id"])
    assert (later["status"], later["finished_at"]) == ("completed", finished_at)
    assert later["result"]["replay_hash"] == row["replay_hash"]


def test_another_runner_reproduces_the_same_hashes(lean_dir, tmp_path):
    """Same config on two runners with their own stores: same id, reproducibility and replay
    hashes (the replay hash covers the results and the sha256 of every LEAN file read)."""
    rows = []
    for n in range(2):
        with lean_runner_in_background(lean_dir, store_path=tmp_path / f"{n}.sqlite3") as url:
            ledger = TorghutLaneLedger(TorghutLeanAuthority(f"{url}/v1/backtests", ""))
            row = ledger.submit_backtest(week_config("time-in-force"), lane="research")
            settle(ledger, row["backtest_id"])
            rows.append(row)
    assert rows[0]["status"] == rows[1]["status"] == "completed"
    for key in ("backtest_id", "reproducibility_hash", "replay_hash"):
        assert rows[0][key] == rows[1][key], key


def test_torghuts_february_paths_on_the_same_base_url(lean_dir, runner):
    """255d330fe: {TRADING_LEAN_RUNNER_URL}/v1/backtests/submit with the lane as given, then
    /v1/backtests/{id}; the same backtest as through the August upstream setting."""
    url, _ = runner
    february = TorghutLeanAuthority(url, "")
    accepted = february._proxy("POST", f"{url}/v1/backtests/submit",
                               {"lane": "research", "config": week_config("time-in-force")},
                               {"X-Correlation-ID": "torghut-feb"})
    assert accepted["lane"] == "research" and accepted["backtest_id"]
    ledger = TorghutLaneLedger(TorghutLeanAuthority(f"{url}/v1/backtests", ""))
    ledger.backtests[accepted["backtest_id"]] = {"backtest_id": accepted["backtest_id"],
                                                 "status": accepted["status"],
                                                 "reproducibility_hash":
                                                     accepted["reproducibility_hash"]}
    assert settle(ledger, accepted["backtest_id"])[-1] == "completed"
    assert ledger.backtests[accepted["backtest_id"]]["result_json"]["statistics"][
        "End Equity"] == REGRESSIONS["time-in-force"].published["End Equity"]


def test_bad_configs_get_plain_word_400s_and_a_run_is_bounded_in_time(lean_dir, tmp_path):
    with lean_runner_in_background(lean_dir, store_path=tmp_path / "s.sqlite3",
                                   backtest_time_limit=0.0) as url:
        authority = TorghutLeanAuthority(f"{url}/v1/backtests", "")
        intent = LEAN_WEEK["time-in-force"][0]
        cases = {
            "intents: List should have at least 1 item": {"intents": []},
            "unknown symbol XYZQ": {"intents": [{**intent, "symbol": "XYZQ"}]},
            "longer than 31 days": {"start": "2013-10-07", "end": "2013-12-31",
                                    "intents": [intent]},
            "outside the window": {"start": "2013-10-08", "end": "2013-10-09",
                                   "intents": [intent]},
            "not in symbols AAPL": {"symbols": ["AAPL"], "intents": [intent]},
            "fill_model: Input should be 'lean_equity' or 'alpaca_paper'":
                {"fill_model": "magic", "intents": [intent]},
            "no SPY minute data between 2014-01-06 and 2014-01-06":
                {"intents": [{**intent, "at": "2014-01-06T10:00:00-05:00"}]},
        }
        for words, config in cases.items():
            with pytest.raises(RuntimeError) as refused:
                authority.submit_backtest("research", config, "torghut-bad")
            assert str(refused.value).startswith("lean_upstream_http_400:"), words
            assert words in str(refused.value), str(refused.value)
        with pytest.raises(RuntimeError, match=r"^lean_upstream_http_400:.*lane must be"):
            authority.submit_backtest("Research Backtest!", {"intents": [intent]}, "x")

        ledger = TorghutLaneLedger(authority)  # a zero time limit: the run is stopped
        row = ledger.submit_backtest(week_config("time-in-force"), lane="research")
        assert settle(ledger, row["backtest_id"])[-1] == "failed"
        assert row["failure_taxonomy"] == "backtest_failed"
        failed = authority.get_backtest(row["backtest_id"])
        assert failed["result"] is None and "past its time limit" in failed["error"]


def test_a_failed_backtest_submitted_again_runs_again(lean_dir, tmp_path):
    """A failure is not final: the same config submitted again (Torghut retries the lane) is
    queued and run again, on the same id, attempts counted; a completed one is not rerun."""
    path = tmp_path / "store.sqlite3"
    config = week_config("time-in-force")
    with lean_runner_in_background(lean_dir, store_path=path, backtest_time_limit=0.0) as url:
        ledger = TorghutLaneLedger(TorghutLeanAuthority(f"{url}/v1/backtests", ""))
        first = ledger.submit_backtest(config, lane="research")
        assert settle(ledger, first["backtest_id"])[-1] == "failed"
    with lean_runner_in_background(lean_dir, store_path=path) as url:  # the limit lifted
        authority = TorghutLeanAuthority(f"{url}/v1/backtests", "")
        ledger = TorghutLaneLedger(authority)
        again = ledger.submit_backtest(config, lane="research")
        assert again["backtest_id"] == first["backtest_id"]
        assert settle(ledger, again["backtest_id"])[-1] == "completed"
        done = authority.get_backtest(again["backtest_id"])
        assert done["error"] is None and done["result"]["summary"]["trade_count"] > 0
        ledger.submit_backtest(config, lane="research")  # completed: answered as it is
    assert BacktestStore(path).get(first["backtest_id"]).attempts == 2


def test_a_store_error_in_the_worker_never_leaves_the_queue_stuck(lean_dir, tmp_path,
                                                                   monkeypatch):
    """The store failing under the worker (here: its first ``finish`` raises, as a locked
    SQLite file past its timeout would) stops that worker, logged; the next request starts a
    new one, so later backtests still complete instead of waiting queued until a restart."""
    import sqlite3

    real_finish, failures = BacktestStore.finish, []

    def finish_failing_once(self, *args, **kwargs):
        if not failures:
            failures.append(args[0])
            raise sqlite3.OperationalError("database is locked")
        return real_finish(self, *args, **kwargs)

    monkeypatch.setattr(BacktestStore, "finish", finish_failing_once)
    with lean_runner_in_background(lean_dir, store_path=tmp_path / "s.sqlite3") as url:
        ledger = TorghutLaneLedger(TorghutLeanAuthority(f"{url}/v1/backtests", ""))
        lost = ledger.submit_backtest(week_config("time-in-force"), lane="research")
        deadline = time.monotonic() + 60
        while not failures and time.monotonic() < deadline:
            time.sleep(0.05)
        assert failures == [lost["backtest_id"]]
        later = ledger.submit_backtest(week_config("market-order-stale-data-fill"),
                                       lane="research")
        assert settle(ledger, later["backtest_id"])[-1] == "completed"
        # the one whose result could not be written stays running until the next runner on
        # the store queues it again (the test below)
        assert ledger.authority.get_backtest(lost["backtest_id"])["status"] == "running"


def test_a_backtest_left_running_by_a_stopped_runner_is_run_again(lean_dir, tmp_path):
    """A runner that stopped mid-run leaves the row running; the next runner on the store
    queues it again and completes it."""
    path = tmp_path / "store.sqlite3"
    store = BacktestStore(path)
    config = week_config("time-in-force")
    store.add("left-running", "research_backtest", "hash", config, "torghut-x", None)
    assert store.claim_next().status == "running"
    with lean_runner_in_background(lean_dir, store_path=path) as url:
        authority = TorghutLeanAuthority(f"{url}/v1/backtests", "")
        ledger = TorghutLaneLedger(authority)
        ledger.backtests["left-running"] = {"backtest_id": "left-running", "status": "running",
                                            "reproducibility_hash": "hash"}
        assert settle(ledger, "left-running")[-1] == "completed"
    assert BacktestStore(path).get("left-running").attempts == 2


# --------------------------------------------------------------------------- strategy shadow


@pytest.fixture
def shadow_runner(lean_dir):
    """A runner whose replay clock is 2013-10-07 09:32 New York (the 09:31 bar just closed)."""
    with lean_runner_in_background(
            lean_dir, as_of=datetime.fromisoformat("2013-10-07T09:32:00-04:00")) as url:
        yield url


def test_strategy_shadow_answers_a_measured_parity_score(shadow_runner):
    """runtime_gates' shadow call (proompteng/lab 6b69af37) to our runner."""
    url = shadow_runner
    ledger = TorghutLaneLedger(TorghutLeanAuthority("", f"{url}/v1/strategy-shadow/evaluate"))
    row, shadow = ledger.shadow_decision("strategy-1", "SPY", "buy", Decimal("10"), "market",
                                         "day")
    assert ledger.authority.sent[0][1] == f"{url}/v1/strategy-shadow/evaluate"
    measured = shadow["measurements"]
    # both compositions fill a market buy at the 09:31 bar's ask close
    assert measured["lean"]["price"] == measured["alpaca_paper"]["price"] == "167.38"
    assert (measured["lean"]["fee"], measured["alpaca_paper"]["fee"]) == ("1", "0")
    assert row["parity_status"] == "pass" and row["governance_json"]["parity_score"] == 1.0
    assert shadow["promotion_authority_eligible"] and row["governance_json"]["promotion_ready"]
    assert shadow["artifact_authority"]["placeholder"] is False
    assert len(row["run_id"]) <= 64 and len(row["parity_status"]) <= 64

    # a buy limit at 167.50: LEAN fills at the bar's open 167.47 (it opened below the limit),
    # Alpaca paper at the ask 167.38 (marketable): a gap of 5.38 bps, over the 5 bps budget
    row, shadow = ledger.shadow_decision("strategy-1", "SPY", "buy", Decimal("10"), "limit",
                                         "day", limit_price="167.50")
    gap = (167.47 - 167.38) / 167.38 * 10_000
    assert shadow["measurements"]["price_delta_bps"] == pytest.approx(gap, abs=1e-3)
    assert row["governance_json"]["parity_score"] == pytest.approx(1 - gap / 25, abs=1e-5)
    assert row["parity_status"] == "pass" and not row["governance_json"]["promotion_ready"]
    assert shadow["blocking_reason"] == "price_within_budget_failed"
    assert row["governance_json"]["checks"]["price_within_budget"] is False

    # Torghut 255d330fe: {runner}/v1/strategy-shadow/evaluate, the intent repeating the ids
    february = TorghutLeanAuthority("", url)._proxy(
        "POST", f"{url}/v1/strategy-shadow/evaluate",
        {"strategy_id": "strategy-1", "symbol": "SPY",
         "intent": {"strategy_id": "strategy-1", "symbol": "SPY", "action": "buy",
                    "qty": "10", "order_type": "market", "time_in_force": "day"}},
        {"X-Correlation-ID": "torghut-shadow-feb"})
    assert february["governance"]["parity_score"] == 1.0


def test_strategy_shadow_refuses_bad_intents_and_blocks_stale_data(shadow_runner):
    url = shadow_runner
    authority = TorghutLeanAuthority("", f"{url}/v1/strategy-shadow/evaluate")
    bad = {"intent.action: Input should be 'buy' or 'sell'": ("SPY", {"action": "hold",
                                                                      "qty": "1"}),
           "qty must be a finite number > 0": ("SPY", {"action": "buy", "qty": "0"}),
           "unknown symbol XYZQ": ("XYZQ", {"action": "buy", "qty": "1"}),
           "a limit order needs a limit price": ("SPY", {"action": "buy", "qty": "1",
                                                         "order_type": "limit"})}
    for words, (symbol, intent) in bad.items():
        with pytest.raises(RuntimeError) as refused:
            authority.evaluate_strategy_shadow("s", symbol, intent, "torghut-shadow-bad")
        assert str(refused.value).startswith("lean_upstream_http_400:") and \
            words in str(refused.value), str(refused.value)

    # after the close the latest bar is two hours old: measured, but not promotion evidence
    authority._proxy("POST", f"{url}/v1/clock", {"as_of": "2013-10-07T18:00:00-04:00"})
    shadow = authority.evaluate_strategy_shadow(
        "s", "SPY", {"action": "sell", "qty": "5", "order_type": "market",
                     "time_in_force": "day"}, "torghut-shadow-late")
    assert shadow["parity_status"] == "blocked_stale_market_data"
    assert shadow["measurements"]["quote_age_seconds"] == 7200
    assert shadow["promotion_authority_eligible"] is False
    assert shadow["artifact_authority"]["authoritative"] is False


def test_the_upstream_answers_follow_the_runners_openapi_contract(lean_dir, tmp_path):
    """Every answer above, also as lean_runner_openapi.yaml declares it (tests/lean_contract)."""
    seen: list[httpx.Response] = []
    with lean_runner_in_background(
            lean_dir, store_path=tmp_path / "s.sqlite3",
            as_of=datetime.fromisoformat("2013-10-07T09:32:00-04:00")) as url, httpx.Client(
            base_url=url, timeout=30,
            event_hooks={"response": [lambda r: (r.read(), seen.append(r))]}) as http:
        for intent in ({"action": "buy", "qty": "1"}, {"action": "buy", "qty": "0"}):
            http.post("/v1/strategy-shadow/evaluate",
                      json={"strategy_id": "s", "symbol": "SPY", "intent": intent})
        accepted = http.post("/v1/backtests/submit", json={
            "lane": "research_backtest", "config": week_config("time-in-force")}).json()
        deadline = time.monotonic() + 60
        while http.get(f"/v1/backtests/{accepted['backtest_id']}").json()["status"] in (
                "queued", "running") and time.monotonic() < deadline:
            time.sleep(0.05)
        http.post("/v1/backtests/submit", json={"lane": "research", "config": {"intents": []}})
    assert [r.status_code for r in seen if r.request.method == "POST"] == [200, 400, 200, 400]
    assert seen[-2].json()["status"] == "completed"
    for response in seen:
        check_exchange(response)
