"""Owns market-data access in ClickHouse: Torghut's real ta_microbars / ta_signals tables, one code path.

Both backends go through clickhouse-connect: the embedded default is its chdb interface (the
ClickHouse 26.x engine in-process, data under INTEL_HOME), production is a server's HTTP
interface. Values are always bound server-side with {name:Type} placeholders.

Reading Torghut's tables as they are (domain/ta_tables.py has the shapes):

* **Versions.** Both tables are ReplacingMergeTree(ingest_ts) keyed (symbol, event_ts, seq):
  until a merge, several versions of a row coexist. Every read keeps one row per
  (symbol, event_ts), the one with the greatest (ingest_ts, seq) — FINAL's answer, computed
  with argMax over a tuple (which, unlike argMax over a Nullable column, keeps a newer
  version's NULLs).
* **Bars.** ta_microbars holds 1-second bars (``window_size 'PT1S'``, only seconds that
  traded; event_ts = window end) in production, 1-minute ones from our seeding. Reads
  aggregate them into 1-minute bars [minute, minute + 60 s): open of the first second, max
  high, min low, close of the last, summed volume and trade count, volume-weighted vwap (a
  row without vwap counts at its typical price (h+l+c)/3). A minute still in progress at the
  clock ends at its newest second (never after the clock). Rows without window_start are
  taken as 1-second bars.
* **Quotes.** There is no quotes table: the spread comes from the newest ta_signals row with
  both imbalance_bid_px and imbalance_ask_px at or before the clock; Torghut's own indicator
  values come from its newest ta_signals row.

chdb allows one data path per process and one process per data path, so an embedded
warehouse is shared within the process (reference-counted) and guarded across processes by a
file lock with a bounded wait.
"""


import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from intel_assets.settings import export_environment
from intel_assets.stores.redaction import redact_dsn
from intel_assets.domain.market_data import BARS_COLUMNS, QUOTES_COLUMNS
from intel_assets.domain.ta_tables import (
    MICROBAR_COLUMNS,
    MICROBARS,
    QUOTE_COLUMNS,
    SIGNAL_COLUMNS,
    SIGNAL_VALUE_COLUMNS,
    SIGNALS,
)

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
#: What this module reads; a table lacking one of these gets a plain error naming it.
REQUIRED_COLUMNS = {
    MICROBARS: ("symbol", "event_ts", "seq", "ingest_ts", "window_size", "window_start", "o",
                "h", "l", "c", "v", "vwap", "count"),
    SIGNALS: ("symbol", "event_ts", "seq", "ingest_ts", *SIGNAL_VALUE_COLUMNS,
              "imbalance_bid_px", "imbalance_ask_px", "imbalance_bid_sz", "imbalance_ask_sz"),
}
_DT = "DateTime64(3, 'UTC')"
_KEY_TYPES: tuple[tuple[str, str], ...] = (
    ("symbol", "LowCardinality(String)"), ("event_ts", _DT), ("seq", "UInt64"),
    ("ingest_ts", _DT), ("is_final", "UInt8"), ("source", "LowCardinality(String)"),
    ("window_size", "LowCardinality(String)"), ("window_step", "Nullable(String)"),
    ("window_start", f"Nullable({_DT})"), ("window_end", f"Nullable({_DT})"),
    ("version", "UInt32"))
#: Torghut's two tables as ta-schema.sql declares them: (column, ClickHouse type) in table
#: order. The demo's and the tests' tables are created from this; the assets' column schemas
#: (dagster/column_schema) show it. Torghut's column order (vol_realized_w60s last):
#: deploy/clickhouse/torghut-tables.sql.
COLUMN_TYPES: dict[str, tuple[tuple[str, str], ...]] = {
    MICROBARS: _KEY_TYPES + tuple((c, "Float64") for c in ("o", "h", "l", "c", "v"))
    + (("vwap", "Nullable(Float64)"), ("count", "UInt64")),
    SIGNALS: _KEY_TYPES
    + tuple((c, "Nullable(Float64)") for c in SIGNAL_VALUE_COLUMNS if c != "vol_realized_w60s")
    + (("imbalance_spread", "Nullable(Float64)"), ("imbalance_bid_px", "Nullable(Float64)"),
       ("imbalance_ask_px", "Nullable(Float64)"), ("imbalance_bid_sz", "Nullable(UInt64)"),
       ("imbalance_ask_sz", "Nullable(UInt64)"), ("vol_realized_w60s", "Nullable(Float64)")),
}
#: Torghut's ta-schema.sql key, on a single node and without its TTL (the demo replays 2013
#: data, which a 30-day TTL would delete); production has Torghut's own tables.
_ENGINE = ("ENGINE = ReplacingMergeTree(ingest_ts) PARTITION BY toDate(event_ts) "
           "ORDER BY (symbol, event_ts, seq)")
