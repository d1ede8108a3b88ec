"""Owns `intel-assets universe` (list, add, retire) and the universe check at the start of
materialize, demo and ui.

The universe is INTEL_UNIVERSE when set (it wins: add/retire then print the value to set),
else INTEL_HOME/universe.json (written here, read by settings.py), else the data source's
default. A symbol the data source knows has bars in the warehouse (ClickHouse ta_microbars);
before `demo` seeds, one it can seed (LEAN minute data on disk, or any symbol of the synthetic
market). Retiring records the symbol in the bundle store (retired_symbols): the serving API
stops serving its latest bundle at once (no restart) and /health/universe stops counting it;
its history stays. Dagster's partitions are built from the universe when the code location
loads: after add/retire, reload it (or restart `intel-assets ui`)."""

from __future__ import annotations

import argparse
import json
import sys

from intel_assets.cli.common import open_store, say
from intel_assets.settings import Settings, load_settings

RELOAD_HINT = ("Dagster builds its partitions when the code location loads: reload it "
               "(Deployment > Code locations > Reload) or restart `intel-assets ui`")
#: How long `universe add/list` wait for the embedded ClickHouse another process holds.
CHECK_LOCK_SECONDS = 10.0
#: ... and the check at the start of materialize/demo/ui (held: no check, the run waits anyway).
START_LOCK_SECONDS = 2.0


def known_to_source(settings: Settings, symbols: list[str], *, before_seed: bool = False,
                    lock_timeout: float = CHECK_LOCK_SECONDS,
                    empty_is_unknown: bool = True) -> dict[str, bool] | None:
    """Per symbol whether the data source knows it: bars in the warehouse, or (``before_seed``,
    the demo) data `seed` can load. None when the warehouse cannot be read now (another process
    holds the embedded ClickHouse, or the server is unreachable), or when it holds no bars at
    all and not ``empty_is_unknown`` (nothing seeded yet: a problem of the whole warehouse,
    which the run itself reports, not of some symbols)."""
    if before_seed:
        lean_dir = settings.resolved_lean_dir
        if lean_dir is None:  # the synthetic market seeds every symbol it is given
            return dict.fromkeys(symbols, True)
        from intel_assets.domain.market_data import lean_minute_days

        return {s: bool(lean_minute_days(lean_dir, s)) for s in symbols}
    from intel_assets.stores.warehouse import WarehouseError, open_warehouse

    try:
        with open_warehouse(settings.clickhouse_dsn, settings.clickhouse_database,
                            lock_timeout_seconds=lock_timeout) as wh:
            wh.ensure_schema()
            with_bars = set(wh.coverage()["symbol"])
    except WarehouseError:
        return None
    if not with_bars and not empty_is_unknown:
        return None
    return {s: s in with_bars for s in symbols}


def unknown_symbols(settings: Settings, symbols: list[str] | None = None, *,
                    before_seed: bool = False) -> list[str]:
    """The symbols (default: the universe) the data source does not know ([] when the
    warehouse cannot be read now or holds no bars at all: nothing is claimed unknown on no
    evidence)."""
    wanted = _normalized(symbols) if symbols else list(settings.symbols)
    known = known_to_source(settings, wanted, before_seed=before_seed,
                            lock_timeout=START_LOCK_SECONDS, empty_is_unknown=False)
    return [] if known is None else [s for s in wanted if not known[s]]


def _normalized(symbols: list[str]) -> list[str]:
    """The asked symbols as the universe spells them; invalid ones are left to the command
    (materialize names them)."""
    from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol

    found = []
    for symbol in symbols:
        try:
            found.append(normalize_symbol(symbol))
        except InvalidSymbolError:
            continue
    return list(dict.fromkeys(found))


def _where(settings: Settings, before_seed: bool) -> str:
    if before_seed and settings.resolved_lean_dir is not None:
        return f"no LEAN minute data in {settings.resolved_lean_dir}/equity/usa/minute"
    return "no bars in the warehouse (ta_microbars)"


