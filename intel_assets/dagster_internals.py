"""Owns every import from Dagster's private modules (``dagster._...``): the few names Dagster
1.13 uses but does not export publicly. Everything else in the package imports ``dagster``'s
public API only; a Dagster upgrade that moves one of these breaks here, in one place.

* Run tags of a single-run backfill over a partition range (Dagster writes and reads them; the
  public ``RunRequest(partition_key_range=...)`` sets them, but reading them back needs the
  names).
"""

from dagster._core.storage.tags import (  # noqa: F401  (re-exported)
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

__all__ = ["ASSET_PARTITION_RANGE_END_TAG", "ASSET_PARTITION_RANGE_START_TAG"]