_DDL = tuple(
    f"CREATE TABLE IF NOT EXISTS {{db:Identifier}}.{table} ("
    + ", ".join(f"`{name}` {kind}" for name, kind in columns) + f") {_ENGINE}"
    for table, columns in COLUMN_TYPES.items())
_WINDOW = ("event_ts > {since:DateTime64(3, 'UTC')} AND event_ts <= {until:DateTime64(3, 'UTC')}"
           " AND symbol IN {symbols:Array(String)}")
_MINUTE_BARS = f"""
SELECT symbol, toStartOfMinute(ifNull(b.8, event_ts - toIntervalSecond(1))) AS minute,
       argMin(b.1, event_ts) AS open, max(b.2) AS high, min(b.3) AS low,
       argMax(b.4, event_ts) AS close, sum(b.5) AS volume,
       sum(ifNull(b.6, (b.2 + b.3 + b.4) / 3) * b.5) AS price_volume,
       sum(b.7) AS trade_count, max(event_ts) AS last_event_ts, count() AS source_bars,
       any(b.9) AS source_window
FROM (
    SELECT symbol, event_ts,
           argMax(tuple(o, h, l, c, v, vwap, `count`, window_start, window_size),
                  tuple(ingest_ts, seq)) AS b
    FROM {{db:Identifier}}.ta_microbars WHERE {_WINDOW}
    GROUP BY symbol, event_ts
)
GROUP BY symbol, minute ORDER BY symbol, minute"""
_SIGNAL_TUPLE = ", ".join(("event_ts", *SIGNAL_VALUE_COLUMNS, *QUOTE_COLUMNS[1:]))
_LATEST_SIGNALS = f"""
SELECT symbol, argMax(r, event_ts) AS latest,
       argMaxIf(r, event_ts, isNotNull(r.{len(SIGNAL_VALUE_COLUMNS) + 2})
                AND isNotNull(r.{len(SIGNAL_VALUE_COLUMNS) + 3})) AS quoted,
       countIf(isNotNull(r.{len(SIGNAL_VALUE_COLUMNS) + 2})
               AND isNotNull(r.{len(SIGNAL_VALUE_COLUMNS) + 3})) AS quotes
FROM (
    SELECT symbol, event_ts, argMax(tuple({_SIGNAL_TUPLE}), tuple(ingest_ts, seq)) AS r
    FROM {{db:Identifier}}.ta_signals WHERE {_WINDOW}
    GROUP BY symbol, event_ts
)
GROUP BY symbol ORDER BY symbol"""
MINUTE = timedelta(minutes=1)


class WarehouseError(RuntimeError):
    """ClickHouse could not be reached or used; the message says what to check."""


@dataclass(frozen=True)
class SourceFreshness:
    """What one of Torghut's tables holds: newest event_ts, symbols and rows (all versions)."""

    table: str
    newest_event_ts: datetime | None
    symbols: int
    rows: int


