"""intel_assets: decision-time market context for Torghut, as Dagster software-defined assets."""

__version__ = "0.1.0"