def start_check(settings: Settings, cmd: str, symbols: list[str] | None = None,
                force: bool = False) -> int | None:
    """The universe check at the start of materialize, demo and ui: one line naming the
    symbols the data source does not know and the command that retires them. ui warns;
    materialize refuses them (exit 2) unless ``force``; demo refuses them (its seed cannot
    load a ticker the LEAN data lacks). None = go on."""
    before_seed = cmd == "demo"
    unknown = unknown_symbols(settings, symbols, before_seed=before_seed)
    if not unknown:
        return None
    names = " ".join(unknown)
    label = "INTEL_UNIVERSE" if settings.universe_source == "INTEL_UNIVERSE" else "the universe"
    what = (f"{label} lists {', '.join(unknown)}, which {'has' if len(unknown) == 1 else 'have'} "
            f"{_where(settings, before_seed)}")
    if cmd == "demo":
        print(f"error: {what}; fix the ticker, or retire it (`intel-assets universe retire "
              f"{names}`)", file=sys.stderr)
        return 2
    if cmd == "materialize" and not force:
        print(f"error: {what}: a refresh would publish an empty bundle at quality 0.0; seed "
              f"{'it' if len(unknown) == 1 else 'them'} (`intel-assets seed`), retire "
              f"{'it' if len(unknown) == 1 else 'them'} (`intel-assets universe retire {names}`)"
              ", or pass --force to publish anyway", file=sys.stderr)
        return 2
    print(f"warning: {what}; {'they' if len(unknown) > 1 else 'it'} will publish an empty "
          f"bundle at quality 0.0: `intel-assets universe retire {names}` removes "
          f"{'them' if len(unknown) > 1 else 'it'}", file=sys.stderr)
    return None


# ---- the subcommand ----------------------------------------------------------------------

def add_parser(sub: argparse._SubParsersAction) -> None:
    """`universe list|add|retire` under the top-level parser."""
    p = sub.add_parser("universe", help="list, add and retire the symbols of the universe",
                       description=__doc__.split("\n\n")[1].replace("\n", " "))
    actions = p.add_subparsers(dest="universe_cmd", required=True, metavar="{list,add,retire}")
    actions.add_parser("list", help="each symbol: in the universe or retired, its latest bundle's "
                       "state and quality, whether the data source knows it")
    p_add = actions.add_parser("add", help="add symbols (they must have bars in the warehouse)")
    p_add.add_argument("symbols", nargs="+", metavar="SYMBOL", help="ticker, e.g. SPY")
    p_add.add_argument("--force", action="store_true",
                       help="add symbols the warehouse has no bars for")
    p_retire = actions.add_parser("retire", help="remove symbols: their latest bundles stop "
                                  "being served, their history stays")
    p_retire.add_argument("symbols", nargs="+", metavar="SYMBOL", help="ticker, e.g. SPY")


def universe_cmd(args: argparse.Namespace) -> int:
    from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol

    settings = load_settings()
    if args.universe_cmd == "list":
        return _list(settings)
    try:
        symbols = list(dict.fromkeys(normalize_symbol(s) for s in args.symbols))
    except InvalidSymbolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.universe_cmd == "add":
        return _add(settings, symbols, args.force)
    return _retire(settings, symbols)


def _write_universe(settings: Settings, symbols: list[str]) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    path = settings.universe_file
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"symbols": symbols}, indent=2) + "\n")
    tmp.replace(path)


def _persist(settings: Settings, symbols: list[str], done: str) -> None:
    """Write the new universe, or (INTEL_UNIVERSE set: it wins) print the value to set."""
    if settings.universe_source == "INTEL_UNIVERSE":
        say(f"{done} in the bundle store; INTEL_UNIVERSE is set and wins over "
            f"{settings.universe_file}: set INTEL_UNIVERSE={','.join(symbols)}")
    else:
        _write_universe(settings, symbols)
        say(f"{done}; universe ({len(symbols)} symbols) written to {settings.universe_file}")
    say(RELOAD_HINT)


