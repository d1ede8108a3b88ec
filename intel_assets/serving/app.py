"""Owns the Torghut-facing HTTP API: the bundle per symbol in Jangar's envelope, re-aged on every
request (optionally as of an instant), its health in Jangar's shape, the universe view, the
research brief, liveness and /metrics.

Contract (restated from proompteng/lab 255d330fe services/jangar/src/routes/api/torghut/
market-context/index.ts and health.ts, and services/torghut/app/trading/market_context.py):
answers are ``{"ok": true, "context": <bundle>}`` / ``{"ok": true, "health": {...}}``; errors
are ``{"ok": false, "message": "<plain words>", "error": "<code>"}`` (Torghut raises on ``ok``
not true and shows the message). The bundle's freshness, states, flags and quality are measured
at the serving clock (live now, or the replay clock), never frozen at publish time: if Dagster
stops, the served bundle turns stale by itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from intel_assets.contracts.bundle import MarketContextBundle
from intel_assets.contracts.bundle import DOMAINS
from intel_assets.contracts.envelopes import SkillOutput
from intel_assets.contracts.research import ResearchBrief
from intel_assets.contracts.symbols import SYMBOL_INPUT_RULE, SYMBOL_RULE, normalize_symbol
from intel_assets.domain.bundle import BundlePolicy, bundle_seen_at, disabled_bundle, merge_bundle
from intel_assets.domain.clock import Clock
from intel_assets.domain.context_health import symbol_health, universe_health
from intel_assets.domain.market_clock import MarketClock, clock_for
from intel_assets.stores.bundle_store import (
    BundleStore,
    StoreConfigError,
    StoreUnavailableError,
    StoredBundle,
)
from intel_assets.serving.metrics import ServingMetrics
from intel_assets.serving.protocol import BoundedHeadProtocol
from intel_assets.serving.openapi import AS_OF_RE, SYMBOL_INPUT_RE, openapi_document

if TYPE_CHECKING:
    from intel_assets.settings import Settings

log = logging.getLogger(__name__)
MARKET_CONTEXT_PATH = "/api/torghut/market-context"
HEALTH_PATH = "/api/torghut/market-context/health"
UNIVERSE_HEALTH_PATH = "/api/torghut/market-context/health/universe"
#: The research brief is not a bundle domain: Torghut's strict schema admits exactly four.
RESEARCH_PATH = "/api/torghut/market-context/research"
RESEARCH_KIND = "research"
SKILL_PATH = "/api/torghut/market-context/{domain}"
DEFAULT_HEALTH_SYMBOL = "SPY"  # Jangar's default
ROOT_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>intel_assets</title></head>
<body><h1>intel_assets serving API</h1><p>Decision-time market context for Torghut.</p><ul>
<li><a href="/openapi.json">/openapi.json</a> OpenAPI 3.1 document</li>
<li><code>/api/torghut/market-context?symbol=SPY[&amp;asOf=T]</code> the bundle</li>
<li><a href="/api/torghut/market-context/health">/api/torghut/market-context/health</a> health
(Jangar's shape)</li>
<li><a href="/api/torghut/market-context/health/universe">/api/torghut/market-context/health/universe</a>
every published symbol</li>
<li><code>/api/torghut/market-context/{technicals|regime|news|fundamentals}?symbol=SPY</code>
one domain in the skill output contract; <code>/api/torghut/market-context/research?symbol=SPY</code>
the research brief</li>
<li><a href="/metrics">/metrics</a> Prometheus; <a href="/healthz">/healthz</a> liveness</li>
</ul></body></html>"""
_NO_CACHE = {"Cache-Control": "no-cache"}
_PARSED_CACHE_SIZE = 4096
_AS_OF_EXAMPLE = "2013-10-11T19:59:00Z"


@dataclass(frozen=True)
class ServingConfig:
    """What the API judges bundles by: its clock, the staleness policy, the kill switch and
    the domain budgets (for bundles it has to make up: disabled or never published), and the
    market clock technicals/regime are re-measured by outside the session (None = wall age
    only; serving_config sets domain.market_clock.clock_for's)."""

    clock: Clock = field(default_factory=Clock)
    policy: BundlePolicy = field(default_factory=BundlePolicy)
    market_clock: MarketClock | None = None
    enabled: bool = True
    budgets: Mapping[str, float] = field(default_factory=lambda: {
        "technicals": 60.0, "regime": 60.0, "news": 300.0, "fundamentals": 86_400.0})


