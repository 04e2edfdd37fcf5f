"""The filler of the kept provider-performance days (`provider_days`, `provider_day_rows`,
materializer/pg_provider_days.py): a worker-side round that recomputes the configured zone's closed days whose kept
rows are missing or out of date, and its closed ISO weeks likewise, beside the daily percentiles' round
(materializer/write/day_times_fill.py, whose settings and closed days it shares).

The current local day is not closed, so its records would be read whole by every answer that meets it: the round
also keeps the closed UTC hours of that day (every one that is missing or out of date, each an hour's share of a
day's work), when the zone's day begins on a whole UTC hour (the reader composes a day from its hours only then),
and forgets the kept hours of days that are kept whole and current (docs/reference-api.md §10.8).

One round at a time across workers (a session advisory lock of its own, skipped when another worker holds it), at
most `day_times_fill_batch` days per round, each day one statement (its rows and its revision in one snapshot) under
the retention lock taken shared, so retention never drops records between the snapshot and the write."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import asyncpg

from usagestream.materializer import pg_tables as t
from usagestream.materializer.pg_cutoffs import read_cutoffs
from usagestream.materializer.pg_provider_days import FILL_SQL, FORGET_HOURS_SQL, STALE_SQL, WEEK
from usagestream.materializer.write.day_times_fill import Round, closed_days, fill_stale, one_round
from usagestream.settings import Settings
from usagestream.timeseries import local_midnight

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
FILL_LOCK = (t.RETENTION_LOCK[0], 3)  # retention's pass lock is key 1, the daily percentiles' filler key 2


def closed_weeks(days: list[tuple[datetime, datetime]], settings: Settings) -> list[tuple[datetime, datetime]]:
    """The local ISO weeks (Monday to Monday) all seven of whose days are among `days` (closed days, in order)."""
    by_week: dict[tuple[int, int], list[tuple[datetime, datetime]]] = {}
    for d in days:
        by_week.setdefault(d[0].astimezone(settings.tz).date().isocalendar()[:2], []).append(d)
    return [(w[0][0], w[-1][1]) for w in by_week.values() if len(w) == WEEK]


def closed_hours(now: datetime, settings: Settings, since: datetime | None) -> list[tuple[datetime, datetime]]:
    """The UTC hours of the configured zone's current day that have ended by `now`, after `since`; none when that
    day does not begin on a whole UTC hour (+05:30, +05:45: its hours are never a day's parts)."""
    lo = local_midnight(now.astimezone(settings.tz).date(), settings.tz)
    if lo.timestamp() % 3600 or not settings.day_times_fill_days:
        return []
    out = []
    while lo + HOUR <= now:
        if since is None or lo >= since:
            out.append((lo, lo + HOUR))
        lo += HOUR
    return out


async def fill_round(pool: asyncpg.Pool, settings: Settings, now: datetime) -> Round:
    async with one_round(pool, FILL_LOCK) as conn:
        if conn is None:
            return Round(skipped=True)
        since = (await read_cutoffs(conn)).records
        hours = closed_hours(now, settings, since)
        days = closed_days(now, settings, since)
        days += closed_weeks(days, settings)
        filled_hours = (await fill_stale(conn, STALE_SQL, FILL_SQL, hours, len(hours)))[0] if hours else 0
        done, left = await fill_stale(conn, STALE_SQL, FILL_SQL, days, settings.day_times_fill_batch)
        if hours:  # the hours of days before the current one, once their day is kept and current
            await conn.execute(FORGET_HOURS_SQL, hours[0][0])
    if done or filled_hours:
        log.info("kept provider performance: %d days, %d hours filled, more left: %s", done, filled_hours, left > 0)
    return Round(skipped=False, filled=done + filled_hours, left=left)
