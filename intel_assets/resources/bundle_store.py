"""Owns BundleStoreResource: the bundle store (stores/bundle_store.py) opened once per run."""

from pathlib import Path

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from intel_assets.stores.bundle_store import BundleStore


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
        from intel_assets.stores.dsn_contract import connect_dsn_for_store

        if self.embedded_home:
            from intel_assets.stores.local_postgres import ensure_running

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
