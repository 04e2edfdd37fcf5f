"""The kept daily percentiles (`completed_times_days`, migration 0011) are exact: the reader's answer, kept days
where their revision is current and records elsewhere, equals a plain recount from the records after any mix of
new requests, late events into old hours, status and time changes, moves of created_at, redelivered snapshots
and retention; a day the filler computed before a batch committed is never read after it."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import pytest
from eventgen import usage_event, usage_record
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as hs
from writer_ops import open_batch, written

from usagestream.contract import UsageEvent, parse_usage
from usagestream.materializer.ops import retention, verify
from usagestream.materializer.pg_day_times import BUMP_SQL, KEPT_SQL
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.read import stats_totals
from usagestream.materializer.write import day_times_fill
from usagestream.materializer.write.pg_views import (
    SPREAD_USAGE_ONE_QUARTER_SQL,
    SPREAD_USAGE_SQL,
    PgViews,
)
from usagestream.settings import Settings

pytestmark = pytest.mark.integration

ZONE = "Asia/Kolkata"  # +05:30: its days start on half hours, so a day meets 25 UTC hour counters
START = datetime(2025, 8, 28, tzinfo=UTC)  # the days straddle 1 September, where the test's retention cuts
NOW = datetime(2025, 9, 5, tzinfo=UTC)
EMPTY = (
    "TRUNCATE usage_records, candidate_records, usage_record_homes, candidate_record_homes, usage_agg, attempt_agg,"
    " meta, completed_times_days, completed_times_revs"
)


def _settings(settings: Settings) -> Settings:
    return replace(settings, timezone=ZONE, day_times_fill_days=10, day_times_fill_batch=3)


def _event(rid: str, seq: int, created: datetime, status: str, rt: int | None, fb: int | None) -> UsageEvent:
    rec = usage_record(rid, created, status=status, response_time_ms=rt, first_byte_time_ms=fb, model="m-times")
    return parse_usage(rid.encode(), usage_event(rec, seq))


def _days(s: Settings) -> list[tuple[datetime, datetime]]:
    return day_times_fill.closed_days(NOW, s, None)


async def _recount(conn: asyncpg.Connection, days: list[tuple[datetime, datetime]]) -> list[Any]:
    sql, args = stats_totals.percentiles_sql(days)
    found = {r["i"]: (r["n_rt"], r["n_fb"], r["rt"], r["fb"]) for r in await conn.fetch(sql, *args)}
    return [found.get(i + 1, (0, 0, None, None)) for i in range(len(days))]


async def _answer(pool: asyncpg.Pool, days: list[tuple[datetime, datetime]]) -> list[Any]:
    return [(r["n_rt"], r["n_fb"], r["rt"], r["fb"]) for r in await stats_totals.percentiles(pool, days)]


async def _fill_all(pool: asyncpg.Pool, s: Settings) -> None:
    while (await day_times_fill.fill_round(pool, s, NOW)).left:
        pass


async def _kept_current(conn: asyncpg.Connection, days: list[tuple[datetime, datetime]]) -> int:
    return len(await conn.fetch(KEPT_SQL, [d[0] for d in days], [d[1] for d in days]))


# An operation: (request 0..7, hours after START, status, response time, first-byte time, redeliver the last one).
OPS = hs.lists(
    hs.tuples(
        hs.integers(0, 7),
        hs.integers(0, 8 * 24 - 1),
        hs.sampled_from(["completed", "completed", "failed", "streaming"]),
        hs.one_of(hs.none(), hs.integers(0, 5000)),
        hs.one_of(hs.none(), hs.integers(0, 500)),
        hs.booleans(),
    ),
    min_size=1,
    max_size=40,
)


async def _scenario(settings: Settings, ops: list[Any], fill_every: int) -> None:
    s = _settings(settings)
    days = _days(s)
    async with written(s, START, EMPTY) as (pool, conn, writes):
        for n, (who, hour, status, rt, fb, again) in enumerate(ops):
            await writes.write(n, who, hour, again, partial(_event, status=status, rt=rt, fb=fb))
            if n % fill_every == 0:
                await _fill_all(pool, s)
            assert await _answer(pool, days) == await _recount(conn, days)
        await _fill_all(pool, s)
        assert await _kept_current(conn, days) == len(days)  # after a full round every closed day is kept
        assert await _answer(pool, days) == await _recount(conn, days)


@given(ops=OPS, fill_every=hs.integers(1, 6))
@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_kept_and_recounted_days_equal_the_recount(settings: Settings, ops: list[Any], fill_every: int) -> None:
    asyncio.run(_scenario(settings, ops, fill_every))


async def _seed(views: PgViews, n: int) -> None:
    events = [
        (0, _event(str(uuid.uuid4()), 1, START + timedelta(minutes=37 * i), "completed", 100 + i * 7 % 900, i % 50))
        for i in range(n)
    ]
    await views.apply(events, [])


async def test_a_day_filled_before_a_batch_commits_is_not_read_after_it(
    settings: Settings, pg: asyncpg.Connection
) -> None:
    s = _settings(settings)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    try:
        views, days = PgViews(pool, s), _days(s)
        await _seed(views, 200)
        rid = str(uuid.uuid4())
        late = _event(rid, 1, START + timedelta(days=2, hours=3), "completed", 99_999, 88_888)
        # A batch holding its transaction open (its record and its hour's counter written, not committed) while
        # the filler computes every day: the filler's snapshot does not see the batch.
        async with open_batch(pool, s, late):
            await _fill_all(pool, s)
            assert await _kept_current(pg, days) == len(days)
            before = await _answer(pool, days)
        # The day of the late record is no longer current; every other day still is; the answer is the recount.
        assert await _kept_current(pg, days) == len(days) - 1
        assert await _answer(pool, days) == await _recount(pg, days)
        assert await _answer(pool, days) != before  # the kept answer of that day would have been wrong
    finally:
        await pool.close()


async def test_retention_keeps_the_answer_exact(settings: Settings, pg: asyncpg.Connection) -> None:
    s = _settings(settings)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    try:
        views, days = PgViews(pool, s), _days(s)
        await _seed(views, 300)
        await _fill_all(pool, s)
        assert await _kept_current(pg, days) == len(days)
        # Retention cuts at 1 September (UTC): the Kolkata day of 1 September began on 31 August, 18:30 UTC.
        kept = replace(s, retention_records_days=31)
        await retention.run(pool, kept, now=datetime(2025, 10, 2, tzinfo=UTC))
        assert await _answer(pool, days) == await _recount(pg, days)
        assert await pg.fetchval("SELECT count(*) FROM completed_times_days WHERE lo < '2025-09-01Z'") == 0
        await _fill_all(pool, replace(kept, day_times_fill_days=40))
        assert await _answer(pool, days) == await _recount(pg, days)
        assert await verify.differences(pg, ZONE) == (0, [])
    finally:
        await pool.close()


async def test_verify_reports_a_kept_day_that_differs_from_its_records(
    settings: Settings, pg: asyncpg.Connection
) -> None:
    s = _settings(settings)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    try:
        await _seed(PgViews(pool, s), 100)
        await _fill_all(pool, s)
        assert (await verify.differences(pg, ZONE))[0] == 0
        await pg.execute("UPDATE completed_times_days SET n_rt = n_rt + 1 WHERE n_rt > 0")
        count, shown = await verify.differences(pg, ZONE)
        assert count > 0 and any("completed_times_days" in line for line in shown)
    finally:
        await pool.close()


async def test_the_write_path_raises_each_changed_hour_once(pg: asyncpg.Connection) -> None:
    await pg.execute(EMPTY)
    at = datetime(2025, 9, 1, 10, 5, tzinfo=UTC)
    await pg.execute(BUMP_SQL, [at, at + timedelta(minutes=30), at + timedelta(hours=1)])
    await pg.execute(BUMP_SQL, [at])
    rows = await pg.fetch("SELECT hour, rev FROM completed_times_revs ORDER BY hour")
    assert [(r["hour"], r["rev"]) for r in rows] == [(at.replace(minute=0), 2), (at.replace(hour=11, minute=0), 1)]


async def test_one_filler_round_at_a_time(settings: Settings, pg: asyncpg.Connection) -> None:
    """A worker whose round finds another worker's running skips its turn and writes nothing."""
    s = _settings(settings)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    try:
        await _seed(PgViews(pool, s), 50)
        await pg.execute("SELECT pg_advisory_lock($1, $2)", *day_times_fill.FILL_LOCK)
        try:
            assert await day_times_fill.fill_round(pool, s, NOW) == day_times_fill.Round(skipped=True)
            assert await pg.fetchval("SELECT count(*) FROM completed_times_days") == 0
        finally:
            await pg.execute("SELECT pg_advisory_unlock($1, $2)", *day_times_fill.FILL_LOCK)
        done = await day_times_fill.fill_round(pool, s, NOW)
        assert (done.skipped, done.filled, done.left) == (False, 3, 1)  # the batch size, and more left
    finally:
        await pool.close()


