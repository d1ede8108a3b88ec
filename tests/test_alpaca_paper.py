"""Alpaca paper trading end to end: real alpaca-py TradingClient / AlpacaAdapter -> local server on 127.0.0.1.

Fills come from replayed LEAN SPY minute data (raw prices). Expected prices were read by hand
from the raw zips, e.g. ``unzip -p <lean>/equity/usa/minute/spy/20131007_quote.zip | grep
^34200000`` (columns: ms since midnight New York, bid O/H/L/C, bid size, ask O/H/L/C, ask size;
prices in deci-cents, / 10,000) and the same for ``_trade.zip`` (ms, O/H/L/C, volume).
SPY 2013-10-07, bar start New York -> trade close, bid close, ask close (trade low):
  09:30 (34200000) -> 167.44, 167.44, 167.45 (low 167.41)
  09:31 (34260000) -> 167.37, 167.37, 167.38
  09:32 (34320000) -> 167.28, 167.28, 167.29
  09:33 (34380000) -> 167.42, 167.41, 167.42
  09:34 (34440000) -> 167.50, 167.49, 167.50
A bar's quote is current from its end on (the 09:30 bar's from 09:31:00 = 13:31Z): an order is
evaluated at once on the latest bar that ended at or before the replay clock and a fill is
stamped at the clock; at 09:30:00 no bar of the session has ended, so an order waits for the
09:30 bar's end. A resting order is then evaluated on each later bar, at its end.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, MarketOrderRequest

from intel_assets.contracts.orders import OrderIntent
from intel_assets.devtools.alpaca_server import start_alpaca_server
from intel_assets.domain.fills import InteractiveBrokersFeeModel, OrderFeeParameters
from intel_assets.execution.adapter import ExecutionAdapter
from intel_assets.contracts.execution_errors import (
    OrderNotFoundError,
    OrderRequestError,
    RunnerUnavailableError,
)
from intel_assets.execution.alpaca_adapter import AlpacaAdapter, set_replay_clock
from intel_assets.execution.lean_adapter import LeanAdapter
from intel_assets.devtools.lean_runner import lean_runner_in_background

KEY, SECRET = "PKPAPERTESTKEY01", "paper-s3cr3t-NEVER-SHOW-ME"
OPEN = "2013-10-07T09:30:00-04:00"


def at(hhmm: str, day: str = "2013-10-07") -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}:00-04:00")


def utc(hhmm: str, day: str = "2013-10-07") -> datetime:
    return at(hhmm, day).astimezone(timezone.utc)


def intent(cid: str, side: str = "buy", qty: float = 10, type: str = "market",  # noqa: A002
           decision: str = OPEN, **extra) -> OrderIntent:
    return OrderIntent(intent_id=cid, strategy_id="paper-test", symbol=extra.pop("symbol", "SPY"),
                       side=side, qty=qty, type=type, decision_time=decision,
                       client_order_id=cid, **extra)


@pytest.fixture
def server(lean_dir):
    with start_alpaca_server(lean_dir=lean_dir, api_key_id=KEY, api_secret_key=SECRET) as running:
        yield running


@pytest.fixture
def adapter(server):
    with AlpacaAdapter(KEY, SECRET, base_url=server.url, timeout=5, replay_clock=True) as a:
        yield a


@pytest.fixture
def client(server) -> TradingClient:
    return TradingClient(KEY, SECRET, paper=True, url_override=server.url)


def all_orders(client: TradingClient):
    return client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500))


def test_market_orders_fill_at_once_at_the_current_ask_and_bid(adapter, client):
    assert isinstance(adapter, ExecutionAdapter)
    at_0931 = at("09:31").isoformat()  # the 09:30 bar has just ended: its quote is current
    buy = adapter.submit(intent("mkt-buy", qty=10, decision=at_0931))
    sell = adapter.submit(intent("mkt-sell", side="sell", qty=10, decision=at_0931))
    assert (buy.status, buy.fill.avg_fill_price, buy.fill.filled_qty) == ("filled", 167.45, 10)
    assert (sell.status, sell.fill.avg_fill_price) == ("filled", 167.44)
    assert buy.fill.filled_at == sell.fill.filled_at == utc("09:31") and buy.fill.fee == 0.0
    mid_minute = datetime.fromisoformat("2013-10-07T09:31:30-04:00")  # still the 09:30 quote
    held = adapter.submit(intent("mkt-buy-093130", decision=mid_minute.isoformat()))
    assert (held.fill.avg_fill_price, held.fill.filled_at) == (167.45, mid_minute)
    later = adapter.submit(intent("mkt-buy-0932", decision=at("09:32").isoformat()))
    assert later.fill.avg_fill_price == 167.38 and later.fill.filled_at == utc("09:32")
    wire = client.get_order_by_client_id("mkt-buy")  # alpaca-py's Order model parsed it
    assert (wire.status.value, wire.qty, wire.filled_qty, wire.filled_avg_price) == \
        ("filled", "10", "10", "167.45")
    assert wire.symbol == "SPY" and wire.type.value == "market" and wire.order_class.value == "simple"


def test_an_order_at_the_open_waits_for_the_sessions_first_quote(adapter):
    """At 09:30:00 (and before the open) no bar of the session has ended: the latest quote is
    the previous session's, so the order rests and is filled at the end of the 09:30 bar."""
    early = adapter.submit(intent("mkt-early", decision=at("09:00").isoformat()))
    opening = adapter.submit(intent("mkt-open", side="sell"))
    assert early.status == opening.status == "open"
    adapter.set_replay_clock(at("09:31"))
    early, opening = adapter.status("mkt-early"), adapter.status("mkt-open")
    assert (early.fill.avg_fill_price, early.fill.filled_at) == (167.45, utc("09:31"))
    assert (opening.fill.avg_fill_price, opening.fill.filled_at) == (167.44, utc("09:31"))


