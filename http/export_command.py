"""`usagestream export records|aggregation|timeseries`: the API's exports, read from PostgreSQL directly.

The options are the export paths' query parameters (`--start-date` is `start_date`, ...), parsed by the same
functions (http/params.py), so a value the API refuses is refused here with the same message (exit 2). Without
`--user` the export has the admin scope; `--user ID` exports what that user's own export path would give. Records
stream from a server-side cursor to `--output` (written to `FILE.part`, renamed when complete, so a failed export
leaves no truncated file) or to stdout; for long exports a progress line goes to stderr about once a second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import asyncpg
from multidict import MultiDict

from usagestream.http import export_stream
from usagestream.http.errors import ApiError
from usagestream.http.shape.export import AGGREGATION_COLUMNS
from usagestream.http.shape.reads import ShapedReads
from usagestream.http.views import export as views
from usagestream.http.views.timeseries_params import series_query
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.read.records import RecordQuery
from usagestream.settings import Settings
from usagestream.timeseries import PlanError

KINDS = ("records", "aggregation", "timeseries")
# option -> query parameter of the export paths
OPTIONS = (
    "format",
    "start_date",
    "end_date",
    "search",
    "user_id",
    "username",
    "model",
    "provider",
    "status",
    "group_by",
    "limit",
    "granularity",
    "tz",
)
PROGRESS_EVERY = 1.0  # seconds between progress lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    parser.add_argument("--user", dest="as_user", help="the user scope: only this user's records, user fields")
    for name in OPTIONS:
        parser.add_argument("--" + name.replace("_", "-"), dest=name, help=f"as the `{name}` query parameter")


def cli(settings: Settings, args: argparse.Namespace) -> int:
    query = MultiDict((name, value) for name in OPTIONS if (value := getattr(args, name)) is not None)
    try:
        return asyncio.run(_export(settings, args, query))
    except ApiError as exc:
        print(f"usagestream export: {exc.message}", file=sys.stderr)
        return 2


async def _export(settings: Settings, args: argparse.Namespace, query: MultiDict[str]) -> int:
    fmt = views.export_format(query)
    pool = await create_pool(settings, min_size=1, max_size=2, read_only=True)
    try:
        with _Sink(args.output) as out:
            rows = await _write(pool, settings, args, query, fmt, out)
    finally:
        await pool.close()
    print(f"usagestream export: {rows} rows" + (f" written to {args.output}" if args.output else ""), file=sys.stderr)
    return 0


async def _write(
    pool: asyncpg.Pool, settings: Settings, args: argparse.Namespace, query: MultiDict[str], fmt: str, out: BinaryIO
) -> int:
    now = datetime.now(UTC)
    if args.kind == "records":
        rq = (
            views.user_record_query(query, args.as_user, settings, now)
            if args.as_user
            else views.admin_record_query(query, settings, now)
        )
        return await _records(pool, rq, fmt, out)
    if args.kind == "aggregation":
        if args.as_user:
            raise ApiError(422, "validation_error", "the aggregation export has the admin scope only (no --user)")
        group_by, start, end, limit = views.aggregation_query(query, settings, now)
        items = await ShapedReads(pool, settings).aggregation(group_by, start, end, limit)
        out.write(await export_stream.whole(items, AGGREGATION_COLUMNS[group_by], fmt))
        return len(items)
    sq = series_query(query, settings, now, args.as_user)
    try:
        rows, body = await export_stream.series(pool, sq, settings.timezone, fmt)
    except PlanError as exc:
        raise ApiError(422, "validation_error", str(exc)) from None
    out.write(body)
    return rows


async def _records(pool: asyncpg.Pool, rq: RecordQuery, fmt: str, out: BinaryIO) -> int:
    rows, shown = 0, time.monotonic()
    async for rows, data in export_stream.records(pool, rq, fmt):
        out.write(data)
        if time.monotonic() - shown >= PROGRESS_EVERY:
            shown = time.monotonic()
            print(f"usagestream export: {rows} records...", file=sys.stderr, flush=True)
    return rows


class _Sink:
    """stdout, or `path` written as `path.part` and renamed into place only when the export completed."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.part = path.with_name(path.name + ".part") if path else None
        self.file: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        if self.part is None:
            return sys.stdout.buffer
        self.file = self.part.open("wb")
        return self.file

    def __exit__(self, kind: object, *_: object) -> None:
        if self.part is None:
            sys.stdout.buffer.flush()
            return
        if self.file is not None:
            self.file.close()
        if kind is None:
            os.replace(self.part, self.path or self.part)
        else:
            self.part.unlink(missing_ok=True)
