"""Query-parameter parsing and validation with the reference's defaults and bounds (docs/reference-api.md §3).

Every failure raises ApiError 422 (`validation_error`), except an unknown `group_by` (400, reference text) and a
range today's Aether refuses (400, its text).
Rules shared by every parameter:
- A repeated parameter uses its last value (as FastAPI does).
- Datetimes are ISO 8601 (`2026-02-03T16:00:00Z`, `2026-02-03T16:00:00.5+08:00`); a datetime without an offset
  is taken as UTC. They come back as UTC-aware datetimes, clamped to [0001-01-03, 9999-12-29] UTC so that no
  bucket or time-zone arithmetic downstream can overflow. A range bound that is a bare date (`2026-02-03`) is a
  whole local day, and `preset`, `timezone`, `tz_offset_minutes` name days too (`time_range`, Aether's rules:
  docs/reference-api.md §2.5); those checks answer 400 with Aether's message.
- Integers are decimal digits with an optional sign; booleans are true/false, 1/0, yes/no, on/off, t/f, y/n.
- Text may not contain the NUL character (PostgreSQL text cannot hold it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from multidict import MultiMapping

from usagestream import local_days
from usagestream.http.errors import http_error, invalid
from usagestream.materializer.read.records import ESTIMATE, EXACT, ONLY

Query = MultiMapping[str]

EARLIEST = local_days.EARLIEST
LATEST = local_days.LATEST
GROUP_BY = ("model", "user", "provider", "api_format")
RECORD_STATUSES = (
    "stream",
    "standard",
    "error",
    "pending",
    "streaming",
    "completed",
    "failed",
    "active",
    "cancelled",
    "has_fallback",
    "has_retry",
)
_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})
_INT = re.compile(r"[+-]?[0-9]{1,12}")  # more digits than that is out of every bound anyway
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # a bound in this form is a local day (Aether's YYYY-MM-DD)
# IANA names: letters, digits and _ + - in /-separated parts (no dots: never a path outside the zone database).
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]{1,40}(/[A-Za-z0-9_+\-]{1,40}){0,2}")
MAX_OFFSET = 1439  # tz_offset_minutes: a fixed offset must stay under a day (real ones lie in -720..840)


def last(query: Query, name: str) -> str | None:
    """The parameter's last value, or None if it is absent."""
    values = query.getall(name, [])
    return values[-1] if values else None


def text(query: Query, name: str) -> str | None:
    """An optional free-text parameter (kept as sent, even if empty)."""
    value = last(query, name)
    if value is not None and "\x00" in value:
        raise invalid(f"Query parameter '{name}': must not contain the NUL character")
    return value


def parse_datetime(raw: str) -> datetime | None:
    """ISO 8601 text -> UTC-aware datetime (naive = UTC, clamped), or None if it is not a datetime."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        return EARLIEST if value.year == 1 else LATEST
    return min(max(value, EARLIEST), LATEST)


def opt_datetime(query: Query, name: str) -> datetime | None:
    raw = last(query, name)
    if raw is None:
        return None
    value = parse_datetime(raw)
    if value is None:
        raise invalid(f"Query parameter '{name}': Input should be a valid ISO 8601 datetime")
    return value


def integer(query: Query, name: str, default: int, lo: int, hi: int | None = None) -> int:
    """An integer parameter with inclusive bounds [lo, hi] (hi None = unbounded above)."""
    raw = last(query, name)
    if raw is None:
        return default
    if not _INT.fullmatch(raw.strip()):
        raise invalid(f"Query parameter '{name}': Input should be a valid integer")
    value = int(raw.strip())
    if value < lo:
        raise invalid(f"Query parameter '{name}': Input should be greater than or equal to {lo}")
    if hi is not None and value > hi:
        raise invalid(f"Query parameter '{name}': Input should be less than or equal to {hi}")
    return value


def boolean(query: Query, name: str, default: bool) -> bool:
    raw = last(query, name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise invalid(f"Query parameter '{name}': Input should be a valid boolean")


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A request's range: inclusive UTC bounds (None = open), the zone its days are read in, and, when the range
    is whole local days (a preset, or two date-only bounds), its first and last date."""

    start: datetime | None
    end: datetime | None
    zone: tzinfo
    days: tuple[date, date] | None = None


def _present(query: Query, name: str) -> str | None:
    """Aether's reading of preset/timezone/tz_offset_minutes: trimmed, and empty counts as absent."""
    value = text(query, name)
    return (value.strip() or None) if value is not None else None


def offset_minutes(query: Query) -> int | None:
    """`tz_offset_minutes` (minutes east of UTC, as the browser's `-getTimezoneOffset()`), or None if absent."""
    raw = _present(query, "tz_offset_minutes")
    if raw is None:
        return None
    if not _INT.fullmatch(raw):
        raise http_error(400, "tz_offset_minutes must be a valid integer")
    value = int(raw)
    if abs(value) > MAX_OFFSET:
        raise http_error(400, f"tz_offset_minutes must be between -{MAX_OFFSET} and {MAX_OFFSET}")
    return value


