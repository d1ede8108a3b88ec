"""Owns TCA in Torghut's terms: what Torghut's execution_tca_metrics would record for each fill a
venue gave in the parity replay (restated from proompteng/lab 255d330fe
services/torghut/app/trading/tca.py; the same formulas at its head), and their day summary.

Per filled outcome:

* ``arrival_price``: the first positive value of decision_json ``params.arrival_price``,
  ``params.reference_price``, ``params.price``, then ``arrival_price``/``reference_price`` of the
  decision itself, then the order's limit price (Torghut reads raw_order.limit_price there);
  when none is given we use the arrival quote mid (ours; ``arrival_source`` says which).
* direction = +1 buy / -1 sell; ``slippage_bps = direction x (fill - arrival) / arrival x 1e4``
  (+ = cost); ``shortfall_notional = direction x (fill - arrival) x filled qty`` (USD);
  ``realized_shortfall_bps = slippage_bps`` (Torghut counts no fees in it).
* expected shortfall p50/p95 and ``simulator_version`` from ``params.execution_advice``;
  ``divergence_bps = realized - expected p50`` (None without an expectation).
* churn: signed qty of the same strategy, symbol and account filled before at the same venue;
  when this fill trades against it, ``churn_qty = min(|prior|, |signed qty|)`` and
  ``churn_ratio = churn_qty / filled qty``; same direction or flat: 0 and 0. The replay covers
  one day, so the prior position starts flat at the day's first decision (Torghut sums its whole
  history).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from intel_assets.contracts.orders import OrderIntent
from intel_assets.contracts.parity import TorghutTca, TorghutTcaSummary, VenueOutcome
from intel_assets.domain.stats import aggregate

#: Torghut's arrival-price lookup order: (where in decision_json, key).
ARRIVAL_KEYS = (("params", "arrival_price"), ("params", "reference_price"), ("params", "price"),
                ("decision", "arrival_price"), ("decision", "reference_price"))
QUOTE_MID = "quote_mid"
BPS = 1e4


def _positive(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(Decimal(str(value)))
    except (ArithmeticError, ValueError):
        return None
    return number if number > 0 and number != float("inf") else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def arrival_price(decision_json: Any, limit_price: float | None,
                  quote_mid: float | None) -> tuple[float | None, str | None]:
    """(arrival price, where it came from) as Torghut resolves it, then the quote mid."""
    decision = _mapping(decision_json)
    sources = {"params": _mapping(decision.get("params")), "decision": decision}
    for where, key in ARRIVAL_KEYS:
        found = _positive(sources[where].get(key))
        if found is not None:
            return found, f"{where}.{key}"
    if limit_price is not None and limit_price > 0:
        return limit_price, "limit_price"
    return (quote_mid, QUOTE_MID) if quote_mid else (None, None)


def simulator_expectations(decision_json: Any) -> tuple[float | None, float | None, str | None]:
    """(expected shortfall bps p50, p95, simulator_version) from params.execution_advice."""
    advice = _mapping(_mapping(_mapping(decision_json).get("params")).get("execution_advice"))

    def number(key: str) -> float | None:
        value = advice.get(key)
        try:
            return None if value is None or isinstance(value, bool) else float(Decimal(str(value)))
        except (ArithmeticError, ValueError):
            return None

    version = advice.get("simulator_version")
    text = str(version).strip() if version is not None else ""
    return number("expected_shortfall_bps_p50"), number("expected_shortfall_bps_p95"), text or None


def churn(prior_signed: float, signed_qty: float, filled_qty: float) -> tuple[float, float | None]:
    """(churn qty, churn ratio) of a fill against the position built before it."""
    if filled_qty <= 0 or signed_qty == 0:
        return 0.0, None
    if prior_signed == 0 or (prior_signed > 0) == (signed_qty > 0):
        return 0.0, 0.0
    qty = min(abs(prior_signed), abs(signed_qty))
    return qty, qty / filled_qty


def fill_tca(intent: OrderIntent, decision_json: Any, outcome: VenueOutcome, quote_mid: float,
             prior_signed: float) -> TorghutTca:
    """One filled outcome's TCA in Torghut's terms (module docstring)."""
    direction = 1.0 if intent.side == "buy" else -1.0
    filled = outcome.filled_qty if outcome.status == "filled" else 0.0
    signed = direction * filled
    price, source = arrival_price(decision_json, intent.limit_price, quote_mid)
    p50, p95, version = simulator_expectations(decision_json)
    slippage = shortfall = None
    if price is not None and outcome.avg_fill_price is not None and filled > 0:
        delta = outcome.avg_fill_price - price
        slippage = direction * delta / price * BPS
        shortfall = direction * delta * filled
    churn_qty, churn_ratio = churn(prior_signed, signed, filled)
    return TorghutTca(
        arrival_price=price, arrival_source=source, signed_qty=signed, slippage_bps=slippage,
        shortfall_notional=shortfall, realized_shortfall_bps=slippage,
        expected_shortfall_bps_p50=p50, expected_shortfall_bps_p95=p95,
        divergence_bps=None if slippage is None or p50 is None else slippage - p50,
        simulator_version=version, churn_qty=churn_qty, churn_ratio=churn_ratio)


def venue_fill_tca(items: Sequence[tuple[OrderIntent, Any, str, float, VenueOutcome]]
                   ) -> dict[str, VenueOutcome]:
    """One venue's outcomes (intent, decision_json, account label, quote mid, outcome), in
    decision order, with ``torghut`` filled in on every fill; keyed by intent_id."""
    position: dict[tuple[str, str, str], float] = {}
    out: dict[str, VenueOutcome] = {}
    for intent, decision_json, account, mid, outcome in items:
        if outcome.status != "filled":
            out[intent.intent_id] = outcome.model_copy(update={"torghut": None})
            continue
        key = (intent.strategy_id, intent.symbol, account)
        tca = fill_tca(intent, decision_json, outcome, mid, position.get(key, 0.0))
        position[key] = position.get(key, 0.0) + tca.signed_qty
        out[intent.intent_id] = outcome.model_copy(update={"torghut": tca})
    return out


def torghut_summary(outcomes: Iterable[VenueOutcome]) -> TorghutTcaSummary:
    """A venue's fills aggregated in Torghut's terms (means/p95/max; totals in USD and shares)."""
    outcomes = list(outcomes)
    tcas = [o.torghut for o in outcomes if o.torghut is not None]
    return TorghutTcaSummary(
        fills=len(tcas),
        slippage_bps=aggregate(t.slippage_bps for t in tcas),
        shortfall_notional_total=sum(t.shortfall_notional or 0.0 for t in tcas),
        realized_shortfall_bps=aggregate(t.realized_shortfall_bps for t in tcas),
        expected_shortfall_bps_p50=aggregate(t.expected_shortfall_bps_p50 for t in tcas),
        divergence_bps=aggregate(t.divergence_bps for t in tcas),
        simulator_versions=sorted({t.simulator_version for t in tcas if t.simulator_version}),
        churn_qty_total=sum(t.churn_qty for t in tcas),
        churn_ratio=aggregate(t.churn_ratio for t in tcas),
        submit_latency_ms=aggregate(o.submit_latency_ms for o in outcomes))


__all__ = ["ARRIVAL_KEYS", "QUOTE_MID", "arrival_price", "churn", "fill_tca",
           "simulator_expectations", "torghut_summary", "venue_fill_tca"]
