"""Owns `intel-assets serve`: the serving API answering Torghut's market-context requests from
the bundle store, on the live clock or INTEL_AS_OF's replay clock."""

from __future__ import annotations

from intel_assets.cli.common import safe_dsn, say
from intel_assets.settings import Settings


def serve_cmd(settings: Settings, host: str | None, port: int | None) -> int:
    from intel_assets.stores.bundle_store import BundleStore
    from intel_assets.stores.dsn_contract import store_connect_dsn
    from intel_assets.serving.app import create_app, serve, serving_config

    dsn = store_connect_dsn(settings)  # fails fast (DsnContractError) on a broken TLS contract
    from intel_assets.stores.local_postgres import ensure_for

    ensure_for(settings)  # the embedded cluster: started, or joined (and kept up while we serve)
    config = serving_config(settings)
    app = create_app(lambda: BundleStore.from_dsn(dsn), config)
    host, port = host or settings.serve_host, port if port is not None else settings.serve_port
    clock = f"replay clock {settings.as_of.isoformat()}" if settings.as_of else "live clock"
    say(f"serving http://{host}:{port}/api/torghut/market-context?symbol=... (store {safe_dsn(dsn)}, "
        f"{clock}, stale after {config.policy.max_staleness_seconds} s"
        + ("" if config.enabled else ", DISABLED by INTEL_MARKET_CONTEXT_ENABLED=false") + ")")
    serve(app, host, port)
    return 0
