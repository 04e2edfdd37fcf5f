"""The arithmetic of the `/api/admin/stats/*` answers: dense ranks, change percentages, the cost forecast's least
squares line (docs/reference-api.md §10). Pure; exact inputs (int, Decimal).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar

T = TypeVar("T")
Number = int | Decimal


def dense_ranks(values: Sequence[Number]) -> list[int]:
    """The dense rank of each value of an already sorted list: equal neighbours share a rank, the next distinct
    value takes the next integer (1, 1, 2, not 1, 1, 3). Exact equality: the values are ints and Decimals."""
    ranks: list[int] = []
    for i, value in enumerate(values):
        ranks.append(1 if i == 0 else ranks[-1] + (value != values[i - 1]))
    return ranks


def ranked(items: Sequence[T], metric: Callable[[T], Number], key: Callable[[T], str], desc: bool) -> list[T]:
    """Sorted by the metric (desc or asc), ties by the key ascending, as Aether's `compare_leaderboard_items`."""
    by_key = sorted(items, key=key)
    return sorted(by_key, key=metric, reverse=desc)  # stable: ties keep the key order


def change_percent(current: Number | float, previous: Number | float) -> float | None:
    """(current - previous) / previous in percent, 2 places; 0.0 when both are 0, None (no base) when only the
    previous one is."""
    if previous == 0:
        return 0.0 if current == 0 else None
    return round(float((Fraction(current) - Fraction(previous)) / Fraction(previous) * 100), 2)


@dataclass(frozen=True, slots=True)
class Line:
    slope: float
    intercept: float


def least_squares(values: Sequence[Number]) -> Line:
    """The line y = slope * x + intercept through (0, v0), (1, v1), ... by least squares, computed exactly
    (fractions) and rounded once; one point or none: a flat line at it (Aether's `linear_regression`)."""
    n = len(values)
    if n <= 1:
        return Line(0.0, float(values[0]) if values else 0.0)
    ys = [Fraction(v) for v in values]
    sx, sy = Fraction(n * (n - 1), 2), sum(ys, Fraction(0))
    sxx = Fraction((n - 1) * n * (2 * n - 1), 6)
    sxy = sum((i * y for i, y in enumerate(ys)), Fraction(0))
    slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    return Line(float(slope), float((sy - slope * sx) / n))


def forecast(line: Line, n_history: int, last: date, days: int) -> list[tuple[date, float]]:
    """The `days` days after `last`: the line at x = n_history, n_history + 1, ..., never below 0, 4 places."""
    return [
        (last + timedelta(days=i + 1), round(max(line.slope * (n_history + i) + line.intercept, 0.0), 4))
        for i in range(days)
    ]