@dataclass
class Warehouse:
    """Reads Torghut's market-data tables (and writes them when seeding) through one client."""

    client: object
    database: str
    #: (column, type) per table as check_tables last read them; None until checked
    _live: dict[str, list[tuple[str, str]]] | None = field(default=None, repr=False)

    def ensure_schema(self) -> None:
        """Create Torghut's two tables if absent (embedded demo and tests; on a server they
        are Torghut's own and exist already)."""
        self.client.command("CREATE DATABASE IF NOT EXISTS {db:Identifier}",
                            parameters={"db": self.database})
        for ddl in _DDL:
            self.client.command(ddl, parameters={"db": self.database})
        self._live = None

    def check_tables(self) -> dict[str, list[tuple[str, str]]]:
        """Raise WarehouseError naming every table or column this module needs and lacks; else
        the two tables' (column, type) pairs in table order, read once per Warehouse."""
        if self._live is not None:
            return self._live
        found = self.client.query(
            "SELECT table, name, type FROM system.columns WHERE database = {db:String} AND table "
            "IN {tables:Array(String)} ORDER BY table, position",
            parameters={"db": self.database, "tables": list(REQUIRED_COLUMNS)}).result_rows
        live: dict[str, list[tuple[str, str]]] = {}
        for table, column, kind in found:
            live.setdefault(str(table), []).append((str(column), str(kind)))
        have = {table: {name for name, _ in columns} for table, columns in live.items()}
        problems = []
        for table, columns in REQUIRED_COLUMNS.items():
            if table not in have:
                problems.append(f"table {self.database}.{table} does not exist")
                continue
            missing = [c for c in columns if c not in have[table]]
            if missing:
                problems.append(f"{self.database}.{table} lacks column(s) {', '.join(missing)}")
        if problems:
            raise WarehouseError(
                "; ".join(problems) + ". intel_assets reads Torghut's tables as its ta-schema.sql "
                "defines them: set INTEL_CLICKHOUSE_DATABASE to Torghut's database, or run "
                "`intel-assets seed` to create and fill them in the embedded warehouse")
        self._live = live
        return live

    def write_microbars(self, rows: pd.DataFrame) -> int:
        """Insert ta_microbars rows, first deleting what their symbols hold in their span."""
        return self._replace(MICROBARS, rows, MICROBAR_COLUMNS)

    def write_signals(self, rows: pd.DataFrame) -> int:
        """Insert ta_signals rows, first deleting what their symbols hold in their span."""
        return self._replace(SIGNALS, rows, SIGNAL_COLUMNS)

    def insert(self, table: str, rows: pd.DataFrame) -> int:
        """Append rows as they are (one insert block): e.g. a newer version of existing keys."""
        if table not in REQUIRED_COLUMNS:
            raise ValueError(f"table must be one of {', '.join(REQUIRED_COLUMNS)}")
        columns = MICROBAR_COLUMNS if table == MICROBARS else SIGNAL_COLUMNS
        missing = [c for c in columns if c not in rows.columns]
        if missing:
            raise ValueError(f"{table}: frame lacks columns {missing}; expected {list(columns)}")
        if not rows.empty:
            self.client.insert_df(f"{self.database}.{table}", rows.loc[:, list(columns)])
        return len(rows)

    def _replace(self, table: str, rows: pd.DataFrame, columns: Sequence[str]) -> int:
        if rows.empty:
            return 0
        missing = [c for c in columns if c not in rows.columns]
        if missing:
            raise ValueError(f"{table}: frame lacks columns {missing}; expected {list(columns)}")
        self.client.command(
            f"DELETE FROM {{db:Identifier}}.{table} WHERE symbol IN {{symbols:Array(String)}}"
            " AND event_ts BETWEEN {lo:DateTime64(3, 'UTC')} AND {hi:DateTime64(3, 'UTC')}",
            parameters={"db": self.database, "symbols": sorted(rows["symbol"].unique().tolist()),
                        "lo": _py_utc(rows["event_ts"].min()),
                        "hi": _py_utc(rows["event_ts"].max())})
        return self.insert(table, rows)

    def _window(self, symbols: Sequence[str], since: datetime, until: datetime) -> dict:
        self.check_tables()
        return {"db": self.database, "symbols": list(symbols), "since": _py_utc(since),
                "until": _py_utc(until)}

    def minute_bars(self, symbols: Sequence[str], since: datetime, until: datetime) -> pd.DataFrame:
        """1-minute bars (market_data.BARS_COLUMNS plus source_bars, source_window) from the
        newest version of every microbar with since < event_ts <= until (module docstring)."""
        frame = self.client.query_df(_MINUTE_BARS, parameters=self._window(symbols, since, until))
        columns = (*BARS_COLUMNS, "source_bars", "source_window")
        if frame.empty:
            return _utc_columns(pd.DataFrame({c: pd.Series(dtype="float64") for c in columns}),
                                ("window_start", "window_end"), columns)
        frame = _utc_columns(frame, ("minute", "last_event_ts"), tuple(frame.columns))
        bound = pd.Timestamp(_py_utc(until))
        full = frame["minute"] + MINUTE
        volume = frame["volume"].to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            vwap = np.where(volume > 0, frame["price_volume"].to_numpy(dtype=np.float64) / volume,
                            (frame["high"] + frame["low"] + frame["close"]).to_numpy() / 3.0)
        return pd.DataFrame({
            "symbol": frame["symbol"].astype(str), "window_start": frame["minute"],
            "window_end": full.where(full <= bound, frame["last_event_ts"]),
            "open": frame["open"], "high": frame["high"], "low": frame["low"],
            "close": frame["close"], "volume": volume, "vwap": vwap,
            "trade_count": frame["trade_count"].astype(np.int64),
            "source_bars": frame["source_bars"].astype(np.int64),
            "source_window": frame["source_window"].astype(str)}).reset_index(drop=True)

    def latest_signals(self, symbols: Sequence[str], since: datetime, until: datetime) -> pd.DataFrame:
        """Per symbol: the newest quote in ta_signals (market_data.QUOTES_COLUMNS: ``ts`` is its
        event_ts) with since < event_ts <= until, plus Torghut's own indicator values from its
        newest row (``signal_ts`` and SIGNAL_VALUE_COLUMNS); a symbol with no quote is absent."""
        result = self.client.query(_LATEST_SIGNALS, parameters=self._window(symbols, since, until))
        values = list(SIGNAL_VALUE_COLUMNS)
        records = []
        for symbol, latest, quoted, quotes in result.result_rows:
            if not quotes:
                continue
            bid, ask, bid_sz, ask_sz = quoted[len(values) + 1:]
            records.append({"symbol": symbol, "ts": quoted[0], "bid": bid, "bid_size": bid_sz,
                            "ask": ask, "ask_size": ask_sz, "signal_ts": latest[0],
                            **dict(zip(values, latest[1:len(values) + 1]))})
        columns = (*QUOTES_COLUMNS, "signal_ts", *values)
        frame = pd.DataFrame.from_records(records, columns=list(columns))
        for column in ("bid", "ask", "bid_size", "ask_size", *values):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        return _utc_columns(frame, ("ts", "signal_ts"), columns)

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(column, ClickHouse type) of one of Torghut's tables as it is, in table order: what
        check_tables read (one system.columns query per Warehouse for both tables)."""
        if table not in REQUIRED_COLUMNS:
            raise ValueError(f"table must be one of {', '.join(REQUIRED_COLUMNS)}")
        return list(self.check_tables()[table])

    def freshness(self, table: str) -> SourceFreshness:
        """Newest event_ts, distinct symbols and rows (all versions) of one of Torghut's tables."""
        if table not in REQUIRED_COLUMNS:
            raise ValueError(f"table must be one of {', '.join(REQUIRED_COLUMNS)}")
        self.check_tables()
        newest, symbols, rows = self.client.query(
            f"SELECT max(event_ts), uniqExact(symbol), count() FROM {{db:Identifier}}.{table}",
            parameters={"db": self.database}).result_rows[0]
        when = None if not rows else _py_utc(newest)
        return SourceFreshness(table, when, int(symbols), int(rows))

    def coverage(self) -> pd.DataFrame:
        """Per symbol: microbar rows (all versions) and first/last event_ts."""
        self.check_tables()
        frame = self.client.query_df(
            "SELECT symbol, count() AS rows, min(event_ts) AS first_event_ts,"
            " max(event_ts) AS last_event_ts FROM {db:Identifier}.ta_microbars"
            " GROUP BY symbol ORDER BY symbol",
            parameters={"db": self.database},
        )
        return _utc_columns(frame, ("first_event_ts", "last_event_ts"),
                            ("symbol", "rows", "first_event_ts", "last_event_ts"))


