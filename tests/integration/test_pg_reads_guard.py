"""A range question in one statement: the plan comes from an extent read earlier, and each statement checks in its
own snapshot that the plan is still exact there (materializer/read/extent.py); a page and its attempt flags,
read by two statements outside a transaction, are kept only when both read the same snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from test_pg_reads import expected_api_format, expected_model, expected_provider, expected_stats, expected_user
from test_pg_reads_records import expected_page, flags, select
from test_pg_reads_seed import CountingPool, World, seed_database

from usagestream.http.shape.reads import ShapedReads
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.read import records as rec
from usagestream.materializer.read.records import RecordQuery
from usagestream.settings import Settings

pytestmark = pytest.mark.integration

ZONE = ZoneInfo("Asia/Kathmandu")


async def answers(store: ShapedReads) -> dict[str, Any]:
    """Every question the guarded path answers, over the whole history."""
    out: dict[str, Any] = {"stats": await store.stats(None, None)}
    for group_by in ("model", "user", "provider", "api_format"):
        out[group_by] = await store.aggregation(group_by, None, None, 100)
    out["page"] = await store.records(RecordQuery(), 7, 0)
    return out


def expected(w: World) -> dict[str, Any]:
    return {
        "stats": expected_stats(w.usage),
        "model": expected_model(w.usage, 100),
        "user": expected_user(w, w.usage, 100),
        "provider": expected_provider(w, None, None, 100),
        "api_format": expected_api_format(w.usage, 100),
        "page": expected_page(w, select(w, None, None), 7, 0),
    }


@asynccontextmanager
async def reads(settings: Settings) -> AsyncIterator[ShapedReads]:
    s = replace(settings, timezone=ZONE.key)
    pool = await create_pool(s)
    planned = await create_pool(s, generic_plans=True)  # as the API runs its range questions (server.py)
    try:
        yield ShapedReads(pool, s, planned)
    finally:
        await planned.close()
        await pool.close()


@pytest.mark.parametrize("moved", ["after the newest", "before the oldest"])
async def test_answers_follow_the_data_past_the_extent_they_were_planned_from(
    database_dsn: str, settings: Settings, moved: str
) -> None:
    """The store plans from the extents it read for the first answers; then a record (and its candidates) moves
    past an end of the history: into the next month (whose rows a plan ending at the old newest record leaves out),
    or two hours before the oldest. A plan from the old extent would leave it out: each statement's guard sees
    that, the extents are read again, and every answer is the recount's."""
    world = await seed_database(database_dsn, ZONE)
    async with reads(settings) as store:
        assert await answers(store) == expected(world)
        times = [u["created_at"] for u in world.usage]
        instant = max(times) + timedelta(days=35) if moved == "after the newest" else min(times) - timedelta(hours=2)
        world = await seed_database(database_dsn, ZONE, at=[instant])
        assert instant in [u["created_at"] for u in world.usage]
        assert await answers(store) == expected(world)


async def test_answers_follow_the_first_records_of_a_table_that_had_none(database_dsn: str, settings: Settings) -> None:
    """No attempt stored yet: the candidates' extent is empty and its guard is that none exists. Once the attempts
    are there, the guard fails, the extent is read again and the providers are the recount's."""
    world = await seed_database(database_dsn, ZONE)
    async with reads(settings) as store:
        conn = await asyncpg.connect(database_dsn)
        try:
            await conn.execute("TRUNCATE candidate_records, candidate_record_homes, attempt_agg")
        finally:
            await conn.close()
        assert await store.aggregation("provider", None, None, 100) == []
        assert store.extents["candidate_records"].first is None
        world = await seed_database(database_dsn, ZONE)
        assert await answers(store) == expected(world)


async def test_a_range_question_is_one_statement_once_the_extents_are_known(
    database_dsn: str, settings: Settings
) -> None:
    """The first answers read each table's extent once (one statement each); from then on `/stats`, every
    `group_by` and a first page (with its names, total and flags) are one statement each: no BEGIN, no COMMIT,
    no plan context, no second statement whose snapshot must be compared."""
    world = await seed_database(database_dsn, ZONE)
    async with reads(settings) as store:
        counting = CountingPool(store.planned)
        store.planned = counting  # type: ignore[assignment]
        assert await answers(store) == expected(world)
        assert counting.sent == 2 + 5 + 1  # two extents; /stats and four group_by; the page
        counting.sent = 0
        assert await answers(store) == expected(world)
        assert counting.sent == 5 + 1