def test_limit_fills_only_when_marketable_against_the_quote(adapter, client):
    at_0931 = at("09:31").isoformat()  # current quote: the 09:30 bar's, bid 167.44 / ask 167.45
    marketable = adapter.submit(intent("lim-mkt", type="limit", limit_price=167.50, decision=at_0931))
    assert marketable.status == "filled" and marketable.fill.avg_fill_price == 167.45  # the ask, not the limit
    assert marketable.fill.filled_at == utc("09:31")
    resting = adapter.submit(intent("lim-rest", type="limit", limit_price=167.40, decision=at_0931))
    assert (resting.status, resting.fill.status) == ("open", "unfilled")  # ask 167.45 > 167.40
    assert client.get_order_by_client_id("lim-rest").status.value == "new"
    sell = adapter.submit(intent("lim-sell", side="sell", type="limit", limit_price=167.50,
                                 decision=at_0931))
    assert sell.status == "open"  # bid 167.44 < 167.50
    adapter.set_replay_clock(at("09:32"))  # the 09:31 bar ended: ask close 167.38 <= 167.40
    filled = adapter.status("lim-rest")
    assert (filled.status, filled.fill.avg_fill_price, filled.fill.filled_at) == \
        ("filled", 167.38, utc("09:32"))
    assert adapter.status("lim-sell").status == "open"


def test_a_resting_order_sees_every_minute_the_clock_passes(adapter):
    adapter.submit(intent("lim-walk", type="limit", limit_price=167.30))
    adapter.set_replay_clock(at("09:35"))  # 09:30 ask 167.45, 09:31 167.38 no; 09:32 167.29 yes
    state = adapter.status("lim-walk")
    assert state.fill.avg_fill_price == 167.29 and state.fill.filled_at == utc("09:33")


