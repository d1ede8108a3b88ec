"""Owns the replaceable market-rule models (fill, fee, slippage, sizing) and their two compositions.

LEAN style: each rule is a small model behind a Protocol and an engine only composes them, so
the LEAN composition (``lean_models``) and the Alpaca paper composition (``alpaca_paper_models``)
differ only in the parts that differ, which is what makes parity gaps explainable.

All money is ``Decimal``. Semantics follow LEAN's ``EquityFillModel`` (current master):

* market: the whole quantity at the snapshot's quote-bar **ask close** (buy) / **bid close**
  (sell) +/- slippage; with no quote side, the trade-bar close (LEAN's best-effort price).
* limit (needs a trade bar ending after the order time, else "stale"): buy fills when the
  trade-bar ``low < limit`` at ``min(high, limit)``; sell when ``high > limit`` at
  ``max(low, limit)``.
* stop-market (same staleness rule): buy triggers when the trade-bar ``high > stop`` and fills
  at ``max(stop, ask + slippage)``; sell when ``low < stop`` at ``min(stop, bid - slippage)``.
* never a partial fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Literal, Protocol

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop"]
ZERO = Decimal(0)


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """``value`` as a Decimal that keeps its shortest decimal spelling (0.1 -> Decimal('0.1'))."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


# --------------------------------------------------------------------------- market snapshots


@dataclass(frozen=True)
class PriceBar:
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


@dataclass(frozen=True)
class TradeBar(PriceBar):
    volume: Decimal = ZERO


@dataclass(frozen=True)
class QuoteBar:
    bid: PriceBar | None
    ask: PriceBar | None


@dataclass(frozen=True)
class MarketSnapshot:
    """One bar interval ``[start, end)`` of one symbol: its trade bar and quote bar, if any."""

    symbol: str
    start: datetime
    end: datetime
    trade: TradeBar | None
    quote: QuoteBar | None

    @property
    def price(self) -> Decimal | None:
        """LEAN's ``Security.Price`` for equities: the trade close (quotes are not the default
        data type for equities, so they never set the price)."""
        return None if self.trade is None else self.trade.close


@dataclass(frozen=True)
class OrderTerms:
    """What a fill model needs to know about an order (domain form of OrderIntent)."""

    side: Side
    quantity: Decimal
    order_type: OrderType = "market"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    submitted_at: datetime | None = None


@dataclass(frozen=True)
class FillDecision:
    filled: bool
    price: Decimal | None
    reason: str


@dataclass(frozen=True)
class ExecutionResult:
    """A fill decision with its fee: what a venue reports for one evaluation."""

    filled: bool
    price: Decimal | None
    quantity: Decimal
    fee: Decimal
    reason: str


# --------------------------------------------------------------------------- protocols


class SlippageModel(Protocol):
    def slippage(self, order: OrderTerms, market: MarketSnapshot) -> Decimal:
        """Non-negative price amount added to buys / subtracted from sells."""


class FillModel(Protocol):
    def fill(self, order: OrderTerms, market: MarketSnapshot,
             slippage: SlippageModel) -> FillDecision:
        """Whether ``order`` fills (entirely) on ``market`` and at what price."""


class FeeModel(Protocol):
    def order_fee(self, quantity: Decimal, price: Decimal) -> Decimal:
        """The fee (account currency, >= 0) for trading ``|quantity|`` shares at ``price``."""


class SizingModel(Protocol):
    def order_quantity(self, target_percent: Decimal, total_portfolio_value: Decimal,
                       holdings_quantity: Decimal, price: Decimal, fee_model: FeeModel,
                       free_portfolio_value: Decimal | None = None) -> Decimal:
        """Signed quantity to order so holdings reach ``target_percent`` of the portfolio."""


# --------------------------------------------------------------------------- slippage


@dataclass(frozen=True)
class ZeroSlippageModel:
    """LEAN's default (``NullSlippageModel``): no slippage."""

    def slippage(self, order: OrderTerms, market: MarketSnapshot) -> Decimal:
        return ZERO


@dataclass(frozen=True)
class ConstantSlippageModel:
    """A fixed price amount per share against the order (e.g. Decimal('0.01'))."""

    amount: Decimal

    def slippage(self, order: OrderTerms, market: MarketSnapshot) -> Decimal:
        return self.amount


# --------------------------------------------------------------------------- fill models


def _quote_side(market: MarketSnapshot, side: Side) -> PriceBar | None:
    if market.quote is None:
        return None
    return market.quote.ask if side == "buy" else market.quote.bid


def best_effort_quote_price(market: MarketSnapshot, side: Side) -> Decimal | None:
    """Ask close (buy) / bid close (sell) of the quote bar; LEAN's fallbacks: the other side's
    close when that side is missing (``QuoteBar.Close``), else the trade close, else None."""
    bar = _quote_side(market, side)
    if bar is None and market.quote is not None:
        bar = market.quote.bid or market.quote.ask
    return bar.close if bar is not None else market.price


