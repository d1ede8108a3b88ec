"""Owns the runner as Torghut's LEAN **strategy-shadow upstream** (``POST
/v1/strategy-shadow/evaluate``): for one strategy decision, the fill the runner's LEAN models
give it now against the fill the Alpaca paper models give it on the same market, as a measured
parity score.

Torghut at proompteng/lab 6b69af37 (``app/trading/scheduler/pipeline/runtime_gates.py``,
``lean_runtime.py``) posts ``{strategy_id, symbol, intent: {action, qty (a string), order_type,
time_in_force}}`` with ``X-Correlation-ID`` to ``TRADING_LEAN_STRATEGY_SHADOW_UPSTREAM_URL`` as
it is; at 255d330fe its LEAN adapter posted to ``{runner}/v1/strategy-shadow/evaluate`` with the
intent also carrying ``strategy_id`` and ``symbol``. Both are accepted here (an intent may also
carry ``limit_price`` / ``stop_price``). Torghut keeps ``run_id``, ``parity_status`` (64 chars)
and ``governance``, and stores the whole answer.

"Now" is the runner clock; the market is the latest bar at or before it (the same MarketView
both compositions read). Score: 0 when one model fills and the other does not, 1 when neither
does, else ``1 - |price gap in bps| / SCORE_SPAN_BPS`` (floored at 0). Checks: fill status and
quantity agree, the price gap within ``PRICE_BUDGET_BPS``, the market data no older than LEAN's
stale window (1 h), ``parity_minimum`` (score >= 0.6) and ``governance_minimum`` (>= 0.75), the
thresholds of Torghut's February runner. Fees are measured and reported (LEAN's default
Interactive Brokers model against Alpaca's zero commission), not scored. The evidence is
``promotion_authority_eligible`` when it was measured on fresh data with LEAN's fill model
validated against LEAN's regressions on this data; the Alpaca side is our model of Alpaca paper
fills, not fills observed at Alpaca (that would be ``paper_runtime_observed``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from intel_assets.domain.execution_models.compositions import (
    ExecutionModels,
    alpaca_paper_models,
    execute_order,
)
from intel_assets.domain.execution_models.fills.alpaca_paper_fill_model import (
    AlpacaPaperFillModel,
)
from intel_assets.domain.execution_models.fills.lean_equity_fill_model import LeanEquityFillModel
from intel_assets.domain.execution_models.orders import ExecutionResult
from intel_assets.execution.lean_runner_state import RunnerRequestError, RunnerState
from intel_assets.execution.lean_runner_wire import (
    Number,
    SubmitOrderBody,
    WireError,
    audit,
    iso,
    num,
    validation_reason,
)
from intel_assets.execution.lean_upstream import lean_calibration

SCORE_SPAN_BPS, PRICE_BUDGET_BPS = 25.0, 5.0
PARITY_MINIMUM, GOVERNANCE_MINIMUM = 0.6, 0.75
ALPACA_ORDER_TYPES = AlpacaPaperFillModel.order_types  # what Alpaca's model offers


class ShadowIntent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["buy", "sell"]
    qty: Number
    order_type: str = "market"
    time_in_force: str = "day"
    limit_price: Number | None = None
    stop_price: Number | None = None
    strategy_id: str | None = None  # Torghut 255d330fe repeats these in the intent
    symbol: str | None = None


class StrategyShadowBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy_id: str = Field(min_length=1, max_length=128)
    symbol: str = Field(min_length=1, max_length=32)
    intent: ShadowIntent


def parse_body(raw: Any) -> StrategyShadowBody:
    """The body, or a 400 saying in plain words what is wrong."""
    if not isinstance(raw, dict):
        raise RunnerRequestError(400, "bad_request", "body must be a JSON object")
    try:
        body = StrategyShadowBody.model_validate(raw)
    except ValidationError as exc:
        raise RunnerRequestError(400, "invalid_request", validation_reason(exc)) from exc
    if body.intent.symbol and body.intent.symbol.strip().upper() != body.symbol.strip().upper():
        raise RunnerRequestError(400, "invalid_request", (
            f"intent.symbol {body.intent.symbol!r} is not the body's symbol {body.symbol!r}"))
    if body.intent.strategy_id and body.intent.strategy_id != body.strategy_id:
        raise RunnerRequestError(400, "invalid_request", (
            f"intent.strategy_id {body.intent.strategy_id!r} is not the body's strategy_id "
            f"{body.strategy_id!r}"))
    return body


def _fill_json(models: ExecutionModels, result: ExecutionResult) -> dict[str, Any]:
    return {"models": {"fill": type(models.fill).__name__, "fee": type(models.fee).__name__,
                       "slippage": type(models.slippage).__name__},
            "filled": result.filled, "price": num(result.price), "fee": num(result.fee),
            "reason": result.reason}


def evaluate(state: RunnerState, body: StrategyShadowBody, correlation_id: str) -> dict[str, Any]:
    """The strategy-shadow answer (module docstring)."""
    intent = body.intent
    try:
        order = SubmitOrderBody(symbol=body.symbol, side=intent.action, qty=intent.qty,
                                order_type=intent.order_type,
                                time_in_force=intent.time_in_force,
                                limit_price=intent.limit_price, stop_price=intent.stop_price)
        terms = order.terms(state.bounds)
    except (WireError, ValidationError) as exc:
        reason = validation_reason(exc) if isinstance(exc, ValidationError) else str(exc)
        raise RunnerRequestError(400, "invalid_intent", f"intent: {reason}") from exc
    if terms.order_type not in ALPACA_ORDER_TYPES:
        raise RunnerRequestError(400, "invalid_intent", (
            f"intent: the Alpaca paper model offers {', '.join(ALPACA_ORDER_TYPES)} orders, "
            f"not {terms.order_type}"))
    try:
        view = state.market_view(order.symbol)
    except RunnerRequestError as exc:
        raise RunnerRequestError(400, exc.code, exc.reason) from exc
    alpaca = alpaca_paper_models()
    lean_validated = type(state.models.fill) is LeanEquityFillModel and \
        lean_calibration(str(state.lean_dir))["status"] == "validated"
    latest = view.last_data
    measured: dict[str, Any] = {"as_of": iso(view.now), "evaluated_bar_start": None,
                                "evaluated_bar_end": None, "quote_age_seconds": None}
    score: float | None = None
    checks = dict.fromkeys(("market_data_present", "market_data_fresh", "fill_status_agrees",
                            "filled_qty_agrees", "price_within_budget", "parity_minimum",
                            "governance_minimum"), False)
    if latest is not None:
        resting = terms.order_type != "market"
        terms = dataclasses.replace(terms, submitted_at=latest.start if resting else view.now)
        lean_fill, paper_fill = (execute_order(terms, view, state.models),
                                 execute_order(terms, view, alpaca))
        age = (view.now - latest.end).total_seconds()
        gap = None
        if lean_fill.filled and paper_fill.filled and paper_fill.price:
            sign = 1 if terms.side == "buy" else -1
            gap = float(sign * (lean_fill.price - paper_fill.price) / paper_fill.price
                        * Decimal(10_000))
        agrees = lean_fill.filled == paper_fill.filled
        score = 0.0 if not agrees else 1.0 if gap is None else \
            max(0.0, 1.0 - abs(gap) / SCORE_SPAN_BPS)
        checks.update(market_data_present=True,
                      market_data_fresh=age <= view.stale_price_window.total_seconds(),
                      fill_status_agrees=agrees,
                      filled_qty_agrees=lean_fill.quantity == paper_fill.quantity,
                      price_within_budget=gap is None or abs(gap) <= PRICE_BUDGET_BPS,
                      parity_minimum=score >= PARITY_MINIMUM,
                      governance_minimum=score >= GOVERNANCE_MINIMUM)
        quote = view.quote_bar
        mid = None if quote is None or quote.bid is None or quote.ask is None else \
            (quote.bid.close + quote.ask.close) / 2
        measured.update(evaluated_bar_start=iso(latest.start), evaluated_bar_end=iso(latest.end),
                        quote_age_seconds=age, arrival_mid=num(mid),
                        lean=_fill_json(state.models, lean_fill),
                        alpaca_paper=_fill_json(alpaca, paper_fill),
                        price_delta_bps=None if gap is None else round(gap, 4),
                        fee_delta_usd=num(lean_fill.fee - paper_fill.fee))
    if not checks["market_data_present"]:
        status = "blocked_no_market_data"
    elif not checks["market_data_fresh"]:
        status = "blocked_stale_market_data"
    elif not checks["fill_status_agrees"]:
        status = "fill_status_mismatch"
    else:
        status = "pass" if checks["parity_minimum"] else "drift"
    eligible = checks["market_data_fresh"] and lean_validated
    ready = eligible and all(checks.values())
    blocking = None if ready else (
        "lean_calibration_not_validated" if checks["market_data_fresh"] and not lean_validated
        else status if status != "pass" else
        next(f"{name}_failed" for name, ok in checks.items() if not ok))
    signature = {"strategy_id": body.strategy_id, "symbol": order.symbol,
                 "intent": intent.model_dump(mode="json"), "as_of": measured["as_of"],
                 "bar": measured["evaluated_bar_end"], "models": [state.models.name, alpaca.name]}
    run_id = hashlib.sha256(json.dumps(signature, sort_keys=True).encode()).hexdigest()[:32]
    return {
        "run_id": run_id, "strategy_id": body.strategy_id, "symbol": order.symbol,
        "authority_mode": "shadow_replay", "parity_status": status,
        "promotion_authority_eligible": eligible, "blocking_reason": blocking,
        "governance": {"parity_score": None if score is None else round(score, 6),
                       "promotion_ready": ready, "blocking_reason": blocking, "checks": checks,
                       "thresholds": {"parity_minimum": PARITY_MINIMUM,
                                      "governance_minimum": GOVERNANCE_MINIMUM,
                                      "price_budget_bps": PRICE_BUDGET_BPS,
                                      "score_span_bps": SCORE_SPAN_BPS}},
        "measurements": measured,
        "artifact_authority": {
            "provenance": "historical_market_replay",
            "maturity": "empirically_validated" if eligible else "calibrated",
            "authoritative": eligible, "placeholder": False,
            "notes": ("LEAN fill vs Alpaca paper model fill for this intent on the LEAN minute "
                      f"bar at the runner clock {measured['as_of']}; LEAN fill model validated "
                      f"against LEAN regressions: {lean_validated}; the Alpaca side is our model "
                      "of Alpaca paper fills, not observed Alpaca fills")},
        "_lean_audit": audit("strategy_shadow", correlation_id, datetime.now(timezone.utc)),
    }


__all__ = ["GOVERNANCE_MINIMUM", "PARITY_MINIMUM", "PRICE_BUDGET_BPS", "SCORE_SPAN_BPS",
           "StrategyShadowBody", "evaluate", "parse_body"]
