"""The ClickHouse warehouse on the real chdb engine through clickhouse-connect, on Torghut's
real table shapes (proompteng/lab 255d330fe services/dorvud/technical-analysis-flink/src/main/
resources/ta-schema.sql): 1-second microbars with coexisting versions, bid/ask in ta_signals."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import talib

from helpers import (
    insert_signals_with_stale_version,
    reference_minute_bars,
    second_microbars,
    stale_versions,
)
from intel_assets.domain.indicators import technicals_payload
from intel_assets.domain.market_data import synthetic_market
from intel_assets.domain.ta_tables import microbar_rows, signal_rows
from intel_assets.stores.warehouse import WarehouseError, open_warehouse

END = datetime(2024, 3, 8, 21, 0, tzinfo=timezone.utc)
OPEN = datetime(2024, 3, 8, 14, 30, tzinfo=timezone.utc)


@pytest.fixture
def warehouse(chdb_dsn):
    with open_warehouse(chdb_dsn, f"t_{uuid.uuid4().hex[:10]}") as wh:
        wh.ensure_schema()
        yield wh


def test_seeded_minute_rows_read_back_as_the_same_bars(warehouse):
    bars, quotes = synthetic_market(["AAA", "BBB"], days=1, end=END)
    rows = microbar_rows(bars, source="synthetic")
    assert set(rows["window_size"]) == {"PT1M"} and (rows["event_ts"] == rows["window_end"]).all()
    assert warehouse.write_microbars(rows) == len(bars)
    assert warehouse.write_microbars(rows) == len(bars)  # a re-seed replaces, never duplicates
    warehouse.write_signals(signal_rows(quotes, source="synthetic"))
    coverage = warehouse.coverage().set_index("symbol")
    assert coverage.loc["AAA", "rows"] == len(bars) // 2
    back = warehouse.minute_bars(["AAA"], END - timedelta(days=2), END)
    want = bars[bars["symbol"] == "AAA"].reset_index(drop=True)
    assert len(back) == len(want) and set(back["source_window"]) == {"PT1M"}
    assert (back["window_start"] == want["window_start"]).all()
    assert (back["window_end"] == want["window_end"]).all()
    for column in ("open", "high", "low", "close", "volume", "vwap"):
        np.testing.assert_allclose(back[column], want[column], rtol=0, atol=1e-9)
    assert str(back["window_end"].dt.tz) == "UTC"
    latest = warehouse.latest_signals(["AAA", "BBB"], END - timedelta(days=2), END)
    assert list(latest["symbol"]) == ["AAA", "BBB"]
    last = quotes[quotes["symbol"] == "AAA"].iloc[-1]
    row = latest.set_index("symbol").loc["AAA"]
    assert (row["bid"], row["ask"], row["ts"]) == (last["bid"], last["ask"], last["ts"])
    assert row[["rsi14", "macd", "ema12"]].isna().all()  # we never invent Torghut's signals


def test_one_second_bars_with_stale_versions_aggregate_exactly(warehouse):
    """Torghut's shapes: 1-second bars, only seconds that traded, stale versions of 30 % of the
    rows present until a merge (merges stopped to keep them), bid/ask only in ta_signals. The
    minute bars equal an independent aggregation of the clean rows and RSI(14) equals TA-Lib
    on those minute closes."""
    warehouse.client.command(f"SYSTEM STOP MERGES {warehouse.database}.ta_microbars")
    warehouse.client.command(f"SYSTEM STOP MERGES {warehouse.database}.ta_signals")
    clean = second_microbars("AAA", OPEN, minutes=80, seed=11)
    stale = stale_versions(clean)
    warehouse.insert("ta_microbars", stale)  # older versions first, newest in a later block
    warehouse.insert("ta_microbars", clean)
    stored = int(warehouse.client.command(
        f"SELECT count() FROM {warehouse.database}.ta_microbars"))
    assert stored == len(clean) + len(stale), "both versions must coexist for this test"

    clock = OPEN + timedelta(minutes=79, seconds=30)  # the 80th minute is half done
    back = warehouse.minute_bars(["AAA"], OPEN - timedelta(days=1), clock)
    want = reference_minute_bars(clean[clean["event_ts"] <= pd.Timestamp(clock)])
    assert len(back) == len(want) == 80 and set(back["source_window"]) == {"PT1S"}
    assert (back["window_start"] == want["minute"]).all()
    for column in ("open", "high", "low", "close", "volume", "vwap"):
        np.testing.assert_allclose(back[column], want[column], rtol=0, atol=1e-9, err_msg=column)
    assert (back["trade_count"] == want["trade_count"]).all()
    assert (back["window_end"].iloc[:-1] == back["window_start"].iloc[:-1] + pd.Timedelta(minutes=1)).all()
    in_progress = clean[clean["event_ts"] <= pd.Timestamp(clock)]["event_ts"].max()
    assert back["window_end"].iloc[-1] == in_progress <= pd.Timestamp(clock)  # no look-ahead

    insert_signals_with_stale_version(warehouse, clean["event_ts"])
    quotes = warehouse.latest_signals(["AAA"], OPEN - timedelta(days=1), clock)
    assert quotes.iloc[0]["bid"] == 99.5 and quotes.iloc[0]["rsi14"] == 55.5

    payload, _ = technicals_payload(back, quotes)
    expected_rsi = talib.RSI(want["close"].to_numpy(dtype=np.float64), timeperiod=14)[-1]
    assert payload["rsi14"] == pytest.approx(expected_rsi, abs=1e-12)
    assert (payload["barSize"], payload["sourceBarSize"], payload["lastBarComplete"]) == \
        ("1m", "PT1S", False)
    assert payload["spreadBps"] == pytest.approx((100.5 - 99.5) / 100.0 * 1e4)
    assert payload["torghutSignals"]["rsi14"] == 55.5
    assert payload["torghutSignals"]["macd"]["macd"] == 0.25


def test_symbols_are_bound_not_formatted(warehouse):
    bars, _ = synthetic_market(["AAA"], days=1, end=END)
    warehouse.write_microbars(microbar_rows(bars, source="synthetic"))
    hostile = "AAA') OR 1=1 --"
    assert warehouse.minute_bars([hostile], END - timedelta(days=2), END).empty
    assert len(warehouse.minute_bars(["AAA"], END - timedelta(days=2), END)) == len(bars)
    assert warehouse.latest_signals([hostile], END - timedelta(days=2), END).empty


def test_frame_without_required_columns_is_refused(warehouse):
    with pytest.raises(ValueError, match="lacks columns"):
        warehouse.write_microbars(pd.DataFrame({"symbol": ["AAA"], "close": [1.0]}))


def test_tables_not_in_torghuts_shape_get_a_plain_error(chdb_dsn):
    """Our old invented shapes (or any other) are refused in words, naming what is missing."""
    database = f"t_{uuid.uuid4().hex[:10]}"
    with open_warehouse(chdb_dsn, database) as wh:
        wh.client.command(f"CREATE DATABASE {database}")
        wh.client.command(f"CREATE TABLE {database}.ta_microbars (symbol String, window_start "
                          "DateTime64(3), close Float64) ENGINE = MergeTree ORDER BY symbol")
        with pytest.raises(WarehouseError) as err:
            wh.minute_bars(["AAA"], END - timedelta(days=1), END)
    text = str(err.value)
    assert f"{database}.ta_microbars lacks column(s) event_ts, seq, ingest_ts" in text
    assert f"table {database}.ta_signals does not exist" in text
    assert "INTEL_CLICKHOUSE_DATABASE" in text and "intel-assets seed" in text


def test_embedded_path_held_by_another_process_gives_a_plain_error(tmp_path):
    path = tmp_path / "held"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from intel_assets.stores.warehouse import open_warehouse
            with open_warehouse("chdb://{path}", "torghut") as wh:
                wh.ensure_schema()
                print("held", flush=True)
                time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(WarehouseError) as err:
            with open_warehouse(f"chdb://{path}", "torghut", lock_timeout_seconds=1):
                pass
        assert time.monotonic() - started < 30
        assert "held by another process" in str(err.value)
        assert "INTEL_CLICKHOUSE_URL" in str(err.value)
    finally:
        holder.kill()
        holder.wait()


def test_unreachable_server_error_redacts_the_password():
    with pytest.raises(WarehouseError) as err:
        with open_warehouse("http://reader:s3cret@127.0.0.1:1", "torghut"):
            pass
    assert "s3cret" not in str(err.value)
    assert "reader:***@127.0.0.1:1" in str(err.value)
    assert "INTEL_CLICKHOUSE_URL" in str(err.value)


def test_bad_dsns_and_database_names_are_refused():
    with pytest.raises(ValueError, match="absolute path"):
        with open_warehouse("chdb://relative/path"):
            pass
    with pytest.raises(ValueError, match="must match"):
        with open_warehouse("chdb:///tmp/x", "bad-name; DROP"):
            pass
