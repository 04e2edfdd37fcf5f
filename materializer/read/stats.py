"""Range totals from the aggregates: /stats, /aggregation/stats, user summary, hit analysis, heatmap.

Each range is split by `usagestream.ranges` into weighted buckets of four grains (month, day, hour, 15 minutes)
and edge slices recounted from the records, so the answer is exact for any start and end and costs about the
same for a day or a year, whatever the history holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from usagestream.materializer.pg_counters import DIM_KEY_SQL
from usagestream.materializer.pg_pool import Conn, fetch_one
from usagestream.materializer.read.cutoff import widen_before_cutoff
from usagestream.materializer.read.entities import entity_maps
from usagestream.materializer.read.sql import Args, attempt_union, cast_sum, usage_union
from usagestream.range_bounds import TICK, Span
from usagestream.ranges import EMPTY, Plan, clamp, decompose
from usagestream.stats import ATTEMPT_COUNTERS

Row = dict[str, Any]
ProviderRow = tuple[Row, Row | None, str | None]  # attempt sums, usage sums, name


async def day_zone(conn: Conn, tz_name: str) -> ZoneInfo | None:
    """The zone whose days grain 1 holds, or None if `meta.timezone` says the days were built in another."""
    return _zone(await conn.fetchval("SELECT value FROM meta WHERE key = 'timezone'"), tz_name)


def _zone(stored: str | None, tz_name: str) -> ZoneInfo | None:
    return ZoneInfo(tz_name) if stored in (None, tz_name) else None


async def plan_for(
    conn: Conn,
    table: str,
    start: datetime | None,
    end: datetime | None,
    tz_name: str,
    records_only: bool = False,
) -> Plan:
    """The plan of `[start, end]` over `table`'s records (usage_records or candidate_records).

    What it depends on (the days' stored zone, the records cut-off, the table's extent) is read in one
    statement: every range question paid three round trips for it before the question itself."""
    stored, cut, first, last = await fetch_one(
        conn,
        "SELECT (SELECT value FROM meta WHERE key = 'timezone'), (SELECT value FROM meta WHERE key ="
        f" 'records_cutoff'), (SELECT min(created_at) FROM {table}), (SELECT max(created_at) FROM {table})",
    )
    if not records_only and cut is not None:  # before it, the roll-ups alone (docs/read-model.md "Retention")
        cutoff = datetime.fromisoformat(cut)
        start, end, first, last = await widen_before_cutoff(conn, table, start, end, first, last, cutoff)
    bounds = clamp(start, end, first, last)
    return EMPTY if bounds is None else decompose(bounds[0], bounds[1], _zone(stored, tz_name), last)


async def usage_sums(
    conn: Conn,
    plan: Plan,
    dim: str,
    counters: Sequence[str],
    *,
    keys: Sequence[str] | None = None,
    key_prefix: str | None = None,
    extra_where: str = "TRUE",
    extra_args: Sequence[Any] = (),
) -> dict[str, Row]:
    """Counters summed per key of `dim` over the plan, for the given keys (or keys starting with a prefix).

    `extra_where` (placeholders $1.. for `extra_args`) further filters the recounted records; use it only
    with a plan that has no buckets (see `records_plan`).
    """
    if plan.empty:
        return {}  # nothing to read; and an empty union would leave the parameters unreferenced
    args = Args()
    for value in extra_args:
        args.add(value)
    key_where = record_where = "TRUE"
    key_sql = DIM_KEY_SQL[dim]
    if keys is not None:
        ph = args.add(list(keys))
        key_where, record_where = f"key = ANY({ph}::text[])", f"{key_sql} = ANY({ph}::text[])"
    elif key_prefix is not None:
        ph = args.add(key_prefix)
        key_where, record_where = f"starts_with(key, {ph})", f"starts_with({key_sql}, {ph})"
    record_where = f"{record_where} AND {extra_where}"
    union = usage_union(plan, dim, counters, args, key_where=key_where, record_where=record_where)
    sums = ", ".join(f"{cast_sum(c)} AS {c}" for c in counters)
    # Grouped bytewise: the keys are ids and names, and a locale-aware sort of thousands of them costs more
    # than the sums.
    rows = await conn.fetch(f'SELECT key COLLATE "C" AS key, {sums} FROM ({union}) s GROUP BY 1', *args.values)
    return {r["key"]: dict(r) for r in rows}


async def top_keys(
    conn: Conn,
    plan: Plan,
    dim: str,
    counters: Sequence[str],
    order: str,
    limit: int,
    join_users: bool = False,
) -> list[Row]:
    """The `limit` keys of `dim` with the most `order` (> 0), ties by key; optionally only existing users."""
    args = Args()
    union = usage_union(plan, dim, counters, args)
    sums = ", ".join(f"{cast_sum(c)} AS {c}" for c in counters)
    user_cols, join = "", ""
    if join_users:
        user_cols = ", u.data ->> 'username' AS username, u.data ->> 'email' AS email"
        join = (
            " JOIN entities u ON u.entity = 'user' AND u.id COLLATE \"C\" = t.key AND NOT u.deleted"
            " AND u.data IS NOT NULL"
        )
    sql = (
        f'SELECT t.*{user_cols} FROM (SELECT key COLLATE "C" AS key, {sums} FROM ({union}) s GROUP BY 1) t{join}'
        f' WHERE t.{order} > 0 ORDER BY t.{order} DESC, t.key COLLATE "C" LIMIT {args.add(limit)}'
    )
    return [dict(r) for r in await conn.fetch(sql, *args.values)]


async def attempt_top(conn: Conn, plan: Plan, limit: int) -> list[Row]:
    """Providers by executed attempts (desc, then provider_id) over the plan."""
    args = Args()
    union = attempt_union(plan, args)
    sums = ", ".join(f"sum({c})::bigint AS {c}" for c in ATTEMPT_COUNTERS)
    sql = (
        f'SELECT * FROM (SELECT provider_id COLLATE "C" AS provider_id, {sums} FROM ({union}) s GROUP BY 1) t'
        f' WHERE attempts > 0 ORDER BY attempts DESC, provider_id COLLATE "C" LIMIT {args.add(limit)}'
    )
    return [dict(r) for r in await conn.fetch(sql, *args.values)]


# --- /stats -----------------------------------------------------------------------------------------------
STATS_COUNTERS = (
    "n_all",
    "tot_tok",
    "cost",
    "actual_cost",
    "rt_sum",
    "rt_n",
    "n_error",
    "cc_tok",
    "cr_tok",
    "cc_cost",
    "cr_cost",
)


# --- /aggregation/stats -----------------------------------------------------------------------------------
FR_COUNTERS = ("n_fr", "fr_tot_tok", "fr_cost", "fr_actual")


async def provider_rows(conn: Conn, attempts: Plan, usage: Plan, limit: int) -> list[ProviderRow]:
    """The top providers by attempts: each one's attempt sums, its usage sums (None if none) and its name."""
    top = await attempt_top(conn, attempts, limit)
    ids = [a["provider_id"] for a in top]
    sums: dict[str, Row] = {}
    if ids:
        sums = await usage_sums(conn, usage, "provider", ("fin_tot_tok", "fin_cost", "fin_actual"), keys=ids)
    names = (await entity_maps(conn, {"provider": ids}))["provider"]
    return [(a, sums.get(a["provider_id"]), names.get(a["provider_id"], {}).get("name")) for a in top]


