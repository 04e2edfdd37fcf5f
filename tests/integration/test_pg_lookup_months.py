"""The writer finds a stored record by id in whichever month partition holds it (pg_views `_select_for_update`):
a request seen before is fenced by its stored seq across month partitions and batches that span months, and a
record whose created_at moved to another month (the contract rules it out) still leaves one row and exact
aggregates. Any cheaper look-up (bench/lookups.py) must keep these."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from eventgen import candidate_event, candidate_record, usage_event, usage_record

from usagestream.contract import parse_candidate, parse_usage
from usagestream.materializer.ops import verify
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.write.pg_views import PgViews
from usagestream.settings import Settings

SEPT = datetime(2025, 9, 14, 10, 0, tzinfo=UTC)
NOV = datetime(2025, 11, 20, 12, 30, tzinfo=UTC)


def _usage(rid: str, created: datetime, seq: int, status: str, tokens: int):  # type: ignore[no-untyped-def]
    rec = usage_record(rid, created, status=status, input_tokens=tokens, total_tokens=tokens, model="m-lookup")
    return parse_usage(rid.encode(), usage_event(rec, seq))


def _candidate(cid: str, rid: str, created: datetime, seq: int, status: str):  # type: ignore[no-untyped-def]
    cand = candidate_record(created, provider_id="p-x", status=status, latency_ms=5)
    return parse_candidate(rid.encode(), candidate_event(cid, rid, seq, cand))


async def _months(pg: asyncpg.Connection) -> None:
    for table in ("usage_records", "candidate_records"):
        for at in (SEPT, NOV):
            await pg.fetchval("SELECT usagestream_month_partition($1, $2)", table, at)


async def _rows(pg: asyncpg.Connection, table: str, rid: str) -> list[tuple[str, int, datetime]]:
    rows = await pg.fetch(
        f"SELECT tableoid::regclass::text AS part, seq, created_at FROM {table} WHERE id = $1",
        rid,
    )
    return [(r["part"], r["seq"], r["created_at"]) for r in rows]


async def _total_tokens(pg: asyncpg.Connection) -> int:
    value = await pg.fetchval("SELECT sum(in_tok) FROM usage_agg WHERE dim = 'all' AND grain = 3")
    return int(value or 0)


@pytest.fixture
async def views(settings: Settings, pg: asyncpg.Connection) -> AsyncIterator[PgViews]:
    """The writer over a database with month partitions for September and November 2025 (the worker's pool)."""
    await _months(pg)
    pool = await create_pool(settings, custom_plans=True)
    try:
        yield PgViews(pool, settings)
    finally:
        await pool.close()


async def test_stored_requests_are_fenced_from_any_month(
    settings: Settings, pg: asyncpg.Connection, views: PgViews
) -> None:
    old, new = str(uuid.uuid4()), str(uuid.uuid4())
    await views.apply([(0, _usage(old, SEPT, 1, "pending", 0))], [])
    # One batch spanning both months: `old` is stored, `new` is not; a stale copy of `old` changes nothing.
    out = await views.apply([(0, _usage(old, SEPT, 3, "completed", 40)), (0, _usage(new, NOV, 1, "pending", 0))], [])
    assert (out.usage_applied, out.usage_stale) == (2, 0)
    out = await views.apply([(0, _usage(old, SEPT, 2, "streaming", 10))], [])
    assert (out.usage_applied, out.usage_stale) == (0, 1)
    # Again across both months: a new seq of `new` applies, a repeated one of `old` is fenced.
    out = await views.apply([(0, _usage(new, NOV, 2, "completed", 7)), (0, _usage(old, SEPT, 3, "completed", 99))], [])
    assert (out.usage_applied, out.usage_stale) == (1, 1)
    assert await _rows(pg, "usage_records", old) == [("usage_records_p202509", 3, SEPT)]
    assert await _total_tokens(pg) == 47
    found = await verify.differences(pg, settings.timezone)
    assert found[0] == 0, found[1]


async def test_a_record_moved_to_another_month_leaves_one_row(
    settings: Settings, pg: asyncpg.Connection, views: PgViews
) -> None:
    rid, cid = str(uuid.uuid4()), str(uuid.uuid4())
    await views.apply([(0, _usage(rid, SEPT, 1, "completed", 30))], [(0, _candidate(cid, rid, SEPT, 1, "pending"))])
    # The next snapshots name November: the stored rows are in September's partitions.
    out = await views.apply([(0, _usage(rid, NOV, 2, "completed", 12))], [(0, _candidate(cid, rid, NOV, 2, "success"))])
    assert (out.usage_applied, out.candidates_applied) == (1, 1)
    # Back to September with an older seq: fenced by the November row.
    out = await views.apply(
        [(0, _usage(rid, SEPT, 1, "completed", 30))], [(0, _candidate(cid, rid, SEPT, 1, "pending"))]
    )
    assert (out.usage_applied, out.usage_stale, out.candidates_applied) == (0, 1, 0)
    assert await _rows(pg, "usage_records", rid) == [("usage_records_p202511", 2, NOV)]
    assert await _rows(pg, "candidate_records", cid) == [("candidate_records_p202511", 2, NOV)]
    assert await _total_tokens(pg) == 12
    found = await verify.differences(pg, settings.timezone)
    assert found[0] == 0, found[1]
