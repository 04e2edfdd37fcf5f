"""The arithmetic of the stats family (usagestream/stats_math.py): dense ranks, change, the forecast line."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from usagestream.stats_math import Line, change_percent, dense_ranks, forecast, least_squares, ranked


def test_dense_ranks_share_ties_and_skip_nothing() -> None:
    assert dense_ranks([5, 5, 3, 3, 1]) == [1, 1, 2, 2, 3]
    assert dense_ranks([Decimal("0.10"), Decimal("0.1"), Decimal("0.09")]) == [1, 1, 2]  # exact equality
    assert dense_ranks([]) == []


def test_ranked_orders_ties_by_key() -> None:
    items = [("b", 2), ("a", 2), ("c", 5), ("d", 1)]
    assert ranked(items, lambda i: i[1], lambda i: i[0], desc=True) == [("c", 5), ("a", 2), ("b", 2), ("d", 1)]
    assert ranked(items, lambda i: i[1], lambda i: i[0], desc=False) == [("d", 1), ("a", 2), ("b", 2), ("c", 5)]


def test_change_percent() -> None:
    assert change_percent(0, 0) == 0.0
    assert change_percent(5, 0) is None
    assert change_percent(150, 100) == 50.0
    assert change_percent(Decimal("1"), Decimal("3")) == -66.67


def test_least_squares_exact_line() -> None:
    assert least_squares([1, 3, 5, 7]) == Line(2.0, 1.0)
    assert least_squares([Decimal("4.5")]) == Line(0.0, 4.5)
    assert least_squares([]) == Line(0.0, 0.0)


@given(st.lists(st.integers(0, 10**9), min_size=2, max_size=60))
def test_least_squares_minimises_the_squared_error(values: list[int]) -> None:
    line = least_squares(values)

    def err(slope: float, intercept: float) -> float:
        return sum((slope * i + intercept - v) ** 2 for i, v in enumerate(values))

    best = err(line.slope, line.intercept)
    for ds, di in ((1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)):
        assert best <= err(line.slope + ds, line.intercept + di) * (1 + 1e-9)


def test_forecast_continues_the_line_and_never_goes_below_zero() -> None:
    last = date(2026, 3, 4)
    assert forecast(Line(-2.0, 5.0), 2, last, 3) == [
        (last + timedelta(days=1), 1.0),
        (last + timedelta(days=2), 0.0),
        (last + timedelta(days=3), 0.0),
    ]
