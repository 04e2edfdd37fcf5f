"""Ranges of whole local days as the `/api/admin/stats/*` family takes them (docs/reference-api.md §10.1).

Aether's stats endpoints take `start_date` / `end_date` as dates (both, or a `preset`), read in a business zone,
as the half-open local days `[start_date 00:00, end_date + 1 day 00:00)`. Aether turns `tz_offset_minutes` into a
fixed offset; we also take an IANA `timezone` (it wins: its days are exact across DST), and with neither, the
configured zone. Pure: `today` is passed in, errors are `DayRangeError` with Aether's text (the HTTP layer
answers 400 with it).
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from usagestream import local_days
from usagestream.timeseries import local_midnight

PRESETS = local_days.PRESETS  # one list of Aether's presets, one reading of them (usagestream/local_days.py)
MAX_SPAN_DAYS = 365  # end_date - start_date, as Aether bounds it
# Dates whose comparison range (a year or a span earlier) and local midnights (UTC-12..+14) stay representable.
DATE_BOUNDS = (date(3, 1, 1), date(9998, 12, 30))
OFFSET_BOUNDS = (-720, 840)  # UTC-12:00 .. UTC+14:00: every offset in use (Aether takes any integer)
TICK = timedelta(microseconds=1)
# IANA names: letters, digits and _ + - in /-separated parts (no dots: never a path outside the zone database).
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]{1,40}(/[A-Za-z0-9_+\-]{1,40}){0,2}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class DayRangeError(ValueError):
    """A range parameter Aether refuses (with its message); the client should fix the request."""


@dataclass(frozen=True, slots=True)
class DayRange:
    """The local days `first..last` (inclusive) of `tz`."""

    first: date
    last: date
    tz: ZoneInfo

    def bounds(self) -> tuple[datetime, datetime]:
        """UTC `[start, end]`, inclusive as the read store takes ranges: the first local midnight up to the
        instant before the midnight that ends the last day."""
        return local_midnight(self.first, self.tz), local_midnight(self.last + timedelta(days=1), self.tz) - TICK

    def day_spans(self) -> list[tuple[datetime, datetime]]:
        """Each local day as the half-open UTC `[its midnight, the next midnight)`."""
        days = [self.first + timedelta(days=i) for i in range(self.days + 1)]
        starts = [local_midnight(d, self.tz) for d in days]
        return list(zip(starts, starts[1:], strict=False))

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def offset_zone(minutes: int) -> ZoneInfo:
    """A zone fixed at UTC+`minutes` (named e.g. `UTC+05:30`), built as a one-type TZif file in memory."""
    if not OFFSET_BOUNDS[0] <= minutes <= OFFSET_BOUNDS[1]:
        raise DayRangeError(f"tz_offset_minutes must be between {OFFSET_BOUNDS[0]} and {OFFSET_BOUNDS[1]}")
    return _offset_zone(minutes)


@lru_cache(maxsize=64)
def _offset_zone(minutes: int) -> ZoneInfo:
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    abbr = f"{sign}{hours:02d}{mins:02d}".encode() + b"\0"
    posix = f"<{sign}{hours:02d}{mins:02d}>{'-' if minutes >= 0 else '+'}{hours}:{mins:02d}"
    block = struct.pack(">6l", 0, 0, 0, 0, 1, len(abbr)) + struct.pack(">lBB", minutes * 60, 0, 0) + abbr
    head = b"TZif2" + bytes(15)
    data = head + block + head + block + b"\n" + posix.encode() + b"\n"
    return ZoneInfo.from_file(io.BytesIO(data), key=f"UTC{sign}{hours:02d}:{mins:02d}")


def zone_of(timezone: str | None, tz_offset_minutes: str | None, default: ZoneInfo) -> ZoneInfo:
    """`timezone` (IANA) if given, else a fixed `tz_offset_minutes`, else `default`; the offset is validated
    even when `timezone` wins (Aether refuses a bad one whatever else is sent)."""
    offset = _offset(tz_offset_minutes)
    if timezone is not None:
        return _iana(timezone)
    return default if offset is None else offset_zone(offset)


def _offset(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not re.fullmatch(r"[+-]?[0-9]{1,6}", raw):
        raise DayRangeError("tz_offset_minutes must be a valid integer")
    value = int(raw)
    offset_zone(value)  # bounds
    return value


def _iana(name: str) -> ZoneInfo:
    if _ZONE_NAME.fullmatch(name):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass  # not in the zone database (or a file there that is not a zone)
    raise DayRangeError(f"timezone must be an IANA time zone name such as Asia/Shanghai, not {name[:60]!r}")


def parse_date(field: str, raw: str) -> date:
    try:
        if _DATE.fullmatch(raw):
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise DayRangeError(f"{field} must be a valid date in YYYY-MM-DD format")


def today_in(now: datetime, tz: ZoneInfo) -> date:
    return local_days.today_in(now, tz)


def preset_days(preset: str, today: date) -> tuple[date, date]:
    """The dates of a preset, as Aether's `resolve_preset_dates` names them (local_days.preset_dates)."""
    try:
        return local_days.preset_dates(preset, today)
    except local_days.RangeError as exc:
        raise DayRangeError(str(exc)) from exc


