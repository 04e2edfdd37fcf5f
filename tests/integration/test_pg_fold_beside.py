"""The writer folds a batch's contributions while PostgreSQL executes the batch's record writes
(materializer/write/pg_beside.py): the fold runs with a usage_records / candidate_records write in flight, and the
stored records and aggregates are exactly what a recount gives (verify), also when the fold is cut into pieces
and a batch changes stored requests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from eventgen import candidate_event, candidate_record, usage_event, usage_record

from usagestream.contract import CandidateEvent, UsageEvent, parse_candidate, parse_usage
from usagestream.materializer.ops import verify
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.write.pg_views import PgViews
from usagestream.settings import Settings
from usagestream.stats import Deltas

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def _usage(rid: str, seq: int, status: str, tokens: int) -> UsageEvent:
    rec = usage_record(rid, START, status=status, input_tokens=tokens, total_tokens=tokens, model="m-beside")
    return parse_usage(rid.encode(), usage_event(rec, seq))


def _candidate(cid: str, rid: str, seq: int, status: str) -> CandidateEvent:
    cand = candidate_record(START, provider_id="p-beside", status=status, latency_ms=seq)
    return parse_candidate(rid.encode(), candidate_event(cid, rid, seq, cand))


@pytest.fixture
async def views(settings: Settings, pg: asyncpg.Connection) -> AsyncIterator[PgViews]:
    pool = await create_pool(settings, custom_plans=True)
    try:
        yield PgViews(pool, settings)
    finally:
        await pool.close()


@pytest.fixture
def in_flight(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[bool]]:
    """Per record table, for every fold of one of its snapshots: whether a write of that table was in flight."""
    writing: set[str] = set()
    seen: dict[str, list[bool]] = {"usage_records": [], "candidate_records": []}

    def track(method: str) -> None:
        original: Callable[..., Any] = getattr(asyncpg.Connection, method)

        async def tracked(self: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
            text = str(args[0])
            table = next((name for name in seen if name in text and "SELECT r." not in text), None)
            if table is not None:
                writing.add(table)
            try:
                return await original(self, *args, **kwargs)
            finally:
                writing.discard(table or "")

        monkeypatch.setattr(asyncpg.Connection, method, tracked)

    def fold(method: str, table: str) -> None:
        original: Callable[..., None] = getattr(Deltas, method)

        def noted(self: Deltas, *args: Any) -> None:
            seen[table].append(table in writing)
            original(self, *args)

        monkeypatch.setattr(Deltas, method, noted)

    for method in ("execute", "copy_records_to_table"):
        track(method)
    fold("apply_usage", "usage_records")
    fold("apply_candidate", "candidate_records")
    return seen


async def test_the_fold_runs_while_the_record_writes_execute(
    settings: Settings, pg: asyncpg.Connection, views: PgViews, in_flight: dict[str, list[bool]]
) -> None:
    rids = [str(uuid.uuid4()) for _ in range(3)]
    cids = [str(uuid.uuid4()) for _ in rids]
    await views.apply(
        [(0, _usage(rid, 1, "pending", 0)) for rid in rids],
        [(0, _candidate(cid, rid, 1, "pending")) for cid, rid in zip(cids, rids, strict=True)],
    )
    assert any(in_flight["usage_records"]) and any(in_flight["candidate_records"])
    found = await verify.differences(pg, settings.timezone)
    assert found[0] == 0, found[1]


async def test_a_fold_in_pieces_beside_the_writes_stays_exact(
    settings: Settings, pg: asyncpg.Connection, views: PgViews, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Many pieces, each handing the loop back to the writes.
    monkeypatch.setattr("usagestream.materializer.write.pg_views.FOLD_CHUNK", 2)
    rids = [str(uuid.uuid4()) for _ in range(9)]
    cids = [str(uuid.uuid4()) for _ in rids]
    pairs = list(zip(cids, rids, strict=True))
    await views.apply(
        [(0, _usage(rid, 1, "pending", 0)) for rid in rids[:5]],
        [(0, _candidate(cid, rid, 1, "pending")) for cid, rid in pairs[:5]],
    )
    # Stored requests change (retraction and addition), new ones arrive, a stale copy is fenced.
    out = await views.apply(
        [(0, _usage(rid, 3, "completed", 10 + i)) for i, rid in enumerate(rids)],
        [(0, _candidate(cid, rid, 2, "success")) for cid, rid in pairs],
    )
    assert (out.usage_applied, out.candidates_applied) == (9, 9)
    assert {s["id"]: s["seq"] for s in out.usage_states.values()} == dict.fromkeys(rids, 3)
    stale = await views.apply([(0, _usage(rids[0], 2, "streaming", 1))], [])
    assert (stale.usage_applied, stale.usage_stale) == (0, 1)
    tokens = await pg.fetchval("SELECT sum(in_tok) FROM usage_agg WHERE dim = 'all' AND grain = 3")
    assert tokens == sum(10 + i for i in range(9))
    found = await verify.differences(pg, settings.timezone)
    assert found[0] == 0, found[1]
