"""Owns TorghutDbResource: Torghut's PostgreSQL database (stores/torghut_db.py) as a Dagster
resource."""

from dagster import ConfigurableResource
from pydantic import Field

from intel_assets.stores.torghut_db import TorghutDb


class TorghutDbResource(ConfigurableResource):
    """Torghut's PostgreSQL database (TORGHUT_DB_DSN): decisions in, parity reports out."""

    dsn: str = Field(description="postgresql://user@host:5432/torghut (TLS contract in production)")
    connect_timeout_seconds: int = Field(default=10, ge=1)

    def db(self) -> TorghutDb:
        """A TorghutDb on this DSN (checked against the TLS contract in production)."""
        return TorghutDb(self.dsn, self.connect_timeout_seconds)
