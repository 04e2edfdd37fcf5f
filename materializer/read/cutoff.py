"""How the read side answers across retention's records cut-off: before it only the roll-ups remain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from usagestream.materializer.pg_pool import Conn, fetch_one


def oldest_rollups_sql(table: str) -> str:
    """The first and last grain-0 bucket before the cut-off ($1) of the roll-ups of `table`'s records."""
    agg = "usage_agg WHERE dim = 'all' AND grain = 0" if table == "usage_records" else "attempt_agg WHERE grain = 0"
    return f"SELECT min(bucket), max(bucket) FROM {agg} AND bucket < $1"


async def widen_before_cutoff(
    conn: Conn,
    table: str,
    start: datetime | None,
    end: datetime | None,
    first: datetime | None,
    last: datetime | None,
    cut: datetime,
) -> tuple[datetime | None, datetime | None, datetime | None, datetime | None]:
    """For the read side: (start, end, first, last) once the records cut-off `cut` is accounted for.

    Before the cut-off only the roll-ups remain, so the data extent starts at the oldest aggregate bucket, and
    a bound before the cut-off is widened to the 15-minute bucket holding it (the finest the roll-ups know).
    The cut-off is a month start, on the 15-minute grid, so no recounted edge ever falls before it.
    """
    lo, hi = await fetch_one(conn, oldest_rollups_sql(table), cut)
    return widen(start, end, first, last, cut, (lo, hi))


def widen(
    start: datetime | None,
    end: datetime | None,
    first: datetime | None,
    last: datetime | None,
    cut: datetime,
    rollups: tuple[datetime | None, datetime | None],
) -> tuple[datetime | None, datetime | None, datetime | None, datetime | None]:
    """`widen_before_cutoff` once the first and last roll-up before the cut-off (`oldest_rollups_sql`) are read."""
    lo, hi = rollups
    if lo is not None and hi is not None:
        first = lo if first is None else min(first, lo)
        last = last if last is not None else hi + timedelta(minutes=15) - timedelta(microseconds=1)
    quarter = timedelta(minutes=15)
    if start is not None and start < cut:
        start = _floor_15m(start)
    if end is not None and end < cut:
        end = _floor_15m(end) + quarter - timedelta(microseconds=1)
    return start, end, first, last


def _floor_15m(ts: datetime) -> datetime:
    u = ts.astimezone(UTC)
    return u.replace(minute=u.minute // 15 * 15, second=0, microsecond=0)
