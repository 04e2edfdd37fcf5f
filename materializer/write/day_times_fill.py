"""The filler of the kept daily percentiles (`completed_times_days`, materializer/pg_day_times.py): a worker-side
round that recomputes the configured zone's closed days whose kept row is missing or out of date.

The API never writes (it may read a streaming replica), so the worker keeps these rows. One round at a time across
workers (a session advisory lock, skipped when another worker holds it), at most `day_times_fill_batch` days per
round, each day one statement (its times and its revision in one snapshot) under the retention lock taken shared,
so retention never drops records between the snapshot and the write of the row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from usagestream.day_ranges import DayRange
from usagestream.materializer import pg_tables as t
from usagestream.materializer.pg_cutoffs import read_cutoffs
from usagestream.materializer.pg_day_times import FILL_SQL, STALE_SQL
from usagestream.settings import Settings

log = logging.getLogger(__name__)

FILL_LOCK = (t.RETENTION_LOCK[0], 2)  # one filler round at a time across workers (retention's pass lock is key 1)


@dataclass(frozen=True, slots=True)
class Round:
    skipped: bool  # another worker's round was running
    filled: int = 0  # days written
    left: int = 0  # days still stale when the round stopped at its batch size (at least; 0 if none)


def closed_days(now: datetime, settings: Settings, since: datetime | None) -> list[tuple[datetime, datetime]]:
    """The configured zone's days of the last `day_times_fill_days` that have ended by `now`, after `since`."""
    today = now.astimezone(settings.tz).date()
    first = today - timedelta(days=settings.day_times_fill_days)
    spans = DayRange(first, today, settings.tz).day_spans()[:-1] if settings.day_times_fill_days else []
    return [s for s in spans if s[1] <= now and (since is None or s[0] >= since)]


async def fill_round(pool: asyncpg.Pool, settings: Settings, now: datetime) -> Round:
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *FILL_LOCK):
            return Round(skipped=True)
        try:
            days = closed_days(now, settings, (await read_cutoffs(conn)).records)
            batch = settings.day_times_fill_batch
            stale = await conn.fetch(STALE_SQL, [d[0] for d in days], [d[1] for d in days], batch + 1)
            for row in stale[:batch]:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock_shared($1, $2)", *t.RETENTION_LOCK)
                    await conn.execute(FILL_SQL, row["lo"], row["hi"])
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1, $2)", *FILL_LOCK)
    done = min(len(stale), batch)
    if done:
        log.info("kept daily percentiles: %d days filled, more left: %s", done, len(stale) > batch)
    return Round(skipped=False, filled=done, left=len(stale) - done)