def test_stop_orders_trigger_on_the_last_trade(adapter):
    at_0931 = at("09:31").isoformat()
    sell_stop = adapter.submit(intent("stop-sell", side="sell", type="stop", stop_price=167.40,
                                      decision=at_0931))
    buy_stop = adapter.submit(intent("stop-buy", type="stop", stop_price=167.45, decision=at_0931))
    assert sell_stop.status == buy_stop.status == "open"  # 09:30 trade close 167.44
    adapter.set_replay_clock(at("09:32"))  # 09:31 trade close 167.37 <= 167.40 -> sell at the bid
    assert adapter.status("stop-sell").fill.avg_fill_price == 167.37
    assert adapter.status("stop-buy").status == "open"
    adapter.set_replay_clock(at("09:35"))  # closes 167.28, 167.42, then 167.50 >= 167.45
    state = adapter.status("stop-buy")
    assert (state.fill.avg_fill_price, state.fill.filled_at) == (167.50, utc("09:35"))


def test_submit_is_idempotent_by_client_order_id(server, adapter, client, monkeypatch):
    first = adapter.submit(intent("idem-1", qty=5))
    again = adapter.submit(intent("idem-1", qty=5))
    fresh = AlpacaAdapter(KEY, SECRET, base_url=server.url).submit(intent("idem-1", qty=5))
    assert first == again == fresh
    posts = [r for r in server.requests if (r.method, r.path) == ("POST", "/v2/orders")]
    assert len(posts) == 1 and len(all_orders(client)) == 1
    with pytest.raises(APIError) as raw:  # Alpaca itself refuses the reused id, as the real one does
        client.submit_order(MarketOrderRequest(symbol="SPY", qty=5, side=OrderSide.BUY,
                                               time_in_force=TimeInForce.DAY, client_order_id="idem-1"))
    assert raw.value.status_code == 422 and raw.value.message == "client_order_id must be unique"
    # a lost race (its lookup ran before the other submit landed): the 422 means "already placed"
    racing = AlpacaAdapter(KEY, SECRET, base_url=server.url)
    real_find, lookups = racing._find, []

    def find_after_losing_the_race(cid: str):
        lookups.append(cid)
        return None if len(lookups) == 1 else real_find(cid)

    monkeypatch.setattr(racing, "_find", find_after_losing_the_race)
    assert racing.submit(intent("idem-1", qty=5)) == first
    posts = [r for r in server.requests if (r.method, r.path) == ("POST", "/v2/orders")]
    assert len(posts) == 3 and len(all_orders(client)) == 1  # two refused, one order


def test_lookup_by_client_order_id(adapter, client):
    adapter.submit(intent("lookup-1"))
    by_cid = client.get_order_by_client_id("lookup-1")
    assert by_cid.client_order_id == "lookup-1" and client.get_order_by_id(by_cid.id).id == by_cid.id
    with pytest.raises(OrderNotFoundError, match="no order with client_order_id 'nope'"):
        adapter.status("nope")
    with pytest.raises(APIError) as missing:
        client.get_order_by_id(uuid.uuid4())
    assert missing.value.status_code == 404 and missing.value.message == "order not found"


def test_replace_creates_an_order_that_replaces_the_old_one(adapter, client):
    adapter.submit(intent("repl-1", type="limit", limit_price=167.40,
                          decision=at("09:31").isoformat()))
    bigger = adapter.replace("repl-1", qty=20)
    assert (bigger.status, bigger.intent.qty, bigger.replace_count) == ("open", 20, 1)
    state = adapter.replace("repl-1", limit_price=167.46)  # now marketable against ask 167.45
    assert (state.status, state.fill.avg_fill_price, state.replace_count) == ("filled", 167.45, 2)
    assert state.client_order_id == "repl-1" and state.intent.limit_price == 167.46
    old = client.get_order_by_client_id("repl-1")
    middle = client.get_order_by_id(old.replaced_by)
    newest = client.get_order_by_id(middle.replaced_by)
    assert old.status.value == middle.status.value == "replaced" and old.replaced_at is not None
    assert (middle.replaces, newest.replaces) == (old.id, middle.id)
    assert newest.client_order_id != "repl-1" and newest.status.value == "filled"
    assert (old.qty, middle.qty, newest.qty, newest.limit_price) == ("10", "20", "20", "167.46")
    assert adapter.status("repl-1") == state and len(all_orders(client)) == 3
    with pytest.raises(OrderRequestError, match='already in "filled" state') as closed:
        adapter.replace("repl-1", qty=5)
    assert closed.value.status_code == 422


