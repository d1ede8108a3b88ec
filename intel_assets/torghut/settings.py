"""Owns the consumer's market-context settings, read from the environment under Torghut's names.

Restated from proompteng/lab 255d330fe services/torghut/app/config.py:
``TRADING_MARKET_CONTEXT_URL`` (the full endpoint, e.g.
``http://intel:8080/api/torghut/market-context``; unset = no context is fetched),
``TRADING_MARKET_CONTEXT_TIMEOUT_SECONDS`` (3), ``TRADING_MARKET_CONTEXT_REQUIRED`` (false),
``TRADING_MARKET_CONTEXT_FAIL_MODE`` (``shadow_only`` | ``fail_closed``, default shadow_only),
``TRADING_MARKET_CONTEXT_MIN_QUALITY`` (0.4), ``TRADING_MARKET_CONTEXT_MAX_STALENESS_SECONDS``
(300), and ``LLM_FAIL_MODE`` (``veto`` | ``pass_through``, default veto: what a fail-closed
block does to the trade). Bad values raise ValueError naming the variable.

This module is the consumer's one reader of its process environment (torghut/ stands for
Torghut's own process and depends on contracts/ only): ``process_environment()`` is what the
settings and the rollout flags (flags.py) read, live, so a flipped flag counts at the next intent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Mapping

def process_environment() -> Mapping[str, str]:
    """Torghut's process environment (live: a flag flipped now is read at the next call)."""
    return os.environ


FailMode = Literal["shadow_only", "fail_closed"]
LLMFailMode = Literal["veto", "pass_through"]
FAIL_MODES: tuple[FailMode, ...] = ("shadow_only", "fail_closed")
LLM_FAIL_MODES: tuple[LLMFailMode, ...] = ("veto", "pass_through")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (_text(env, name) or "").lower()
    if not raw:
        return default
    if raw in _TRUE | _FALSE:
        return raw in _TRUE
    raise ValueError(f"{name}={env[name]!r} is not a boolean; write true or false")


def _number(env: Mapping[str, str], name: str, default: float, *, low: float,
            high: float | None = None) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"within {low}..{high}"
        raise ValueError(f"{name}={raw!r} must be {bound}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = (_text(env, name) or default).lower()
    if raw not in choices:
        raise ValueError(f"{name}={env[name]!r} must be one of {', '.join(choices)}")
    return raw


@dataclass(frozen=True)
class MarketContextSettings:
    """Torghut's market-context settings (defaults as in its config)."""

    url: str | None = None
    timeout_seconds: int = 3
    required: bool = False
    fail_mode: FailMode = "shadow_only"
    min_quality: float = 0.4
    max_staleness_seconds: int = 300
    llm_fail_mode: LLMFailMode = "veto"

    def __post_init__(self) -> None:
        if self.fail_mode not in FAIL_MODES:
            raise ValueError(f"fail_mode {self.fail_mode!r} is not one of {', '.join(FAIL_MODES)}")
        if self.llm_fail_mode not in LLM_FAIL_MODES:
            raise ValueError(f"llm_fail_mode {self.llm_fail_mode!r} is not one of "
                             f"{', '.join(LLM_FAIL_MODES)}")
        if not 0.0 <= self.min_quality <= 1.0:
            raise ValueError("min_quality must be within 0..1")
        if self.max_staleness_seconds <= 0 or self.timeout_seconds <= 0:
            raise ValueError("max_staleness_seconds and timeout_seconds must be positive")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "MarketContextSettings":
        env = process_environment() if env is None else env
        return cls(
            url=_text(env, "TRADING_MARKET_CONTEXT_URL"),
            timeout_seconds=max(1, int(_number(env, "TRADING_MARKET_CONTEXT_TIMEOUT_SECONDS", 3,
                                               low=1))),
            required=_boolean(env, "TRADING_MARKET_CONTEXT_REQUIRED", False),
            fail_mode=_choice(env, "TRADING_MARKET_CONTEXT_FAIL_MODE", FAIL_MODES,
                              "shadow_only"),  # type: ignore[arg-type]
            min_quality=_number(env, "TRADING_MARKET_CONTEXT_MIN_QUALITY", 0.4, low=0, high=1),
            max_staleness_seconds=int(_number(env, "TRADING_MARKET_CONTEXT_MAX_STALENESS_SECONDS",
                                              300, low=1)),
            llm_fail_mode=_choice(env, "LLM_FAIL_MODE", LLM_FAIL_MODES, "veto"),  # type: ignore[arg-type]
        )


__all__ = ["FAIL_MODES", "FailMode", "LLMFailMode", "LLM_FAIL_MODES", "MarketContextSettings"]