# --- hit analysis -----------------------------------------------------------------------------------------
HIT_COUNTERS = ("n_completed", "n_hit", "c_in", "c_cr", "c_cc", "c_cr_cost", "c_cc_cost")


async def records_plan(conn: Conn, start: datetime | None, end: datetime | None) -> Plan:
    """`[start, end]` recounted from the records alone (for a filter no aggregate dimension holds)."""
    first, last = await fetch_one(conn, "SELECT min(created_at), max(created_at) FROM usage_records")
    bounds = clamp(start, end, first, last)
    return EMPTY if bounds is None else Plan((Span(bounds[0], bounds[1] + TICK),), ())


# --- heatmap ----------------------------------------------------------------------------------------------
def window(now: datetime, tz: tzinfo) -> tuple[date, date, datetime, datetime]:
    """The 365 local days ending today: first and last date, and their UTC start and end instants."""
    today = now.astimezone(tz).date()
    first = today - timedelta(days=364)
    lo = datetime.combine(first, time(), tzinfo=tz).astimezone(UTC)
    hi = datetime.combine(today + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC) - TICK
    return first, today, lo, hi


async def heatmap_rows(conn: Conn, user_id: str | None, grain: int, lo: datetime, hi: datetime) -> list[asyncpg.Record]:
    dim, key = ("all", "") if user_id is None else ("user", user_id)
    return list(
        await conn.fetch(
            "SELECT bucket, n_all, in_tok + out_tok + cc_tok + cr_tok AS tokens, cost, actual_cost"
            " FROM usage_agg"
            " WHERE dim = $1 AND key = $2 AND grain = $3 AND bucket >= $4 AND bucket <= $5",
            dim,
            key,
            grain,
            lo - timedelta(days=1),
            hi + timedelta(days=1),
        )
    )


# --- /api/users/me/usage summary --------------------------------------------------------------------------
# Groups whose provider is unknown/pending are dropped by the reference, so only "reached" rows count.
USER_COUNTERS = ("n_reached", "r_in", "r_out", "r_tot", "r_cost", "n_s200", "s200_rt_sum")


def models_of(rows: dict[str, Row], user_id: str) -> dict[str, Row]:
    """model -> row, from the `user_model` rows under the prefix `<user_id> U+001F`: the user's own only.

    Neither part of a key holds U+001F (the parser refuses control characters in ids and models), so a key with a
    second one is another user's, whose id starts with `<user_id> U+001F` (a row stored before that rule).
    """
    start = len(user_id) + 1
    return {key[start:]: r for key, r in rows.items() if "\x1f" not in key[start:]}
