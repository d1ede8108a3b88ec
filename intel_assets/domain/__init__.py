"""Pure domain logic: no Dagster imports here (indicators, regime, scoring, bundle merge)."""
