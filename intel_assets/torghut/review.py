"""Owns the LLM review request Torghut builds for one trade decision, market context included.

The shapes mirror Torghut's own strict schema (every model forbids unknown keys): the
deterministic decision, a minimal portfolio snapshot, the market-context bundle (Torghut's
model; ``model_dump(mode="json")`` gives its snake_case names, as Torghut dumps the request),
the policy bounds any LLM adjustment must respect, the trading mode and the prompt version.
Nothing here calls an LLM.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from intel_assets.torghut.schema import TorghutMarketContextBundle

OrderType = Literal["market", "limit", "stop", "stop_limit"]
TimeInForce = Literal["day", "gtc", "ioc", "fok"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LLMDecisionContext(_Strict):
    """The deterministic strategy's decision under review."""

    strategy_id: str = Field(min_length=1)
    symbol: str = Field(min_length=1)
    action: Literal["buy", "sell"]
    qty: Decimal = Field(gt=0)
    order_type: OrderType
    time_in_force: TimeInForce
    event_ts: AwareDatetime
    timeframe: str = Field(min_length=1)
    rationale: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class LLMPosition(_Strict):
    symbol: str = Field(min_length=1)
    qty: Decimal  # negative for a short
    market_value: Decimal | None = None


class LLMPortfolioSnapshot(_Strict):
    """The minimal account view the reviewer needs to judge exposure."""

    equity: Decimal
    cash: Decimal
    buying_power: Decimal
    positions: list[LLMPosition] = Field(default_factory=list)


class LLMPolicyContext(_Strict):
    """Bounds any LLM adjustment must stay within (enforced deterministically afterwards)."""

    adjustment_allowed: bool
    min_qty_multiplier: Decimal = Field(gt=0)
    max_qty_multiplier: Decimal = Field(gt=0)
    allowed_order_types: list[OrderType] = Field(min_length=1)

    @model_validator(mode="after")
    def _bounds_ordered(self) -> "LLMPolicyContext":
        if self.min_qty_multiplier > self.max_qty_multiplier:
            raise ValueError("min_qty_multiplier must not exceed max_qty_multiplier")
        return self


class LLMReviewRequest(_Strict):
    """The structured payload an LLM reviewer would receive for one decision."""

    decision: LLMDecisionContext
    portfolio: LLMPortfolioSnapshot
    market_context: TorghutMarketContextBundle | None = None
    policy: LLMPolicyContext
    trading_mode: Literal["paper", "live"]
    prompt_version: str = Field(min_length=1)

    @model_validator(mode="after")
    def _context_matches_decision(self) -> "LLMReviewRequest":
        ctx = self.market_context
        if ctx is not None and ctx.symbol != self.decision.symbol.upper():
            raise ValueError(f"market_context is for {ctx.symbol}, the decision for {self.decision.symbol}")
        return self

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready dict with field names (snake_case, market_context included), as Torghut
        dumps its request (``model_dump(mode="json")``)."""
        return self.model_dump(mode="json")
