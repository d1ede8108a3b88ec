"""Column schemas (dagster/column_schema) of Torghut's two ClickHouse sources and of the bundle,
as the Dagster UI shows them on each asset's page (issue 13, "Dagster conventions").

The sources' declared columns restate Torghut's tables from proompteng/lab 255d330fe
services/dorvud/technical-analysis-flink/src/main/resources/ta-schema.sql (our copy:
deploy/clickhouse/torghut-tables.sql, held to the embedded DDL by test_clickhouse_http)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from intel_assets.assets.bundle import BUNDLE_SCHEMA
from intel_assets.assets.technicals import SOURCE_KEYS
from intel_assets.contracts.bundle import DOMAINS, WIRE_TOP_LEVEL_KEYS
from intel_assets.definitions import build_definitions
from intel_assets.domain.bundle import merge_bundle
from intel_assets.domain.quality import missing_block
from intel_assets.settings import load_settings
from intel_assets.stores.warehouse import (COLUMN_TYPES, REQUIRED_COLUMNS, WarehouseError,
                                          open_warehouse)


def test_declared_source_columns_are_the_tables_the_embedded_warehouse_creates(chdb_dsn):
    with open_warehouse(chdb_dsn, f"t_{uuid.uuid4().hex[:10]}") as wh:
        wh.ensure_schema()
        created = {table: wh.columns(table) for table in COLUMN_TYPES}
    assert {t: list(c) for t, c in COLUMN_TYPES.items()} == created  # names, types, order
    for table, read in REQUIRED_COLUMNS.items():
        assert set(read) <= {name for name, _ in created[table]}
    with open_warehouse(chdb_dsn, f"t_{uuid.uuid4().hex[:10]}") as wh:
        with pytest.raises(ValueError, match="table must be one of ta_microbars, ta_signals"):
            wh.columns("trades")
        with pytest.raises(WarehouseError, match="ta_microbars does not exist"):
            wh.columns("ta_microbars")  # the same plain error as every read of a missing table


def test_source_and_bundle_assets_carry_their_column_schemas(tmp_path):
    defs = build_definitions(load_settings(home=tmp_path, market_source="synthetic"))
    graph = defs.resolve_asset_graph()
    for table, key in SOURCE_KEYS.items():
        metadata = graph.get(key).metadata
        columns = metadata["dagster/column_schema"].columns
        assert [(c.name, c.type) for c in columns] == list(COLUMN_TYPES[table])
        assert {c.name for c in columns if c.description == "read by intel_assets"} == \
            set(REQUIRED_COLUMNS[table])
        assert metadata["dagster/table_name"] == f"torghut.{table}"
    bundle = graph.get(next(k for k in graph.get_all_asset_keys()
                            if k.path[-1] == "market_context_bundle"))
    assert bundle.metadata["dagster/column_schema"] == BUNDLE_SCHEMA


def test_bundle_schema_lists_exactly_the_wire_fields_torghut_parses():
    now = datetime(2026, 12, 1, 15, 0, tzinfo=timezone.utc)
    budgets = {"technicals": 60, "regime": 60, "news": 300, "fundamentals": 86400}
    blocks = {d: missing_block(d, budgets[d], "test") for d in DOMAINS}
    wire = merge_bundle("SPY", now, blocks, budgets).to_wire()
    names = [c.name for c in BUNDLE_SCHEMA.columns]
    top = [n for n in names if not n.startswith("domains.*.")]
    assert set(top) == set(wire) == WIRE_TOP_LEVEL_KEYS
    assert {n.removeprefix("domains.*.") for n in names if n.startswith("domains.*.")} == \
        set(wire["domains"]["technicals"])
    by_name = {c.name: c for c in BUNDLE_SCHEMA.columns}
    assert by_name["qualityScore"].constraints.other == [">= 0.0", "<= 1.0"]
    assert by_name["domains.*.state"].constraints.other == ["one of ok|stale|missing|error"]
    assert by_name["domains.*.asOf"].constraints.nullable  # a missing block has no asOf
    assert not by_name["asOfUtc"].constraints.nullable
