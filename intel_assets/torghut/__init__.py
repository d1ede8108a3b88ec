"""Torghut's consumer side of the market context: client, LLM review request, guardrail, flags, counters.

No Dagster import anywhere in this package: Torghut runs it in its own trading process.
"""