class _Recording(asyncpg.Connection):  # type: ignore[misc]
    """Records the text of every statement executed, in order."""

    sent: list[str] = []

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        _Recording.sent.append(query)
        return await super().execute(query, *args, timeout=timeout)  # type: ignore[no-any-return]


async def test_every_writer_raises_the_hours_before_adding_to_the_aggregates(
    settings: Settings, pg: asyncpg.Connection
) -> None:
    """Counter rows, then aggregate rows, in every write transaction (a batch and a time-out alike): two workers
    locking them in opposite orders could deadlock, and a batch that fails stops its worker."""
    s = _settings(settings)
    await pg.execute(EMPTY)
    pool = await asyncpg.create_pool(s.asyncpg_dsn, min_size=1, max_size=1, connection_class=_Recording)
    try:
        views = PgViews(pool, s)
        _Recording.sent.clear()
        await views.apply([(0, _event(str(uuid.uuid4()), 1, START, "streaming", None, None))], [])
        applied = list(_Recording.sent)
        _Recording.sent.clear()
        assert (await views.time_out([0])).usage_applied == 1
        timed_out = list(_Recording.sent)
    finally:
        await pool.close()
    spreads = (SPREAD_USAGE_SQL, SPREAD_USAGE_ONE_QUARTER_SQL)  # a batch in one bucket takes the one-step spread
    for sent in (applied, timed_out):
        spread = next(i for i, q in enumerate(sent) if q in spreads)
        assert sent.index(BUMP_SQL) < spread, sent
