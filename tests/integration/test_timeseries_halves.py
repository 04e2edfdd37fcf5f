"""A long time series read as two halves on two connections sharing one snapshot (read.series_halves) answers the
same bytes as read whole on one, equals a recount of the records, and is read whole when the pool has no free
connection (never waiting for a second one while holding the first)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from test_pg_reads_seed import NOW, Ctx, ctx_fixture, seeded_fixture  # noqa: F401 (fixtures)
from test_pg_reads_timeseries import check, random_query

from usagestream.http.shape.timeseries import series_body, series_json
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.read import series_cache, series_halves
from usagestream.materializer.read.timeseries import SeriesQuery, read, timeseries

pytestmark = pytest.mark.integration


@pytest.fixture(name="halves")
def halves_fixture(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the series read in halves (with no chunk kept from an earlier test)."""
    calls: list[int] = []
    original = series_halves.both_segments
    monkeypatch.setattr(series_cache, "CACHE", series_cache.Cache())

    async def counted(*args: Any) -> list[tuple[Any, ...]]:
        calls.append(1)
        return await original(*args)

    monkeypatch.setattr(series_halves, "both_segments", counted)
    return calls


async def _bytes(conn: asyncpg.Connection, q: SeriesQuery, tz: str, pool: asyncpg.Pool | None) -> bytes:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return series_json(await timeseries(conn, q, tz, pool), q)


async def test_the_halves_answer_what_one_statement_answers(ctx: Ctx, halves: list[int]) -> None:
    rng = random.Random(20261205)
    long = 0
    for _ in range(40):
        q = random_query(rng)
        whole = await _bytes(ctx.conn, q, ctx.tz.key, None)
        before = len(halves)
        assert await _bytes(ctx.conn, q, ctx.tz.key, ctx.store.pool) == whole, q
        long += len(halves) - before
    assert long >= 5  # enough of them were long enough to be read in halves


@pytest.mark.parametrize("limit", [1, 100])
async def test_other_counting_in_one_half_only_is_shown(ctx: Ctx, halves: list[int], limit: int) -> None:
    """The second half lies after the newest record: `__other__` counts only in the first, and is shown whole."""
    q = SeriesQuery(
        NOW - timedelta(days=1, minutes=3), NOW + timedelta(days=3), "hour", ZoneInfo("UTC"), "model", limit, NOW
    )
    body = await check(ctx, q)
    assert halves == [1]
    keys = [s["key"] for s in body["series"]]
    assert ("__other__" in keys) == (limit == 1)
    assert all(
        len(s["points"]) == len(body["series"][0]["points"]) >= series_halves.MIN_BUCKETS for s in body["series"]
    )


async def test_a_pool_without_a_free_connection_reads_whole(ctx: Ctx, halves: list[int]) -> None:
    q = SeriesQuery(NOW - timedelta(days=12), NOW, "hour", ctx.tz, "model", 3, NOW)
    pool = await create_pool(ctx.store.settings, max_size=1)
    try:
        body = await series_body(await read(pool, q, ctx.tz.key), q)
    finally:
        await pool.close()
    assert halves == []
    assert body == await check(ctx, q)