def test_cancel(server, adapter, client):
    adapter.submit(intent("cxl-1", type="limit", limit_price=160))
    canceled = adapter.cancel("cxl-1")
    assert (canceled.status, canceled.fill.status) == ("canceled", "canceled")
    assert client.get_order_by_client_id("cxl-1").canceled_at is not None
    deletes = len([r for r in server.requests if r.method == "DELETE"])
    assert adapter.cancel("cxl-1") == canceled  # unchanged, and no second DELETE was sent
    assert len([r for r in server.requests if r.method == "DELETE"]) == deletes
    adapter.submit(intent("cxl-2", type="limit", limit_price=160))
    order_id = client.get_order_by_client_id("cxl-2").id
    raw = httpx.delete(f"{server.url}/v2/orders/{order_id}",
                       headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})
    assert raw.status_code == 204 and raw.content == b""
    adapter.submit(intent("cxl-filled", decision=at("09:31").isoformat()))
    with pytest.raises(OrderRequestError, match='already in "filled" state'):
        adapter.cancel("cxl-filled")


def test_day_orders_expire_at_the_close_and_ioc_cancels_at_once(adapter, client):
    adapter.submit(intent("day-1", type="limit", limit_price=100))
    adapter.submit(intent("gtc-1", type="limit", limit_price=100, time_in_force="gtc"))
    ioc_open = adapter.submit(intent("ioc-open", type="limit", limit_price=167.40,
                                     time_in_force="ioc"))
    assert ioc_open.status == "open", "at the open it waits for the session's first quote"
    ioc = adapter.submit(intent("ioc-1", type="limit", limit_price=167.40, time_in_force="ioc",
                                decision=at("09:31").isoformat()))  # ask 167.45 > 167.40
    assert ioc.status == "canceled" and "canceled" in (ioc.fill.reason or "")
    assert adapter.status("ioc-open").status == "canceled", "one evaluation, on the 09:30 bar"
    adapter.set_replay_clock(at("09:30", "2013-10-08"))
    expired = adapter.status("day-1")
    assert expired.status == "canceled" and "expired" in (expired.fill.reason or "")
    wire = client.get_order_by_client_id("day-1")
    assert wire.status.value == "expired" and wire.expired_at == datetime(2013, 10, 7, 20, tzinfo=timezone.utc)
    assert adapter.status("gtc-1").status == "open"
    with pytest.raises(OrderRequestError, match="cannot move back"):  # gtc-1 is still open
        adapter.set_replay_clock(at("09:30"))


def test_bad_inputs_get_clear_alpaca_style_errors(server, adapter, client):
    with pytest.raises(OrderRequestError, match='asset "ZZZZ" not found') as unknown:
        adapter.submit(intent("bad-sym", symbol="ZZZZ"))
    assert unknown.value.status_code == 422
    for qty in (0, -5):
        with pytest.raises(APIError) as bad_qty:
            client.submit_order(MarketOrderRequest(symbol="SPY", qty=qty, side=OrderSide.BUY,
                                                   time_in_force=TimeInForce.DAY))
        assert bad_qty.value.status_code == 422 and bad_qty.value.message.startswith("qty must be > 0")
    auth = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
    no_price = httpx.post(f"{server.url}/v2/orders", headers=auth, json={
        "symbol": "SPY", "qty": 1, "side": "buy", "type": "limit", "time_in_force": "day"})
    assert no_price.status_code == 422
    assert no_price.json() == {"code": 40010001, "message": "limit_price is required for limit orders"}
    not_json = httpx.post(f"{server.url}/v2/orders", headers=auth, content=b"{nope")
    assert not_json.status_code == 400 and not_json.json()["code"] == 40010000
    fractional = httpx.post(f"{server.url}/v2/orders", headers=auth, json={
        "symbol": "SPY", "qty": 0.5, "side": "buy", "type": "market", "time_in_force": "gtc"})
    assert fractional.json()["message"] == "fractional orders must be DAY orders"
    for body, words in (({"qty": 1e28}, "exceeds the largest order accepted"),  # was a crash
                        ({"qty": "1e27"}, "INTEL_MAX_ORDER_QTY"),
                        ({"qty": True}, "qty must be a number"),
                        ({"type": "limit", "limit_price": 1e30}, "INTEL_MAX_ORDER_PRICE")):
        huge = httpx.post(f"{server.url}/v2/orders", headers=auth, json={
            "symbol": "SPY", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day",
            **body})
        assert (huge.status_code, huge.json()["code"]) == (422, 40010001), huge.text
        assert words in huge.json()["message"]
    saturday = "2013-10-12T12:00:00-04:00"  # next session Monday 2013-10-14: not in the data
    with pytest.raises(OrderRequestError, match=r"no SPY market data .* \(2013-10-14\)") as outside:
        adapter.submit(intent("bad-time", decision=saturday))
    assert outside.value.status_code == 422 and "2013-10-11" in outside.value.reason
    assert len(all_orders(client)) == 0  # nothing bad was stored


