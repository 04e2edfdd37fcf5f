"""A long time series read as two halves of its buckets at once, on two connections that share one snapshot.

One statement runs on one core of PostgreSQL, and a long series is mostly work per bucket (its rows read, its
points written). The halves run side by side: the first on the answer's own connection, the second on another
connection of the pool that imports the first one's snapshot (`pg_export_snapshot`, `SET TRANSACTION SNAPSHOT`),
so both read exactly the same data. The second connection is taken only when the pool has one free at that
moment, opening it if the pool has not yet (else the series is read whole, on one): waiting for a connection
while holding the first could deadlock requests that each hold one. docs/read-model.md "Time series".
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from usagestream.materializer.pg_pool import Conn
from usagestream.materializer.read.sql import Statement

MIN_BUCKETS = 96  # a shorter series is read whole: the second connection's setup would cost about what it saves
# The most a request waits for a connection the pool said was free: opening one (the pool grows to it once) takes
# milliseconds; the wait is bounded only for a race with another request taking the last one meanwhile.
ACQUIRE_S = 1.0
_SNAPSHOT = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")  # what pg_export_snapshot returns, e.g. 00000003-0000001B-1


def split_at(buckets: int) -> int | None:
    """Where a series of `buckets` buckets is cut into two halves (None: read it whole)."""
    return buckets // 2 if buckets >= MIN_BUCKETS else None


def _free(pool: asyncpg.Pool) -> bool:
    """A connection can be taken without waiting: fewer in use than the pool may hold."""
    in_use = pool.get_size() - pool.get_idle_size()
    return in_use < pool.get_max_size()


@asynccontextmanager
async def second(conn: Conn, pool: asyncpg.Pool | None) -> AsyncIterator[Conn | None]:
    """Another connection of `pool` in a read-only transaction over `conn`'s snapshot (`conn` must be in a
    REPEATABLE READ transaction), or None if none is free now."""
    if pool is None or not _free(pool):
        yield None
        return
    try:
        other = await pool.acquire(timeout=ACQUIRE_S)
    except TimeoutError:
        yield None
        return
    try:
        snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
        if not isinstance(snapshot, str) or not _SNAPSHOT.fullmatch(snapshot):
            raise RuntimeError(f"unexpected snapshot id from pg_export_snapshot: {snapshot!r}")
        async with other.transaction(isolation="repeatable_read", readonly=True):
            await other.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            yield other
    finally:
        await pool.release(other)


async def both_segments(
    first: Conn, other: Conn, halves: Sequence[Statement]
) -> list[tuple[Any, int, tuple[bytes, ...], bool]]:
    """The two halves' statements (read.series_points rows per segment: key, segment, points, counts) run at once:
    the first half's rows, then the second's (a segment cut by the halves comes twice, its parts in that order)."""
    a, z = await _gathered(first, other, halves)
    return [(r[0], r[1], (r[2],), r[3]) for r in (*a, *z)]


async def _gathered(first: Conn, other: Conn, halves: Sequence[Statement]) -> tuple[list[Any], list[Any]]:
    """Both statements' rows; both finish before an error is raised (a connection is released only when idle)."""
    one, two = halves
    found = await asyncio.gather(
        first.fetch(one.text, *one.args), other.fetch(two.text, *two.args), return_exceptions=True
    )
    for result in found:
        if isinstance(result, BaseException):
            raise result
    a, z = found
    assert not isinstance(a, BaseException) and not isinstance(z, BaseException)
    return a, z
