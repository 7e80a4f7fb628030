"""Small statistics: every figure in the results is a median with its min and max over the runs."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def summary(values: Sequence[float]) -> dict[str, float | int]:
    if not values:
        raise ValueError("no values to summarise")
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> dict[str, float | int]:
    """Pairwise ratios of runs measured side by side (run i of one side against run i of the other)."""
    return summary([a / b for a, b in zip(numerators, denominators, strict=True)])