def _py_utc(value: datetime | pd.Timestamp) -> datetime:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def _utc_columns(frame: pd.DataFrame, columns: Sequence[str],
                 expected: Sequence[str]) -> pd.DataFrame:
    """Time columns as tz-aware UTC; an empty result keeps the expected columns."""
    if frame.empty and list(frame.columns) != list(expected):
        frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in expected})
    for col in columns:
        series = pd.to_datetime(frame[col])
        frame[col] = series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
    if "symbol" in frame.columns:
        frame["symbol"] = frame["symbol"].astype(str)
    return frame


# ---- opening clients ----------------------------------------------------------------------

_embedded_guard = threading.Lock()
_embedded: dict[str, list] = {}  # path -> [client, refcount, filelock]


@contextmanager
def open_warehouse(dsn: str, database: str = "torghut", lock_timeout_seconds: float = 120.0,
                   ca_file: str | os.PathLike | None = None,
                   environ: Mapping[str, str] | None = None) -> Iterator[Warehouse]:
    """A Warehouse on dsn: chdb:///abs/path (embedded) or http(s)://user:pass@host:port.

    A server URL is checked against the TLS contract first (clickhouse_tls.py: with
    INTEL_ENV=production only https with a verified certificate; ``ca_file`` or
    INTEL_CLICKHOUSE_CA_FILE names the CA) and the client is opened with exactly what was
    checked; a breach raises ClickHouseTlsError (a DsnContractError) in one line. ``environ``
    (default: the process environment, settings.process_environment) gives INTEL_ENV and INTEL_CLICKHOUSE_CA_FILE."""
    if not _DB_NAME.fullmatch(database):
        raise ValueError(f"ClickHouse database name {database!r} must match {_DB_NAME.pattern}")
    if dsn.startswith("chdb://"):
        path = dsn[len("chdb://"):]
        if not path.startswith("/"):
            raise ValueError(f"embedded ClickHouse DSN {dsn!r} needs an absolute path: chdb:///abs/path")
        client = _acquire_embedded(path, lock_timeout_seconds)
        try:
            yield Warehouse(client, database)
        finally:
            _release_embedded(path)
        return
    if not dsn.startswith(("http://", "https://")):
        raise ValueError(f"ClickHouse DSN must be chdb:///abs/path or http(s)://host:port, got {redact_dsn(dsn)!r}")
    import clickhouse_connect

    from intel_assets.stores.clickhouse_tls import clickhouse_contract, diagnose_clickhouse_error

    contract = clickhouse_contract(dsn, ca_file, environ)
    try:
        client = clickhouse_connect.get_client(database="default", **contract.client_options)
    except Exception as exc:  # noqa: BLE001 - reworded for the operator
        tls = diagnose_clickhouse_error(exc, contract)
        if tls is not None:
            raise WarehouseError(f"{tls[0]}. Fix: {tls[1]}") from None
        raise WarehouseError(
            f"cannot reach the ClickHouse server at {redact_dsn(dsn)}: {exc}. Check INTEL_CLICKHOUSE_URL "
            "(host, port 8123/8443, user and password) or unset it for the embedded engine"
        ) from None
    try:
        yield Warehouse(client, database)
    finally:
        client.close()