def _add(settings: Settings, symbols: list[str], force: bool) -> int:
    current = list(settings.symbols)
    new = [s for s in symbols if s not in current]
    if new and not force:
        known = known_to_source(settings, new)
        if known is None:
            print("error: cannot read the warehouse now to check "
                  f"{', '.join(new)} (another process holds the embedded ClickHouse, or the "
                  "server is unreachable: `intel-assets doctor`); retry, or pass --force",
                  file=sys.stderr)
            return 2
        unknown = [s for s in new if not known[s]]
        if unknown:
            print(f"error: {', '.join(unknown)} {'has' if len(unknown) == 1 else 'have'} no bars "
                  "in the warehouse (ta_microbars): check the ticker, seed it (`intel-assets "
                  "seed`; LEAN data in INTEL_LEAN_DATA_DIR/equity/usa/minute/<ticker>) or see "
                  "what is there (`intel-assets universe list`, `intel-assets doctor`); "
                  "--force adds it anyway", file=sys.stderr)
            return 2
    store = open_store(settings)
    try:
        store.ensure_schema()
        store.reinstate(symbols)
    finally:
        store.close()
    already = [s for s in symbols if s in current]
    if already:
        say(f"already in the universe: {', '.join(already)}")
    _persist(settings, current + new, f"added {', '.join(new) or 'nothing'}")
    return 0


def _retire(settings: Settings, symbols: list[str]) -> int:
    current = list(settings.symbols)
    store = open_store(settings)
    try:
        store.ensure_schema()
        published = {b.symbol for b in store.latest_all()}
        strangers = [s for s in symbols if s not in current and s not in published]
        if strangers:
            print(f"error: {', '.join(strangers)} {'is' if len(strangers) == 1 else 'are'} "
                  "neither in the universe nor served; `intel-assets universe list` shows "
                  "both", file=sys.stderr)
            return 2
        remaining = [s for s in current if s not in symbols]
        if not remaining:
            print("error: that would retire every symbol of the universe; add another first "
                  "(`intel-assets universe add SYMBOL`)", file=sys.stderr)
            return 2
        store.retire(symbols)
    finally:
        store.close()
    _persist(settings, remaining, f"retired {', '.join(symbols)}: their latest bundles are "
             "no longer served (history and ?asOf= stay)")
    return 0


def _list(settings: Settings) -> int:
    from intel_assets.contracts.bundle import DOMAINS

    store = open_store(settings)
    try:
        retired = store.retired()
        latest = {b.symbol: b for b in store.latest_all()}
        for symbol in retired:
            found = store.history(symbol, 1)
            if found:
                latest[symbol] = found[0]
    finally:
        store.close()
    universe = list(settings.symbols)
    others = sorted((set(latest) | set(retired)) - set(universe))
    rows = universe + others
    known = known_to_source(settings, rows) or {}
    source = {"INTEL_UNIVERSE": "INTEL_UNIVERSE", "file": str(settings.universe_file),
              "default": "the data source's default"}[settings.universe_source]
    say(f"universe: {len(universe)} symbols from {source}")
    head = f"{'symbol':<10} {'status':<12} {'quality':>7}  {'data':<7}  domains"
    say(head)
    say("-" * len(head))
    for symbol in rows:
        status = ("retired" if symbol in retired else "in universe" if symbol in universe
                  else "not listed")
        stored = latest.get(symbol)
        if stored is None:
            quality, states = "-", "(no bundle published)"
        else:
            body = json.loads(stored.body)
            quality = f"{stored.quality_score:.2f}"
            states = " ".join(f"{d}={body['domains'][d]['state']}" for d in DOMAINS)
        data = {True: "bars", False: "NO BARS"}.get(known.get(symbol), "?")
        say(f"{symbol:<10} {status:<12} {quality:>7}  {data:<7}  {states}")
    if not known:
        say("(data: ? = the warehouse could not be read now)")
    return 0
