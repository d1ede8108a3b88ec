"""Owns running the reference LEAN runner (intel_assets/execution/lean_runner.py) on a background
thread for a ``with`` block: tests, drills and the parity demo's local venue."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from intel_assets.devtools.asgi import asgi_in_background
from intel_assets.domain.lean_data import Normalization
from intel_assets.execution.lean_runner import create_lean_runner_app


@contextmanager
def lean_runner_in_background(lean_dir: Path | str, host: str = "127.0.0.1", port: int = 0,
                              normalization: Normalization = "raw",
                              **options: Any) -> Iterator[str]:
    """A runner on a background thread for the ``with`` block; yields its base URL. Options as
    ``create_lean_runner_app`` (default: a replay clock at the start of the data)."""
    with asgi_in_background(create_lean_runner_app(lean_dir, normalization, **options), host,
                            port, lifespan="off", start_timeout=10) as url:
        yield url