#: The base install has no chdb (it is the `embedded` extra): said in one line, before any lock.
EMBEDDED_MISSING = ("chdb is not installed: the embedded ClickHouse needs `pip install "
                    "'intel_assets[embedded]'`, or set INTEL_CLICKHOUSE_URL to a ClickHouse server")


def _acquire_embedded(path: str, lock_timeout_seconds: float):
    import importlib.util

    if importlib.util.find_spec("chdb") is None:
        raise WarehouseError(EMBEDDED_MISSING)
    import clickhouse_connect

    export_environment({"TZ": "UTC"}, only_unset=True)  # chdb renders DateTime in the host zone otherwise
    if hasattr(time, "tzset"):
        time.tzset()
    with _embedded_guard:
        entry = _embedded.get(path)
        if entry is not None:
            entry[1] += 1
            return entry[0]
        if _embedded:
            other = next(iter(_embedded))
            raise WarehouseError(
                f"this process already has the embedded ClickHouse at {other} open; chdb allows one "
                f"data path per process, so {path} cannot be opened until it is closed"
            )
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(f"{path.rstrip('/')}.lock")
        try:
            lock.acquire(timeout=lock_timeout_seconds)
        except Timeout:
            raise WarehouseError(
                f"the embedded ClickHouse at {path} is held by another process for more than "
                f"{lock_timeout_seconds:.0f} s (chdb allows one process per data path). Wait for the "
                "other run to finish, or set INTEL_CLICKHOUSE_URL to use a ClickHouse server"
            ) from None
        try:
            client = clickhouse_connect.get_client(interface="chdb", path=path)
        except Exception:
            lock.release()
            raise
        _embedded[path] = [client, 1, lock]
        return client


def _release_embedded(path: str) -> None:
    with _embedded_guard:
        entry = _embedded.get(path)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _embedded[path]
            try:
                entry[0].close()
            finally:
                entry[2].release()


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
