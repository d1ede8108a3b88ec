"""P5's synthetic feed: at every wall-clock minute boundary, append the minute bar that just
closed (and its quote) for every symbol into Torghut's ClickHouse tables, and log when it landed.

    python benchmarks/p5_feed.py CLICKHOUSE_DSN DATABASE SYMBOLS_CSV LOG_JSONL

One JSON line per minute: {"bar_end": epoch s, "landed": epoch s (after the insert returned),
"write_s": seconds the write took (chdb lock wait included)}. Runs until SIGTERM/SIGINT. The
warehouse is opened per minute and closed again: with embedded chdb (one process per data path)
the refresh runs open it in between.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def minute_frames(symbols: list[str], bar_end: datetime, prices: dict[str, float], rng):
    """One closed 1-minute bar and its closing quote per symbol, a random walk per symbol."""
    import pandas as pd

    start = bar_end - timedelta(minutes=1)
    bars, quotes = [], []
    for symbol in symbols:
        open_ = prices[symbol]
        close = max(1.0, open_ * (1.0 + rng.normal(0.0, 0.001)))
        high, low = max(open_, close) * 1.0005, min(open_, close) * 0.9995
        volume = float(rng.integers(1_000, 20_000))
        bars.append((symbol, start, bar_end, open_, high, low, close, volume,
                     (high + low + close) / 3.0, int(volume // 100)))
        spread = close * 0.0002
        quotes.append((symbol, bar_end, close - spread / 2, 300.0, close + spread / 2, 300.0))
        prices[symbol] = close
    from intel_assets.domain.market_data import BARS_COLUMNS, QUOTES_COLUMNS

    return (pd.DataFrame(bars, columns=list(BARS_COLUMNS)),
            pd.DataFrame(quotes, columns=list(QUOTES_COLUMNS)))


def main(argv: list[str]) -> int:
    import numpy as np

    from intel_assets.domain.ta_tables import microbar_rows, signal_rows
    from intel_assets.stores.warehouse import open_warehouse

    dsn, database, symbols_csv, log_path = argv
    symbols = symbols_csv.split(",")
    rng = np.random.default_rng(11)
    prices = {s: 20.0 + 480.0 * rng.random() for s in symbols}
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    with open(log_path, "a") as log:
        while not stop["now"]:
            now = time.time()
            next_minute = (int(now) // 60 + 1) * 60
            while time.time() < next_minute and not stop["now"]:
                time.sleep(min(0.2, max(0.0, next_minute - time.time())))
            if stop["now"]:
                break
            bar_end = datetime.fromtimestamp(next_minute, tz=timezone.utc)
            bars, quotes = minute_frames(symbols, bar_end, prices, rng)
            began = time.time()
            with open_warehouse(dsn, database, lock_timeout_seconds=55) as wh:
                wh.write_microbars(microbar_rows(bars, source="synthetic"))
                wh.write_signals(signal_rows(quotes, source="synthetic"))
            landed = time.time()
            log.write(json.dumps({"bar_end": next_minute, "landed": round(landed, 3),
                                  "write_s": round(landed - began, 3)}) + "\n")
            log.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
