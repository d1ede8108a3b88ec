"""Owns `intel-assets seed`: LEAN minute data (or a synthetic market) loaded into Torghut's
ClickHouse tables."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone

from intel_assets.cli.common import say
from intel_assets.settings import Settings, load_settings


def seed(settings: Settings, synthetic: bool = False) -> datetime:
    """Load market data into Torghut's ClickHouse tables (ta_microbars as 1-minute bars,
    window_size PT1M; bid/ask in ta_signals); return the newest bar end loaded."""
    import pandas as pd

    from intel_assets.domain.market_data import load_lean_minute, synthetic_market
    from intel_assets.domain.ta_tables import microbar_rows, signal_rows
    from intel_assets.stores.warehouse import open_warehouse

    lean_dir = None if synthetic else settings.resolved_lean_dir
    started = time.perf_counter()
    with open_warehouse(settings.clickhouse_dsn, settings.clickhouse_database) as wh:
        wh.ensure_schema()
        if lean_dir is not None:
            say(f"seeding LEAN minute data from {lean_dir} for {', '.join(settings.symbols)}")
            newest = None
            for i, symbol in enumerate(settings.symbols, 1):
                bars, quotes = load_lean_minute(
                    lean_dir, symbol,
                    on_day=(lambda s, d: print(f"  {s} {d.isoformat()}", end="\r", flush=True))
                    if sys.stdout.isatty() else None,
                )
                wh.write_microbars(microbar_rows(bars, source="lean"))  # 1-minute bars, PT1M
                wh.write_signals(signal_rows(quotes, source="lean"))
                newest = max(filter(None, [newest, bars["window_end"].max()]))
                say(f"  [{i}/{len(settings.symbols)}] {symbol}: {len(bars):,} bars, {len(quotes):,} quotes")
        else:
            end = (settings.as_of or datetime.now(timezone.utc)).astimezone(timezone.utc)
            say(f"seeding a synthetic market: {len(settings.symbols)} symbols x "
                f"{settings.synthetic_days} sessions ending by {end.isoformat()}")
            bars, quotes = synthetic_market(settings.symbols, settings.synthetic_days, end,
                                            seed=settings.synthetic_seed)
            wh.write_microbars(microbar_rows(bars, source="synthetic"))
            wh.write_signals(signal_rows(quotes, source="synthetic"))
            newest = bars["window_end"].max()
            say(f"  {len(bars):,} bars, {len(quotes):,} quotes")
    say(f"seeded in {time.perf_counter() - started:.1f} s")
    newest = pd.Timestamp(newest).to_pydatetime()
    from intel_assets.cli.common import remember_seeded_clock

    remember_seeded_clock(settings, "synthetic" if lean_dir is None else "lean", newest)
    return newest


def seed_cmd(synthetic: bool) -> int:
    """`intel-assets seed [--synthetic]`."""
    seed(load_settings(), synthetic=synthetic)
    return 0
