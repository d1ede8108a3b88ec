"""Owns ``python -m intel_assets.cli``: the same as the intel-assets command."""

import sys

from intel_assets.cli.main import main

sys.exit(main())