def resolve(
    start: str | None, end: str | None, preset: str | None, tz: ZoneInfo, now: datetime, default_days: int
) -> DayRange:
    """Aether's `resolve_admin_usage_time_range`: a preset, or both dates, or else the last `default_days` local
    days ending today (today alone when `default_days` is 0)."""
    first = None if start is None else parse_date("start_date", start)
    last = None if end is None else parse_date("end_date", end)
    today = today_in(now, tz)
    if preset is None and first is None and last is None:
        return DayRange(today - timedelta(days=max(default_days, 1) - 1), today, tz)
    if preset is not None and (first is not None or last is not None):
        raise DayRangeError("preset cannot be combined with start_date or end_date")
    if preset is not None:
        first, last = preset_days(preset, today)
    if first is None or last is None:
        raise DayRangeError("Either preset or both start_date and end_date must be provided")
    return checked(DayRange(first, last, tz), "start_date", "end_date")


def checked(r: DayRange, start_name: str, end_name: str, max_span: int | None = MAX_SPAN_DAYS) -> DayRange:
    lo, hi = DATE_BOUNDS
    for name, value in ((start_name, r.first), (end_name, r.last)):
        if not lo <= value <= hi:
            raise DayRangeError(f"{name} must be between {lo.isoformat()} and {hi.isoformat()}")
    if r.first > r.last:
        raise DayRangeError(f"{start_name} must be <= {end_name}")
    if max_span is not None and (r.last - r.first).days > max_span:
        raise DayRangeError(f"Query range cannot exceed {max_span} days")
    return r


def last_days(days: int, tz: ZoneInfo, now: datetime) -> DayRange:
    """The `days` local days ending today (Aether's `build_time_range_from_days`)."""
    today = today_in(now, tz)
    return DayRange(today - timedelta(days=days - 1), today, tz)


def comparison(current: DayRange, kind: str) -> DayRange:
    """`period`: the as many days just before; `year`: the same dates a year earlier (29 February -> 28)."""
    if kind not in ("period", "year"):
        raise DayRangeError("comparison_type must be 'period' or 'year'")
    try:
        if kind == "period":
            end = current.first - timedelta(days=1)
            found = DayRange(end - timedelta(days=current.days - 1), end, current.tz)
        else:
            found = DayRange(_year_before(current.first), _year_before(current.last), current.tz)
    except (OverflowError, ValueError):
        found = None
    if found is None or found.first < DATE_BOUNDS[0]:  # Aether's text; before it, no local midnight is safe
        raise DayRangeError("comparison range underflow")
    return found


def _year_before(d: date) -> date:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28)


def check_series(r: DayRange, granularity: str) -> None:
    """Aether's `validate_for_time_series`: hours of a single day only, at most 90 days."""
    if granularity == "hour" and r.first != r.last:
        raise DayRangeError("Hour granularity only supports single day query")
    if r.days > 90:
        raise DayRangeError(
            f"Time series query range cannot exceed 90 days (requested {r.days} days). For longer ranges,"
            " use aggregated statistics instead."
        )


def required(start: str | None, end: str | None, tz: ZoneInfo, names: tuple[str, str]) -> DayRange:
    """Both dates required (Aether's `resolve_required`, used by `comparison`: no span limit there)."""
    for name, raw in zip(names, (start, end), strict=True):
        if raw is None:
            raise DayRangeError(f"{name} is required")
    assert start is not None and end is not None
    r = DayRange(parse_date(names[0], start), parse_date(names[1], end), tz)
    return checked(r, names[0], names[1], max_span=None)
