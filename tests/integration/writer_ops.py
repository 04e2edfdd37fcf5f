"""Requests written through the real writer one snapshot at a time, for the hypothesis tests that compare kept data
(daily percentiles, provider days, time-series chunks) with a recount of the records.

An op writes a new snapshot of one of eight requests, dated `hour` hours after the test's start plus a few minutes
that change with the op's position (so a later snapshot may move the record to another hour), or delivers that
request's last snapshot again (the writer's seq fence makes it change nothing).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import asyncpg

from usagestream.contract import UsageEvent
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.write.pg_views import PgViews, write_preamble
from usagestream.ports import Applied
from usagestream.settings import Settings
from usagestream.stats import Deltas

# Builds a request's snapshot from its id, seq and created_at (each test adds its own fields).
MakeEvent = Callable[[str, int, datetime], UsageEvent]


class Writes:
    """Eight requests and the last snapshot written of each."""

    def __init__(self, views: PgViews, start: datetime) -> None:
        self.views = views
        self.start = start
        self.ids = [str(uuid.uuid4()) for _ in range(8)]
        self.last: dict[int, tuple[int, UsageEvent]] = {}

    async def write(self, n: int, who: int, hour: int, again: bool, make: MakeEvent) -> None:
        """Op number `n` for request `who`: its next snapshot, or (`again`) its last one delivered again."""
        if again and who in self.last:
            await self.views.apply([(0, self.last[who][1])], [])
            return
        seq = self.last.get(who, (0, None))[0] + 1
        ev = make(self.ids[who], seq, self.start + timedelta(hours=hour, minutes=(7 * n) % 60))
        await self.views.apply([(0, ev)], [])
        self.last[who] = (seq, ev)


@asynccontextmanager
async def open_batch(pool: asyncpg.Pool, settings: Settings, ev: UsageEvent) -> AsyncIterator[None]:
    """A writer's batch holding its transaction open: `ev`'s record and its hour's counter are written but not
    committed while the body runs (a filler's or reader's snapshot must not see them); committed after it."""
    batch = await asyncpg.connect(settings.asyncpg_dsn)
    try:
        tx = batch.transaction()
        await tx.start()
        await batch.execute(write_preamble([0], retention=True))
        await PgViews(pool, settings)._usage(batch, [(0, ev)], Deltas(settings.tz), Applied())
        yield
        await tx.commit()
    finally:
        await batch.close()


@asynccontextmanager
async def written(
    settings: Settings, start: datetime, empty: str
) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Connection, Writes]]:
    """One hypothesis example's world: the tables emptied by `empty` (each example starts from nothing), a pool with
    the writer's plans, a connection for the recounts, and the example's eight requests."""
    pool = await create_pool(settings, custom_plans=True)
    conn = await asyncpg.connect(settings.asyncpg_dsn)
    try:
        await conn.execute(empty)
        yield pool, conn, Writes(PgViews(pool, settings), start)
    finally:
        await conn.close()
        await pool.close()