def _stale(order: OrderTerms, market: MarketSnapshot) -> bool:
    return order.submitted_at is not None and market.end <= order.submitted_at


def _market_price(order: OrderTerms, market: MarketSnapshot,
                  slippage: SlippageModel) -> Decimal | None:
    price = best_effort_quote_price(market, order.side)
    if price is None:
        return None
    slip = slippage.slippage(order, market)
    return price + slip if order.side == "buy" else price - slip


@dataclass(frozen=True)
class LeanEquityFillModel:
    """LEAN ``EquityFillModel``: market at the quote, limit/stop against the trade bar's range."""

    def fill(self, order: OrderTerms, market: MarketSnapshot,
             slippage: SlippageModel) -> FillDecision:
        if order.order_type == "market":
            price = _market_price(order, market, slippage)
            if price is None:
                return FillDecision(False, None, "no quote or trade data to fill a market order")
            return FillDecision(True, price, "market: filled at the quote bar's "
                                + ("ask" if order.side == "buy" else "bid") + " close")
        if _stale(order, market):
            return FillDecision(False, None, "stale: bar ended at or before the order time")
        bar = market.trade
        if bar is None:
            return FillDecision(False, None, "no trade bar to evaluate a limit/stop order")
        buy = order.side == "buy"
        if order.order_type == "limit":
            limit = order.limit_price
            assert limit is not None, "limit order without limit_price"
            if buy and bar.low < limit:
                return FillDecision(True, min(bar.high, limit), "limit: trade low below limit")
            if not buy and bar.high > limit:
                return FillDecision(True, max(bar.low, limit), "limit: trade high above limit")
            return FillDecision(False, None, "limit not reached by the trade bar")
        stop = order.stop_price
        assert stop is not None, "stop order without stop_price"
        if (bar.high > stop) if buy else (bar.low < stop):
            price = _market_price(order, market, slippage)
            assert price is not None  # the trade bar exists
            return FillDecision(True, max(stop, price) if buy else min(stop, price),
                                "stop: triggered by the trade bar " + ("high" if buy else "low"))
        return FillDecision(False, None, "stop not triggered by the trade bar")


@dataclass(frozen=True)
class AlpacaPaperFillModel:
    """Alpaca paper trading: fills against the current quote, only when marketable.

    market: ask (buy) / bid (sell) close of the snapshot's quote; limit: fills at that quote
    when it is marketable (ask <= limit for a buy, bid >= limit for a sell), never at a price
    the quote did not show; stop: becomes a market order once the last trade (trade close)
    reaches the stop (>= for a buy, <= for a sell). No partial fills are modelled.
    """

    def fill(self, order: OrderTerms, market: MarketSnapshot,
             slippage: SlippageModel) -> FillDecision:
        price = _market_price(order, market, slippage)
        if price is None:
            return FillDecision(False, None, "no quote or trade data")
        buy = order.side == "buy"
        if order.order_type == "market":
            return FillDecision(True, price, "market: filled at the current quote")
        if order.order_type == "limit":
            limit = order.limit_price
            assert limit is not None, "limit order without limit_price"
            if (price <= limit) if buy else (price >= limit):
                return FillDecision(True, price, "limit: marketable against the quote")
            return FillDecision(False, None, "limit not marketable against the quote")
        stop, last = order.stop_price, market.price
        assert stop is not None, "stop order without stop_price"
        if last is not None and ((last >= stop) if buy else (last <= stop)):
            return FillDecision(True, price, "stop: last trade reached the stop")
        return FillDecision(False, None, "stop not reached by the last trade")


# --------------------------------------------------------------------------- fee models


@dataclass(frozen=True)
class AlpacaFeeModel:
    """Alpaca: zero commission (regulatory SEC/TAF pass-through fees are not modelled)."""

    def order_fee(self, quantity: Decimal, price: Decimal) -> Decimal:
        return ZERO


@dataclass(frozen=True)
class InteractiveBrokersFeeModel:
    """LEAN's default US-equity fee: per share, at least ``minimum_fee``, at most a share of value.

    LEAN's order of checks: below the minimum -> the minimum (even if that exceeds the cap);
    otherwise above ``maximum_fee_rate x order value`` -> the cap. Defaults 0.005 USD/share,
    1 USD minimum, 0.5 % cap (recent LEAN raised the cap to 1 %; pass ``maximum_fee_rate``).
    """

    fee_per_share: Decimal = Decimal("0.005")
    minimum_fee: Decimal = Decimal("1")
    maximum_fee_rate: Decimal = Decimal("0.005")

    def order_fee(self, quantity: Decimal, price: Decimal) -> Decimal:
        shares = abs(quantity)
        if shares == 0:
            return ZERO
        fee = self.fee_per_share * shares
        cap = self.maximum_fee_rate * shares * abs(price)
        if fee < self.minimum_fee:
            fee = self.minimum_fee
        elif fee > cap:
            fee = cap
        return abs(fee)


# --------------------------------------------------------------------------- sizing


