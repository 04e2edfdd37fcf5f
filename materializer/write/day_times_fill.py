"""The filler of the kept daily percentiles (`completed_times_days`, materializer/pg_day_times.py): a worker-side
round that recomputes the configured zone's closed days whose kept row is missing or out of date.

The API never writes (it may read a streaming replica), so the worker keeps these rows. One round at a time across
workers (a session advisory lock, skipped when another worker holds it), at most `day_times_fill_batch` days per
round, each day one statement (its times and its revision in one snapshot) under the retention lock taken shared,
so retention never drops records between the snapshot and the write of the row.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from usagestream.day_ranges import DayRange
from usagestream.materializer import pg_tables as t
from usagestream.materializer.pg_cutoffs import read_cutoffs
from usagestream.materializer.pg_day_times import FILL_SQL, STALE_SQL
from usagestream.materializer.pg_pool import Conn
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


@asynccontextmanager
async def one_round(pool: asyncpg.Pool, lock: tuple[int, int]) -> AsyncIterator[Conn | None]:
    """A connection holding the session advisory lock `lock` for the round, or None when another worker's round
    holds it (skipped, not waited for)."""
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *lock):
            yield None
            return
        try:
            yield conn
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1, $2)", *lock)


async def fill_stale(
    conn: Conn, stale_sql: str, fill_sql: str, spans: list[tuple[datetime, datetime]], most: int
) -> tuple[int, int]:
    """Fill at most `most` of `spans` that `stale_sql` finds missing or out of date, each by `fill_sql` in a
    transaction of its own under the retention lock taken shared: (filled, still stale)."""
    stale = await conn.fetch(stale_sql, [d[0] for d in spans], [d[1] for d in spans], most + 1)
    for row in stale[:most]:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock_shared($1, $2)", *t.RETENTION_LOCK)
            await conn.execute(fill_sql, row["lo"], row["hi"])
    return min(len(stale), most), max(len(stale) - most, 0)


async def fill_round(pool: asyncpg.Pool, settings: Settings, now: datetime) -> Round:
    async with one_round(pool, FILL_LOCK) as conn:
        if conn is None:
            return Round(skipped=True)
        days = closed_days(now, settings, (await read_cutoffs(conn)).records)
        done, left = await fill_stale(conn, STALE_SQL, FILL_SQL, days, settings.day_times_fill_batch)
    if done:
        log.info("kept daily percentiles: %d days filled, more left: %s", done, left > 0)
    return Round(skipped=False, filled=done, left=left)
