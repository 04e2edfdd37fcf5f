"""Range totals from the aggregates: /stats, /aggregation/stats, user summary, hit analysis, heatmap.

Each range is split by `usagestream.ranges` into weighted buckets of four grains (month, day, hour, 15 minutes)
and edge slices recounted from the records, so the answer is exact for any start and end and costs about the
same for a day or a year, whatever the history holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, TypedDict, Unpack
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from usagestream.materializer.pg_counters import DIM_KEY_SQL
from usagestream.materializer.pg_pool import Conn, fetch_one
from usagestream.materializer.read.cutoff import widen_before_cutoff
from usagestream.materializer.read.extent import day_zone_of
from usagestream.materializer.read.sql import Args, Statement, attempt_union, cast_sum, usage_union
from usagestream.range_bounds import TICK, Span
from usagestream.ranges import EMPTY, Plan, clamp, decompose
from usagestream.stats import ATTEMPT_COUNTERS

Row = dict[str, Any]
ProviderRow = tuple[Row, Row | None, str | None]  # attempt sums, usage sums, name


DAY_ZONE_SQL = "SELECT value FROM meta WHERE key = 'timezone'"


async def day_zone(conn: Conn, tz_name: str) -> ZoneInfo | None:
    """The zone whose days grain 1 holds, or None if `meta.timezone` says the days were built in another."""
    return _zone(await conn.fetchval(DAY_ZONE_SQL), tz_name)


def _zone(stored: str | None, tz_name: str) -> ZoneInfo | None:
    return day_zone_of(stored, tz_name)


def extent_sql(table: str) -> str:
    """What a range plan over `table` (usage_records or candidate_records) depends on, in one statement: the
    days' stored zone, the records cut-off, the table's extent (every range question paid three round trips for
    it before the question itself)."""
    return (
        "SELECT (SELECT value FROM meta WHERE key = 'timezone'), (SELECT value FROM meta WHERE key ="
        f" 'records_cutoff'), (SELECT min(created_at) FROM {table}), (SELECT max(created_at) FROM {table})"
    )


async def plan_for(
    conn: Conn,
    table: str,
    start: datetime | None,
    end: datetime | None,
    tz_name: str,
    records_only: bool = False,
) -> Plan:
    """The plan of `[start, end]` over `table`'s records (usage_records or candidate_records)."""
    stored, cut, first, last = await fetch_one(conn, extent_sql(table))
    if not records_only and cut is not None:  # before it, the roll-ups alone (docs/read-model.md "Retention")
        cutoff = datetime.fromisoformat(cut)
        start, end, first, last = await widen_before_cutoff(conn, table, start, end, first, last, cutoff)
    bounds = clamp(start, end, first, last)
    return EMPTY if bounds is None else decompose(bounds[0], bounds[1], _zone(stored, tz_name), last)


class KeyFilter(TypedDict, total=False):
    """Which keys `usage_sums` sums: the given keys (or keys starting with a prefix); `extra_where`
    (placeholders $1.. for `extra_args`) further filters the recounted records: use it only with a plan that
    has no buckets (see `records_plan`). `keys_from`: the keys as an SQL text[] of the statement around it."""

    keys: Sequence[str] | None
    keys_from: str | None
    key_prefix: str | None
    extra_where: str
    extra_args: Sequence[Any]


def usage_sums_sql(
    plan: Plan,
    dim: str,
    counters: Sequence[str],
    *,
    keys: Sequence[str] | None = None,
    keys_from: str | None = None,
    key_prefix: str | None = None,
    extra_where: str = "TRUE",
    extra_args: Sequence[Any] = (),
) -> Statement:
    """The statement of `usage_sums` (a plan that is not empty: an empty union would leave the parameters
    unreferenced), filtered as `KeyFilter` says."""
    args = Args(extra_args)
    key_where = record_where = "TRUE"
    key_sql = DIM_KEY_SQL[dim]
    if keys is not None or keys_from is not None:
        ph = args.add(list(keys)) + "::text[]" if keys is not None else keys_from
        key_where, record_where = f"key = ANY({ph})", f"{key_sql} = ANY({ph})"
    elif key_prefix is not None:
        ph = args.add(key_prefix)
        key_where, record_where = f"starts_with(key, {ph})", f"starts_with({key_sql}, {ph})"
    record_where = f"{record_where} AND {extra_where}"
    union = usage_union(plan, dim, counters, args, key_where=key_where, record_where=record_where)
    sums = ", ".join(f"{cast_sum(c)} AS {c}" for c in counters)
    # Grouped bytewise: the keys are ids and names, and a locale-aware sort of thousands of them costs more
    # than the sums.
    return args.statement(f'SELECT key COLLATE "C" AS key, {sums} FROM ({union}) s GROUP BY 1')


