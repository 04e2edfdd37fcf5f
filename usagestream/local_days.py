"""Ranges of whole local days, the way today's Aether takes them (docs/reference-api.md §2.5): presets and
date-only bounds read as half-open days of a time zone, turned into the UTC instants the read path plans.

Pure: the caller passes "now" and the zone. `day_start(d + 1)` is where day `d` ends, so the days of a range
partition its instants exactly, in any zone: a day of 23 or 25 hours (DST), a zone at +05:30 or +05:45, a
midnight that does not exist (its day starts at the transition) or that happens twice (at the first).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

# Aether's preset names (frontend/src/api/usage.ts sends them; crates/aether-admin observability/stats.rs).
PRESETS = (
    "today",
    "yesterday",
    "last7days",
    "last30days",
    "last90days",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "this_year",
)
MAX_DAYS = 365  # Aether's limit on end_date - start_date (so 366 days inclusive are allowed, as there)
EARLIEST = datetime(1, 1, 3, tzinfo=UTC)  # the clamp of usagestream.http.params: no bucket arithmetic overflows
LATEST = datetime(9999, 12, 29, tzinfo=UTC)
TICK = timedelta(microseconds=1)


class RangeError(ValueError):
    """A range Aether would refuse; the message is Aether's, the API answers it with status 400."""


def today_in(now: datetime, zone: tzinfo) -> date:
    """The local date of `now` (an aware instant) in `zone`."""
    return now.astimezone(zone).date()


def preset_dates(preset: str, today: date) -> tuple[date, date]:
    """The first and last local date of a preset, given the local `today` (weeks start on Monday)."""
    monday = today - timedelta(days=today.weekday())
    first_of_month = today.replace(day=1)
    last_month_end = first_of_month - timedelta(days=1)
    spans = {
        "today": (today, today),
        "yesterday": (today - timedelta(days=1), today - timedelta(days=1)),
        "last7days": (today - timedelta(days=6), today),
        "last30days": (today - timedelta(days=29), today),
        "last90days": (today - timedelta(days=89), today),
        "this_week": (monday, today),
        "last_week": (monday - timedelta(days=7), monday - timedelta(days=1)),
        "this_month": (first_of_month, today),
        "last_month": (last_month_end.replace(day=1), last_month_end),
        "this_year": (today.replace(month=1, day=1), today),
    }
    if preset not in spans:
        raise RangeError("Invalid preset")
    return spans[preset]


def check_days(first: date, last: date, max_days: int | None = MAX_DAYS) -> None:
    """Aether's checks of a two-date range: ordered, and at most `max_days` apart (None: no limit)."""
    if first > last:
        raise RangeError("start_date must be <= end_date")
    if max_days is not None and (last - first).days > max_days:
        raise RangeError(f"Query range cannot exceed {max_days} days")


def day_start(day: date, zone: tzinfo) -> datetime:
    """The first instant (UTC) of the local `day`: its midnight, the transition if the midnight is skipped, the
    first one if it is repeated; clamped to [EARLIEST, LATEST] at the ends of the calendar."""
    try:
        return min(max(datetime.combine(day, time(), tzinfo=zone).astimezone(UTC), EARLIEST), LATEST)
    except OverflowError:
        return EARLIEST if day.year == 1 else LATEST


def day_end(day: date, zone: tzinfo) -> datetime:
    """The last instant (UTC, inclusive) of the local `day`: the next day's start minus one microsecond."""
    if day == date.max:
        return LATEST
    return max(day_start(day + timedelta(days=1), zone) - TICK, EARLIEST)


def days_between(first: date, last: date) -> list[date]:
    """Every local date from `first` to `last`, both included."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
