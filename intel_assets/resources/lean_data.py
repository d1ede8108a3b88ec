"""Owns LeanDataResource: the LEAN market tape that arrival mids and decision checks read."""

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from intel_assets.domain.decisions import MarketTape


class LeanDataResource(ConfigurableResource):
    """The LEAN Data folder (INTEL_LEAN_DATA_DIR): arrival quotes and the decisions' data days."""

    lean_dir: str = Field(description="LEAN Data folder (equity/usa/minute inside)")
    _tape: MarketTape | None = PrivateAttr(default=None)

    def tape(self) -> MarketTape:
        """The market tape over ``lean_dir`` (loaded per symbol on first use, then cached)."""
        if self._tape is None:
            self._tape = MarketTape(Path(self.lean_dir))
        return self._tape
