"""Pydantic models for every shape that crosses a boundary (wire bundle, symbols)."""

from intel_assets.contracts.bundle import (
    CONTEXT_VERSION,
    DOMAINS,
    WIRE_TOP_LEVEL_KEYS,
    Citation,
    DomainBlock,
    DomainBlocks,
    DomainState,
    MarketContextBundle,
)
from intel_assets.contracts.symbols import SYMBOL_RULE, InvalidSymbolError, normalize_symbol

__all__ = [
    "CONTEXT_VERSION",
    "DOMAINS",
    "WIRE_TOP_LEVEL_KEYS",
    "Citation",
    "DomainBlock",
    "DomainBlocks",
    "DomainState",
    "MarketContextBundle",
    "SYMBOL_RULE",
    "InvalidSymbolError",
    "normalize_symbol",
]
