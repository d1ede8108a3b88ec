"""Sensors and schedules: per-symbol freshness refresh (parity sensors come later)."""