def _round_to_lot(quantity: Decimal, lot: Decimal, toward_negative: bool) -> Decimal:
    lots = (quantity / lot).to_integral_value(rounding=ROUND_FLOOR)
    if not toward_negative and lots * lot != quantity:
        lots += 1
    return lots * lot


@dataclass(frozen=True)
class LeanSetHoldingsSizingModel:
    """LEAN ``SetHoldings``/``PortfolioTarget.Percent`` sizing, fee-aware, in value space.

    ``adjusted = target x (TPV - free) / TPV`` where ``free`` is LEAN's
    ``Settings.FreePortfolioValue`` (fixed at start as TPV x ``free_portfolio_value_percentage``;
    when not given, TPV x percentage now). Then LEAN's loop: quantity = lot-rounded (toward
    zero-exposure side) ``adjusted x TPV / price - holdings``; fee = fee model on that quantity;
    new target = ``(TPV - fee) x adjusted``; repeat while the resulting holdings value exceeds the
    new target. LEAN works in margin units (value / leverage) on both sides; the leverage cancels
    except in the minimum-order check (``minimum_order_margin_portfolio_percentage``).
    """

    free_portfolio_value_percentage: Decimal = Decimal("0.0025")
    minimum_order_margin_portfolio_percentage: Decimal = Decimal("0.001")
    leverage: Decimal = Decimal("2")
    lot_size: Decimal = Decimal("1")

    def order_quantity(self, target_percent: Decimal, total_portfolio_value: Decimal,
                       holdings_quantity: Decimal, price: Decimal, fee_model: FeeModel,
                       free_portfolio_value: Decimal | None = None) -> Decimal:
        tpv, target_percent = to_decimal(total_portfolio_value), to_decimal(target_percent)
        if price <= 0:
            raise ValueError(f"cannot size an order at price {price}: need a positive price")
        if tpv <= 0:
            raise ValueError(f"cannot size an order with portfolio value {tpv}")
        free = (tpv * self.free_portfolio_value_percentage if free_portfolio_value is None
                else to_decimal(free_portfolio_value))
        adjusted = target_percent * (tpv - free) / tpv
        target_value = adjusted * tpv
        if target_value == 0:
            return -holdings_quantity
        current_value = holdings_quantity * price
        threshold = tpv * self.minimum_order_margin_portfolio_percentage
        if abs(target_value - current_value) / self.leverage < threshold:
            return ZERO
        last: Decimal | None = None
        while True:
            quantity = self._amount_to_order(target_value, holdings_quantity, price)
            if quantity == 0:
                return ZERO
            fee = fee_model.order_fee(quantity, price)
            target_value = (tpv - fee) * adjusted
            if quantity == last:
                raise ValueError(f"sizing did not converge: quantity {quantity} twice for target "
                                 f"value {target_value} (fee {fee})")
            last = quantity
            if abs((quantity + holdings_quantity) * price) <= abs(target_value):
                return quantity

    def _amount_to_order(self, target_value: Decimal, holdings: Decimal,
                         price: Decimal) -> Decimal:
        """LEAN ``GetAmountToOrder``: lot-rounded so the final holdings stay within the target."""
        long_target = target_value > 0
        size = _round_to_lot(target_value / price - holdings, self.lot_size,
                             toward_negative=long_target)
        while (long_target and (size + holdings) * price > target_value) or (
                not long_target and (size + holdings) * price < target_value):
            size += -self.lot_size if long_target else self.lot_size
        return size


# --------------------------------------------------------------------------- compositions


@dataclass(frozen=True)
class ExecutionModels:
    """One venue's market rules; an engine composes these and nothing else."""

    name: str
    fill: FillModel
    fee: FeeModel
    slippage: SlippageModel
    sizing: SizingModel


def lean_models() -> ExecutionModels:
    """LEAN's US-equity defaults: EquityFillModel, InteractiveBrokersFeeModel, no slippage."""
    return ExecutionModels("lean", LeanEquityFillModel(), InteractiveBrokersFeeModel(),
                           ZeroSlippageModel(), LeanSetHoldingsSizingModel())


def alpaca_paper_models() -> ExecutionModels:
    """Alpaca paper trading: quote fills when marketable, zero commission, no slippage."""
    return ExecutionModels("alpaca-paper", AlpacaPaperFillModel(), AlpacaFeeModel(),
                           ZeroSlippageModel(), LeanSetHoldingsSizingModel())


def execute_order(order: OrderTerms, market: MarketSnapshot,
                  models: ExecutionModels) -> ExecutionResult:
    """Fill decision plus fee for ``order`` on ``market`` under ``models`` (the composition)."""
    decision = models.fill.fill(order, market, models.slippage)
    if not decision.filled or decision.price is None:
        return ExecutionResult(False, None, ZERO, ZERO, decision.reason)
    fee = models.fee.order_fee(order.quantity, decision.price)
    return ExecutionResult(True, decision.price, order.quantity, fee, decision.reason)
