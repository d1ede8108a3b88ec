"""Owns `intel-assets lean-runner`: the reference LEAN runner (Torghut's LEAN runner contract v2,
intel_assets/execution/lean_runner.py) served in the foreground, its backtests kept under
INTEL_HOME.

    intel-assets lean-runner [--lean-dir DIR] [--port 8787] [--as-of T | --live]
    python -m intel_assets.cli lean-runner ...
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

from intel_assets.cli.common import default_lean_dir
from intel_assets.settings import SettingsError, load_settings, parse_as_of


def main(argv: list[str] | None = None) -> int:
    from intel_assets.execution.lean_runner import serve_lean_runner

    parser = argparse.ArgumentParser(prog="intel-assets lean-runner",
                                     description="Serve the reference LEAN runner (contract v2).")
    parser.add_argument("--lean-dir", type=Path, default=None,
                        help="LEAN Data folder (default: INTEL_LEAN_DATA_DIR or ../shared/data/lean)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port to listen on (default 8787)")
    parser.add_argument("--normalization", choices=["raw", "adjusted"], default="raw",
                        help="LEAN data normalization of the prices fills use: raw "
                        "(unadjusted) or adjusted for splits and dividends")
    clock = parser.add_mutually_exclusive_group()
    clock.add_argument("--as-of", default=None,
                       help="replay clock start, ISO-8601 with offset (default $INTEL_AS_OF, "
                            "else New York midnight of the first data day)")
    clock.add_argument("--live", action="store_true", help="use the wall clock")
    parser.add_argument("--moc-buffer-minutes", type=float, default=15.5,
                        help="market-on-close orders must come this long before the close")
    parser.add_argument("--store", type=Path, default=None,
                        help="SQLite file of the backtests (default "
                             "$INTEL_HOME/lean-runner/backtests.sqlite3)")
    args = parser.parse_args(argv)
    try:
        as_of = parse_as_of(args.as_of) if args.as_of else None
    except (SettingsError, ValueError) as exc:
        parser.error(f"--as-of: {exc}")
    # A bad INTEL_AS_OF (or any other setting) is a SettingsError: one `error:` line (cli/main.py).
    settings = load_settings()
    if not args.as_of and not args.live:
        as_of = settings.as_of
    lean_dir = args.lean_dir or default_lean_dir()
    mode = "live clock" if args.live else f"replay clock from {as_of.isoformat() if as_of else 'the start of the data'}"
    print(f"LEAN runner (contract v2) on http://{args.host}:{args.port}, {lean_dir}, "
          f"{args.normalization} prices, {mode}")
    store = args.store or settings.home / "lean-runner" / "backtests.sqlite3"
    print(f"backtests kept in {store}")
    serve_lean_runner(lean_dir, args.host, args.port, args.normalization, as_of=as_of,
                      live=args.live, moc_buffer=timedelta(minutes=args.moc_buffer_minutes),
                      bounds=settings.order_bounds, store_path=store)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
