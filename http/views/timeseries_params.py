"""Query parameters of the time series paths (docs/api.md "Time series"), parsed into a SeriesQuery.

`start_date` / `end_date` are read as the other paths read them (admin: the default range when both are
omitted); `granularity` defaults to `hour`, `limit` to 10 (1..100), `tz` to USAGESTREAM_TIMEZONE.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from usagestream.http import params
from usagestream.http.errors import http_error, invalid
from usagestream.materializer.read.timeseries import ADMIN_GROUPS, USER_GROUPS, SeriesQuery
from usagestream.settings import Settings
from usagestream.timeseries import GRANULARITIES

# IANA names: letters, digits and _ + - in /-separated parts (no dots: never a path outside the zone database).
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]{1,40}(/[A-Za-z0-9_+\-]{1,40}){0,2}")


def series_query(query: params.Query, settings: Settings, now: datetime, user_id: str | None) -> SeriesQuery:
    """The request's parameters; `user_id` None for the admin path, else the caller's own series. Dates and
    presets are days of `timezone` / `tz_offset_minutes`, else of `tz` (docs/reference-api.md §2.5)."""
    tz = zone(query, settings)
    if user_id is None:
        start, end = params.admin_range(query, settings.admin_default_days, now, zone=tz, max_days=None)
    else:
        start, end = params.date_range(query, zone=tz, now=now, max_days=None)
    return SeriesQuery(
        start=start,
        end=end,
        granularity=granularity(query),
        tz=tz,
        group_by=group_by(query, admin=user_id is None),
        limit=params.integer(query, "limit", 10, 1, 100),
        now=now,
        user_id=user_id,
    )


def granularity(query: params.Query) -> str:
    value = params.text(query, "granularity")
    if value is None:
        return "hour"
    if value not in GRANULARITIES:
        raise invalid(f"Query parameter 'granularity': Input should be one of: {', '.join(GRANULARITIES)}")
    return value


def group_by(query: params.Query, *, admin: bool) -> str | None:
    """None for no grouping (absent or `none`); `user` and `provider` only on the admin path (403 here)."""
    value = params.text(query, "group_by")
    if value is None or value == "none":
        return None
    allowed = ADMIN_GROUPS if admin else USER_GROUPS
    if value in allowed:
        return value
    if value in ADMIN_GROUPS:
        raise http_error(403, f"group_by={value} needs the admin role: use /api/admin/usage/timeseries")
    raise invalid(f"Query parameter 'group_by': Input should be one of: none, {', '.join(allowed)}")


def zone(query: params.Query, settings: Settings) -> ZoneInfo:
    value = params.text(query, "tz")
    if value is None:
        return settings.tz
    if _ZONE_NAME.fullmatch(value):
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass  # not in the zone database (or a file there that is not a zone)
    raise invalid(
        f"Query parameter 'tz': unknown time zone {value[:60]!r}: expected an IANA name such as Europe/Berlin"
    )