def test_the_secret_never_appears_in_error_messages(server, lean_dir):
    messages = []
    wrong = AlpacaAdapter(KEY, "wrong-" + SECRET, base_url=server.url)
    with pytest.raises(OrderRequestError) as unauthorized:
        wrong.status("any")
    assert unauthorized.value.status_code == 401 and "refused the API key pair" in str(unauthorized.value)
    messages.append(str(unauthorized.value))
    with pytest.raises(OrderRequestError, match="pass api_key_id") as clock:
        set_replay_clock(server.url, at("09:30"))  # the clock route checks credentials too
    messages.append(str(clock.value))
    with AlpacaAdapter(KEY, SECRET, base_url=server.url) as unset:  # no clock set: real time
        with pytest.raises(OrderRequestError, match="set the clock") as no_clock:
            unset.submit(intent("no-clock"))
    messages.append(str(no_clock.value))
    with start_alpaca_server(lean_dir=lean_dir) as gone:
        url = gone.url
    with pytest.raises(RunnerUnavailableError, match="unreachable") as down:
        AlpacaAdapter(KEY, SECRET, base_url=url, timeout=2).status("x")
    messages.append(str(down.value))
    for message in messages:
        assert SECRET not in message and "s3cr3t" not in message, message


def test_parity_smoke_where_the_venues_agree_and_where_their_models_differ(server, lean_dir):
    """Both venues fill a market order on the bar that closed at or before the order time (LEAN
    master EquityFillModel; Alpaca paper's current quote), so they agree on price and time; a
    limit order is where their models differ: LEAN first evaluates it on the next bar's trade
    range and fills at the limit (or the open), Alpaca paper fills once the quote is marketable,
    at the quote."""
    alpaca = AlpacaAdapter(KEY, SECRET, base_url=server.url, replay_clock=True)
    with lean_runner_in_background(lean_dir) as url, LeanAdapter(url) as lean:
        # at the open no bar of the session has closed: both wait for the session's first bar
        lean_buy, alpaca_buy = lean.submit(intent("par-buy", qty=300)), alpaca.submit(
            intent("par-buy", qty=300))
        assert (lean_buy.status, alpaca_buy.status) == ("open", "open")
        lean.set_replay_clock(at("09:31"))
        alpaca.set_replay_clock(at("09:31"))
        lean_buy, alpaca_buy = lean.status("par-buy"), alpaca.status("par-buy")
        # ... and then both fill on that bar: same raw ask, same minute; only the fee differs
        assert lean_buy.fill.avg_fill_price == alpaca_buy.fill.avg_fill_price == 167.45
        assert lean_buy.fill.filled_at == alpaca_buy.fill.filled_at == utc("09:31")
        ib_fee = InteractiveBrokersFeeModel().order_fee(OrderFeeParameters(
            "buy", "market", Decimal(300), Decimal("167.45"), Decimal("167.45")))
        assert (lean_buy.fill.fee, alpaca_buy.fill.fee) == (float(ib_fee), 0.0) == (1.5, 0.0)
        # at 09:31 both use the bar that just closed (bid 167.44), at once
        sell = intent("par-sell", side="sell", qty=300, decision=at("09:31").isoformat())
        lean_sell, alpaca_sell = lean.submit(sell), alpaca.submit(sell)
        assert (lean_sell.fill.avg_fill_price, lean_sell.fill.filled_at) == (167.44, utc("09:31"))
        assert (alpaca_sell.fill.avg_fill_price, alpaca_sell.fill.filled_at) == (167.44,
                                                                                 utc("09:31"))
        # limit 167.42 at 09:30 (both clocks move back; nothing is open): LEAN fills on the trade
        # range of the next bar (low 167.41 < 167.42, opened above it) at the limit; Alpaca
        # paper needs a marketable quote: the 09:30 ask 167.45 is not, the 09:31 ask 167.38 is
        limit = intent("par-limit", type="limit", limit_price=167.42)
        lean_limit, alpaca_limit = lean.submit(limit), alpaca.submit(limit)
        assert (lean_limit.status, alpaca_limit.status) == ("open", "open")
        lean.set_replay_clock(at("09:32"))
        alpaca.set_replay_clock(at("09:32"))
        lean_limit, alpaca_limit = lean.status("par-limit"), alpaca.status("par-limit")
    assert (lean_limit.status, lean_limit.fill.avg_fill_price, lean_limit.fill.filled_at) == (
        "filled", 167.42, utc("09:31"))
    assert (alpaca_limit.status, alpaca_limit.fill.avg_fill_price,
            alpaca_limit.fill.filled_at) == ("filled", 167.38, utc("09:32"))


