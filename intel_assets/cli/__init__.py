"""The intel-assets command line: one module per subcommand; ``main`` dispatches."""

from intel_assets.cli.main import main

__all__ = ["main"]
