"""Fee, sizing and Alpaca paper fill models and their compositions on hand-built bars (values
worked out by hand below; LEAN's fill rules are in test_lean_fill_model.py).

The sizing regression uses LEAN's BasicTemplateAlgorithm inputs, read by hand from the shared
files: SPY 2013-10-07 09:30 trade close 1674400 deci-cents (``unzip -p
equity/usa/minute/spy/20131007_trade.zip | grep ^34200000``) and the factor-file row
``20131219,0.8646266,1,181.5`` (the first row dated on/after 2013-10-07).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from intel_assets.domain.fills import (
    FILL_METHODS,
    AlpacaFeeModel,
    AlpacaPaperFillModel,
    FillDecision,
    FillModelParameters,
    InteractiveBrokersFeeModel,
    LeanEquityFillModel,
    LeanSetHoldingsSizingModel,
    MarketSnapshot,
    OrderFeeParameters,
    OrderTerms,
    PriceBar,
    QuoteBar,
    TradeBar,
    ZeroSlippageModel,
    alpaca_paper_models,
    execute_order,
    lean_models,
    order_value_price,
)

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)
ZERO_SLIP = ZeroSlippageModel()
LEAN = LeanEquityFillModel()
ALPACA = AlpacaPaperFillModel()


def bar(o: str, h: str, l: str, c: str) -> PriceBar:
    return PriceBar(D(o), D(h), D(l), D(c))


def snapshot(trade: tuple[str, str, str, str] | None = ("100.00", "101.00", "99.00", "100.50"),
             bid: PriceBar | None = bar("99.90", "100.05", "99.85", "99.95"),
             ask: PriceBar | None = bar("100.00", "100.10", "99.95", "100.05"),
             start: datetime = T0) -> MarketSnapshot:
    tb = None if trade is None else TradeBar(*(D(x) for x in trade), volume=D(1000))
    quote = None if bid is None and ask is None else QuoteBar(bid, ask)
    return MarketSnapshot("XYZ", start, start + timedelta(minutes=1), tb, quote)


def order(side: str, order_type: str = "market", qty: str = "10", limit: str | None = None,
          stop: str | None = None, at: datetime = T0) -> OrderTerms:
    return OrderTerms(side, D(qty), order_type,  # type: ignore[arg-type]
                      None if limit is None else D(limit), None if stop is None else D(stop), at)


def fill(model, terms: OrderTerms, market, slippage) -> FillDecision:
    return model.fill(FillModelParameters(terms, market, slippage))


def fee_of(model, shares: str, price: str, side: str = "buy") -> D:
    """``model``'s fee for a market order of ``shares`` (negative: a sell) filled at ``price``."""
    quantity = D(shares)
    side = "sell" if quantity < 0 else side
    return model.order_fee(OrderFeeParameters(side, "market", abs(quantity), D(price), D(price)))


# --------------------------------------------------------------------------- compositions


def test_no_partial_fills_the_whole_quantity_or_nothing() -> None:
    models = lean_models()
    early = T0 - timedelta(seconds=1)
    for terms in (order("buy", qty="12345"),
                  order("sell", "limit", qty="777", limit="100", at=early),
                  order("buy", "stop", qty="3", stop="100.8", at=early)):
        result = execute_order(terms, snapshot(), models)
        assert result.filled and result.quantity == terms.quantity
    missed = execute_order(order("buy", "limit", qty="50", limit="90"), snapshot(), models)
    assert not missed.filled and missed.quantity == 0 and missed.fee == 0


# --------------------------------------------------------------------------- Alpaca paper


def test_alpaca_paper_limit_needs_a_marketable_quote_where_lean_uses_the_trade_range() -> None:
    market = snapshot()
    terms = order("buy", "limit", limit="100.02", at=T0 - timedelta(seconds=1))
    # LEAN: trade low 99 < limit and the bar opened at 100.00 below it: favourable gap, the open
    assert fill(LEAN, terms, market, ZERO_SLIP).price == D("100.00")
    assert not fill(ALPACA, terms, market, ZERO_SLIP).filled  # ask close 100.05 > limit
    marketable = fill(ALPACA, order("buy", "limit", limit="100.10"), market, ZERO_SLIP)
    assert (marketable.filled, marketable.price) == (True, D("100.05"))  # at the ask, not limit
    sell = fill(ALPACA, order("sell", "limit", limit="99.90"), market, ZERO_SLIP)
    assert (sell.filled, sell.price) == (True, D("99.95"))
    assert fill(ALPACA, order("buy"), market, ZERO_SLIP).price == D("100.05")


