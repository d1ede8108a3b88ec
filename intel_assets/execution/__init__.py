"""Execution venues: the ExecutionAdapter protocol, LeanAdapter, the reference LEAN runner and replays."""
