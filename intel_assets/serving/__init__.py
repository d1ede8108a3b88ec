"""HTTP serving for Torghut: reads the bundle store only, never Dagster."""
