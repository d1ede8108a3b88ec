"""SQL and connections: the bundle store, the warehouse (Torghut's ClickHouse tables), Torghut's
PostgreSQL database, the rollout tables, the embedded PostgreSQL cluster and the DSN/TLS
contracts. No Dagster import: resources/ wraps these for runs."""
