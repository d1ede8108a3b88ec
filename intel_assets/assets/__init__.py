"""Thin @asset wiring around intel_assets.domain; one module per domain plus the bundle."""
