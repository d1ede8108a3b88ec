"""Owns the model compositions (``ExecutionModels``) and ``execute_order``, the one place a fill
decision is turned into a fill with its fee.

LEAN style: an engine composes a fill, a fee, a slippage and a sizing model and nothing else, so
the LEAN composition and the Alpaca paper composition differ only in the parts that differ,
which is what makes parity gaps explainable model by model. ``ExecutionModels`` plays LEAN's
brokerage model (``IBrokerageModel.GetFillModel`` / ``GetFeeModel`` / ``GetSlippageModel``):
which model of each kind a venue uses; the models themselves live one per module under
``fills/``, ``fees/`` and ``slippage/``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from intel_assets.domain.execution_models.fees.alpaca_fee_model import AlpacaFeeModel
from intel_assets.domain.execution_models.fees.fee_model import FeeModel, OrderFeeParameters
from intel_assets.domain.execution_models.fees.interactive_brokers_fee_model import (
    InteractiveBrokersFeeModel,
)
from intel_assets.domain.execution_models.fills.alpaca_paper_fill_model import (
    AlpacaPaperFillModel,
)
from intel_assets.domain.execution_models.fills.fill_model import FillModel, FillModelParameters
from intel_assets.domain.execution_models.fills.lean_equity_fill_model import LeanEquityFillModel
from intel_assets.domain.execution_models.market import ZERO, MarketSnapshot, MarketView
from intel_assets.domain.execution_models.orders import ExecutionResult, OrderTerms
from intel_assets.domain.execution_models.sizing import LeanSetHoldingsSizingModel, SizingModel
from intel_assets.domain.execution_models.slippage.slippage_model import SlippageModel
from intel_assets.domain.execution_models.slippage.zero_slippage_model import ZeroSlippageModel


@dataclass(frozen=True)
class ExecutionModels:
    """One venue's market rules (LEAN's brokerage model: its fill, fee, slippage and sizing
    models); an engine composes these and nothing else."""

    name: str
    fill: FillModel
    fee: FeeModel
    slippage: SlippageModel
    sizing: SizingModel

    def clock_facts(self, market: MarketView) -> Hashable | None:
        """Everything of ``market.now`` this composition's decisions read for orders that are
        not ``clock_sensitive`` (two views differing only in ``now`` with equal facts give them
        the same decision, so a book need not evaluate them again), or None when it cannot say:
        it says only when the fill model's ``clock_facts`` answers (Alpaca paper's answers None)
        and the slippage model declares ``reads_clock = False``."""
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
    fee model sees the fill with ``Security.Price`` (the view's price, else the fill price) for
    LEAN's order value (``OrderFeeParameters.order_value_price``).
    """
    view = market if isinstance(market, MarketView) else MarketView.of(market)
    decision = models.fill.fill(FillModelParameters(order, view, models.slippage))
    if not decision.filled or decision.price is None:
        return ExecutionResult(False, None, ZERO, ZERO, decision.reason, decision.update)
    reference = view.price if view.price is not None else decision.price
    fee = models.fee.order_fee(OrderFeeParameters.of(order, decision.price, reference))
    return ExecutionResult(True, decision.price, order.quantity, fee, decision.reason,
                           decision.update)


__all__ = ["ExecutionModels", "alpaca_paper_models", "execute_order", "lean_models"]
