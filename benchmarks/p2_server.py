"""The serving API in its own process for P2, exactly as `intel-assets serve` builds it
(create_app over BundleStore.from_dsn with serving_config from the INTEL_* environment, so
every answer is re-aged at the serving clock; intel_assets.serving.app.serve: uvicorn, one
worker, warnings only, no access log), wrapped in a pure-ASGI timer that adds the header
`x-bench-app-us`: microseconds from the request entering the app to its response start.
The wrapper costs a few microseconds; pass --no-timing to serve the bare app. With --as-of
the server judges bundles at that replay clock (bodies, hence ETags, stay stable: the 304
phase needs that); without it, at the live clock.

Usage: python benchmarks/p2_server.py --port PORT --dsn sqlite:///abs/bundles.sqlite3 [--as-of T]
"""

from __future__ import annotations

import argparse
import time


def timing_middleware(app):
    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        started = time.perf_counter_ns()

        async def timed_send(message):
            if message["type"] == "http.response.start":
                elapsed_us = (time.perf_counter_ns() - started) // 1000
                headers = list(message.get("headers", []))
                headers.append((b"x-bench-app-us", str(elapsed_us).encode()))
                message = {**message, "headers": headers}
            await send(message)

        return await app(scope, receive, timed_send)

    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--as-of", default=None, help="replay clock (ISO-8601 with offset)")
    args = parser.parse_args()

    from intel_assets.stores.bundle_store import BundleStore
    from intel_assets.serving.app import create_app, serve, serving_config
    from intel_assets.settings import load_settings

    dsn = args.dsn
    settings = load_settings(**({"as_of": args.as_of} if args.as_of else {}))
    app = create_app(lambda: BundleStore.from_dsn(dsn), serving_config(settings))
    serve(app if args.no_timing else timing_middleware(app), args.host, args.port)


if __name__ == "__main__":
    main()
