"""Owns ClickHouseResource: Torghut's market-data warehouse (stores/warehouse.py) as a Dagster
resource, embedded chdb or a server, same SQL."""

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource
from pydantic import Field

from intel_assets.stores.warehouse import Warehouse, open_warehouse


class ClickHouseResource(ConfigurableResource):
    """Torghut's market-data warehouse (ClickHouse): embedded chdb or a server, same SQL."""


    dsn: str = Field(description="chdb:///abs/path (embedded) or http(s)://user:pass@host:port")
    database: str = Field(default="torghut", description="Database holding ta_microbars/ta_signals")
    lock_timeout_seconds: float = Field(default=120.0, gt=0)
    ca_file: str | None = Field(default=None, description="PEM CA file for an https server; "
                                "unset = INTEL_CLICKHOUSE_CA_FILE when the run opens the client")

    @contextmanager
    def warehouse(self) -> Iterator[Warehouse]:
        with open_warehouse(self.dsn, self.database, self.lock_timeout_seconds,
                            ca_file=self.ca_file) as wh:
            yield wh
