"""The dashboard's display texts and roundings, as today's Aether writes them
(apps/aether-gateway/src/handlers/public/support/dashboard_filters.rs at 60c1cbe8): grouped integers, compact
token counts (K, M, B, T), dollars, percentages, and money rounded half away from zero to 4 places.

Money is rounded from the exact Decimal sums (Aether rounds float sums); everything else is display text.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

_UNITS = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K"))


def money4(value: Decimal | int | None) -> Decimal:
    """Money to 4 places, half away from zero (Aether's `dashboard_round_f64(x, 4)`), exact."""
    return Decimal(value or 0).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def grouped(value: int) -> str:
    """An integer with thousands separators: 1234567 -> "1,234,567"."""
    return f"{value:,}"


def _trimmed(value: Decimal, places: int) -> str:
    text = f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def compact(value: int) -> str:
    """A token count in Aether's compact form: below 1000 as is; else in the largest unit it reaches, whole
    from 100 on, else to 1 (from 10) or 2 places with trailing zeros dropped: 1500 -> "1.5K", 123456 -> "123K"."""
    for divisor, suffix in _UNITS:
        if value >= divisor:
            scaled = Decimal(value) / divisor
            if scaled >= 100:
                return f"{scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP)}{suffix}"
            return f"{_trimmed(scaled, 1 if scaled >= 10 else 2)}{suffix}"
    return grouped(value)


def usd(value: Decimal | int | None) -> str:
    """Dollars to 2 places: Decimal("1.005") -> "$1.01"."""
    return f"${Decimal(value or 0).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"


def percent(part: int, whole: int, places: int) -> float:
    """part / whole x 100 rounded to `places` (0.0 over nothing)."""
    return round(part / whole * 100, places) if whole else 0.0


def percent_text(value: float) -> str:
    """A percentage to one place: 99.25 -> "99.3%" (rounded half away from zero, on its decimal text)."""
    return f"{Decimal(repr(value)).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"