def test_orders_list_by_submission_time_within_after_and_until(adapter, client):
    for n, hhmm in enumerate(("09:40", "09:41", "09:42", "09:43")):
        adapter.submit(intent(f"list-{n}", type="limit", limit_price=100.0,
                              time_in_force="gtc", decision=at(hhmm).isoformat()))
    window = client.get_orders(GetOrdersRequest(
        status=QueryOrderStatus.ALL, after=at("09:40"), until=at("09:43"), direction="asc"))
    assert [o.client_order_id for o in window] == ["list-1", "list-2"], "both bounds exclusive"
    newest = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=2))
    assert [o.client_order_id for o in newest] == ["list-3", "list-2"]


def _route(path: str) -> str:
    return "/v2/orders/{id}" if path.startswith("/v2/orders/") else path


@pytest.mark.parametrize("same_instant", [False, True], ids=["spread", "one-instant"])
def test_a_replay_reads_hundreds_of_resting_orders_in_pages_of_500(server, adapter,
                                                                    same_instant):
    """One POST per order (the clock in its X-Replay-Clock header), one clock move, then GET
    /v2/orders pages over the resting orders (one GET per order a page cannot reach: more than
    500 placed at one instant), and a DELETE per order still open at the horizon."""
    count = 510 if same_instant else 620
    intents = [intent(f"rest-{n}", type="limit", limit_price=100.0, time_in_force="gtc",
                      decision=(at("10:00") + timedelta(seconds=0 if same_instant else n))
                      .isoformat()) for n in range(count)]
    answers = adapter.replay(intents, at("16:30"))
    assert answers is not None and len(answers) == count
    assert all(a.error is None and a.state.status == "open" and a.state.fill.status == "unfilled"
               and a.state.intent.intent_id == i.intent_id for a, i in zip(answers, intents))
    seen = Counter((r.method, _route(r.path)) for r in server.requests)
    pages, one_by_one = (1, count - 500) if same_instant else (2, 0)
    assert seen == Counter({("POST", "/v2/orders"): count, ("POST", "/_replay/clock"): 1,
                            ("GET", "/v2/orders"): pages, ("GET", "/v2/orders/{id}"): one_by_one,
                            ("DELETE", "/v2/orders/{id}"): count}) - Counter()
    assert all(o.status == "canceled" for o in server.server.paper_book.orders.values()), \
        "judged at the horizon, then canceled"
