"""Cache-affinity analyses over the completed requests of the last `hours`: TTL analysis, interval timeline.

Intervals are the gaps between a group's consecutive completed requests, computed in SQL, so only the per-group
results leave the database. Each group's rows of the period come from one range scan of a covering partial index
(migration 0004: completed records by (user_id | api_key_id, created_at, id) with the columns read included):
index-only, so the heap is not touched and the cost is the rows of the period (at 10 M requests over 400 days,
~175,000 per 168 h), not the history. The TTL analysis and the timeline's counts pair each time with the one
before it in a sorted array (`gap_rows`); the timeline's points use a window function read newest first (`gaps`).
The users of the period come from the aggregates (`ALL_USERS`: a few hundred month rows), so the statements name
the records only in the per-user scans, whose bound `created_at > $1` prunes the month partitions when the
statement is planned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from usagestream.materializer.pg_pool import Conn
from usagestream.materializer.read.entities import entity_maps
from usagestream.materializer.read.sql import Statement
from usagestream.slices import map_sliced
from usagestream.stats import GRAIN_MONTH

BANDS = ("within_5min", "within_15min", "within_30min", "within_60min", "over_60min")
COMPLETED = "status = 'completed' AND created_at > $1"
# The gap in minutes as the reference computes it, EXTRACT(EPOCH FROM gap)::float8 / 60. EXTRACT is numeric
# (slow, a third of the query); date_part is float8 and, for a gap under a day (no days part in the interval),
# the same correctly rounded value (interval->time / 1e6), so the numeric path is kept only for longer gaps.
GAP_MINUTES = "CASE WHEN d < interval '1 day' THEN date_part('epoch', d) ELSE EXTRACT(EPOCH FROM d)::float8 END / 60"
# Every user with a completed record since $1, as a superset: the users whose month row of dimension `user` counts a
# completed request in a month that may hold part of the period. Such a row exists for every completed record:
# the writer folds a record into its aggregates in the transaction that writes it, and a rebuild recounts both in
# one, so one snapshot sees both or neither (tests/integration/test_pg_reads_cache.py). A month bucket starts at
# most 31 days and an hour (a DST change) before an instant it holds, whatever zone the months were cut in, so
# every month holding an instant after $1 starts after $1 - 32 days. The records' month partitions are left
# out of this part: reading the users from the records planned a scan of every partition per call.
ALL_USERS = (
    f"WITH grp(g) AS (SELECT key FROM usage_agg WHERE dim = 'user' AND grain = {GRAIN_MONTH}"
    " AND bucket > $1::timestamptz - interval '32 days' AND n_completed > 0 GROUP BY key)"
)


def gaps(column: str, where: str, extra: str = "", desc: bool = False) -> str:
    """One group's completed rows since $1 with `m`, the gap to its previous row in minutes (NULL for the first).

    `desc`: newest first, the previous row being the next one in that order (lead), so a LIMIT stops early."""
    prev, order = ("lead", "DESC") if desc else ("lag", "")
    cols = f"{extra}, " if extra else ""
    return (
        f"SELECT {cols}{GAP_MINUTES} AS m FROM (SELECT {cols}created_at - {prev}(created_at)"
        f" OVER (ORDER BY created_at {order}, id {order}) AS d FROM usage_records WHERE {where}) a"
    )


def gap_rows(where: str) -> str:
    """One row per gap between a group's consecutive completed rows since $1 (`where`), `m` in minutes, in
    created_at order: the group's times sorted into one array, each element paired with the one before it.

    The same gaps, in the same order, as `gaps` (a tie on created_at is a gap of 0 whichever id comes first),
    without a window function: lag() spools every row of the group through a tuple store, the larger part of
    the statement's cost. OFFSET 0 keeps `d` computed once per row instead of once per use in GAP_MINUTES."""
    return f"SELECT {GAP_MINUTES} AS m FROM ({deltas(where)} OFFSET 0) y"


def deltas(where: str) -> str:
    """`d`, each gap of `gap_rows` as an interval, and `prev`, the time of the row before it."""
    times = f"SELECT array_agg(created_at ORDER BY created_at) AS t FROM usage_records WHERE {where}"
    return f"SELECT b - p AS d, p AS prev FROM ({times}) x, unnest(t[2:], t[:cardinality(t) - 1]) u(b, p)"


