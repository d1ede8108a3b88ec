"""Owns the Torghut-facing HTTP API: latest bundle by symbol (ETag/304), research brief,
store health, liveness."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol
from intel_assets.resources.bundle_store import BundleStore, StoreConfigError, StoreUnavailableError
from intel_assets.torghut.metrics import count_requests, metrics_response

log = logging.getLogger(__name__)
MARKET_CONTEXT_PATH = "/api/torghut/market-context"
HEALTH_PATH = "/api/torghut/market-context/health"
#: The research brief is not a bundle domain: Torghut's strict schema admits exactly four.
RESEARCH_PATH = "/api/torghut/market-context/research"
RESEARCH_KIND = "research"
_NO_CACHE = {"Cache-Control": "no-cache"}


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


def _error(status: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status, headers=_NO_CACHE)


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


def create_app(store_factory: Callable[[], BundleStore]) -> Starlette:
    """The serving app; `store_factory` opens the bundle store (lazily, retried until it works)."""
    stores = _LazyStore(store_factory)

    def market_context(request: Request) -> Response:
        try:
            symbol = normalize_symbol(request.query_params.get("symbol"))
        except InvalidSymbolError as exc:
            return _error(400, "invalid_symbol", str(exc))
        try:
            stored = stores.get().latest(symbol)
        except StoreUnavailableError as exc:
            return _error(503, "store_unavailable", str(exc))
        if stored is None:
            return _error(
                404, "not_found",
                f"no bundle published for {symbol}; it is not in the published universe yet "
                "(check INTEL_UNIVERSE and that the bundle asset has materialized for it)",
            )
        headers = {"ETag": f'"{stored.etag}"', **_NO_CACHE}
        if _etag_matches(request.headers.get("if-none-match"), stored.etag):
            return Response(status_code=304, headers=headers)
        return Response(stored.body, media_type="application/json", headers=headers)

    def research(request: Request) -> Response:
        try:
            symbol = normalize_symbol(request.query_params.get("symbol"))
        except InvalidSymbolError as exc:
            return _error(400, "invalid_symbol", str(exc))
        try:
            brief = stores.get().staged(RESEARCH_KIND, [symbol]).get(symbol)
        except StoreUnavailableError as exc:
            return _error(503, "store_unavailable", str(exc))
        if brief is None:
            return _error(404, "not_found", f"no research brief for {symbol}; materialize "
                          "research_brief for it")
        return JSONResponse(brief, headers=_NO_CACHE)

    def health(request: Request) -> Response:
        try:
            summary = stores.get().health()
        except StoreUnavailableError as exc:
            return JSONResponse(
                {"status": "unavailable", "storeReachable": False, "error": "store_unavailable",
                 "detail": str(exc)},
                status_code=503, headers=_NO_CACHE,
            )
        healthy = summary["symbols"] > 0 and all(
            counts["stale"] == counts["missing"] == counts["error"] == 0
            for counts in summary["domains"].values()
        )
        body = {"status": "ok" if healthy else "degraded", "storeReachable": True, **summary}
        return JSONResponse(body, headers=_NO_CACHE)

    def on_loop_when_local(endpoint: Callable[[Request], Response]):
        """Run a read on the event loop when the store is local SQLite (a ~20 µs primary-key
        read costs less than the hop to a worker thread, and avoids the thread pool's queueing
        under load); a networked store (PostgreSQL) is read in the thread pool."""

        async def run(request: Request) -> Response:
            store = stores.opened
            if store is not None and store.is_local:
                return endpoint(request)
            return await run_in_threadpool(endpoint, request)

        return run

    def liveness(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error serving %s", request.url.path, exc_info=exc)
        return _error(500, "internal_error", "unexpected server error; see the server log")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            stores.close()

    return Starlette(
        routes=[
            Route(MARKET_CONTEXT_PATH, on_loop_when_local(count_requests(market_context)),
                  methods=["GET"]),
            Route(HEALTH_PATH, health, methods=["GET"]),
            Route(RESEARCH_PATH, research, methods=["GET"]),
            Route("/healthz", liveness, methods=["GET"]),
            Route("/metrics", metrics_response, methods=["GET"]),  # Prometheus text format
        ],
        exception_handlers={Exception: internal_error},
        lifespan=lifespan,
    )


def serve(app: Starlette, host: str, port: int) -> None:
    """Run the app with uvicorn until interrupted (warnings only, no access log)."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    uvicorn.Server(config).run()
