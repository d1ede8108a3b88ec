"""Owns the runner's backtests (``POST /v1/backtests/submit``, ``GET /v1/backtests/{id}``): a list
of order intents run through the LEAN-semantics engine (the shared OrderBook) on the runner's
LEAN data, answered with LEAN-style statistics.

Torghut's body is ``{lane, config}`` (proompteng/lab 255d330fe ``services/torghut/app/
lean_runner.py``; at its head ``app/trading/lean_runtime.py`` proxies the same body to an
upstream ``/submit`` and reads ``result``). The id is ``sha256(lane:sha256(config))[:20]``, so a
resubmitted config is the same backtest. Our config::

    {"cash": 100000, "start": "2013-10-07", "end": "2013-10-11", "normalization": "adjusted",
     "moc_buffer_minutes": 15.5,
     "intents": [{"at": "2013-10-07T09:31:00-04:00", "symbol": "SPY", "side": "buy",
                  "qty": 10, "order_type": "limit", "time_in_force": "gtc",
                  "limit_price": 160, "stop_price": null, "extra_params": {}}, ...]}

Optional: ``symbols`` (the securities of the backtest; every intent's symbol must be one of
them, and all of them are loaded), ``fill_model`` (``lean_equity`` = LEAN's EquityFillModel,
``alpaca_paper``) and ``fee_model`` (``interactive_brokers`` = LEAN's default, ``alpaca`` = zero
commission); without them the runner's own models fill. Bounds: at most ``MAX_INTENTS`` intents,
``MAX_SYMBOLS`` symbols and a window of ``MAX_WINDOW_DAYS`` days, every intent inside it; a run
stops after ``deadline`` (``BacktestTimeout``).

Each intent is submitted at ``at`` (on the bars known then, as a LEAN scheduled event); an
intent the engine refuses (no data yet, MOC too late, ...) is listed under ``rejected`` and is
not an order, as in LEAN.

**Order replays** (``"kind": "order_replay"``; the parity replay's batch, lane
``shadow_replay`` as Torghut names its replay lane)::

    {"kind": "order_replay", "read_at": "2013-10-09T00:00:00-04:00",
     "intents": [{"at": "2013-10-08T10:15:07-04:00", <a POST /v1/orders/submit body>}, ...]}

place the intents exactly as a client replaying them one request at a time on a replay clock
would (``POST /v1/clock`` to ``at``, then the submit with its client_order_id as
Idempotency-Key), move that clock to ``read_at`` and answer every order as ``GET
/v1/orders/{id}`` would then (``orders``: v2 order JSON, in submission order) and every refused
intent as its submit would have been refused (``rejected``: ``index``, ``client_order_id``,
``status_code``, ``error``, ``reason``). It runs on a scratch copy of the runner (its data,
models, normalization, market-on-close buffer and bounds; its own clock and book): the
runner's orders and clock are untouched and the orders are not listed by ``GET /v1/orders``.
This config is ours: Torghut's runner forwards ``{lane, config}`` to its upstream LEAN
unchanged (lean_runtime.py), and a runner that does not know ``order_replay`` answers something
else, on which LeanAdapter falls back to one request per intent. A replay runs within its submit
request (the reference runner places about 2,000-5,000 intents a second on this machine's data).
The runner keeps the newest ``MAX_STORED_BACKTESTS`` backtests for ``GET /v1/backtests/{id}``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from time import monotonic
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from intel_assets.domain.backtest import (
    BacktestContext,
    LocalBroker,
    backtest_statistics,
    money,
    run_backtest,
)
from intel_assets.domain.execution_models.compositions import ExecutionModels
from intel_assets.domain.execution_models.fees.alpaca_fee_model import AlpacaFeeModel
from intel_assets.domain.execution_models.fees.interactive_brokers_fee_model import (
    InteractiveBrokersFeeModel,
)
from intel_assets.domain.execution_models.fills.alpaca_paper_fill_model import (
    AlpacaPaperFillModel,
)
from intel_assets.domain.execution_models.fills.lean_equity_fill_model import LeanEquityFillModel
from intel_assets.domain.lean_data import lean_minute_snapshots, read_exchange_hours
from intel_assets.domain.market_data import NEW_YORK, LeanDataError, lean_minute_days
from intel_assets.domain.order_book import DEFAULT_MOC_BUFFER
from intel_assets.execution.lean_runner_wire import (
    SubmitOrderBody,
    WireError,
    iso,
    num,
    validation_reason,
)

#: Backtests a runner keeps for GET /v1/backtests/{id} (the oldest is dropped first).
MAX_STORED_BACKTESTS = 32
ORDER_REPLAY = "order_replay"
MAX_INTENTS, MAX_SYMBOLS, MAX_WINDOW_DAYS = 10_000, 20, 31
#: the model names a config may ask for, and the models they are
FILL_MODELS = {"lean_equity": LeanEquityFillModel, "alpaca_paper": AlpacaPaperFillModel}
FEE_MODELS = {"interactive_brokers": InteractiveBrokersFeeModel, "alpaca": AlpacaFeeModel}


class BacktestTimeout(Exception):
    """A backtest ran past its deadline and was stopped."""


class BacktestIntent(SubmitOrderBody):
    """One order of a backtest: the submit body plus when it is placed."""

    at: AwareDatetime


class BacktestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cash: float = Field(default=100_000, gt=0)
    start: date | None = None
    end: date | None = None
    normalization: Literal["raw", "adjusted"] = "adjusted"
    moc_buffer_minutes: float = Field(default=DEFAULT_MOC_BUFFER.total_seconds() / 60, ge=0)
    symbols: list[str] | None = Field(default=None, min_length=1, max_length=MAX_SYMBOLS)
    fill_model: Literal["lean_equity", "alpaca_paper"] | None = None
    fee_model: Literal["interactive_brokers", "alpaca"] | None = None
    intents: list[BacktestIntent] = Field(min_length=1, max_length=MAX_INTENTS)

    @model_validator(mode="after")
    def _period(self) -> "BacktestConfig":
        first = min(i.at for i in self.intents).astimezone(NEW_YORK).date()
        last = max(i.at for i in self.intents).astimezone(NEW_YORK).date()
        self.start = self.start or first
        self.end = self.end or last
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if (self.end - self.start).days + 1 > MAX_WINDOW_DAYS:
            raise ValueError(f"the window {self.start}..{self.end} is longer than "
                             f"{MAX_WINDOW_DAYS} days; split it into several backtests")
        if first < self.start or last > self.end:
            raise ValueError(f"intents run {first}..{last}, outside the window "
                             f"{self.start}..{self.end}")
        if self.symbols is not None:
            self.symbols = [s.strip().upper() for s in self.symbols]
            outside = sorted({i.symbol for i in self.intents} - set(self.symbols))
            if outside:
                raise ValueError(f"intents trade {', '.join(outside)}, not in symbols "
                                 f"{', '.join(self.symbols)}")
        return self

    def models(self, default: ExecutionModels) -> ExecutionModels:
        """The runner's models with the fill and fee models this config names."""
        if self.fill_model is None and self.fee_model is None:
            return default
        fill = FILL_MODELS[self.fill_model]() if self.fill_model else default.fill
        fee = FEE_MODELS[self.fee_model]() if self.fee_model else default.fee
        return dataclasses.replace(default, name=f"{self.fill_model or default.name}+"
                                   f"{self.fee_model or 'default-fee'}", fill=fill, fee=fee)

    def all_symbols(self) -> list[str]:
        return sorted(set(self.symbols or []) | {i.symbol for i in self.intents})


