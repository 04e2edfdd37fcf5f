"""The dashboard's range parameters (docs/reference-api.md §11.3): the local days `/api/dashboard/stats` and
`/api/dashboard/daily-stats` answer for, read as today's Aether reads them, in the request's zone.

In order: `preset` (not with a bound); else `start_date` and `end_date`, both dates; else `days` (the last N
local days ending today); else the default (stats: this month; daily stats: the last 7 days). The zone, the
presets and the date checks are those of every range path (`usagestream.http.params.time_range`); a refusal is a
400 with Aether's message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from usagestream import local_days
from usagestream.http import params
from usagestream.http.errors import http_error

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
STATS_MAX_DAYS = 365  # `days` of /stats: at most 365 (today's Aether)
DAILY_DAYS = 7  # the daily stats' default range, in days (Aether, both generations)
DAILY_MAX_DAYS = 30  # `days` of /daily-stats: at most 30 (Aether, both generations)


@dataclass(frozen=True, slots=True)
class Days:
    """The local dates asked for (first to last, inclusive), the zone they are days of, and today there."""

    first: date
    last: date
    zone: tzinfo
    today: date

    def dates(self) -> list[date]:
        return local_days.days_between(self.first, self.last)

    def span(self, first: date, last: date) -> tuple[datetime, datetime]:
        """The inclusive UTC instants of the local days `first` to `last`."""
        return local_days.day_start(first, self.zone), local_days.day_end(last, self.zone)


def _days_param(query: params.Query, most: int) -> int | None:
    raw = params.text(query, "days")
    if raw is None:
        return None
    raw = raw.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,12}", raw) or not 1 <= int(raw) <= most:
        raise http_error(400, f"days must be between 1 and {most}")
    return int(raw)


def _check_bounds(query: params.Query) -> None:
    """Aether's dashboard takes dates only, and both or neither."""
    given = [name for name in ("start_date", "end_date") if params.last(query, name) is not None]
    if len(given) == 1:
        raise http_error(400, "start_date and end_date must be provided together")
    for name in given:
        if not _DATE.fullmatch((params.last(query, name) or "").strip()):
            raise http_error(400, f"{name} must be a valid date in YYYY-MM-DD format")


def dashboard_days(query: params.Query, default_zone: tzinfo, now: datetime, *, daily: bool) -> Days:
    """The days of one request (module docstring); `daily` selects the daily stats' default and `days` bound."""
    zone = params.request_zone(query, default_zone)
    today = local_days.today_in(now, zone)
    preset = params.text(query, "preset")
    if preset is None or not preset.strip():
        _check_bounds(query)
    found = params.time_range(query, zone=default_zone, now=now)
    if found.days is not None:
        return Days(found.days[0], found.days[1], zone, today)
    n = _days_param(query, DAILY_MAX_DAYS if daily else STATS_MAX_DAYS)
    if n is not None:
        return Days(today - timedelta(days=n - 1), today, zone, today)
    if daily:
        return Days(today - timedelta(days=DAILY_DAYS - 1), today, zone, today)
    return Days(today.replace(day=1), today, zone, today)
