"""Owns the model compositions (``ExecutionModels``) and ``execute_order``, the one place a fill
decision is turned into a fill with its fee.

LEAN style: an engine composes a fill, a fee, a slippage and a sizing model and nothing else, so
the LEAN composition and the Alpaca paper composition differ only in the parts that differ,
which is what makes parity gaps explainable model by model.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Protocol

from intel_assets.domain.execution_models.alpaca_fill import AlpacaPaperFillModel
from intel_assets.domain.execution_models.fees import (
    AlpacaFeeModel,
    FeeModel,
    InteractiveBrokersFeeModel,
    order_value_price,
)
from intel_assets.domain.execution_models.lean_fill import LeanEquityFillModel
from intel_assets.domain.execution_models.market import ZERO, MarketSnapshot, MarketView
from intel_assets.domain.execution_models.orders import ExecutionResult, FillDecision, OrderTerms
from intel_assets.domain.execution_models.sizing import LeanSetHoldingsSizingModel, SizingModel
from intel_assets.domain.execution_models.slippage import SlippageModel, ZeroSlippageModel


class FillModel(Protocol):
    def fill(self, order: OrderTerms, market: MarketView,
             slippage: SlippageModel) -> FillDecision:
        """Whether ``order`` fills (entirely) on ``market`` and at what price."""


@dataclass(frozen=True)
class ExecutionModels:
    """One venue's market rules; an engine composes these and nothing else."""

    name: str
    fill: FillModel
    fee: FeeModel
    slippage: SlippageModel
    sizing: SizingModel

    def clock_facts(self, market: MarketView) -> Hashable | None:
        """Everything of ``market.now`` this composition's decisions read for orders that are
        not ``clock_sensitive`` (two views differing only in ``now`` with equal facts give them
        the same decision, so a book need not evaluate them again), or None when it cannot say:
        the fill model declares ``clock_facts`` and the slippage model ``reads_clock = False``."""
        facts = getattr(self.fill, "clock_facts", None)
        if not callable(facts) or getattr(self.slippage, "reads_clock", True):
            return None
        return facts(market)

    def clock_sensitive(self, order: OrderTerms) -> bool:
        """Whether the decision for ``order`` reads the clock beyond ``clock_facts``."""
        sensitive = getattr(self.fill, "clock_sensitive", None)
        return True if not callable(sensitive) else bool(sensitive(order))


def lean_models() -> ExecutionModels:
    """LEAN's US-equity defaults: EquityFillModel, InteractiveBrokersFeeModel, no slippage."""
    return ExecutionModels("lean", LeanEquityFillModel(), InteractiveBrokersFeeModel(),
                           ZeroSlippageModel(), LeanSetHoldingsSizingModel())


def alpaca_paper_models() -> ExecutionModels:
    """Alpaca paper trading: quote fills when marketable, zero commission, no slippage."""
    return ExecutionModels("alpaca-paper", AlpacaPaperFillModel(), AlpacaFeeModel(),
                           ZeroSlippageModel(), LeanSetHoldingsSizingModel())


def execute_order(order: OrderTerms, market: MarketView | MarketSnapshot,
                  models: ExecutionModels) -> ExecutionResult:
    """Fill decision plus fee for ``order`` on ``market`` under ``models`` (the composition).

    A bare MarketSnapshot is viewed at its end (its bars are the latest, no exchange hours). The
    fee is charged on LEAN's order value (``order_value_price`` at ``Security.Price``).
    """
    view = market if isinstance(market, MarketView) else MarketView.of(market)
    decision = models.fill.fill(order, view, models.slippage)
    if not decision.filled or decision.price is None:
        return ExecutionResult(False, None, ZERO, ZERO, decision.reason, decision.update)
    reference = view.price if view.price is not None else decision.price
    fee = models.fee.order_fee(order.quantity, order_value_price(order, reference))
    return ExecutionResult(True, decision.price, order.quantity, fee, decision.reason,
                           decision.update)


__all__ = ["ExecutionModels", "FillModel", "alpaca_paper_models", "execute_order", "lean_models"]
