"""The filler of the kept provider-performance days (`provider_days`, `provider_day_rows`,
materializer/pg_provider_days.py): a worker-side round that recomputes the configured zone's closed days whose
kept rows are missing or out of date, beside the daily percentiles' round (materializer/write/day_times_fill.py,
whose settings and closed days it shares).

One round at a time across workers (a session advisory lock of its own, skipped when another worker holds it), at
most `day_times_fill_batch` days per round, each day one statement (its rows and its revision in one snapshot)
under the retention lock taken shared, so retention never drops records between the snapshot and the write.
"""

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

FILL_LOCK = (t.RETENTION_LOCK[0], 3)  # retention's pass lock is key 1, the daily percentiles' filler key 2


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
        log.info("kept provider performance: %d days filled, more left: %s", done, len(stale) > batch)
    return Round(skipped=False, filled=done, left=len(stale) - done)