def percentile(q: str) -> str:
    """percentile_cont(q) over the sorted gaps s.a (s.n of them) as PostgreSQL's percentile_cont computes it
    (setup_pct_info, float8_lerp): rows 1 + floor and 1 + ceil of q * (n - 1), lo + (pos - floor) * (hi - lo)."""
    pos = f"({q}::float8 * (s.n - 1))"
    lo, hi = f"s.a[1 + floor({pos})::int]", f"s.a[1 + ceil({pos})::int]"
    return f"{lo} + ({pos} - floor({pos})) * ({hi} - {lo})"


def bands() -> str:
    """The gaps per band, from the sorted gaps: width_bucket(x, s.a) counts the elements <= x (a binary search)."""
    le = [f"width_bucket({x}::float8, s.a)" for x in (5, 15, 30, 60)]
    counts = [le[0], *(f"{b} - {a}" for a, b in zip(le, le[1:], strict=False)), f"s.n - {le[-1]}"]
    return ", ".join(f"({c})::bigint AS {b}" for c, b in zip(counts, BANDS, strict=True))


def ttl_query(group: str, filters: list[str], groups: str) -> str:
    """Per group of `groups` (a CTE `grp(g)`) with at least 2 intervals: count, bands, percentiles, avg/min/max.

    Three aggregates per gap (count, one sorted array, avg in created_at order as the reference sums it);
    the bands, percentiles, minimum and maximum are read from the sorted array, once per group, instead of
    ten aggregate transitions per gap."""
    where = " AND ".join([COMPLETED, f"{group} = grp.g", *filters])
    pct = ", ".join(f"{percentile(q)} AS p{p}" for q, p in (("0.5", 50), ("0.75", 75), ("0.9", 90)))
    return (
        f"{groups} SELECT grp.g, s.n, {bands()}, {pct}, s.avg_m, s.a[1] AS min_m, s.a[cardinality(s.a)] AS max_m"
        " FROM grp CROSS JOIN LATERAL (SELECT count(*) AS n, array_agg(m ORDER BY m) AS a, avg(m) AS avg_m"
        f" FROM ({gap_rows(where)}) iv) s"
        ' WHERE grp.g IS NOT NULL AND s.n >= 2 ORDER BY s.n DESC, grp.g COLLATE "C"'
    )


def ttl_sql(user_id: str | None, api_key_id: str | None, since: datetime) -> Statement:
    """The statement of `ttl_groups`: by API key (of one user, if given), else by user (one, or every one)."""
    one = "WITH grp(g) AS (SELECT $2::text)"
    if api_key_id is not None:
        if user_id is None:
            return Statement(ttl_query("api_key_id", [], one), (since, api_key_id))
        return Statement(ttl_query("api_key_id", ["user_id = $3"], one), (since, api_key_id, user_id))
    if user_id is not None:
        return Statement(ttl_query("user_id", [], one), (since, user_id))
    return Statement(ttl_query("user_id", [], ALL_USERS), (since,))


async def ttl_groups(conn: Conn, user_id: str | None, api_key_id: str | None, since: datetime) -> list[asyncpg.Record]:
    """Per-group interval statistics; with both ids, that user's rows grouped by API key."""
    sql, args = ttl_sql(user_id, api_key_id, since)
    return list(await conn.fetch(sql, *args))


async def ttl_rows(
    conn: Conn, user_id: str | None, api_key_id: str | None, since: datetime
) -> tuple[list[asyncpg.Record], dict[str, dict[str, Any]]]:
    """`ttl_groups` and, when the groups are users (no `api_key_id`), those users' entities by id."""
    groups = await ttl_groups(conn, user_id, api_key_id, since)
    by_user = api_key_id is None
    users = (await entity_maps(conn, {"user": [g["g"] for g in groups] if by_user else []}))["user"]
    return groups, users


