"""Query parameters of `/api/admin/stats/*`, read as Aether reads them (docs/reference-api.md §10.1).

Unlike the `/api/admin/usage` paths (422, http/params.py), every refusal here is a 400 with Aether's message,
since today's front end shows that text. A parameter's last value counts (as everywhere in this API); a blank
one counts as absent (as in Aether). Ranges: `usagestream.day_ranges`.
"""

from __future__ import annotations

import re
from datetime import datetime

from usagestream.day_ranges import DayRange, DayRangeError, resolve, zone_of
from usagestream.http import params
from usagestream.http.errors import ApiError, http_error
from usagestream.settings import Settings

_TRUE = frozenset({"1", "true", "yes", "on"})  # anything else is false, as Aether's query_param_bool
_DIGITS = re.compile(r"[0-9]{1,12}")  # u32 in Aether: no sign; more digits are out of every bound


def bad(message: str) -> ApiError:
    return http_error(400, message)


def value(query: params.Query, name: str) -> str | None:
    raw = params.last(query, name)
    if raw is None:
        return None
    if "\x00" in raw:
        raise bad(f"{name} must not contain the NUL character")
    stripped = raw.strip()
    return stripped or None


def bounded(query: params.Query, name: str, default: int, lo: int, hi: int) -> int:
    raw = value(query, name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw):
        raise bad(f"{name} must be a valid integer")
    number = int(raw)
    if not lo <= number <= hi:
        raise bad(f"{name} must be between {lo} and {hi}")
    return number


def offset(query: params.Query) -> int:
    raw = value(query, "offset")
    if raw is None:
        return 0
    if not _DIGITS.fullmatch(raw):
        raise bad("offset must be a valid integer")
    return int(raw)


def flag(query: params.Query, name: str) -> bool:
    raw = value(query, name)
    return raw is not None and raw.lower() in _TRUE


def choice(query: params.Query, name: str, allowed: tuple[str, ...], message: str) -> str:
    """One of `allowed` (the first is the default)."""
    raw = value(query, name)
    if raw is None:
        return allowed[0]
    if raw not in allowed:
        raise bad(message)
    return raw


def day_range(query: params.Query, settings: Settings, now: datetime, default_days: int | None = None) -> DayRange:
    """`start_date` + `end_date`, or `preset`, in `timezone` / `tz_offset_minutes` (else the configured zone);
    neither: the last `default_days` days (USAGESTREAM_ADMIN_DEFAULT_DAYS unless given), today included."""
    try:
        tz = zone_of(value(query, "timezone"), value(query, "tz_offset_minutes"), settings.tz)
        days = settings.admin_default_days if default_days is None else default_days
        return resolve(value(query, "start_date"), value(query, "end_date"), value(query, "preset"), tz, now, days)
    except DayRangeError as exc:
        raise bad(str(exc)) from None
