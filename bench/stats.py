"""The benchmarks' small statistics: percentiles, a figure's median with its spread, and the
rotating order that interleaves contenders (A B C, then B C A, ...)."""

from __future__ import annotations

import statistics
from typing import Any


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def rotate(items: list[Any], n: int) -> list[Any]:
    n %= len(items)
    return items[n:] + items[:n]


def spread(values: list[float], inner: bool = False) -> dict[str, float]:
    """median with its spread: min and max, or (``inner``, for thousands of samples) the
    quartiles p25 and p75."""
    if inner:
        return {"median": statistics.median(values), "lo": pct(values, 0.25), "hi": pct(values, 0.75), "n": len(values)}
    return {"median": statistics.median(values), "lo": min(values), "hi": max(values), "n": len(values)}
