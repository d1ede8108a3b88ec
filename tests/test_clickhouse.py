"""The ClickHouse warehouse on the real chdb engine through clickhouse-connect."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from intel_assets.domain.market_data import synthetic_market
from intel_assets.resources.clickhouse import WarehouseError, open_warehouse

END = datetime(2024, 3, 8, 21, 0, tzinfo=timezone.utc)


@pytest.fixture
def warehouse(chdb_dsn):
    with open_warehouse(chdb_dsn, f"t_{uuid.uuid4().hex[:10]}") as wh:
        wh.ensure_schema()
        yield wh


def test_replace_is_idempotent_and_reads_back_utc(warehouse):
    bars, quotes = synthetic_market(["AAA", "BBB"], days=1, end=END)
    assert warehouse.replace_bars(bars) == len(bars)
    assert warehouse.replace_bars(bars) == len(bars)
    warehouse.replace_quotes(quotes)
    coverage = warehouse.coverage().set_index("symbol")
    assert coverage.loc["AAA", "bars"] == (bars.symbol == "AAA").sum()
    back = warehouse.bars(["AAA"], END - timedelta(days=2), END)
    assert len(back) == (bars.symbol == "AAA").sum()
    assert str(back["window_end"].dt.tz) == "UTC"
    expected = bars[bars.symbol == "AAA"].reset_index(drop=True)
    pd.testing.assert_series_equal(back["close"].reset_index(drop=True), expected["close"],
                                   check_names=False)
    assert back["window_end"].iloc[-1] == expected["window_end"].iloc[-1]


def test_reads_stop_at_the_clock(warehouse):
    bars, quotes = synthetic_market(["AAA"], days=1, end=END)
    warehouse.replace_bars(bars)
    warehouse.replace_quotes(quotes)
    cut = END - timedelta(minutes=30, seconds=30)
    back = warehouse.bars(["AAA"], END - timedelta(days=2), cut)
    assert back["window_end"].max() <= cut
    assert back["window_end"].max() > cut - timedelta(minutes=1)
    q = warehouse.quotes(["AAA"], END - timedelta(days=2), cut)
    assert q["ts"].max() <= cut


def test_symbols_are_bound_not_formatted(warehouse):
    bars, _ = synthetic_market(["AAA"], days=1, end=END)
    warehouse.replace_bars(bars)
    hostile = "AAA') OR 1=1 --"
    assert warehouse.bars([hostile], END - timedelta(days=2), END).empty
    assert len(warehouse.bars(["AAA"], END - timedelta(days=2), END)) == len(bars)


def test_frame_without_required_columns_is_refused(warehouse):
    with pytest.raises(ValueError, match="lacks columns"):
        warehouse.replace_bars(pd.DataFrame({"symbol": ["AAA"], "close": [1.0]}))


def test_embedded_path_held_by_another_process_gives_a_plain_error(tmp_path):
    path = tmp_path / "held"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from intel_assets.resources.clickhouse import open_warehouse
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
