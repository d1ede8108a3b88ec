"""Owns the LEAN runner contract v2 on the wire: request bodies and the order JSON (Alpaca's shape
plus the ``_lean_*`` blocks), restated from Torghut at proompteng/lab 255d330fe
(``services/torghut/app/trading/execution_adapters.py`` LeanExecutionAdapter and
``services/torghut/app/lean_runner.py``).

Submit body: ``{symbol, side, qty, order_type, time_in_force, limit_price, stop_price,
extra_params}``; ``extra_params`` is free-form, the runner reads ``client_order_id`` (Alpaca's
rule), ``trail_percent`` / ``trail_price`` (trailing stops, Alpaca's units: percent / USD),
``expire_date`` (gtd) and echoes the rest (e.g. ``intent_id``, ``strategy_id``,
``decision_time``). Order types: market, limit, stop, stop_limit, trailing_stop,
market_on_open, market_on_close; Alpaca's spelling of the last two (``market`` with time in
force ``opg`` / ``cls``) is accepted and answered. Quantities and prices may be JSON numbers or
decimal strings; answers use Alpaca's decimal strings. Statuses are Alpaca's words: new,
filled, canceled, expired.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from intel_assets.contracts.orders import (
    CLIENT_ORDER_ID_RULE,
    DEFAULT_ORDER_BOUNDS,
    OrderBounds,
)
from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol
from intel_assets.domain.execution_models.orders import OrderTerms
from intel_assets.domain.order_book import BookOrder

CONTRACT_VERSION = "v2"
SERVICE = "intel-assets-lean-runner"
WIRE_ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop", "market_on_open",
                    "market_on_close")
WIRE_TIMES_IN_FORCE = ("day", "gtc", "ioc", "fok", "opg", "cls", "gtd")
LIST_STATUSES = ("open", "closed", "all")
_CID = re.compile(CLIENT_ORDER_ID_RULE)
def _not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):  # JSON true would otherwise coerce to 1 share
        raise ValueError(f"must be a number or a decimal string, not {str(value).lower()}")
    return value


Number = Annotated[float | int | str, BeforeValidator(_not_a_bool)]


class WireError(ValueError):
    """A body the runner refuses (422); the message says why in plain words."""


def wire_decimal(name: str, value: Any, *, positive: bool = True) -> Decimal | None:
    """A JSON number or decimal string as an exact Decimal (``str()`` of a float keeps 0.1)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise WireError(f"{name} must be a number or a decimal string, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise WireError(f"{name} must be finite, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise WireError(f"{name} must be a number or a decimal string, got {value!r}") from None
    if not number.is_finite() or (positive and number <= 0):
        raise WireError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def num(value: Decimal | None) -> str | None:
    """Alpaca's decimal-string spelling: Decimal('10.0') -> '10', exact otherwise."""
    return None if value is None else f"{value.normalize():f}"


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _symbol(value: Any) -> str:
    try:
        return normalize_symbol(value)
    except InvalidSymbolError as exc:
        raise ValueError(str(exc)) from exc


class SubmitOrderBody(_Body):
    """POST /v1/orders/submit (Torghut's body)."""

    symbol: str
    side: Literal["buy", "sell"]
    qty: Number
    order_type: str = "market"
    time_in_force: str = "day"
    limit_price: Number | None = None
    stop_price: Number | None = None
    extra_params: dict[str, Any] = Field(default_factory=dict)

    _symbol = field_validator("symbol", mode="before")(_symbol)

    @field_validator("order_type", "time_in_force", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def client_order_id(self) -> str | None:
        value = self.extra_params.get("client_order_id")
        return None if value in (None, "") else str(value)

    def terms(self, bounds: OrderBounds = DEFAULT_ORDER_BOUNDS) -> OrderTerms:
        """The domain order (the book sets its time); WireError with a reason when invalid or
        beyond ``bounds``."""
        kind, tif = self.order_type, self.time_in_force
        if kind not in WIRE_ORDER_TYPES:
            raise WireError(f"order_type must be one of {', '.join(WIRE_ORDER_TYPES)}, not "
                            f"{kind!r}")
        if tif not in WIRE_TIMES_IN_FORCE:
            raise WireError(f"time_in_force must be one of {', '.join(WIRE_TIMES_IN_FORCE)}, "
                            f"not {tif!r}")
        if tif in ("opg", "cls"):
            if kind not in ("market", "market_on_open", "market_on_close"):
                raise WireError(f"time_in_force {tif} applies to market orders (Alpaca's "
                                f"on-open/on-close auction orders), not {kind} orders")
            kind = "market_on_open" if tif == "opg" else "market_on_close"
        if kind in ("market_on_open", "market_on_close"):
            tif = "gtc"  # an auction order lives until its auction
        cid = self.client_order_id
        if cid is not None and not _CID.fullmatch(cid):
            raise WireError(f"extra_params.client_order_id {cid!r} must match "
                            f"{CLIENT_ORDER_ID_RULE}")
        limit = wire_decimal("limit_price", self.limit_price)
        stop = wire_decimal("stop_price", self.stop_price)
        if limit is not None and kind not in ("limit", "stop_limit"):
            raise WireError(f"limit_price is only allowed on limit and stop_limit orders, not "
                            f"{kind} orders")
        if stop is not None and kind not in ("stop", "stop_limit", "trailing_stop"):
            raise WireError(f"stop_price is only allowed on stop, stop_limit and trailing_stop "
                            f"orders, not {kind} orders")
        amount, percent = trail_from(self.extra_params, required=kind == "trailing_stop")
        expire = None
        if tif == "gtd":
            try:
                expire = date.fromisoformat(str(self.extra_params.get("expire_date", "")))
            except ValueError:
                raise WireError("a gtd order needs extra_params.expire_date as YYYY-MM-DD") from None
        qty = wire_decimal("qty", self.qty)
        too_big = bounds.problem(qty, limit_price=limit, stop_price=stop, trail_price=amount)
        if too_big:
            raise WireError(too_big)
        try:
            return OrderTerms(self.side, qty or Decimal(0), kind,  # type: ignore[arg-type]
                              limit, stop, None, tif, expire, amount, percent)  # type: ignore[arg-type]
        except ValueError as exc:
            raise WireError(str(exc)) from exc


def trail_from(params: dict[str, Any], required: bool) -> tuple[Decimal | None, bool]:
    """(trailing amount, as a fraction?) from Alpaca's trail_percent (percent) or trail_price."""
    pct = wire_decimal("trail_percent", params.get("trail_percent"))
    price = wire_decimal("trail_price", params.get("trail_price"))
    if pct is not None and price is not None:
        raise WireError("give trail_percent or trail_price, not both")
    if required and pct is None and price is None:
        raise WireError("a trailing_stop order needs extra_params.trail_percent or trail_price")
    if pct is not None:
        return pct / 100, True
    return price, False


class ReplaceOrderBody(_Body):
    """POST /v1/orders/{id}/replace: LEAN's in-place update (the order id stays)."""

    qty: Number | None = None
    limit_price: Number | None = None
    stop_price: Number | None = None
    trail_percent: Number | None = None
    trail_price: Number | None = None


class ClockBody(_Body):
    """POST /v1/clock: move the replay clock."""

    as_of: AwareDatetime


class ShadowSimulateBody(_Body):
    """POST /v1/shadow/simulate (Torghut's fields, plus an optional stop_price)."""

    symbol: str
    side: Literal["buy", "sell"]
    qty: Number
    order_type: str = "market"
    time_in_force: str = "day"
    limit_price: Number | None = None
    intent_price: Number | None = None
    stop_price: Number | None = None

    _symbol = field_validator("symbol", mode="before")(_symbol)


class BacktestSubmitBody(_Body):
    """POST /v1/backtests/submit (Torghut's ``{lane, config}``; the config is ours)."""

    lane: str = "research"
    config: dict[str, Any] = Field(default_factory=dict)


def validation_reason(exc: ValidationError) -> str:
    """A body's validation errors in plain words (``field: problem; ...``)."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def wire_type(terms: OrderTerms) -> tuple[str, str]:
    """(order_type, time_in_force) in Alpaca's spelling."""
    if terms.order_type == "market_on_open":
        return "market", "opg"
    if terms.order_type == "market_on_close":
        return "market", "cls"
    return terms.order_type, terms.time_in_force


def order_json(order: BookOrder, order_id: str, client_order_id: str,
               extra_params: dict[str, Any]) -> dict[str, Any]:
    """The order in Alpaca's shape, with ``_lean_contract_version`` and ``_lean_execution``."""
    terms = order.terms
    kind, tif = wire_type(terms)
    status = ("new" if order.is_open else "filled" if order.status == "filled"
              else "expired" if order.expired else "canceled")
    filled = order.status == "filled"
    trail_percent = trail_price = None
    if terms.order_type == "trailing_stop" and terms.trailing_amount is not None:
        if terms.trailing_percent:
            trail_percent = num(terms.trailing_amount * 100)
        else:
            trail_price = num(terms.trailing_amount)
    updated = max(t for t in (order.created_at, order.filled_at, order.canceled_at)
                  if t is not None)
    return {
        "id": order_id, "client_order_id": client_order_id,
        "created_at": iso(order.created_at), "updated_at": iso(updated),
        "submitted_at": iso(order.created_at), "filled_at": iso(order.filled_at),
        "expired_at": iso(order.canceled_at) if order.expired else None, "expires_at": None,
        "canceled_at": None if order.expired else iso(order.canceled_at), "failed_at": None,
        "replaced_at": None, "replaced_by": None, "replaces": None,
        "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"asset:{order.symbol}")),
        "symbol": order.symbol, "asset_class": "us_equity", "notional": None,
        "qty": num(terms.quantity), "filled_qty": num(terms.quantity) if filled else "0",
        "filled_avg_price": num(order.fill_price) if filled else None,
        "order_class": "simple", "order_type": kind, "type": kind, "side": terms.side,
        "position_intent": None, "time_in_force": tif, "limit_price": num(terms.limit_price),
        "stop_price": num(terms.stop_price), "status": status, "extended_hours": False,
        "legs": None, "trail_percent": trail_percent, "trail_price": trail_price, "hwm": None,
        "_execution_adapter": "lean",
        "_lean_contract_version": CONTRACT_VERSION,
        "_lean_execution": {
            "fee": num(order.fee), "reason": order.reason,
            "order_time": iso(terms.submitted_at), "update_count": order.update_count,
            "evaluated_bar_start": iso(order.evaluated_bar_start),
            "evaluated_bar_end": iso(order.evaluated_bar_end),
            "stop_triggered": terms.stop_triggered,
            "expire_date": None if terms.expire_date is None else terms.expire_date.isoformat(),
            "extra_params": extra_params,
        },
    }


def audit(operation: str, correlation_id: str, request_ts: datetime,
          idempotency_key: str | None = None, idempotent_replay: bool = False) -> dict[str, Any]:
    """Torghut's ``_lean_audit`` block."""
    return {"runner": SERVICE, "operation": operation, "request_ts": iso(request_ts),
            "correlation_id": correlation_id, "idempotency_key": idempotency_key,
            "idempotent_replay": idempotent_replay}


__all__ = ["BacktestSubmitBody", "CONTRACT_VERSION", "ClockBody", "LIST_STATUSES",
           "ReplaceOrderBody", "SERVICE", "ShadowSimulateBody", "SubmitOrderBody",
           "WIRE_ORDER_TYPES", "WIRE_TIMES_IN_FORCE", "WireError", "audit", "iso", "num",
           "order_json", "trail_from", "validation_reason", "wire_decimal", "wire_type"]
