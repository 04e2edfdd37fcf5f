"""Every record matching a /records (or the user's /usage) query, read in chunks through a server-side cursor.

An export may cover millions of records, so it never holds them: one read-only REPEATABLE READ transaction (one
consistent snapshot, as every other read), a cursor over the same WHERE clause the paged endpoints build
(materializer/read/records.py `Filters`), ordered as they order (created_at desc, id desc), fetched `chunk` rows
at a time. Each chunk comes with the entities it names and its attempt flags, so the HTTP layer shapes
it exactly as a page. The connection is held for the whole export: the caller streams, and stopping the
iteration (the client left) rolls the transaction back and frees it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

import asyncpg

from usagestream.materializer.read import records as rec
from usagestream.materializer.read.entities import Entities
from usagestream.materializer.read.records import RecordQuery

CHUNK = 250  # rows per fetch: decoding, entity look-ups and writing a chunk run on the API's event loop


@dataclass(frozen=True)
class Chunk:
    """Up to CHUNK rows (rec.PAGE_COLUMNS) with what shaping them needs, as a RecordPage holds for a page."""

    rows: list[asyncpg.Record]
    entities: Entities
    flags: dict[str, dict[str, bool]]


async def record_chunks(pool: asyncpg.Pool, q: RecordQuery, chunk: int = CHUNK) -> AsyncGenerator[Chunk, None]:
    """The matching records, newest first, `chunk` at a time (an async generator: close it to stop early)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        f = await rec.where(conn, q)
        sql, args = rec.export_sql(f)
        cursor = await conn.cursor(sql, *args)
        while rows := list(await cursor.fetch(chunk)):
            ents = await rec.page_entities(conn, rows)
            flags = await rec.attempt_flags(conn, [r["id"] for r in rows])  # the user's records show has_fallback
            yield Chunk(rows, ents, flags)
