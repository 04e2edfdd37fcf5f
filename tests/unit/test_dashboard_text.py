"""The dashboard's display texts and roundings: the values today's Aether's own tests expect
(dashboard_filters.rs at 60c1cbe8), the unit boundaries, and money rounded exactly, half away from zero."""

from __future__ import annotations

from decimal import Decimal

import pytest

from usagestream.http.shape import dashboard_text as txt


@pytest.mark.parametrize(
    ("tokens", "text"),
    [
        (0, "0"),
        (999, "999"),
        (1_000, "1K"),
        (1_250, "1.25K"),
        (10_050, "10.1K"),
        (123_456, "123K"),
        (999_999, "1000K"),  # Aether stays in the unit the count reached (scaled 999.999 -> 1000)
        (1_234_567, "1.23M"),
        (12_500_000, "12.5M"),
        (1_250_000_000, "1.25B"),
        (12_500_000_000_000, "12.5T"),
    ],
)
def test_compact_tokens_as_aether_writes_them(tokens: int, text: str) -> None:
    assert txt.compact(tokens) == text


def test_money_is_rounded_exactly_half_away_from_zero() -> None:
    assert txt.money4(Decimal("0.00005")) == Decimal("0.0001")
    assert txt.money4(Decimal("-0.00005")) == Decimal("-0.0001")
    assert txt.money4(Decimal("2.00004999")) == Decimal("2.0000")
    assert txt.money4(None) == Decimal("0.0000")
    assert str(txt.money4(Decimal("1.1"))) == "1.1000"


def test_dollars_grouped_integers_and_percentages() -> None:
    assert txt.usd(Decimal("1.005")) == "$1.01"  # the float 1.005 would round down
    assert txt.usd(None) == "$0.00"
    assert txt.grouped(1234567) == "1,234,567"
    assert txt.percent(1, 3, 4) == 33.3333
    assert txt.percent(5, 0, 4) == 0.0
    assert txt.percent_text(99.25) == "99.3%"
    assert txt.percent_text(0.0) == "0.0%"
