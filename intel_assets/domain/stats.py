"""Owns the aggregates every TCA and parity figure uses: the linear-interpolation percentile and
count/mean/p95/max of a series (numpy's default percentile, Excel PERCENTILE.INC)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from intel_assets.contracts.parity import Aggregate


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation between order statistics."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low, frac = int(math.floor(rank)), rank - math.floor(rank)
    if low + 1 >= len(ordered):
        return float(ordered[-1])
    return float(ordered[low] + (ordered[low + 1] - ordered[low]) * frac)


def aggregate(values: Iterable[float | None]) -> Aggregate:
    """count, mean, p95 and max of the non-None values."""
    kept = [float(v) for v in values if v is not None]
    if not kept:
        return Aggregate()
    return Aggregate(count=len(kept), mean=sum(kept) / len(kept), p95=percentile(kept, 95),
                     max=max(kept))


def number_text(value: float | None, digits: int = 2) -> str:
    """``value`` for people (reports of these figures): ``digits`` decimals, "-" for None, never
    "-0.00"."""
    return "-" if value is None else f"{round(value, digits) + 0.0:.{digits}f}"  # no "-0.00"


__all__ = ["aggregate", "number_text", "percentile"]
