"""The bytes of an export, produced piece by piece: shared by the API's export paths and `usagestream export`.

Records come from a server-side cursor (materializer/read/export.py) a chunk at a time and are shaped as the
JSON endpoints shape them (http/shape/records.py), so memory stays bounded whatever the number of records.
Aggregations and time series are small answers (at most 100 groups, 100,000 points): read whole with the
existing readers, then written as rows (http/shape/export.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from functools import partial
from typing import Any

import asyncpg

from usagestream.http.shape import export as shape
from usagestream.http.shape.records import record_item, user_record_item
from usagestream.http.shape.timeseries import series_body
from usagestream.materializer.read import timeseries
from usagestream.materializer.read.export import Chunk, record_chunks
from usagestream.materializer.read.records import RecordQuery
from usagestream.materializer.read.timeseries import SeriesQuery
from usagestream.slices import map_sliced

SLICE = 250  # rows of a small answer encoded per slice of the event loop (CSV: about 4 ms here)
RECORD_SLICE = 100  # records shaped per slice of the event loop (as http/shape/reads.py)


def record_columns(q: RecordQuery) -> tuple[str, ...]:
    return shape.USER_RECORD_COLUMNS if q.owner is not None else shape.RECORD_COLUMNS


async def _encoded(c: Chunk, admin: bool, columns: Sequence[str], fmt: str) -> bytes:
    """A chunk shaped and encoded a slice at a time, handing the event loop back between slices (a whole chunk
    in one go would hold every other request of the API meanwhile)."""
    parts = []
    for i in range(0, len(c.rows), RECORD_SLICE):
        if i:
            await asyncio.sleep(0)
        rows = c.rows[i : i + RECORD_SLICE]
        if admin:
            items = [record_item(r, c.entities, c.flags.get(r["id"])) for r in rows]
        else:
            items = [user_record_item(r, c.entities, c.flags.get(r["id"])) for r in rows]
        parts.append(shape.encode(items, columns, fmt, nested=True))
    return b"".join(parts)


async def records(pool: asyncpg.Pool, q: RecordQuery, fmt: str) -> AsyncGenerator[tuple[int, bytes], None]:
    """(rows so far, bytes) pieces, one per chunk of records; the CSV header comes with the first piece, so
    that nothing is produced before the query has answered (the API can still answer a failure with a status)."""
    columns = record_columns(q)
    head = shape.csv_header(columns) if fmt == "csv" else b""
    done = 0
    chunks = record_chunks(pool, q)
    try:
        async for c in chunks:
            done += len(c.rows)
            yield done, head + await _encoded(c, q.owner is None, columns, fmt)
            head = b""
    finally:
        await chunks.aclose()  # at once, not at garbage collection: the transaction ends, the connection is freed
    if head:
        yield 0, head  # no record: the header alone


async def whole(items: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> bytes:
    """A small answer's rows in `fmt` (CSV with its header), encoded a slice at a time: a time series may have
    100,000 points, which in one go would hold the event loop for most of a second."""
    parts = [shape.csv_header(columns)] if fmt == "csv" else []
    for i in range(0, len(items), SLICE):
        if i:
            await asyncio.sleep(0)
        parts.append(shape.encode(items[i : i + SLICE], columns, fmt))
    return b"".join(parts)


async def series(pool: asyncpg.Pool, q: SeriesQuery, tz_name: str, fmt: str) -> tuple[int, bytes]:
    """(rows, bytes) of a time series; raises usagestream.timeseries.PlanError as the JSON path does."""
    body = await series_body(await timeseries.read(pool, q, tz_name), q)
    rows: list[dict[str, Any]] = []
    for s in body["series"]:  # up to 100,000 points: a slice of the event loop at a time
        rows.extend(await map_sliced(partial(shape.series_row, s), s["points"]))
    return len(rows), await whole(rows, shape.TIMESERIES_COLUMNS, fmt)
