"""Query-parameter parsing and validation with the reference's defaults and bounds (docs/reference-api.md §3).

Every failure raises ApiError 422 (`validation_error`), except an unknown `group_by` (400, reference text).
Rules shared by every parameter:
- A repeated parameter uses its last value (as FastAPI does).
- Datetimes are ISO 8601 (`2026-02-03T16:00:00Z`, `2026-02-03T16:00:00.5+08:00`, `2026-02-03`); a datetime
  without an offset (or a bare date) is taken as UTC. They come back as UTC-aware datetimes, clamped to
  [0001-01-03, 9999-12-29] UTC so that no bucket or time-zone arithmetic downstream can overflow.
- Integers are decimal digits with an optional sign; booleans are true/false, 1/0, yes/no, on/off, t/f, y/n.
- Text may not contain the NUL character (PostgreSQL text cannot hold it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from multidict import MultiMapping

from usagestream.http.errors import http_error, invalid

Query = MultiMapping[str]

EARLIEST = datetime(1, 1, 3, tzinfo=UTC)
LATEST = datetime(9999, 12, 29, tzinfo=UTC)
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
)
_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})
_INT = re.compile(r"[+-]?[0-9]{1,12}")  # more digits than that is out of every bound anyway


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


def date_range(query: Query) -> tuple[datetime | None, datetime | None]:
    return opt_datetime(query, "start_date"), opt_datetime(query, "end_date")


def admin_range(query: Query, default_days: int, now: datetime) -> tuple[datetime | None, datetime | None]:
    """start_date/end_date, or [now - default_days, now] when both are omitted and default_days > 0."""
    start, end = date_range(query)
    if start is None and end is None and default_days > 0:
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
