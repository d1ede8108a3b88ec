"""Owns the Dagster resources for the clock/freshness policy and the bundle store."""


from datetime import datetime, timedelta
from pathlib import Path

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from intel_assets.domain.clock import Clock
from intel_assets.resources.bundle_store import BundleStore


class ContextPolicyResource(ConfigurableResource):
    """The clock every asset computes as of, the look-back and the freshness budgets."""

    as_of: str | None = Field(
        default=None, description="Replay instant (ISO-8601 with offset); None = live clock."
    )
    lookback_days: int = Field(default=7, ge=1)
    technicals_budget_seconds: float = 60.0
    regime_budget_seconds: float = 60.0
    news_budget_seconds: float = 300.0
    fundamentals_budget_seconds: float = 86_400.0

    def clock(self) -> Clock:
        if self.as_of is None:
            return Clock()
        replay_at = datetime.fromisoformat(self.as_of)
        if replay_at.tzinfo is None:
            raise ValueError(f"as_of {self.as_of!r} needs a UTC offset, e.g. 2013-10-11T15:59:00-04:00")
        return Clock(replay_at)

    @property
    def lookback(self) -> timedelta:
        return timedelta(days=self.lookback_days)

    def budgets(self) -> dict[str, float]:
        return {
            "technicals": self.technicals_budget_seconds,
            "regime": self.regime_budget_seconds,
            "news": self.news_budget_seconds,
            "fundamentals": self.fundamentals_budget_seconds,
        }


class BundleStoreResource(ConfigurableResource):
    """The store assets stage their outputs in and publish bundles to (SQLite or PostgreSQL).

    A DSN with credentials is passed as ``EnvVar("INTEL_BUNDLE_STORE_DSN")``: Dagster resolves
    it when a run starts and never writes it into run or job snapshots; the TLS contract is
    applied here, to the resolved value."""

    dsn: str = Field(description="sqlite:///abs/path.sqlite3, or postgresql://... through an "
                                 "EnvVar (never a literal password)")
    embedded_home: str | None = Field(
        default=None, description="INTEL_HOME of the embedded PostgreSQL cluster holding the "
        "store: started (or joined) before the store is opened")
    _store: BundleStore | None = PrivateAttr(default=None)

    def _open(self) -> BundleStore:
        from intel_assets.resources.dsn_contract import connect_dsn_for_store

        if self.embedded_home:
            from intel_assets.local_postgres import ensure_running

            ensure_running(Path(self.embedded_home))

        return BundleStore.from_dsn(connect_dsn_for_store(self.dsn))

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._store = self._open()
        self._store.ensure_schema()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def store(self) -> BundleStore:
        if self._store is None:  # used outside a run (e.g. a sensor or the CLI)
            self._store = self._open()
            self._store.ensure_schema()
        return self._store