def test_alpaca_paper_stop_becomes_market_once_last_trade_reaches_stop() -> None:
    market = snapshot()  # last trade (close) 100.50
    assert fill(ALPACA, order("buy", "stop", stop="100.50"), market, ZERO_SLIP).price == D("100.05")
    assert not fill(ALPACA, order("buy", "stop", stop="100.80"), market, ZERO_SLIP).filled
    assert fill(ALPACA, order("sell", "stop", stop="100.60"), market, ZERO_SLIP).price == D("99.95")


def test_alpaca_paper_stop_limit_triggers_like_a_stop_then_needs_a_marketable_quote() -> None:
    market = snapshot()  # last trade 100.50, ask close 100.05
    untriggered = fill(ALPACA, order("buy", "stop_limit", stop="100.80", limit="100.10"), market,
                               ZERO_SLIP)
    assert not untriggered.filled and untriggered.update == {}
    fills = fill(ALPACA, order("buy", "stop_limit", stop="100.40", limit="100.10"), market,
                         ZERO_SLIP)
    assert (fills.filled, fills.price, fills.update) == (True, D("100.05"),
                                                         {"stop_triggered": True})
    rests = fill(ALPACA, order("buy", "stop_limit", stop="100.40", limit="100.00"), market,
                         ZERO_SLIP)
    assert not rests.filled and rests.update == {"stop_triggered": True}


def test_alpaca_paper_overrides_only_the_order_types_where_it_differs_from_lean() -> None:
    """LEAN's dispatch with one method per order type; Alpaca paper replaces exactly market,
    limit, stop (market) and stop_limit (each parity difference is one method) and offers no
    other order type."""
    per_type = set(FILL_METHODS.values())
    assert issubclass(AlpacaPaperFillModel, LeanEquityFillModel)
    assert per_type <= set(vars(LeanEquityFillModel))  # LEAN fills every order type
    assert {name for name in vars(AlpacaPaperFillModel) if name in per_type} == {
        "market_fill", "limit_fill", "stop_market_fill", "stop_limit_fill"}
    assert "fill" not in vars(AlpacaPaperFillModel)  # the dispatch is LEAN's
    assert AlpacaPaperFillModel.order_types == ("market", "limit", "stop", "stop_limit")
    trailing = OrderTerms("sell", D(10), "trailing_stop", stop_price=D("99.90"),
                          submitted_at=T0 - timedelta(seconds=1), trailing_amount=D("1"))
    assert fill(LEAN, trailing, snapshot(), ZERO_SLIP).price == D("99.90")  # bid low 99.85
    unoffered = fill(ALPACA, trailing, snapshot(), ZERO_SLIP)
    assert not unoffered.filled
    assert unoffered.reason == "trailing_stop orders are not modelled for Alpaca paper"


# --------------------------------------------------------------------------- fees


@pytest.mark.parametrize("shares, price, fee", [
    ("100", "50", "1"),            # 0.50 per-share fee < 1 USD minimum -> 1
    ("688", "144.78", "3.44"),     # LEAN BasicTemplate: 688 x 0.005
    ("10000", "0.5", "25.000"),    # 50 per-share > cap 0.5% x 5,000 -> 25
    ("1", "10", "1"),              # minimum wins even above the 0.05 cap (LEAN's check order)
    ("20000", "0.5", "50.000"),    # cap 0.5 % (LEAN master maximumFeeRate 0.005m), not 1 %
    ("-200", "20", "1"),           # sells pay the same
    ("0", "20", "0"),
])
def test_interactive_brokers_fee_per_share_with_minimum_and_cap(shares, price, fee) -> None:
    assert fee_of(InteractiveBrokersFeeModel(), shares, price) == D(fee)


def test_fee_cap_is_measured_on_leans_order_value() -> None:
    """QuantConnect/Lean 24863901 Common/Orders/LimitOrder.cs and StopMarketOrder.cs
    ``GetValueImpl``: a buy limit is valued at min(limit, price), a sell stop at max(stop,
    price); market orders at the price."""
    price = D("0.50")
    assert order_value_price(order("buy", "limit", limit="0.40"), price) == D("0.40")
    assert order_value_price(order("sell", "limit", limit="0.40"), price) == D("0.50")
    assert order_value_price(order("sell", "stop", stop="0.45"), price) == D("0.50")
    assert order_value_price(order("buy"), price) == D("0.50")
    terms = order("buy", "limit", qty="10000", limit="0.40", at=T0 - timedelta(seconds=1))
    cheap = snapshot(trade=("0.30", "0.55", "0.29", "0.50"), bid=None, ask=None)
    result = execute_order(terms, cheap, lean_models())
    assert (result.price, result.fee) == (D("0.30"), D("20.000"))  # 0.5 % of 10,000 x 0.40


def test_cap_rate_is_a_parameter_and_alpaca_charges_nothing() -> None:
    assert fee_of(InteractiveBrokersFeeModel(maximum_fee_rate=D("0.01")), "10000", "0.5") \
        == D("50.000")
    assert fee_of(AlpacaFeeModel(), "10000", "123.45") == 0