def iana_zone(name: str) -> ZoneInfo | None:
    """The zone of an IANA name, or None if the name is malformed or not in the zone database."""
    if not _ZONE_NAME.fullmatch(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None  # not in the zone database (or a file there that is not a zone)


def request_zone(query: Query, default: tzinfo) -> tzinfo:
    """The zone a request's local days are in: `timezone` (IANA, exact across DST) wins; else
    `tz_offset_minutes` (a fixed offset); else `default` (the configured zone). An unknown `timezone` falls back
    to `tz_offset_minutes` as Aether's did (a browser may name a zone our database lacks); without one, 400."""
    name, offset = _present(query, "timezone"), offset_minutes(query)
    if name is not None:
        found = iana_zone(name)
        if found is not None:
            return found
        if offset is None:
            raise http_error(
                400, f"timezone: unknown time zone {name[:60]!r}: expected an IANA name such as Asia/Kolkata"
            )
    if offset is not None:
        return UTC if offset == 0 else timezone(timedelta(minutes=offset))
    return default


def _bound(query: Query, name: str, zone: tzinfo, *, end: bool) -> tuple[datetime | None, date | None]:
    """A range bound as (instant, local date if it was date-only): a date is its local day's first (start) or
    last (end) instant; anything else keeps its meaning as a datetime (opt_datetime)."""
    raw = last(query, name)
    if raw is not None and _DATE.fullmatch(raw.strip()):
        try:
            day = date.fromisoformat(raw.strip())
        except ValueError:
            raise http_error(400, f"{name} must be a valid date in YYYY-MM-DD format") from None
        return (local_days.day_end(day, zone) if end else local_days.day_start(day, zone)), day
    return opt_datetime(query, name), None


def time_range(query: Query, *, zone: tzinfo, now: datetime, max_days: int | None = local_days.MAX_DAYS) -> TimeRange:
    """The range of `start_date`, `end_date`, `preset`, `timezone`, `tz_offset_minutes`, read as in
    docs/reference-api.md §2.5; `zone` is the default zone (the configured one), `now` the instant presets count
    from.

    - `preset` names local days ending today (or last week, month); it cannot be combined with a bound (400).
    - A date-only bound is a whole local day: `start_date=2026-02-03&end_date=2026-02-04` is two days, the
      half-open `[local midnight of the 3rd, local midnight of the 5th)`, here as inclusive instants.
    - With two dates or a preset: start <= end and at most `max_days` (None: no limit) apart, else 400.
    - Datetime bounds keep their meaning (opt_datetime: inclusive, naive = UTC, 422 if unparseable).
    Raises ApiError on bad input. No default range (`admin_range` adds it)."""
    local = request_zone(query, zone)
    preset = _present(query, "preset")
    if preset is not None:
        if _present(query, "start_date") is not None or _present(query, "end_date") is not None:
            raise http_error(400, "preset cannot be combined with start_date or end_date")
        days = _checked(lambda: local_days.preset_dates(preset, local_days.today_in(now, local)), max_days)
    else:
        start, first = _bound(query, "start_date", local, end=False)
        end, final = _bound(query, "end_date", local, end=True)
        if first is None or final is None:
            return TimeRange(start, end, local)
        days = _checked(lambda: (first, final), max_days)
    return TimeRange(local_days.day_start(days[0], local), local_days.day_end(days[1], local), local, days)


def _checked(resolve: Callable[[], tuple[date, date]], max_days: int | None) -> tuple[date, date]:
    try:
        first, final = resolve()
        local_days.check_days(first, final, max_days)
    except local_days.RangeError as exc:
        raise http_error(400, str(exc)) from None
    return first, final


def date_range(
    query: Query, *, zone: tzinfo = UTC, now: datetime | None = None, max_days: int | None = local_days.MAX_DAYS
) -> tuple[datetime | None, datetime | None]:
    """The inclusive UTC bounds (None = open) of `time_range`, with no default range (the user paths have none).

    `zone`: the zone of dates and presets when the request names none (pass settings.tz; UTC only for callers
    without settings); `now`: the instant presets count from (default: the clock); `max_days`: Aether's limit on
    two dates, None for paths without one. Raises ApiError (400 Aether's refusals, 422 an unparseable datetime)."""
    found = time_range(query, zone=zone, now=now or datetime.now(UTC), max_days=max_days)
    return found.start, found.end


def admin_range(
    query: Query,
    default_days: int,
    now: datetime,
    *,
    zone: tzinfo = UTC,
    max_days: int | None = local_days.MAX_DAYS,
) -> tuple[datetime | None, datetime | None]:
    """`date_range`, or the rolling [now - default_days, now] when no bound and no preset is given and
    default_days > 0 (docs/reference-api.md §2.2; `zone` and `max_days` as `date_range` takes them)."""
    start, end = date_range(query, zone=zone, now=now, max_days=max_days)
    if start is None and end is None and default_days > 0 and _present(query, "preset") is None:
        return now - timedelta(days=default_days), now
    return start, end


def group_by(query: Query) -> str:
    value = text(query, "group_by")
    if value is None:
        raise invalid("Query parameter 'group_by': Field required")
    if value not in GROUP_BY:
        raise http_error(400, f"Invalid group_by value: {value}. Must be one of: {', '.join(GROUP_BY)}")
    return value


def record_status(query: Query) -> str | None:
    value = text(query, "status")
    if value is not None and value not in RECORD_STATUSES:
        raise invalid(f"Query parameter 'status': Input should be one of: {', '.join(RECORD_STATUSES)}")
    return value


def record_total(query: Query) -> str:
    """How /records counts (Aether's parameters): `total_only=true` -> ONLY (no records); else
    `include_total=false` -> ESTIMATE (no count); else EXACT."""
    if boolean(query, "total_only", False):
        return ONLY
    return EXACT if boolean(query, "include_total", True) else ESTIMATE


def ids(query: Query) -> list[str] | None:
    """`ids` as a trimmed, de-duplicated list (order kept); None if absent, [] if all blank."""
    raw = text(query, "ids")
    if raw is None:
        return None
    return list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))


def path_id(match_info: Mapping[str, str], name: str) -> str | None:
    """A path segment usable as a lookup key, or None if no record can have it (NUL)."""
    value = match_info.get(name, "")
    return None if not value or "\x00" in value else value
