"""Owns test builders: valid wire bundles with chosen per-domain states."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from intel_assets.contracts.bundle import DOMAINS, Citation, DomainBlock, MarketContextBundle
from intel_assets.domain.bundle import bundle_at

#: The shared reference data beside the repo; INTEL_LEAN_DATA_DIR / INTEL_EDGAR_DATA_DIR override.
#: Tests that need them skip with a reason when they are absent.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LEAN_DIR = Path(os.environ.get("INTEL_LEAN_DATA_DIR") or SHARED_DATA / "lean")
EDGAR_DIR = Path(os.environ.get("INTEL_EDGAR_DATA_DIR") or SHARED_DATA / "edgar")

#: Default states: two observed domains, two missing ones.
DEFAULT_STATES = {"technicals": "ok", "regime": "ok", "news": "missing", "fundamentals": "missing"}
MAX_FRESHNESS = {"technicals": 60, "regime": 60, "news": 300, "fundamentals": 86_400}


def make_block(domain: str, state: str, as_of: datetime) -> DomainBlock:
    """One valid block; ok/stale blocks carry an asOf, a citation and a payload."""
    budget = MAX_FRESHNESS[domain]
    if state in ("ok", "stale"):
        age = 5 if state == "ok" else budget * 3
        block_as_of = as_of - timedelta(seconds=age)
        return DomainBlock(
            domain=domain, state=state, as_of=block_as_of, freshness_seconds=age,
            max_freshness_seconds=budget, source_count=1,
            quality_score=0.9 if state == "ok" else 0.4,
            payload={"value": 1.5, "label": f"{domain}-{state}"},
            citations=[Citation(source=f"test-{domain}", published_at=block_as_of)],
            risk_flags=[] if state == "ok" else [f"{domain}_stale"],
        )
    return DomainBlock(
        domain=domain, state=state, max_freshness_seconds=budget, quality_score=0.0,
        risk_flags=[f"{domain}_{state}"],
    )


def make_bundle(symbol: str, as_of: datetime, states: dict[str, str] | None = None) -> MarketContextBundle:
    """A valid bundle for `symbol` built as of `as_of` (domain.bundle.bundle_at, the one
    definition of freshness, flags and quality); `states` overrides DEFAULT_STATES per domain."""
    chosen = {**DEFAULT_STATES, **(states or {})}
    blocks = {domain: make_block(domain, chosen[domain], as_of) for domain in DOMAINS}
    return bundle_at(symbol, as_of, blocks, as_of)


# ---- Torghut's ClickHouse rows (1-second microbars, ta_signals) ---------------------------------

def second_microbars(symbol: str, start, minutes: int, seed: int = 1):
    """Clean ta_microbars rows as Torghut's Flink job writes them: 1-second bars (PT1S,
    event_ts = window end) for ~70 % of the seconds of ``minutes`` minutes from ``start`` (only
    seconds that traded), a random-walk price, ingest_ts 200 ms after the second."""
    import numpy as np
    import pandas as pd

    from intel_assets.domain.ta_tables import MICROBAR_COLUMNS

    rng = np.random.default_rng(seed)
    seconds = np.flatnonzero(rng.random(minutes * 60) < 0.7)
    n = len(seconds)
    close = 100 + np.cumsum(rng.normal(0, 0.02, n))
    open_ = np.concatenate([[100.0], close[:-1]]) + rng.normal(0, 0.005, n)
    high = np.maximum(open_, close) + rng.random(n) * 0.02
    low = np.minimum(open_, close) - rng.random(n) * 0.02
    starts = pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s")
    ends = starts + pd.Timedelta(seconds=1)
    rows = pd.DataFrame({
        "symbol": symbol, "event_ts": ends, "seq": np.arange(1, n + 1, dtype=np.uint64),
        "ingest_ts": ends + pd.Timedelta(milliseconds=200), "is_final": np.uint8(1),
        "source": "ta", "window_size": "PT1S", "window_step": "PT1S", "window_start": starts,
        "window_end": ends, "version": np.uint32(1), "o": open_, "h": high, "l": low, "c": close,
        "v": rng.integers(1, 500, n).astype(np.float64),
        "vwap": (high + low + close) / 3 + rng.normal(0, 0.001, n),
        "count": rng.integers(1, 20, n).astype(np.uint64)})
    return rows.loc[:, list(MICROBAR_COLUMNS)]


def stale_versions(rows, fraction: float = 0.3, seed: int = 2):
    """Older versions (ingest_ts 1 s earlier) of a sample of ``rows`` with wrong values: what a
    ReplacingMergeTree holds beside the newest version until it merges."""
    import numpy as np
    import pandas as pd

    sample = rows.sample(frac=fraction, random_state=seed).copy()
    sample["ingest_ts"] = sample["ingest_ts"] - pd.Timedelta(seconds=1)
    for column in ("o", "h", "l", "c", "vwap"):
        sample[column] = sample[column] * 1.5
    sample["v"] = sample["v"] * 7
    sample["count"] = (sample["count"] * 3).astype(np.uint64)
    return sample


def insert_signals_with_stale_version(warehouse, event_ts) -> None:
    """Per-second ta_signals rows for AAA at every 60th of ``event_ts`` (bid 99.5, ask 100.5,
    rsi14 55.5, macd 0.25), inserted after an older version of each (ingest_ts 1 s earlier,
    wrong imbalance_bid_px and rsi14): what Torghut's ReplacingMergeTree holds until it merges."""
    import pandas as pd

    from intel_assets.domain.ta_tables import SIGNAL_COLUMNS, signal_rows

    quotes = pd.DataFrame({"symbol": "AAA", "ts": event_ts.iloc[::60].to_numpy(),
                           "bid": 99.5, "bid_size": 3.0, "ask": 100.5, "ask_size": 4.0})
    signals = signal_rows(quotes, source="ta", window_size="PT1S")
    signals["rsi14"], signals["macd"] = 55.5, 0.25
    old = signals.copy()
    old["ingest_ts"] = old["ingest_ts"] - pd.Timedelta(seconds=1)
    old["imbalance_bid_px"], old["rsi14"] = 1.0, 1.0
    warehouse.insert("ta_signals", old.loc[:, list(SIGNAL_COLUMNS)])
    warehouse.insert("ta_signals", signals)


def reference_minute_bars(rows):
    """Independent pandas aggregation of clean 1-second rows into 1-minute bars."""
    import pandas as pd

    frame = rows.sort_values("event_ts").assign(
        minute=lambda f: pd.to_datetime(f["window_start"], utc=True).dt.floor("min"),
        pv=lambda f: f["vwap"] * f["v"])
    grouped = frame.groupby("minute")
    out = pd.DataFrame({"open": grouped["o"].first(), "high": grouped["h"].max(),
                        "low": grouped["l"].min(), "close": grouped["c"].last(),
                        "volume": grouped["v"].sum(), "pv": grouped["pv"].sum(),
                        "trade_count": grouped["count"].sum().astype("int64")})
    out["vwap"] = out.pop("pv") / out["volume"]
    return out.reset_index()
