-- Read-only access for intel_assets to Torghut's two market-data tables.
--
-- Run once as a user with access_management on the cluster Torghut's tables live on
-- (deploy/clickhouse/torghut-tables.sql: cluster `default`, database `torghut`). ON CLUSTER runs
-- each statement on every replica; with a `replicated` user directory the objects are shared
-- instead. Torghut declares its own users in its ClickHouseInstallation (users.xml through the
-- operator); these are SQL-managed objects beside them, so they need no operator change.
--
-- What intel_assets runs, and so all it needs:
--   * at connect (clickhouse-connect 1.12): SELECT version(), timezone() (no grant needed) and
--     SELECT name, value, readonly FROM system.settings (granted below, for servers with
--     select_from_system_db_requires_grant = true);
--   * SELECT ... FROM system.columns for the two tables (always readable, filtered to the
--     tables the user may see), EXISTS TABLE (implied by SELECT on the table);
--   * SELECT on torghut.ta_microbars and torghut.ta_signals. Nothing else, no writes.
-- readonly = 1 also forbids changing settings per query: clickhouse-connect reads the readonly
-- column of system.settings at connect and then sends none, so nothing in intel_assets passes
-- query settings (tests/test_clickhouse_http.py connects as such a user).
--
-- The password: never in this file. The user is stored as sha256_password; `sha256_hash BY`
-- takes the SHA-256 hex of the password, so the password itself never appears in SQL, the
-- query log or this repository. Produce it with
--     printf '%s' "$INTEL_ASSETS_CLICKHOUSE_PASSWORD" | sha256sum | cut -d' ' -f1
-- and replace the placeholder below (the server refuses the placeholder: it is not 64 hex
-- digits). intel_assets then connects with
--     INTEL_CLICKHOUSE_URL=https://intel_assets:<password>@<host>:8443
--     INTEL_CLICKHOUSE_CA_FILE=/path/to/cluster-ca.pem
--     INTEL_CLICKHOUSE_DATABASE=torghut

CREATE SETTINGS PROFILE IF NOT EXISTS intel_assets_readonly ON CLUSTER default
    SETTINGS readonly = 1;

CREATE ROLE IF NOT EXISTS intel_assets_reader ON CLUSTER default;

GRANT ON CLUSTER default SELECT ON torghut.ta_microbars TO intel_assets_reader;
GRANT ON CLUSTER default SELECT ON torghut.ta_signals TO intel_assets_reader;
GRANT ON CLUSTER default SELECT(name, value, readonly) ON system.settings TO intel_assets_reader;

-- The same networks Torghut's own users are limited to (its ClickHouseInstallation).
CREATE USER IF NOT EXISTS intel_assets ON CLUSTER default
    IDENTIFIED WITH sha256_hash BY 'REPLACE_WITH_SHA256_HEX_OF_THE_PASSWORD'
    HOST IP '10.0.0.0/8', IP '172.16.0.0/12', IP '192.168.0.0/16'
    DEFAULT DATABASE torghut
    SETTINGS PROFILE 'intel_assets_readonly';

-- Granted first, then made the default (a default role must already be granted).
GRANT ON CLUSTER default intel_assets_reader TO intel_assets;
ALTER USER intel_assets ON CLUSTER default DEFAULT ROLE intel_assets_reader;