async def usage_sums(
    conn: Conn, plan: Plan, dim: str, counters: Sequence[str], **where: Unpack[KeyFilter]
) -> dict[str, Row]:
    """Counters summed per key of `dim` over the plan, of the keys `where` selects (`KeyFilter`; all if none)."""
    if plan.empty:
        return {}  # nothing to read
    sql, args = usage_sums_sql(plan, dim, counters, **where)
    return {r["key"]: dict(r) for r in await conn.fetch(sql, *args)}


def top_keys_sql(
    plan: Plan, dim: str, counters: Sequence[str], order: str, limit: int, join_users: bool = False
) -> Statement:
    """The statement of `top_keys`."""
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
    return args.statement(
        f'SELECT t.*{user_cols} FROM (SELECT key COLLATE "C" AS key, {sums} FROM ({union}) s GROUP BY 1) t{join}'
        f' WHERE t.{order} > 0 ORDER BY t.{order} DESC, t.key COLLATE "C" LIMIT {args.add(limit)}'
    )


def top_order(order: str) -> str:
    """`top_keys_sql`'s order, once wrapped (`sql.guarded_sql`)."""
    return f' ORDER BY s.{order} DESC, s.key COLLATE "C"'


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
    sql, args = top_keys_sql(plan, dim, counters, order, limit, join_users)
    return [dict(r) for r in await conn.fetch(sql, *args)]


def attempt_top_sql(plan: Plan, limit: int) -> Statement:
    """Providers by executed attempts (desc, then provider_id) over the plan: the top of `provider_rows_sql`."""
    args = Args()
    union = attempt_union(plan, args)
    sums = ", ".join(f"sum({c})::bigint AS {c}" for c in ATTEMPT_COUNTERS)
    return args.statement(
        f'SELECT * FROM (SELECT provider_id COLLATE "C" AS provider_id, {sums} FROM ({union}) s GROUP BY 1) t'
        f' WHERE attempts > 0 ORDER BY attempts DESC, provider_id COLLATE "C" LIMIT {args.add(limit)}'
    )


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
FR_COUNTERS = ("n_fr", "fr_tot_tok", "fr_cost", "fr_actual", "fr_out", "fr_cc", "fr_cr", "fr_eff", "fr_ctx")
# A provider's tokens count its finished requests (docs/reference-api.md §3.2).
PROVIDER_COUNTERS = ("fin_tot_tok", "fin_cost", "fin_actual", "fin_out", "fin_cc", "fin_cr", "fin_eff", "fin_ctx")


def provider_rows_sql(attempts: Plan, usage: Plan, limit: int) -> Statement:
    """The statement of `provider_rows`: `attempt_top_sql`'s providers, each with its usage sums (`usage_key`
    NULL when none) and the `name` of its live entity as JSON text, in one statement (three round trips before)."""
    top = attempt_top_sql(attempts, limit)
    keys = "ARRAY(SELECT provider_id FROM top)"
    sums = usage_sums_sql(usage, "provider", PROVIDER_COUNTERS, keys_from=keys, extra_args=top.args)
    counters = ", ".join(f"s.{c}" for c in PROVIDER_COUNTERS)
    return Statement(
        f"WITH top AS ({top.text}) SELECT top.*, s.key AS usage_key, {counters},"
        " (SELECT (e.data -> 'name')::text FROM entities e WHERE e.entity = 'provider' AND e.id = top.provider_id"
        f" AND NOT e.deleted AND e.data IS NOT NULL) AS provider_name FROM top LEFT JOIN ({sums.text}) s"
        ' ON s.key = top.provider_id ORDER BY top.attempts DESC, top.provider_id COLLATE "C"',
        sums.args,
    )