# --- interval timeline ------------------------------------------------------------------------------------
def _points(limit: str | None, lo: str = "") -> str:
    """A user's (grp.g) points since $1 (gap <= 120 min), newest first; at most `limit` of them if given; with
    `lo`, only the rows from that time on are read (it must be at or before the previous row of the oldest point
    wanted, so that every point wanted keeps its gap)."""
    where = f"{COMPLETED} AND user_id = grp.g" + (f" AND created_at >= {lo}" if lo else "")
    rows = gaps("user_id", where, "created_at, id, model", desc=True)
    newest = f" ORDER BY created_at DESC, id DESC LIMIT {limit}" if limit else ""  # the order the rows come in
    return f"SELECT * FROM ({rows}) b WHERE m <= 120{newest}"


def simple_timeline(user_filter: bool) -> str:
    """The newest `limit` ($2) points (of user $3, else of every user's newest $2), shown oldest first."""
    groups = "WITH grp(g) AS (SELECT $3::text)" if user_filter else ALL_USERS
    return (
        f"{groups} SELECT * FROM (SELECT p.* FROM grp CROSS JOIN LATERAL ({_points('$2')}) p"
        " WHERE grp.g IS NOT NULL ORDER BY p.created_at DESC, p.id DESC LIMIT $2) newest ORDER BY created_at, id"
    )


# Each user keeps all points when the total fits `limit` ($2), else its newest
# ceil(user_count * limit / total) (at least 1); shown oldest first. Two passes: every user's points from its
# sorted times (`deltas`: no rows leave the scan), kept as the sorted times of the rows before them (`pp`), then
# each user's newest `quota` points, read newest first from the time before the oldest of them, pp[n - q + 1]
# (the rows before a user's points are in time order as the points are), so neither the user's older rows nor a
# sort of them is read. m <= 120 exactly when d <= 2 hours: m is a monotone rounding of d's microseconds,
# 2 hours is 120.0 minutes exactly, and 2 hours and a microsecond already rounds above 120.
_NEAR = "SELECT array_agg(prev ORDER BY prev) FILTER (WHERE d <= interval '2 hours') AS pp FROM ({}) b"
MULTI_TIMELINE = (
    f"{ALL_USERS}, cnt AS (SELECT grp.g, c.pp, cardinality(c.pp) AS n FROM grp CROSS JOIN LATERAL"
    f" ({_NEAR.format(deltas(f'{COMPLETED} AND user_id = grp.g'))}) c WHERE grp.g IS NOT NULL AND c.pp IS NOT NULL),"
    " quota AS (SELECT g, q, pp[(n - q + 1)::int] AS lo FROM (SELECT g, n, pp, (CASE WHEN total <= $2 THEN n"
    " ELSE GREATEST(ceil(n::numeric * $2 / total), 1) END)::bigint AS q"
    " FROM (SELECT g, n, pp, sum(n) OVER () AS total FROM cnt) t) u)"
    f" SELECT grp.g AS user_id, p.created_at, p.model, p.m FROM quota grp"
    f" CROSS JOIN LATERAL ({_points('grp.q', 'grp.lo')}) p ORDER BY p.created_at, p.id"
)


def timeline_sql(since: datetime, limit: int, user_id: str | None, multi: bool) -> Statement:
    """The statement of `timeline_rows`."""
    if multi:
        return Statement(MULTI_TIMELINE, (since, limit))
    if user_id is None:
        return Statement(simple_timeline(False), (since, limit))
    return Statement(simple_timeline(True), (since, limit, user_id))


async def timeline_rows(
    conn: Conn, since: datetime, limit: int, user_id: str | None, multi: bool
) -> tuple[list[asyncpg.Record], dict[str, dict[str, Any]]]:
    """The timeline's points since `since` (every user's share of `limit` if `multi`, else the newest `limit`,
    of `user_id` if given) and, if `multi`, the entities of the users they name."""
    sql, args = timeline_sql(since, limit, user_id, multi)
    rows = await conn.fetch(sql, *args)
    if not multi:
        return list(rows), {}
    user_ids: set[str] = set()
    await map_sliced(lambda r: user_ids.add(r["user_id"]), rows)  # up to 50,000 rows: in slices
    return list(rows), (await entity_maps(conn, {"user": user_ids}))["user"]