class IntentList:
    """The algorithm of a backtest: submit each intent at its time; nothing else."""

    def __init__(self, intents: list[BacktestIntent], deadline: float | None = None) -> None:
        self.intents = intents
        self.deadline = deadline  # time.monotonic() after which the run stops
        self.client_ids: dict[str, str] = {}

    def initialize(self, ctx: BacktestContext) -> None:
        for n, intent in enumerate(self.intents):
            ctx.schedule(intent.at.astimezone(NEW_YORK), lambda c, i=intent, k=n: self._place(c, i, k))

    def _place(self, ctx: BacktestContext, intent: BacktestIntent, n: int) -> None:
        terms = intent.terms()
        cid = intent.client_order_id or f"bt-{n + 1}"
        qty = terms.quantity if terms.side == "buy" else -terms.quantity
        tif = terms.time_in_force
        ctx.default_expire_date = terms.expire_date
        record = ctx.order(intent.symbol, qty, terms.order_type, limit_price=terms.limit_price,
                           stop_price=terms.stop_price, trailing_amount=terms.trailing_amount,
                           trailing_percent=terms.trailing_percent, time_in_force=tif, tag=cid)
        self.client_ids[record.order_id] = cid

    def on_data(self, ctx, data) -> None:
        if self.deadline is not None and monotonic() > self.deadline:
            raise BacktestTimeout(f"stopped at {iso(ctx.time)}: past its time limit")


class OrderReplayConfig(BaseModel):
    """An order replay (module docstring); each intent is validated when it is placed, so one
    bad intent is refused alone, as its own submit would be."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["order_replay"]
    read_at: AwareDatetime
    intents: list[dict[str, Any]] = Field(min_length=1)


ReplayItem = tuple[int, datetime | None, SubmitOrderBody | dict[str, Any]]
_AT = TypeAdapter(AwareDatetime)


def replay_intents(config: OrderReplayConfig) -> list[ReplayItem]:
    """Per intent (index, at, its submit body, or the refusal its submit would get: 400 not an
    object, 422 invalid_request); ``at`` is None only when it cannot be read."""
    items: list[ReplayItem] = []
    for n, raw in enumerate(config.intents):
        if not isinstance(raw, dict):
            items.append((n, None, {"index": n, "client_order_id": None, "status_code": 400,
                                    "error": "bad_request",
                                    "reason": "body must be a JSON object"}))
            continue
        try:
            intent = BacktestIntent.model_validate(raw)
        except ValidationError as exc:
            params = raw.get("extra_params")
            cid = params.get("client_order_id") if isinstance(params, dict) else None
            try:
                at = _AT.validate_python(raw.get("at"))
            except ValidationError:
                at = None
            items.append((n, at, {"index": n, "client_order_id": cid, "status_code": 422,
                                  "error": "invalid_request", "reason": validation_reason(exc)}))
            continue
        body = SubmitOrderBody.model_construct(  # validated above, as BacktestIntent
            **{name: getattr(intent, name) for name in SubmitOrderBody.model_fields})
        items.append((n, intent.at, body))
    return items


def backtest_id(lane: str, config: dict[str, Any]) -> tuple[str, str]:
    """(backtest id, reproducibility hash) of a ``{lane, config}`` body."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return hashlib.sha256(f"{lane}:{digest}".encode()).hexdigest()[:20], digest


