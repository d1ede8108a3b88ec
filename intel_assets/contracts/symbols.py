"""Owns the one rule for what a ticker symbol may look like, used at every boundary."""

from __future__ import annotations

import re

SYMBOL_RULE = "^[A-Z][A-Z0-9.-]{0,14}$"
#: What a request may send (any case; the server upper-cases it): SYMBOL_RULE, case-insensitive.
SYMBOL_INPUT_RULE = "^[A-Za-z][A-Za-z0-9.-]{0,14}$"
_SYMBOL_RE = re.compile(SYMBOL_RULE)


class InvalidSymbolError(ValueError):
    """A symbol that does not match SYMBOL_RULE after upper-casing."""


def normalize_symbol(raw: str | None) -> str:
    """Return the upper-cased symbol, or raise InvalidSymbolError saying the rule."""
    if raw is None or not str(raw).strip():
        raise InvalidSymbolError(
            f"symbol is required: pass ?symbol=TICKER matching {SYMBOL_RULE} (after upper-casing)"
        )
    text = str(raw).strip()
    symbol = text.upper()
    if not text.isascii() or not _SYMBOL_RE.fullmatch(symbol):  # 'ß'.upper() is 'SS'

        raise InvalidSymbolError(
            f"invalid symbol {raw!r}: after upper-casing it must match {SYMBOL_RULE} "
            "(a letter, then up to 14 letters, digits, '.' or '-')"
        )
    return symbol
