"""Owns market-data access in ClickHouse: Torghut's ta_microbars/ta_quotes tables, one code path.

Both backends go through clickhouse-connect: the embedded default is its chdb interface (the
ClickHouse 26.x engine in-process, data under INTEL_HOME), production is a server's HTTP
interface. Values are always bound server-side with {name:Type} placeholders.

chdb allows one data path per process and one process per data path, so an embedded
warehouse is shared within the process (reference-counted) and guarded across processes by a
file lock with a bounded wait.
"""


import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from dagster import ConfigurableResource
from filelock import FileLock, Timeout
from pydantic import Field

BARS_TABLE = "ta_microbars"
QUOTES_TABLE = "ta_quotes"
BAR_COLUMNS = ("symbol", "window_start", "window_end", "open", "high", "low", "close", "volume",
               "vwap", "trade_count")
QUOTE_COLUMNS = ("symbol", "ts", "bid", "bid_size", "ask", "ask_size")
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

_DDL = (
    """CREATE TABLE IF NOT EXISTS {db:Identifier}.ta_microbars (
        symbol LowCardinality(String),
        window_start DateTime64(3, 'UTC'),
        window_end DateTime64(3, 'UTC'),
        open Float64, high Float64, low Float64, close Float64,
        volume Float64, vwap Float64, trade_count UInt32
    ) ENGINE = MergeTree ORDER BY (symbol, window_start)""",
    """CREATE TABLE IF NOT EXISTS {db:Identifier}.ta_quotes (
        symbol LowCardinality(String),
        ts DateTime64(3, 'UTC'),
        bid Nullable(Float64), bid_size Float64,
        ask Nullable(Float64), ask_size Float64
    ) ENGINE = MergeTree ORDER BY (symbol, ts)""",
)


class WarehouseError(RuntimeError):
    """ClickHouse could not be reached or used; the message says what to check."""


@dataclass
class Warehouse:
    """Reads and writes Torghut's market-data tables through one clickhouse-connect client."""

    client: object
    database: str

    def ensure_schema(self) -> None:
        self.client.command("CREATE DATABASE IF NOT EXISTS {db:Identifier}",
                            parameters={"db": self.database})
        for ddl in _DDL:
            self.client.command(ddl, parameters={"db": self.database})

    def replace_bars(self, bars: pd.DataFrame) -> int:
        return self._replace(BARS_TABLE, "window_start", bars, BAR_COLUMNS)

    def replace_quotes(self, quotes: pd.DataFrame) -> int:
        return self._replace(QUOTES_TABLE, "ts", quotes, QUOTE_COLUMNS)

    def _replace(self, table: str, time_col: str, frame: pd.DataFrame,
                 columns: Sequence[str]) -> int:
        """Insert rows, first deleting what the same symbols hold in the same time span."""
        if frame.empty:
            return 0
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{table}: frame lacks columns {missing}; expected {list(columns)}")
        frame = frame.loc[:, list(columns)]
        if self._count(table) > 0:
            self.client.command(
                f"DELETE FROM {{db:Identifier}}.{table} WHERE symbol IN {{symbols:Array(String)}}"
                f" AND {time_col} BETWEEN {{lo:DateTime64(3, 'UTC')}} AND {{hi:DateTime64(3, 'UTC')}}",
                parameters={
                    "db": self.database,
                    "symbols": sorted(frame["symbol"].unique().tolist()),
                    "lo": _py_utc(frame[time_col].min()),
                    "hi": _py_utc(frame[time_col].max()),
                },
            )
        self.client.insert_df(f"{self.database}.{table}", frame)
        return len(frame)

    def _count(self, table: str) -> int:
        return int(self.client.command(f"SELECT count() FROM {{db:Identifier}}.{table}",
                                       parameters={"db": self.database}))

    def bars(self, symbols: Sequence[str], since: datetime, until: datetime) -> pd.DataFrame:
        """Bars of symbols with since < window_end <= until (no look-ahead past until)."""
        frame = self.client.query_df(
            "SELECT symbol, window_start, window_end, open, high, low, close, volume, vwap,"
            " trade_count FROM {db:Identifier}.ta_microbars"
            " WHERE symbol IN {symbols:Array(String)}"
            " AND window_end > {since:DateTime64(3, 'UTC')} AND window_end <= {until:DateTime64(3, 'UTC')}"
            " ORDER BY symbol, window_start",
            parameters={"db": self.database, "symbols": list(symbols),
                        "since": _py_utc(since), "until": _py_utc(until)},
        )
        return _utc_columns(frame, ("window_start", "window_end"), BAR_COLUMNS)

    def quotes(self, symbols: Sequence[str], since: datetime, until: datetime) -> pd.DataFrame:
        """Quotes of symbols with since < ts <= until."""
        frame = self.client.query_df(
            "SELECT symbol, ts, bid, bid_size, ask, ask_size FROM {db:Identifier}.ta_quotes"
            " WHERE symbol IN {symbols:Array(String)}"
            " AND ts > {since:DateTime64(3, 'UTC')} AND ts <= {until:DateTime64(3, 'UTC')}"
            " ORDER BY symbol, ts",
            parameters={"db": self.database, "symbols": list(symbols),
                        "since": _py_utc(since), "until": _py_utc(until)},
        )
        return _utc_columns(frame, ("ts",), QUOTE_COLUMNS)

    def coverage(self) -> pd.DataFrame:
        """Per symbol: bar count and first/last bar end (what the warehouse holds)."""
        frame = self.client.query_df(
            "SELECT symbol, count() AS bars, min(window_end) AS first_bar_end,"
            " max(window_end) AS last_bar_end FROM {db:Identifier}.ta_microbars"
            " GROUP BY symbol ORDER BY symbol",
            parameters={"db": self.database},
        )
        return _utc_columns(frame, ("first_bar_end", "last_bar_end"),
                            ("symbol", "bars", "first_bar_end", "last_bar_end"))


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
def open_warehouse(dsn: str, database: str = "torghut",
                   lock_timeout_seconds: float = 120.0) -> Iterator[Warehouse]:
    """A Warehouse on dsn: chdb:///abs/path (embedded) or http(s)://user:pass@host:port."""
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
        raise ValueError(f"ClickHouse DSN must be chdb:///abs/path or http(s)://host:port, got {dsn!r}")
    import clickhouse_connect

    try:
        client = clickhouse_connect.get_client(dsn=dsn, database="default")
    except Exception as exc:  # noqa: BLE001 - reworded for the operator
        raise WarehouseError(
            f"cannot reach the ClickHouse server at {_redact(dsn)}: {exc}. Check INTEL_CLICKHOUSE_URL "
            "(host, port 8123/8443, user and password) or unset it for the embedded engine"
        ) from None
    try:
        yield Warehouse(client, database)
    finally:
        client.close()


def _acquire_embedded(path: str, lock_timeout_seconds: float):
    import clickhouse_connect

    os.environ.setdefault("TZ", "UTC")  # chdb renders DateTime in the host zone otherwise
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


def _redact(dsn: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", dsn)


class ClickHouseResource(ConfigurableResource):
    """Torghut's market-data warehouse (ClickHouse): embedded chdb or a server, same SQL."""

    dsn: str = Field(description="chdb:///abs/path (embedded) or http(s)://user:pass@host:port")
    database: str = Field(default="torghut", description="Database holding ta_microbars/ta_quotes")
    lock_timeout_seconds: float = Field(default=120.0, gt=0)

    @contextmanager
    def warehouse(self) -> Iterator[Warehouse]:
        with open_warehouse(self.dsn, self.database, self.lock_timeout_seconds) as wh:
            yield wh


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