def test_fee_parameters_carry_the_fill_and_leans_order_value() -> None:
    terms = order("buy", "limit", qty="10000", limit="0.40")
    params = OrderFeeParameters.of(terms, D("0.30"), D("0.50"))
    assert (params.side, params.order_type, params.quantity) == ("buy", "limit", D(10000))
    assert params.order_value_price == order_value_price(terms, D("0.50")) == D("0.40")
    assert (params.order_value, params.fill_value) == (D("4000"), D("3000"))
    assert InteractiveBrokersFeeModel().order_fee(params) == D("20")  # 0.5 % of 4,000


def test_alpaca_regulatory_fees_charge_sells_only() -> None:
    """SEC fee on the sell notional plus FINRA TAF per share sold (capped per trade); buys pay
    nothing; both rates default to 0 (illustrative rates below, not the ones in force)."""
    model = AlpacaFeeModel(sec_fee_rate=D("0.00002"), finra_taf_per_share=D("0.0002"),
                           finra_taf_max_per_trade=D("5"))
    # sell 1,000 @ 50: SEC 0.00002 x 50,000 = 1.00; TAF 0.0002 x 1,000 = 0.20
    assert fee_of(model, "-1000", "50") == D("1.2")
    assert fee_of(model, "1000", "50") == 0
    # 100,000 shares @ 1: TAF 20 capped at 5; SEC 0.00002 x 100,000 = 2
    assert fee_of(model, "-100000", "1") == D("7")
    assert fee_of(AlpacaFeeModel(), "-1000", "50") == 0
    venue = replace(alpaca_paper_models(), fee=model)
    sell = execute_order(order("sell", qty="1000"), snapshot(), venue)  # at the bid, 99.95
    assert (sell.price, sell.fee) == (D("99.95"), D("0.00002") * D("99950") + D("0.2"))
    assert execute_order(order("buy", qty="1000"), snapshot(), venue).fee == 0
    with pytest.raises(ValueError, match="sec_fee_rate"):
        AlpacaFeeModel(sec_fee_rate=D("-0.1"))


# --------------------------------------------------------------------------- sizing


SPY_0930_CLOSE_ADJ = D("167.44") * D("0.8646266")


def test_set_holdings_reproduces_lean_basic_template_quantity() -> None:
    # free buffer 250 -> target 99,750; 99,750 / 144.7730... = 689.01 -> 689, fee 3.445;
    # new target (100,000 - 3.445) x 0.9975 = 99,746.56 < 689 x 144.773 = 99,748.66 -> 688.
    sizing = LeanSetHoldingsSizingModel()
    qty = sizing.order_quantity(D(1), D(100000), D(0), SPY_0930_CLOSE_ADJ,
                                InteractiveBrokersFeeModel(), free_portfolio_value=D(250))
    assert qty == 688
    no_fee = sizing.order_quantity(D(1), D(100000), D(0), SPY_0930_CLOSE_ADJ, AlpacaFeeModel())
    assert no_fee == 689  # without fees the first guess already fits


def test_set_holdings_reduces_sells_and_skips_tiny_changes() -> None:
    sizing, fees = LeanSetHoldingsSizingModel(), InteractiveBrokersFeeModel()
    # TPV 1,000 all in 100 shares at 10: target 0.5 -> 498.75 -> 49.875 - 100 -> floor -51
    assert sizing.order_quantity(D("0.5"), D(1000), D(100), D(10), fees) == -51
    assert sizing.order_quantity(D(0), D(1000), D(100), D(10), fees) == -100
    # already at 99.75 % of 100,000 in 997 shares @ 100 -> below the 0.1 % minimum order margin
    assert sizing.order_quantity(D(1), D(100000), D(997), D(100), fees) == 0
    with pytest.raises(ValueError, match="positive price"):
        sizing.order_quantity(D(1), D(1000), D(0), D(0), fees)


def test_compositions_share_parts_and_differ_where_venues_differ() -> None:
    lean, alpaca = lean_models(), alpaca_paper_models()
    assert type(lean.sizing) is type(alpaca.sizing)
    assert type(lean.slippage) is type(alpaca.slippage)
    assert (type(lean.fill), type(lean.fee)) == (LeanEquityFillModel, InteractiveBrokersFeeModel)
    assert (type(alpaca.fill), type(alpaca.fee)) == (AlpacaPaperFillModel, AlpacaFeeModel)
    swapped = replace(lean, fee=AlpacaFeeModel())
    assert execute_order(order("buy", qty="688"), snapshot(), swapped).fee == 0
    assert execute_order(order("buy", qty="688"), snapshot(), lean).fee == D("3.440")
