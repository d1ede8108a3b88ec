"""Owns `intel-assets ui`: the Dagster webserver and daemon (workspace.yaml) and the serving API
on 127.0.0.1, on this home's Dagster instance (the processes: local_stack.py)."""

from __future__ import annotations

from intel_assets.cli.dagster_home import prepare_dagster_home
from intel_assets.settings import Settings


def ui_cmd(settings: Settings, port: int) -> int:
    """Dagster webserver + daemon (workspace.yaml) and the serving API, on 127.0.0.1."""
    from intel_assets.cli.local_stack import run_ui

    return run_ui(settings, port, prepare_dagster_home(settings))
