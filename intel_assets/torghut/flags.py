"""Owns the rollout/rollback flags Torghut reads from its environment (market context, execution adapter)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

from intel_assets.torghut.settings import process_environment

MARKET_CONTEXT_ENABLED_VAR = "TRADING_MARKET_CONTEXT_ENABLED"
EXECUTION_ADAPTER_VAR = "TRADING_EXECUTION_ADAPTER"
EXECUTION_ADAPTERS = ("alpaca", "lean")
_FALSE = frozenset({"false", "0", "no", "off"})
_TRUE = frozenset({"true", "1", "yes", "on"})

ExecutionAdapterName = Literal["alpaca", "lean"]


def market_context_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """TRADING_MARKET_CONTEXT_ENABLED: true unless false/0/no/off (any case); unset or empty = true.

    Any other value raises ValueError rather than guessing: a mistyped rollback must not be
    silently ignored.
    """
    environ = process_environment() if environ is None else environ
    raw = environ.get(MARKET_CONTEXT_ENABLED_VAR, "").strip().lower()
    if not raw or raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(
        f"{MARKET_CONTEXT_ENABLED_VAR}={environ[MARKET_CONTEXT_ENABLED_VAR]!r} is not a boolean; "
        "write true/1/yes/on to use the market context (the default) or false/0/no/off to disable it"
    )


def selected_execution_adapter(environ: Mapping[str, str] | None = None) -> ExecutionAdapterName:
    """TRADING_EXECUTION_ADAPTER: 'alpaca' (default when unset or empty) or 'lean' (any case)."""
    environ = process_environment() if environ is None else environ
    raw = environ.get(EXECUTION_ADAPTER_VAR, "").strip().lower()
    if not raw:
        return "alpaca"
    if raw in EXECUTION_ADAPTERS:
        return raw  # type: ignore[return-value]
    raise ValueError(
        f"{EXECUTION_ADAPTER_VAR}={environ[EXECUTION_ADAPTER_VAR]!r} is not supported; "
        f"set it to one of: {', '.join(EXECUTION_ADAPTERS)} (default alpaca)"
    )


@dataclass(frozen=True)
class RolloutFlags:
    """The flags as read once, e.g. at Torghut start-up; bad values raise there, not mid-trade."""

    market_context_enabled: bool = True
    execution_adapter: ExecutionAdapterName = "alpaca"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "RolloutFlags":
        """Read both flags from `environ` (the process environment by default); ValueError names a bad variable."""
        return cls(
            market_context_enabled=market_context_enabled(environ),
            execution_adapter=selected_execution_adapter(environ),
        )
