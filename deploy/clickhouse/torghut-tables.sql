-- Torghut's market-data tables on its ClickHouse cluster, as Torghut creates them.
--
-- Restated from proompteng/lab commit 255d330fec1e5263dcbef75cbeb6e211bb57e14c,
-- services/dorvud/technical-analysis-flink/src/main/resources/ta-schema.sql (the schema its
-- Flink technical-analysis job writes). The cluster is the Altinity ClickHouseInstallation
-- `torghut-clickhouse` (argocd/applications/torghut/clickhouse/clickhouse-cluster.yaml at the
-- same commit: cluster `default`, 1 shard x 2 replicas, ClickHouse 25.3, Keeper
-- `keeper-torghut-keeper`); the operator defines the {cluster}, {shard} and {replica} macros
-- used in the Keeper paths below.
--
-- intel_assets never runs this file against Torghut's production cluster: the tables are
-- Torghut's and exist already. It is here to build a staging cluster shaped like production,
-- and so that tests can check our embedded DDL (intel_assets/stores/warehouse.py, which drops
-- ON CLUSTER, replication and the TTL: the demo replays 2013 data) keeps the same columns, types,
-- order, key and version column (tests/test_clickhouse_http.py).
--
-- Both tables: one row per (symbol, event_ts, seq) after merges; until then several versions of a
-- row coexist and the one with the greatest ingest_ts wins (ReplacingMergeTree's version
-- column). intel_assets reads the newest (ingest_ts, seq) per (symbol, event_ts) itself, so it
-- needs no FINAL.

CREATE DATABASE IF NOT EXISTS torghut ON CLUSTER default;

-- 1-second bars (window_size 'PT1S'; event_ts = the window's end; only seconds that traded).
-- Kept 30 days.
CREATE TABLE IF NOT EXISTS torghut.ta_microbars ON CLUSTER default
(
    symbol        LowCardinality(String),
    event_ts      DateTime64(3, 'UTC'),
    seq           UInt64,
    ingest_ts     DateTime64(3, 'UTC'),
    is_final      UInt8,
    source        LowCardinality(String),
    window_size   LowCardinality(String),
    window_step   Nullable(String),
    window_start  Nullable(DateTime64(3, 'UTC')),
    window_end    Nullable(DateTime64(3, 'UTC')),
    version       UInt32,
    o             Float64,
    h             Float64,
    l             Float64,
    c             Float64,
    v             Float64,
    vwap          Nullable(Float64),
    count         UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{cluster}/{shard}/ta_microbars', '{replica}', ingest_ts)
PARTITION BY toDate(event_ts)
ORDER BY (symbol, event_ts, seq)
TTL toDateTime(event_ts) + INTERVAL 30 DAY
SETTINGS index_granularity = 8192;

-- Torghut's indicators per symbol and instant; bid/ask (there is no quotes table) in the
-- imbalance_* columns. Kept 14 days.
CREATE TABLE IF NOT EXISTS torghut.ta_signals ON CLUSTER default
(
    symbol            LowCardinality(String),
    event_ts          DateTime64(3, 'UTC'),
    seq               UInt64,
    ingest_ts         DateTime64(3, 'UTC'),
    is_final          UInt8,
    source            LowCardinality(String),
    window_size       LowCardinality(String),
    window_step       Nullable(String),
    window_start      Nullable(DateTime64(3, 'UTC')),
    window_end        Nullable(DateTime64(3, 'UTC')),
    version           UInt32,
    macd              Nullable(Float64),
    macd_signal       Nullable(Float64),
    macd_hist         Nullable(Float64),
    ema12             Nullable(Float64),
    ema26             Nullable(Float64),
    rsi14             Nullable(Float64),
    boll_mid          Nullable(Float64),
    boll_upper        Nullable(Float64),
    boll_lower        Nullable(Float64),
    vwap_session      Nullable(Float64),
    vwap_w5m          Nullable(Float64),
    imbalance_spread  Nullable(Float64),
    imbalance_bid_px  Nullable(Float64),
    imbalance_ask_px  Nullable(Float64),
    imbalance_bid_sz  Nullable(UInt64),
    imbalance_ask_sz  Nullable(UInt64),
    vol_realized_w60s Nullable(Float64)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{cluster}/{shard}/ta_signals', '{replica}', ingest_ts)
PARTITION BY toDate(event_ts)
ORDER BY (symbol, event_ts, seq)
TTL toDateTime(event_ts) + INTERVAL 14 DAY
SETTINGS index_granularity = 8192;
