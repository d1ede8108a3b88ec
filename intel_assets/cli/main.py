"""Owns the `intel-assets` console script's parser and dispatch: each subcommand's body lives in
its own module of this package, and a settings error from any of them ends here as one
``error:`` line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import sys

#: what `intel-assets --help` says: the product, then the common commands.
DESCRIPTION = """intel_assets builds decision-time market context for Torghut: per symbol, technicals,
regime, news and fundamentals from the market warehouse (ClickHouse) and the news and SEC
providers, refreshed by Dagster and published as versioned bundles that an HTTP API serves with
their freshness and quality measured at request time. Everything runs locally with no server
installed (embedded PostgreSQL and ClickHouse under INTEL_HOME, default ./.intel).

common commands:
  demo          seed a market, materialize every asset, publish, print the bundles
  ui            Dagster's UI and daemon plus the serving API, on 127.0.0.1
  serve         the serving API alone (GET /api/torghut/market-context?symbol=SPY)
  bundle SYM    print the latest published bundle of SYM
  materialize   refresh and publish the universe (or the symbols named)
  universe      list, add and retire the symbols of the universe
  doctor        check every configured dependency and say how to fix failures

Settings are INTEL_* environment variables (README: Configuration)."""

#: subcommands with options of their own (each answers --help): the arguments are theirs, and
#: the function (module, name) called with them
PASS_THROUGH = {
    "postgres": ("intel_assets.stores.local_postgres", "main"),
    "doctor": ("intel_assets.cli.doctor", "main_doctor"),
    "parity": ("intel_assets.cli.parity", "parity_cmd"),
    "schema": ("intel_assets.cli.schema", "main"),
    "skills": ("intel_assets.cli.skills", "main"),
    "fundamentals": ("intel_assets.cli.fundamentals", "main"),
    "lean-runner": ("intel_assets.cli.lean_runner", "main"),
    "lean-replay": ("intel_assets.cli.lean_replay", "main"),
    "rollout": ("intel_assets.cli.rollout", "main"),
}

#: subcommands that say at start what the TLS contract would refuse in production
WARNS_ABOUT_TLS = ("materialize", "demo", "serve", "bundle", "ui")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intel-assets", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"intel-assets {_version()}",
                        help="print the installed version and exit")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    p_seed = sub.add_parser("seed", help="load LEAN minute data (or a synthetic market) into ClickHouse")
    p_seed.add_argument("--synthetic", action="store_true", help="ignore LEAN data; seed a synthetic market")
    p_mat = sub.add_parser("materialize", help="refresh + publish the universe (one Dagster run "
                           "per contiguous group of the symbols asked)")
    p_mat.add_argument("symbols", nargs="*", help="symbols of the universe to refresh (default: "
                       "all); each contiguous group of them in the universe is one run")
    p_mat.add_argument("--force", action="store_true",
                       help="refresh symbols the warehouse has no bars for (they publish at quality 0.0)")
    sub.add_parser("demo", help="seed, materialize every asset in one run, publish, print a summary")
    p_serve = sub.add_parser("serve", help="serve bundles to Torghut over HTTP")
    p_serve.add_argument("--host", help="address to listen on (default: INTEL_SERVE_HOST, 127.0.0.1)")
    p_serve.add_argument("--port", type=int,
                         help="port to listen on (default: INTEL_SERVE_PORT, 8080)")
    p_bundle = sub.add_parser("bundle", help="print the latest published bundle of SYMBOL")
    p_bundle.add_argument("symbol", help="ticker, e.g. SPY")
    p_ui = sub.add_parser(
        "ui", help="Dagster webserver + daemon and the serving API on 127.0.0.1",
        description="Dagster's webserver and daemon (workspace.yaml) and the serving API, on "
        "127.0.0.1. Two ports: Dagster's UI on --port (default 3000), the serving API on "
        "INTEL_SERVE_PORT (default 8080; the port `intel-assets serve --port` takes). Change "
        "them with `intel-assets ui --port 3001` and `INTEL_SERVE_PORT=8081 intel-assets ui`.")
    p_ui.add_argument("--port", type=int, default=3000,
                      help="Dagster UI's port (default 3000); the serving API's port is "
                      "INTEL_SERVE_PORT (default 8080)")
    from intel_assets.cli.universe import add_parser as add_universe_parser

    add_universe_parser(sub)
    # Subcommands with options of their own (each answers --help).
    sub.add_parser("postgres", add_help=False,
                   help="the embedded PostgreSQL cluster of INTEL_HOME: status, start, stop")
    sub.add_parser("doctor", add_help=False,
                   help="check every configured dependency and explain failures")
    sub.add_parser("parity", add_help=False,
                   help="seed decisions, replay them through Alpaca and LEAN, print TCA and drift")
    sub.add_parser("schema", add_help=False,
                   help="write JSON Schemas of every wire shape to schemas/ (--check: drift)")
    sub.add_parser("skills", add_help=False,
                   help="write skills/*/SKILL.md from the schemas and the demo data (--check)")
    sub.add_parser("fundamentals", add_help=False,
                   help="point-in-time fundamentals of SYMBOL from real SEC files on disk")
    sub.add_parser("lean-runner", add_help=False,
                   help="serve the reference LEAN runner (Torghut's LEAN runner contract v2)")
    sub.add_parser("lean-replay", add_help=False,
                   help="replay LEAN regression algorithms (NAME or all) and compare with LEAN")
    sub.add_parser("rollout", add_help=False,
                   help="rollout sign-offs (approve, revoke), the gate's status, rollback drill")
    return parser


def _version() -> str:
    """The installed distribution's version (package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("intel_assets")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def settings_errors() -> tuple[type[Exception], ...]:
    """The errors that mean "fix this setting" (their message says which and how): printed as
    one ``error:`` line, exit 2. Imported only once one is being handled (the stores import
    Dagster)."""
    from intel_assets.settings import ParityConfigError, SettingsError
    from intel_assets.stores.bundle_store import StoreConfigError, StoreUnavailableError
    from intel_assets.stores.dsn_contract import DsnContractError
    from intel_assets.stores.local_postgres import EmbeddedPostgresError
    from intel_assets.stores.warehouse import WarehouseError

    return (SettingsError, DsnContractError, ParityConfigError, StoreConfigError,
            StoreUnavailableError, WarehouseError, EmbeddedPostgresError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.cmd not in PASS_THROUGH:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return dispatch(args, rest)
    except Exception as exc:
        if not isinstance(exc, settings_errors()):
            raise
        print(f"error: {exc}", file=sys.stderr)  # one line with the fix, never a traceback
        return 2


def dispatch(args: argparse.Namespace, rest: list[str]) -> int:
    """Run the subcommand ``args.cmd`` (``rest``: the arguments of a pass-through one)."""
    if args.cmd in PASS_THROUGH:
        from importlib import import_module

        module, name = PASS_THROUGH[args.cmd]
        return getattr(import_module(module), name)(rest)
    from intel_assets.settings import load_settings

    if args.cmd in WARNS_ABOUT_TLS:
        from intel_assets.cli.common import warn_about_tls

        warn_about_tls(load_settings())
    if args.cmd == "universe":
        from intel_assets.cli.universe import universe_cmd

        return universe_cmd(args)
    if args.cmd in ("materialize", "demo", "ui"):  # unknown symbols: warned, or refused
        from intel_assets.cli.universe import start_check

        refused = start_check(load_settings(), args.cmd, getattr(args, "symbols", None),
                              force=getattr(args, "force", False))
        if refused is not None:
            return refused
    if args.cmd == "seed":
        from intel_assets.cli.seed import seed_cmd

        return seed_cmd(args.synthetic)
    if args.cmd == "materialize":
        from intel_assets.cli.materialize import materialize_cmd

        return materialize_cmd(args.symbols)
    if args.cmd == "demo":
        from intel_assets.cli.demo import demo

        return demo()
    if args.cmd == "serve":
        from intel_assets.cli.serve import serve_cmd

        return serve_cmd(load_settings(), args.host, args.port)
    if args.cmd == "bundle":
        from intel_assets.cli.bundle import bundle_cmd

        return bundle_cmd(load_settings(), args.symbol)
    if args.cmd == "ui":
        from intel_assets.cli.common import local_settings
        from intel_assets.cli.ui import ui_cmd

        return ui_cmd(local_settings(), args.port)
    return 2


if __name__ == "__main__":
    sys.exit(main())