async def provider_rows(conn: Conn, attempts: Plan, usage: Plan, limit: int) -> list[ProviderRow]:
    """The top providers by attempts: each one's attempt sums, its usage sums (None if none) and its name."""
    sql, args = provider_rows_sql(attempts, usage, limit)
    return provider_rows_of(await conn.fetch(sql, *args))


PROVIDER_ORDER = ' ORDER BY s.attempts DESC, s.provider_id COLLATE "C"'  # `provider_rows_sql`'s, once wrapped


def provider_rows_of(rows: Sequence[asyncpg.Record]) -> list[ProviderRow]:
    """`provider_rows` from the rows of `provider_rows_sql`."""
    out: list[ProviderRow] = []
    for r in rows:
        a = {c: r[c] for c in ("provider_id", *ATTEMPT_COUNTERS)}
        sums = None if r["usage_key"] is None else {c: r[c] for c in PROVIDER_COUNTERS}
        name = r["provider_name"]
        out.append((a, sums, None if name is None else msgspec.json.decode(name)))  # JSON text, as stored
    return out


# --- hit analysis -----------------------------------------------------------------------------------------
HIT_COUNTERS = ("n_completed", "n_hit", "c_in", "c_cr", "c_cc", "c_cr_cost", "c_cc_cost")


RECORDS_EXTENT_SQL = "SELECT min(created_at), max(created_at) FROM usage_records"


async def records_plan(conn: Conn, start: datetime | None, end: datetime | None) -> Plan:
    """`[start, end]` recounted from the records alone (for a filter no aggregate dimension holds)."""
    first, last = await fetch_one(conn, RECORDS_EXTENT_SQL)
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


HEATMAP_SQL = (
    "SELECT bucket, n_all, in_tok + out_tok + cc_tok + cr_tok AS tokens, cost, actual_cost"
    " FROM usage_agg"
    " WHERE dim = $1 AND key = $2 AND grain = $3 AND bucket >= $4 AND bucket <= $5"
)


def heatmap_sql(user_id: str | None, grain: int, lo: datetime, hi: datetime) -> Statement:
    """The statement of `heatmap_rows`: the buckets of one grain a day around `[lo, hi]`, of a user or of all."""
    dim, key = ("all", "") if user_id is None else ("user", user_id)
    return Statement(HEATMAP_SQL, (dim, key, grain, lo - timedelta(days=1), hi + timedelta(days=1)))


async def heatmap_rows(conn: Conn, user_id: str | None, grain: int, lo: datetime, hi: datetime) -> list[asyncpg.Record]:
    sql, args = heatmap_sql(user_id, grain, lo, hi)
    return list(await conn.fetch(sql, *args))


# --- /api/users/me/usage summary --------------------------------------------------------------------------
# Groups whose provider is unknown/pending are dropped by the reference, so only "reached" rows count.
USER_COUNTERS = (
    "n_reached",
    "r_in",
    "r_out",
    "r_tot",
    "r_cost",
    "n_s200",
    "s200_rt_sum",
    "r_cc",
    "r_cr",
    "r_eff",
    "r_ctx",
)


def models_of(rows: dict[str, Row], user_id: str) -> dict[str, Row]:
    """model -> row, from the `user_model` rows under the prefix `<user_id> U+001F`: the user's own only.

    Neither part of a key holds U+001F (the parser refuses control characters in ids and models), so a key with a
    second one is another user's, whose id starts with `<user_id> U+001F` (a row stored before that rule).
    """
    start = len(user_id) + 1
    return {key[start:]: r for key, r in rows.items() if "\x1f" not in key[start:]}


# Today's Aether's `summary_by_api_format`: the user's finished requests that reached a provider, per API format
# (today's Aether's subset), from dim `user_api_format` (key `<user_id> U+001F <api_format>`, migration 0009).
FORMAT_COUNTERS = (
    "n_fr",
    "fr_tot_tok",
    "fr_cost",
    "fr_rt_sum",
    "fr_rt_n",
    "fr_out",
    "fr_cc",
    "fr_cr",
    "fr_eff",
    "fr_ctx",
)


def formats_of(rows: dict[str, Row], user_id: str) -> dict[str, Row]:
    """api_format -> row, from the `user_api_format` rows under the prefix `<user_id> U+001F` (as `models_of`:
    neither part of a key holds U+001F, so a key with a second one is another user's)."""
    return models_of(rows, user_id)