def serving_config(settings: "Settings") -> ServingConfig:
    """The serving configuration from INTEL_* settings (INTEL_AS_OF, INTEL_MAX_STALENESS_SECONDS,
    INTEL_MARKET_CONTEXT_ENABLED, the domain budgets, INTEL_MARKET_CALENDAR)."""
    return ServingConfig(
        clock=Clock(settings.as_of), policy=BundlePolicy(settings.max_staleness_seconds),
        market_clock=clock_for(settings.as_of, settings.resolved_lean_dir,
                               settings.market_calendar),
        enabled=settings.market_context_enabled,
        budgets={d: settings.budget_seconds(d) for d in ("technicals", "regime", "news",
                                                        "fundamentals")})


class _LazyStore:
    """Opens the store on first use; a failed open or ping is retried on the next request."""

    def __init__(self, factory: Callable[[], BundleStore]) -> None:
        self._factory = factory
        self._store: BundleStore | None = None
        self._lock = threading.Lock()

    def get(self) -> BundleStore:
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is None:
                try:
                    store = self._factory()
                except (StoreUnavailableError, StoreConfigError) as exc:
                    raise StoreUnavailableError(str(exc)) from None
                except Exception as exc:  # no message: it could carry a DSN with a password
                    log.exception("opening the bundle store failed")
                    raise StoreUnavailableError(
                        f"opening the bundle store failed ({type(exc).__name__}); see the server log"
                    ) from None
                try:
                    store.ping()
                except BaseException:
                    store.close()
                    raise
                self._store = store
            return self._store

    @property
    def opened(self) -> BundleStore | None:
        """The store if it is open already (no attempt to open it)."""
        return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


class _ParsedBundles:
    """Validated bundles by stored ETag (a stored body never changes under its ETag), bounded."""

    def __init__(self, size: int = _PARSED_CACHE_SIZE) -> None:
        self._items: OrderedDict[str, MarketContextBundle] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, stored: StoredBundle) -> MarketContextBundle:
        with self._lock:
            found = self._items.get(stored.etag)
            if found is not None:
                self._items.move_to_end(stored.etag)
                return found
        bundle = MarketContextBundle.model_validate_json(stored.body)
        with self._lock:
            self._items[stored.etag] = bundle
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return bundle


