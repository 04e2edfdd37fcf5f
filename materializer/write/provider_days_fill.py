"""The filler of the kept provider-performance days (`provider_days`, `provider_day_rows`,
materializer/pg_provider_days.py): a worker-side round that recomputes the configured zone's closed days whose kept
rows are missing or out of date, and its closed ISO weeks likewise, beside the daily percentiles' round
(materializer/write/day_times_fill.py, whose settings and closed days it shares).

One round at a time across workers (a session advisory lock of its own, skipped when another worker holds it), at
most `day_times_fill_batch` days per round, each day one statement (its rows and its revision in one snapshot) under
the retention lock taken shared, so retention never drops records between the snapshot and the write."""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from usagestream.materializer import pg_tables as t
from usagestream.materializer.pg_cutoffs import read_cutoffs
from usagestream.materializer.pg_provider_days import FILL_SQL, STALE_SQL
from usagestream.materializer.write.day_times_fill import Round, closed_days
from usagestream.settings import Settings

log = logging.getLogger(__name__)

WEEK = 7
FILL_LOCK = (t.RETENTION_LOCK[0], 3)  # retention's pass lock is key 1, the daily percentiles' filler key 2


def closed_weeks(days: list[tuple[datetime, datetime]], settings: Settings) -> list[tuple[datetime, datetime]]:
    """The local ISO weeks (Monday to Monday) all seven of whose days are among `days` (closed days, in order)."""
    by_week: dict[tuple[int, int], list[tuple[datetime, datetime]]] = {}
    for d in days:
        by_week.setdefault(d[0].astimezone(settings.tz).date().isocalendar()[:2], []).append(d)
    return [(w[0][0], w[-1][1]) for w in by_week.values() if len(w) == WEEK]


async def fill_round(pool: asyncpg.Pool, settings: Settings, now: datetime) -> Round:
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *FILL_LOCK):
            return Round(skipped=True)
        try:
            days = closed_days(now, settings, (await read_cutoffs(conn)).records)
            days += closed_weeks(days, settings)
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
        log.info("kept provider performance: %d days filled, more left: %s", done, len(stale) > batch)
    return Round(skipped=False, filled=done, left=len(stale) - done)
