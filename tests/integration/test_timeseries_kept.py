"""The time series' kept chunks (materializer/read/series_cache.py) never serve stale points: after any mix of new
requests, late events into old hours, moves of created_at, token and status changes and redelivered snapshots,
written by the real writer, a read through the pool (kept chunks where their hours' revision is current) answers
the same bytes as a read without kept chunks; and retention, a TRUNCATE or another database are never served
from chunks kept before them."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from eventgen import usage_event, usage_record
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as hs
from writer_ops import written

from usagestream.contract import UsageEvent, parse_usage
from usagestream.http.shape.timeseries import series_json
from usagestream.materializer.ops import retention
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.read import series_cache
from usagestream.materializer.read.timeseries import SeriesQuery, read, timeseries
from usagestream.materializer.write.pg_views import PgViews
from usagestream.settings import Settings

pytestmark = pytest.mark.integration

ZONE = "Asia/Kolkata"
START = datetime(2025, 8, 28, tzinfo=UTC)
NOW = datetime(2025, 9, 5, 0, 0, 7, tzinfo=UTC)
EMPTY = (
    "TRUNCATE usage_records, candidate_records, usage_record_homes, candidate_record_homes, usage_agg, attempt_agg,"
    " meta, completed_times_days, completed_times_revs"
)
MODELS = ["m-a", "m-b", "m-c", "m-d"]
# Ranges with odd-second ends as the bench asks them; hourly ones long enough to be read in halves.
QUERIES = [
    SeriesQuery(START + timedelta(seconds=13), NOW, "hour", ZoneInfo(ZONE), "model", 2, NOW),
    SeriesQuery(START + timedelta(seconds=13), NOW, "hour", ZoneInfo("UTC"), "model", 10, NOW),
    SeriesQuery(START - timedelta(days=3, seconds=1), NOW, "day", ZoneInfo(ZONE), "model", 1, NOW),
    SeriesQuery(START + timedelta(hours=5), NOW - timedelta(hours=1), "15m", ZoneInfo(ZONE), None, 10, NOW),
]


def _event(rid: str, seq: int, created: datetime, model: str, tokens: int, status: str) -> UsageEvent:
    rec = usage_record(
        rid,
        created,
        model=model,
        input_tokens=tokens,
        output_tokens=tokens // 2,
        status=status,
        provider_id="p1",
        provider_name="P1",
    )
    return parse_usage(rid.encode(), usage_event(rec, seq))


async def _same(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    """Every query, through the pool (kept chunks) and without: the same bytes."""
    for q in QUERIES:
        kept = series_json(await read(pool, q, ZONE), q)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            whole = series_json(await timeseries(conn, q, ZONE, None), q)
        assert kept == whole, q


# An operation: (request 0..7, hours after START, model, tokens, status, redeliver the last snapshot).
OPS = hs.lists(
    hs.tuples(
        hs.integers(0, 7),
        hs.integers(0, 8 * 24 - 1),
        hs.sampled_from(MODELS),
        hs.integers(0, 10_000),
        hs.sampled_from(["completed", "completed", "failed", "streaming"]),
        hs.booleans(),
    ),
    min_size=1,
    max_size=25,
)


async def _scenario(settings: Settings, ops: list[Any]) -> None:
    s = replace(settings, timezone=ZONE)
    async with written(s, START, EMPTY) as (pool, conn, writes):
        for n, (who, hour, model, tokens, status, again) in enumerate(ops):
            await writes.write(n, who, hour, again, partial(_event, model=model, tokens=tokens, status=status))
            await _same(pool, conn)


@given(ops=OPS)
@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_kept_chunks_answer_what_a_read_without_them_answers(
    settings: Settings, ops: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(series_cache, "CACHE", series_cache.Cache())
    asyncio.run(_scenario(settings, ops))


async def _seed(views: PgViews, n: int, tokens: int = 100) -> None:
    events = [
        (0, _event(str(uuid.uuid4()), 1, START + timedelta(minutes=37 * i), MODELS[i % 3], tokens + i, "completed"))
        for i in range(n)
    ]
    await views.apply(events, [])


async def test_retention_and_truncate_are_not_served_from_kept_chunks(
    settings: Settings, pg: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(series_cache, "CACHE", series_cache.Cache())
    s = replace(settings, timezone=ZONE)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    try:
        views = PgViews(pool, s)
        await _seed(views, 300)
        await _same(pool, pg)
        await retention.run(pool, replace(s, retention_records_days=31), now=datetime(2025, 10, 2, tzinfo=UTC))
        await _same(pool, pg)
        await pg.execute(EMPTY)  # the counters start again from nothing: the same sums over other data
        await _seed(views, 300, 7)
        await _same(pool, pg)
    finally:
        await pool.close()


async def test_a_chunk_is_kept_and_then_served(settings: Settings, pg: asyncpg.Connection) -> None:
    """The second read of a range takes its closed chunks and their ranking from the process, not from PostgreSQL;
    after a batch into the open bucket, a read again reads only the buckets the chunks do not hold."""
    cache = series_cache.Cache()
    s = replace(settings, timezone=ZONE)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    fetched: list[int] = []
    counted_buckets: list[int] = []
    try:
        views = PgViews(pool, s)
        await _seed(views, 300)
        q = QUERIES[1]

        async def counted(
            conn: Any, shape: Any, buckets: Any, planner: Any, stamp: Any, fetch: Any, rank: Any, _: Any = None
        ) -> Any:
            fetched.append(0)
            counted_buckets.append(0)

            async def fetch_counted(plan: Any, st: Any, segs: Any, ranked: Any) -> Any:
                fetched[-1] += len(plan.buckets)
                return await fetch(plan, st, segs, ranked)

            async def count_counted(plan: Any, segs: Any) -> Any:
                counted_buckets[-1] += len(plan.buckets)
                return await rank.count(plan, segs)

            async def guarded_counted(plan: Any, segs: Any, lo: Any, hi: Any) -> Any:
                counted_buckets[-1] += len(plan.buckets)
                return await rank.guarded(plan, segs, lo, hi)

            ranks = series_cache.Rank(count_counted, guarded_counted, rank.limit)
            return await original(conn, shape, buckets, planner, stamp, fetch_counted, ranks, cache)

        original = series_cache.read
        with pytest.MonkeyPatch.context() as m:
            m.setattr(series_cache, "read", counted)
            first = series_json(await read(pool, q, ZONE), q)
            second = series_json(await read(pool, q, ZONE), q)
            await _requests(views, "m-b", [NOW - timedelta(seconds=1)])  # a batch into the open bucket (the top model)
            third = series_json(await read(pool, q, ZONE), q)
        assert first == second
        async with pg.transaction(isolation="repeatable_read", readonly=True):
            assert third == series_json(await timeseries(pg, q, ZONE, None), q)
        assert third != second
        assert fetched[0] == counted_buckets[0] > 24 * 7  # the first read reads and counts every bucket
        # The others only the range's partial first and last buckets (the last day's chunk has no closed hour).
        assert fetched[1:] == counted_buckets[1:] == [2, 2]
    finally:
        await pool.close()


async def _requests(views: PgViews, model: str, times: list[datetime]) -> None:
    await views.apply([(0, _event(str(uuid.uuid4()), 1, t, model, 10, "completed")) for t in times], [])


async def test_the_kept_ranking_follows_late_events_and_the_cut_ends(
    settings: Settings, pg: asyncpg.Connection
) -> None:
    """The groups' ranking comes from the kept chunks' counts and the fresh ones of the other buckets: a model that
    ranks only through the range's cut first bucket, or only through late events into a kept chunk's hours, is
    ranked as a read without kept chunks ranks it."""
    s = replace(settings, timezone=ZONE)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    try:
        views = PgViews(pool, s)
        await _seed(views, 300)  # about 100 requests of each of m-a, m-b, m-c over eight days
        q = QUERIES[0]  # hourly from START + 13 s, the two top models
        with pytest.MonkeyPatch.context() as m:
            m.setattr(series_cache, "CACHE", series_cache.Cache())
            await _same(pool, pg)
            # m-x: before the range (not counted), then in its cut first bucket only: first of the ranking.
            await _requests(views, "m-x", [START + timedelta(seconds=5 + i) for i in range(8)])
            await _same(pool, pg)
            await _requests(views, "m-x", [START + timedelta(seconds=20 + i) for i in range(150)])
            await _same(pool, pg)
            assert [x.key for x in (await read(pool, q, ZONE)).series][:1] == ["m-x"]
            # m-y: late events into a closed hour of a kept chunk, enough to rank second.
            await _requests(views, "m-y", [START + timedelta(hours=50, seconds=i) for i in range(140)])
            await _same(pool, pg)
            assert [x.key for x in (await read(pool, q, ZONE)).series][:2] == ["m-x", "m-y"]
    finally:
        await pool.close()
