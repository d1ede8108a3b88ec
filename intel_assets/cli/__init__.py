"""Owns the intel-assets command line: one module per subcommand (seed, materialize, demo, serve,
bundle, ui, parity, doctor, schema, skills, fundamentals, lean_runner, lean_replay, rollout),
shared helpers in common.py and dagster_home.py; ``main`` (main.py) parses and dispatches."""

from intel_assets.cli.main import main

__all__ = ["main"]