def parse_config(config: dict[str, Any]) -> BacktestConfig | OrderReplayConfig:
    """The validated config (an order replay when ``kind`` says so), or ValueError with every
    problem in plain words."""
    if config.get("kind") == ORDER_REPLAY:
        try:
            return OrderReplayConfig.model_validate(config)
        except ValidationError as exc:
            raise ValueError(validation_reason(exc)) from exc
    try:
        parsed = BacktestConfig.model_validate(config)
        for n, intent in enumerate(parsed.intents):
            try:
                intent.terms()
            except WireError as exc:
                raise ValueError(f"intents.{n}: {exc}") from exc
        return parsed
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            problems.append(f"{loc}: {str(err.get('msg', 'invalid')).removeprefix('Value error, ')}")
        raise ValueError("; ".join(problems)) from exc


def run_config(lean_dir: Path, config: BacktestConfig, models: ExecutionModels,
               deadline: float | None = None) -> dict[str, Any]:
    """Run the intents with the config's models (``models`` where it names none); LEAN-style
    statistics, the orders and the refused intents. BacktestTimeout past ``deadline``."""
    models = config.models(models)
    symbols = config.all_symbols()
    assert config.start is not None and config.end is not None
    days = [config.start + timedelta(days=n) for n in range((config.end - config.start).days + 1)]
    snapshots, hours = [], {}
    for symbol in symbols:
        available = set(lean_minute_days(lean_dir, symbol))
        if not available:
            raise LeanDataError(f"unknown symbol {symbol}: no LEAN minute data in {lean_dir}")
        hours[symbol] = read_exchange_hours(lean_dir, symbol)
        wanted = [d for d in days if d in available]
        if not wanted:
            raise LeanDataError(f"no {symbol} minute data between {config.start} and "
                                f"{config.end}; data covers {min(available)}..{max(available)}")
        snapshots += lean_minute_snapshots(lean_dir, symbol, wanted,
                                           normalization=config.normalization, fill_forward=True)
    algorithm = IntentList(config.intents, deadline)
    broker = LocalBroker(models, hours, round_prices=config.normalization == "raw",
                         moc_buffer=timedelta(minutes=config.moc_buffer_minutes))
    start = datetime.combine(config.start, time(), tzinfo=NEW_YORK)
    result = run_backtest(algorithm, snapshots, models, Decimal(str(config.cash)), start,
                          broker=broker)
    stats = backtest_statistics(result)
    lines = dict(line.rsplit(" ", 1) for line in stats.lean_lines())
    net = stats.end_equity - stats.start_equity
    return {
        "summary": {"gross_pnl": float(money(net + stats.total_fees)),
                    "net_pnl": float(money(net)), "max_drawdown": round(stats.drawdown, 6),
                    "trade_count": len(result.filled_orders)},
        "statistics": lines,
        "orders": [{"client_order_id": algorithm.client_ids.get(o.order_id, o.tag),
                    "symbol": o.symbol, "side": o.terms.side, "order_type": o.terms.order_type,
                    "time_in_force": o.terms.time_in_force, "qty": num(o.terms.quantity),
                    "status": o.status, "fill_price": num(o.fill_price), "fee": num(o.fee),
                    "submitted_at": iso(o.terms.submitted_at), "filled_at": iso(o.filled_at),
                    "reason": o.reason} for o in result.orders],
        "rejected": [{"client_order_id": r.tag, "symbol": r.symbol, "reason": r.reason}
                     for r in result.rejected],
        "end_equity_exact": num(stats.end_equity),
        "engine": {"fill_model": type(models.fill).__name__,
                   "fee_model": type(models.fee).__name__,
                   "slippage_model": type(models.slippage).__name__,
                   "normalization": config.normalization, "days": [d.isoformat() for d in days],
                   "symbols": symbols},
    }


__all__ = ["BacktestConfig", "BacktestIntent", "BacktestTimeout", "FEE_MODELS", "FILL_MODELS",
           "IntentList", "MAX_INTENTS", "MAX_STORED_BACKTESTS", "MAX_SYMBOLS", "MAX_WINDOW_DAYS",
           "ORDER_REPLAY", "OrderReplayConfig", "backtest_id", "parse_config", "replay_intents",
           "run_config"]
