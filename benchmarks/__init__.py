"""Benchmarks for intel_assets (P1 refresh cost, P2 serving latency). Entry point: run.py."""