async def test_range_questions_run_on_the_sessions_that_plan_once(database_dsn: str, settings: Settings) -> None:
    """`/stats`, every `group_by` and the first page are read on the store's `planned` pool (sessions that plan
    each statement once: pg_pool `generic_plans`), with the same answers; nothing of them on the other pool."""
    world = await seed_database(database_dsn, ZONE)
    async with reads(settings) as store:
        async with store.planned.acquire() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
        main, planned = CountingPool(store.pool), CountingPool(store.planned)
        store.pool, store.planned = main, planned  # type: ignore[assignment]
        for _ in range(2):
            assert await answers(store) == expected(world)
        assert (main.sent, planned.sent) == (0, 2 + 2 * (5 + 1))


class _HookPool:
    """A pool whose connections run `hook` once, just before the first statement reading attempt flags."""

    def __init__(self, pool: Any, hook: Any) -> None:
        self.pool, self.hook, self.ran = pool, hook, 0

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self.pool.acquire() as conn:
            yield _HookConn(conn, self)


class _HookConn:
    def __init__(self, conn: Any, owner: _HookPool) -> None:
        self.conn, self.owner = conn, owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    async def fetch(self, sql: str, *args: Any) -> Any:
        if sql == rec.FLAGS_AT_SQL and not self.owner.ran:
            self.owner.ran += 1
            await self.owner.hook()
        return await self.conn.fetch(sql, *args)


async def test_a_page_and_its_flags_read_one_snapshot(database_dsn: str, settings: Settings) -> None:
    """A page whose total is counted over the records (a user and a model: no dimension holds both) reads its
    flags in a statement of its own. Between the two, a transaction gives a record of the page an error message
    and a rectified attempt. The answer shows both or neither: the flags' statement read another snapshot than
    the page's, so the page is read again in one transaction. (A page whose total the aggregates give reads its
    flags in its own statement: `test_a_range_question_is_one_statement_once_the_extents_are_known`.)"""
    world = await seed_database(database_dsn, ZONE)
    u, f, page = next(
        (u, f, p)
        for u in select(world, None, None)
        if u["error_message"] is None and not flags(world, u["id"])["has_rectified"] and u["model"] and u["user_id"]
        for f in [{"user_id": u["user_id"], "model": u["model"]}]
        for p in [select(world, None, None, **f)[:7]]
        if u in p
    )
    i = page.index(u)
    conn = await asyncpg.connect(database_dsn)

    async def hook() -> None:
        async with conn.transaction():
            await conn.execute("UPDATE usage_records SET error_message = 'late' WHERE id = $1", page[i]["id"])
            await clone_candidate(conn, page[i]["id"])

    try:
        async with reads(settings) as store:
            before = (await store.records(RecordQuery(**f), 7, 0))["records"][i]
            assert before["id"] == page[i]["id"] and not before["has_rectified"]
            hooked = _HookPool(store.pool, hook)
            store.pool = hooked  # type: ignore[assignment]
            got = (await store.records(RecordQuery(**f), 7, 0))["records"][i]
            assert hooked.ran == 1
            assert (got["error_message"], got["has_rectified"]) == ("late", True)
    finally:
        await conn.close()


async def clone_candidate(conn: asyncpg.Connection, usage_id: str) -> None:
    """An executed, rectified attempt of `usage_id`: a copy of any candidate with a fresh id."""
    columns = await conn.fetchval(
        "SELECT array_agg(column_name::text ORDER BY ordinal_position) FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = 'candidate_records'"
    )
    fresh = {
        "id": "'cand-late'",
        "usage_id": "$1",
        "status": "'success'",
        "extra_data": """'{"rectified": true}'::jsonb""",
    }
    select_list = ", ".join(fresh.get(c, f"t.{c}") for c in columns)
    await conn.execute(
        f"INSERT INTO candidate_records ({', '.join(columns)}) SELECT {select_list}"
        " FROM (SELECT * FROM candidate_records LIMIT 1) t",
        usage_id,
    )