class BadRequest(Exception):
    """A request we refuse with 400 and a plain-words message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _failure(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "message": message, "error": code}, status_code=status,
                        headers=_NO_CACHE)


def _shown(raw: str, limit: int = 40) -> str:
    """The start of an input, for a message (never echo kilobytes back)."""
    return repr(raw if len(raw) <= limit else raw[:limit] + "...")


def _single(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise BadRequest(f"invalid_{'as_of' if name == 'asOf' else name}", (
            f"{name} is given {len(values)} times; send it once"))
    return values[0] if values else None


def _symbol(request: Request, default: str | None = None) -> str:
    raw = _single(request, "symbol")
    if (raw is None or not raw) and default is not None:
        return default
    if raw is None or not raw:
        raise BadRequest("invalid_symbol", "symbol is required, e.g. ?symbol=SPY")
    if not SYMBOL_INPUT_RE.fullmatch(raw):
        raise BadRequest("invalid_symbol", (
            f"invalid symbol {_shown(raw)}: it must match {SYMBOL_INPUT_RULE} (a letter, then up to 14 "
            f"letters, digits, '.' or '-'; upper-cased by the server: {SYMBOL_RULE})"))
    return normalize_symbol(raw)


def parse_as_of(raw: str | None) -> datetime | None:
    """The ``asOf`` query value as an aware datetime (None when absent); BadRequest otherwise.
    The rule is serving.openapi.AS_OF_RULE (RFC 3339 with an offset); a space where the
    offset's '+' was (an unencoded '+' in a URL) is read as '+'."""
    if raw is None or raw == "":
        return None
    if not AS_OF_RE.fullmatch(raw):
        try:
            naive = datetime.fromisoformat(raw).tzinfo is None
        except ValueError:
            naive = False
        if naive:
            raise BadRequest("invalid_as_of", (
                f"asOf {_shown(raw)} has no UTC offset; send an RFC 3339 timestamp with one, e.g. "
                f"{_AS_OF_EXAMPLE} (a '+' must be URL-encoded as %2B)"))
        raise BadRequest("invalid_as_of", (
            f"asOf must be an ISO-8601 timestamp with a UTC offset (RFC 3339), e.g. "
            f"{_AS_OF_EXAMPLE}; got {_shown(raw)}"))
    text = raw[:10] + "T" + raw[11:]
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    elif text[-6] == " ":
        text = text[:-6] + "+" + text[-5:]
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:  # the right shape, but no such instant (month 13, day 0, ...)
        raise BadRequest("invalid_as_of", f"asOf {_shown(raw)} is not a real instant ({exc})") from None


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of an If-None-Match list (or *) against our strong ETag."""
    if not if_none_match:
        return False
    for token in if_none_match.split(","):
        token = token.strip()
        if token == "*":
            return True
        if token.startswith("W/"):
            token = token[2:]
        if token.strip('"') == etag:
            return True
    return False


def _ok_body(key: str, payload: dict[str, Any]) -> bytes:
    return json.dumps({"ok": True, key: payload}, separators=(",", ":")).encode("utf-8")


def create_app(store_factory: Callable[[], BundleStore],
               config: ServingConfig | None = None) -> Starlette:
    """The serving app; ``store_factory`` opens the bundle store (lazily, retried until it
    works); ``config`` (default: live clock, 300 s staleness, enabled) judges the bundles."""
    config = config or ServingConfig()
    stores = _LazyStore(store_factory)
    parsed = _ParsedBundles()
    metrics = ServingMetrics(lambda: stores.get(), config, lambda stored: parsed.get(stored))

    def seen(stored: StoredBundle, now: datetime) -> MarketContextBundle:
        return bundle_seen_at(parsed.get(stored), now, config.policy, config.market_clock)

    def requested_bundle(request: Request) -> MarketContextBundle | Response:
        """The bundle a request asks for (latest or as of asOf), seen at the serving clock,
        or the 404 answer."""
        symbol = _symbol(request)
        as_of = parse_as_of(_single(request, "asOf"))
        now = as_of or config.clock.now()
        if not config.enabled:
            return disabled_bundle(symbol, now, config.budgets)
        store = stores.get()
        stored = store.latest(symbol) if as_of is None else store.as_of(symbol, as_of)
        if stored is None:
            retired = store.retired_at(symbol) if as_of is None else None
            if retired is not None:  # answered as an unknown symbol, saying why
                return _failure(404, "not_found", (
                    f"no bundle served for {symbol}: it was retired from the universe at "
                    f"{retired.isoformat()} (`intel-assets universe add {symbol}` serves it "
                    "again; ?asOf= still answers from its history)"))
            when = "" if as_of is None else f" built as of {as_of.isoformat()} or earlier"
            return _failure(404, "not_found", (
                f"no bundle published for {symbol}{when}; check that {symbol} is in "
                "INTEL_UNIVERSE and that published_bundle has materialized for it"))
        return seen(stored, now)

    def market_context(request: Request) -> Response:
        bundle = requested_bundle(request)
        if isinstance(bundle, Response):
            return bundle
        body = _ok_body("context", bundle.to_wire())
        etag = hashlib.sha256(body).hexdigest()[:32]
        headers = {"ETag": f'"{etag}"', **_NO_CACHE}
        if _etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    def health(request: Request) -> Response:
        symbol = _symbol(request, default=DEFAULT_HEALTH_SYMBOL)
        as_of = parse_as_of(_single(request, "asOf"))
        now = as_of or config.clock.now()
        store = stores.get()
        if not config.enabled:
            bundle = disabled_bundle(symbol, now, config.budgets)
        else:
            stored = store.latest(symbol) if as_of is None else store.as_of(symbol, as_of)
            bundle = seen(stored, now) if stored is not None else merge_bundle(
                symbol, now, {}, config.budgets, config.policy, config.market_clock)
        report = symbol_health(bundle, enabled=config.enabled,
                               max_staleness_seconds=config.policy.max_staleness_seconds,
                               sources=store.provider_health())
        return Response(_ok_body("health", report.to_wire()), media_type="application/json",
                        headers=_NO_CACHE)

    def universe(request: Request) -> Response:
        now = config.clock.now()
        latest = stores.get().latest_all()
        newest = max((s.published_at for s in latest), default=None)
        report = universe_health([seen(s, now) for s in latest], newest)
        return Response(_ok_body("health", report.to_wire()), media_type="application/json",
                        headers=_NO_CACHE)

    def research(request: Request) -> Response:
        symbol = _symbol(request)
        brief = stores.get().staged(RESEARCH_KIND, [symbol]).get(symbol)
        if brief is None:
            return _failure(404, "not_found", f"no research brief for {symbol}; materialize "
                            "research_brief for it")
        wire = ResearchBrief.model_validate(brief).to_wire()  # the contract, or corrupt_bundle
        return Response(_ok_body("research", wire), media_type="application/json",
                        headers=_NO_CACHE)

    def skill(request: Request) -> Response:
        domain = request.path_params["domain"]
        if domain not in DOMAINS:
            return _failure(404, "invalid_domain", (
                f"no domain {domain!r}: one of {', '.join(DOMAINS)} (or health, research)"))
        bundle = requested_bundle(request)
        if isinstance(bundle, Response):
            return bundle
        output = SkillOutput.of(bundle.symbol, getattr(bundle.domains, domain))
        return Response(_ok_body("output", output.to_wire()), media_type="application/json",
                        headers=_NO_CACHE)

    def openapi(request: Request) -> Response:  # built from contracts/, cached
        return JSONResponse(openapi_document())

    def root(request: Request) -> Response:
        return HTMLResponse(ROOT_PAGE)

    def answering(endpoint: Callable[[Request], Response], path: str):
        """Refusals and store outages as {ok: false, message}; each answer timed and counted.
        A read runs on the event loop when the store is local: SQLite (a ~20 µs primary-key
        read) or PostgreSQL over a Unix socket (the embedded cluster, ~0.1 ms): that costs
        less than the hop to a worker thread and avoids the pool's queueing under load. A
        store over TCP is read in the thread pool."""

        def guarded(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = endpoint(request)
            except BadRequest as exc:
                response = _failure(400, exc.code, exc.message)
            except StoreUnavailableError as exc:  # where and why go to the log, not the client
                log.warning("bundle store unavailable: %s", exc)
                response = _failure(503, "store_unavailable", (
                    "the bundle store is unavailable; retry later (the server log says why)"))
            except ValidationError as exc:  # a stored body that no longer validates
                log.error("a stored bundle does not validate: %s", exc)
                response = _failure(500, "corrupt_bundle", (
                    "the stored bundle does not validate against the wire contract "
                    f"({exc.error_count()} errors, e.g. {exc.errors()[0]['loc']}); rematerialize "
                    "and publish it (intel-assets materialize SYMBOL)"))
            except Exception:
                log.exception("unhandled error serving %s", request.url.path)
                response = _failure(500, "internal_error",
                                    "unexpected server error; see the server log")
            metrics.observe(path, response.status_code, time.perf_counter() - started)
            return response

        async def run(request: Request) -> Response:
            store = stores.opened
            if store is not None and store.is_local:
                return guarded(request)
            return await run_in_threadpool(guarded, request)

        return run

    def liveness(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def http_error(request: Request, exc: Exception) -> Response:
        """Unknown paths and methods answer in the API's error shape (405 with Allow)."""
        status = getattr(exc, "status_code", 404)
        headers = dict(getattr(exc, "headers", None) or {})
        if status == 405:
            return JSONResponse({"ok": False, "error": "method_not_allowed", "message": (
                f"{request.method} is not allowed on {request.url.path}; use "
                f"{headers.get('Allow', 'GET')}")}, status_code=405,
                headers={**headers, **_NO_CACHE})
        if status == 404:
            return JSONResponse({"ok": False, "error": "not_found", "message": (
                f"no route {request.url.path}; GET / lists the API")}, status_code=404,
                headers=_NO_CACHE)
        return JSONResponse({"ok": False, "error": "http_error", "message": str(
            getattr(exc, "detail", "refused"))}, status_code=status, headers=headers)

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error serving %s", request.url.path, exc_info=exc)
        return _failure(500, "internal_error", "unexpected server error; see the server log")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            stores.close()

    app = Starlette(
        routes=[
            Route(MARKET_CONTEXT_PATH, answering(market_context, MARKET_CONTEXT_PATH),
                  methods=["GET"]),
            Route(HEALTH_PATH, answering(health, HEALTH_PATH), methods=["GET"]),
            Route(UNIVERSE_HEALTH_PATH, answering(universe, UNIVERSE_HEALTH_PATH),
                  methods=["GET"]),
            Route(RESEARCH_PATH, answering(research, RESEARCH_PATH), methods=["GET"]),
            Route(SKILL_PATH, answering(skill, SKILL_PATH), methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/", root, methods=["GET"]),
            Route("/healthz", liveness, methods=["GET"]),
            Route("/metrics", metrics.response, methods=["GET"]),  # Prometheus text format
        ],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.config = config
    return app


#: uvicorn options `intel-assets serve` runs with (tests serve the app with the same ones).
UVICORN_OPTIONS = {"http": BoundedHeadProtocol, "log_level": "warning", "access_log": False}


def serve(app: Starlette, host: str, port: int) -> None:
    """Run the app with uvicorn until interrupted (warnings only, no access log, heads capped)."""
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, **UVICORN_OPTIONS)).run()
