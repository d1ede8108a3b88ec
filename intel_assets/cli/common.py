"""Owns what several subcommands share: progress lines, the demo's settings (the replay clock of a
LEAN data set), the bundle store and the table of its latest bundles, DSNs fit to print, the TLS
warnings at start, and the default LEAN data folder."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from intel_assets.settings import LEAN_DEMO_AS_OF, Settings, live_clock_requested, load_settings

REPO = Path(__file__).resolve().parents[2]


def say(msg: str) -> None:
    print(msg, flush=True)


#: Under INTEL_HOME: the clock of the synthetic market `seed` loaded last (its newest bar).
SEEDED_CLOCK_FILE = "seeded_clock.json"


def remember_seeded_clock(settings: Settings, source: str, newest: datetime) -> None:
    """What `seed` loaded (``source``: lean or synthetic) and its newest bar, so that demo,
    materialize and ui replay that market at the same clock."""
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / SEEDED_CLOCK_FILE).write_text(json.dumps(
        {"source": source, "newestBar": newest.isoformat()}) + "\n")


def seeded_clock(settings: Settings) -> tuple[str, datetime] | None:
    """(source, newest bar) `seed` remembered under INTEL_HOME, or None."""
    path = settings.home / SEEDED_CLOCK_FILE
    try:
        data = json.loads(path.read_text())
        return data["source"], datetime.fromisoformat(data["newestBar"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def local_settings(quiet: bool = False) -> Settings:
    """The one configuration of demo, materialize and ui: the environment's settings, with the
    replay clock the seeded data needs when INTEL_AS_OF is not set: the LEAN demo minute
    (LEAN data), else the newest synthetic bar `seed` remembered; the live clock only when
    nothing was seeded. INTEL_AS_OF, when set, is used as it is. (Providers left unconfigured
    are served from the packaged samples: local_stack.sample_providers / run_ui.)"""
    settings = load_settings()
    if settings.as_of is not None or live_clock_requested():
        return settings
    seeded = seeded_clock(settings)
    if seeded is not None and seeded[0] == "synthetic":
        settings = load_settings(as_of=seeded[1].isoformat())
        if not quiet:
            say(f"replay clock: {seeded[1].isoformat()} (newest synthetic bar seeded; set "
                "INTEL_AS_OF to change, INTEL_AS_OF=live for the live clock)")
    elif settings.resolved_lean_dir is not None:
        settings = load_settings(as_of=LEAN_DEMO_AS_OF)
        if not quiet:
            say(f"replay clock: INTEL_AS_OF={LEAN_DEMO_AS_OF} (LEAN data; set INTEL_AS_OF to "
                "change, INTEL_AS_OF=live for the live clock)")
    return settings


def demo_settings() -> Settings:
    """local_settings(): the name other commands (skills) call."""
    return local_settings()


def default_lean_dir() -> Path:
    """INTEL_LEAN_DATA_DIR (settings), else ``<repo>/../shared/data/lean``."""
    configured = load_settings().lean_data_dir
    return configured.expanduser() if configured else REPO.parent / "shared" / "data" / "lean"


def open_store(settings: Settings):
    """The bundle store, opened with the DSN the TLS contract checked (sslrootcert added)."""
    from intel_assets.stores.local_postgres import ensure_for
    from intel_assets.stores.bundle_store import BundleStore
    from intel_assets.stores.dsn_contract import store_connect_dsn

    ensure_for(settings)  # the embedded cluster: started, or joined while it runs
    return BundleStore.from_dsn(store_connect_dsn(settings))


def summary_rows(settings: Settings) -> list[dict]:
    """The latest published bundle of every symbol of the universe (None: none published)."""
    store = open_store(settings)
    try:
        rows = []
        for symbol in settings.symbols:
            stored = store.latest(symbol)
            rows.append({"symbol": symbol, "bundle": None if stored is None else json.loads(stored.body)})
        return rows
    finally:
        store.close()


def print_summary(rows: list[dict]) -> None:
    from intel_assets.contracts.bundle import DOMAINS

    head = f"{'symbol':<8} {'quality':>7}  " + "  ".join(f"{d:<12}" for d in DOMAINS) + "  risk flags"
    say(head)
    say("-" * len(head))
    from intel_assets.domain.samples import SAMPLE_FLAG

    sample = False
    for row in rows:
        b = row["bundle"]
        if b is None:
            say(f"{row['symbol']:<8} {'-':>7}  (no bundle published)")
            continue
        cells = []
        for d in DOMAINS:
            block = b["domains"][d]
            marked = SAMPLE_FLAG in block["riskFlags"]
            sample |= marked
            cells.append(f"{block['state'] + (' (sample)' if marked else ''):<12}")
        flags = [f for f in b["riskFlags"] if f != SAMPLE_FLAG]
        say(f"{b['symbol']:<8} {b['qualityScore']:>7.2f}  {'  '.join(cells)}  {', '.join(flags) or '-'}")
    if sample:
        say("(sample) = built from intel_assets' packaged sample data (sample news, sample filings;"
            " flagged sample_data), not real market data. README: 'Sample and real data'.")


def safe_dsn(dsn: str) -> str:
    """A DSN fit to print: every password masked (in the userinfo and in the query), as the
    bundle store's redact_dsn masks it everywhere else."""
    from intel_assets.stores.bundle_store import redact_dsn

    return redact_dsn(dsn)


def warn_about_tls(settings: Settings) -> None:
    """Outside production, say at start what the TLS contract would refuse in production
    (in production such a DSN or ClickHouse URL stops the command with an error instead)."""
    from intel_assets.stores.clickhouse_tls import assert_clickhouse_contract
    from intel_assets.stores.dsn_contract import (
        TORGHUT_DB_DSN_ENV,
        TORGHUT_DB_SSLROOTCERT_ENV,
        assert_store_contract,
        check_dsn_tls,
        production_mode,
    )

    # The embedded store is reached over its own Unix socket only: no TLS to warn about.
    contracts = [] if settings.embedded_store else [assert_store_contract(settings)]
    torghut = settings.parity.torghut_db_dsn
    if torghut:
        contracts.append(check_dsn_tls(torghut, name=TORGHUT_DB_DSN_ENV,
                                       production=production_mode(),
                                       sslrootcert_env=TORGHUT_DB_SSLROOTCERT_ENV))
    contracts.append(assert_clickhouse_contract(settings))  # https + a verified CA in production
    for contract in contracts:
        for warning in (contract.warnings if contract is not None else ()):
            print(f"warning: {warning} (refused when INTEL_ENV=production)", file=sys.stderr)
