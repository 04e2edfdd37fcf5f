"""The heatmap's per-day cells in any time zone, exact (docs/read-model.md "Heatmap in another zone").

The day buckets hold the configured zone's days only. For another zone the cells are summed from UTC buckets
fine enough that every local midnight of the window is a bucket boundary (hours when every midnight falls on a
whole UTC hour, else 15-minute buckets), per day in PostgreSQL, so one row per day comes back. A midnight off the
15-minute grid (only a fixed `tz_offset_minutes` that is no multiple of 15: every zone of the tz database has
been on the grid since 1980) leaves its quarter counted in the day before; the records of the part after the
midnight are recounted and moved to their day.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from usagestream import local_days
from usagestream.materializer.pg_counters import USAGE_COUNTER_SQL
from usagestream.materializer.pg_pool import Conn
from usagestream.stats import BUCKET, GRAIN_15M, GRAIN_HOUR, bucket_15m

Row = dict[str, Any]
WINDOW_DAYS = 365


def midnights(today: date, zone: tzinfo) -> list[datetime]:
    """The UTC starts of the window's 365 local days and of the day after it (the window's end)."""
    first = today - timedelta(days=WINDOW_DAYS - 1)
    return [local_days.day_start(first + timedelta(days=i), zone) for i in range(WINDOW_DAYS + 1)]


def grain_for(bounds: list[datetime]) -> int:
    """The coarsest UTC grain every boundary lies on (quarters when one is off the hour grid)."""
    return GRAIN_HOUR if all(b.minute == b.second == b.microsecond == 0 for b in bounds) else GRAIN_15M


def off_grid(bounds: list[datetime]) -> list[tuple[datetime, datetime]]:
    """The part `[midnight, next quarter)` of every quarter a midnight splits."""
    return [(b, bucket_15m(b) + BUCKET) for b in bounds if bucket_15m(b) != b]


_TOKENS = " + ".join(USAGE_COUNTER_SQL[c] for c in ("in_tok", "out_tok", "cc_tok", "cr_tok"))
_SUMS = (
    f"{USAGE_COUNTER_SQL['n_all']} AS n_all, {_TOKENS} AS tokens, {USAGE_COUNTER_SQL['cost']} AS cost,"
    f" {USAGE_COUNTER_SQL['actual_cost']} AS actual_cost"
)


async def moved(conn: Conn, user_id: str | None, slices: list[tuple[datetime, datetime]]) -> list[Row]:
    """Rows moving each split quarter's records after the midnight from the day before (bucket = the quarter's
    start, negative) to the midnight's own day (bucket = the midnight, positive)."""
    if not slices:
        return []
    owner, args = ("", []) if user_id is None else (" AND user_id = $3", [user_id])
    rows = await conn.fetch(
        f"SELECT s.lo, {_SUMS} FROM unnest($1::timestamptz[], $2::timestamptz[]) AS s(lo, hi)"
        f" JOIN usage_records ON created_at >= s.lo AND created_at < s.hi{owner} GROUP BY s.lo",
        [lo for lo, _ in slices],
        [hi for _, hi in slices],
        *args,
    )
    out: list[Row] = []
    for r in rows:
        sums = {k: r[k] for k in ("n_all", "tokens", "cost", "actual_cost")}
        out.append({"bucket": r["lo"], **sums})
        out.append({"bucket": bucket_15m(r["lo"]), **{k: -v for k, v in sums.items()}})
    return out


async def day_sums(conn: Conn, user_id: str | None, grain: int, bounds: list[datetime]) -> list[Row]:
    """The buckets of `grain` summed per local day in PostgreSQL (`width_bucket` over the midnights): at most one
    row per day however fine the grain, each dated at its day's start."""
    dim, key = ("all", "") if user_id is None else ("user", user_id)
    rows = await conn.fetch(
        "SELECT width_bucket(bucket, $4::timestamptz[]) AS i, sum(n_all)::bigint AS n_all,"
        " sum(in_tok + out_tok + cc_tok + cr_tok)::bigint AS tokens, sum(cost) AS cost,"
        " sum(actual_cost) AS actual_cost FROM usage_agg"
        " WHERE dim = $1 AND key = $2 AND grain = $3 AND bucket >= $5 AND bucket < $6 GROUP BY 1",
        dim,
        key,
        grain,
        bounds,
        bounds[0],
        bounds[-1],
    )
    return [
        {"bucket": bounds[r["i"] - 1], **{k: r[k] for k in ("n_all", "tokens", "cost", "actual_cost")}} for r in rows
    ]


async def zone_rows(conn: Conn, user_id: str | None, today: date, zone: tzinfo) -> list[Row]:
    """Rows (bucket, n_all, tokens, cost, actual_cost) whose sums by the local date of `bucket` are the exact
    cells of the 365 days of `zone` ending `today`."""
    bounds = midnights(today, zone)
    rows = await day_sums(conn, user_id, grain_for(bounds), bounds)
    return rows + await moved(conn, user_id, off_grid(bounds))
