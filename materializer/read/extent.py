"""What a range plan depends on (a record table's extent, the days' zone, the cut-off) and the guard that lets a
plan built from an earlier read of it answer in one statement.

A range question used to cost four round trips: BEGIN, the extent, the statement, COMMIT (the extent and the
statement had to share a snapshot, or a batch committed between them would be half in the answer). The reader
now keeps the last extent it read per table and builds the plan from it; the statement carries a guard (`guard_sql`)
evaluated in its own snapshot, and does the work only if the plan is exact for that snapshot. Otherwise it answers
a miss and the reader reads the extent again (docs/read-model.md "One statement per range question").

The plan is exact for a snapshot whenever the snapshot's zone, cut-off and roll-ups before the cut-off are the
ones planned from, no record is older than the planned `first` and none newer than the planned `last`: rows
outside `[first, last]` hold nothing (`ranges.decompose` and `ranges.clamp` need bounds of the data, not its exact
ends). So the reader plans with `last` moved to the end of its 15-minute bucket (`Extent.bounded`), and the plan
stays good while the worker keeps writing into that bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from usagestream.materializer.pg_pool import Conn, fetch_one
from usagestream.materializer.read.cutoff import oldest_rollups_sql, widen
from usagestream.materializer.read.sql import Args, Statement, guarded_sql
from usagestream.range_bounds import TICK
from usagestream.ranges import EMPTY, Plan, clamp, decompose
from usagestream.stats import BUCKET, bucket_15m

TABLES = ("usage_records", "candidate_records")


def extent_sql(table: str) -> str:
    """The days' stored zone, the records cut-off, `table`'s oldest and newest created_at, and the first and last
    15-minute roll-up before the cut-off (NULL without one), in one statement."""
    if table not in TABLES:
        raise ValueError(f"not a record table: {table!r}")
    rollups = oldest_rollups_sql(table).replace("$1", "c.cut::timestamptz")
    return (
        "SELECT (SELECT value FROM meta WHERE key = 'timezone') AS zone, c.cut,"
        f" (SELECT min(created_at) FROM {table}) AS first, (SELECT max(created_at) FROM {table}) AS last,"
        f" r.min AS rollup_first, r.max AS rollup_last FROM (SELECT (SELECT value FROM meta WHERE key ="
        f" 'records_cutoff') AS cut) c CROSS JOIN LATERAL ({rollups}) r"
    )


@dataclass(frozen=True, slots=True)
class Extent:
    """What the plan of a range over one record table is built from, as read in one snapshot."""

    table: str
    zone: str | None  # meta.timezone: the zone the day and month rows were built in
    cut: str | None  # meta.records_cutoff (ISO text): before it only the roll-ups remain
    first: datetime | None
    last: datetime | None
    rollup_first: datetime | None  # the first and last 15-minute roll-up before the cut-off
    rollup_last: datetime | None

    def bounded(self) -> Extent:
        """The same extent with `last` at the end of its 15-minute bucket: a bound of the data that holds while
        the worker writes into that bucket (see the module docstring)."""
        if self.last is None:
            return self
        return replace(self, last=bucket_15m(self.last) + BUCKET - TICK)

    def plan(self, start: datetime | None, end: datetime | None, tz_name: str, records_only: bool = False) -> Plan:
        """The plan of `[start, end]` (`read.stats.plan_for` reads the extent, then plans with this)."""
        first, last = self.first, self.last
        if not records_only and self.cut is not None:  # before it, the roll-ups alone (docs/read-model.md "Retention")
            rollups = (self.rollup_first, self.rollup_last)
            start, end, first, last = widen(start, end, first, last, datetime.fromisoformat(self.cut), rollups)
        bounds = clamp(start, end, first, last)
        return EMPTY if bounds is None else decompose(bounds[0], bounds[1], day_zone_of(self.zone, tz_name), last)


def day_zone_of(stored: str | None, tz_name: str) -> ZoneInfo | None:
    """The zone whose days grain 1 holds (`stored`, meta.timezone), or None if they were built in another zone
    than the configured `tz_name`: then no day or month row is used."""
    return ZoneInfo(tz_name) if stored in (None, tz_name) else None


async def read_extent(conn: Conn, table: str) -> Extent:
    row = await fetch_one(conn, extent_sql(table))
    return Extent(table, *row)


def guard_sql(e: Extent, args: Args) -> str:
    """A condition true in a snapshot where a plan built from `e` is exact (module docstring); for a table that
    had no record, that it still has none."""
    t = e.table
    parts = [
        f"(SELECT value FROM meta WHERE key = 'timezone') IS NOT DISTINCT FROM {args.add(e.zone)}::text",
        f"(SELECT value FROM meta WHERE key = 'records_cutoff') IS NOT DISTINCT FROM {args.add(e.cut)}::text",
    ]
    if e.first is None or e.last is None:
        parts.append(f"NOT EXISTS (SELECT 1 FROM {t})")
    else:
        parts.append(f"NOT EXISTS (SELECT 1 FROM {t} WHERE created_at < {args.add(e.first)})")
        parts.append(f"NOT EXISTS (SELECT 1 FROM {t} WHERE created_at > {args.add(e.last)})")
    if e.cut is not None:
        rollups = oldest_rollups_sql(t).replace("$1", args.add(datetime.fromisoformat(e.cut)))
        for column, value in (("min", e.rollup_first), ("max", e.rollup_last)):
            parts.append(f"(SELECT {column} FROM ({rollups}) r) IS NOT DISTINCT FROM {args.add(value)}::timestamptz")
    return " AND ".join(parts)


def guarded(stmt: Statement, extents: Sequence[Extent], order: str = "") -> Statement:
    """`stmt` (built from plans of `extents`) with the guards of every extent (`sql.guarded_sql`)."""
    args = Args(stmt.args)
    guard = " AND ".join(guard_sql(e, args) for e in extents) or "TRUE"
    return guarded_sql(Statement(stmt.text, tuple(args.values)), guard, order)
