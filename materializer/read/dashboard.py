"""The dashboard's reads (`/api/dashboard/stats`, `/api/dashboard/daily-stats`): a scope's totals over a few
ranges, and per local day its totals, models and providers, all from the aggregates plus exact edge recounts.

Each range (a local day of any zone, a month, the last minute) is planned like the /stats range
(`usagestream.ranges`: stored buckets plus recounted edges), so nothing is a GROUP BY over every record and every
number is exact. The days of one answer share one extent read and come back in one statement per dimension.
How it is answered and where it differs from Aether: docs/read-model.md "Dashboard", docs/reference-api.md §11.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from usagestream.materializer.pg_counters import DIM_KEY_SQL, USAGE_COUNTER_SQL
from usagestream.materializer.pg_pool import Conn, fetch_one
from usagestream.materializer.read import entities as ent
from usagestream.materializer.read.cutoff import widen_before_cutoff
from usagestream.materializer.read.sql import Args, Statement, cast_sum
from usagestream.materializer.read.stats import extent_sql, usage_sums
from usagestream.ranges import EMPTY, Plan, clamp, decompose

Row = dict[str, Any]
Span = tuple[datetime, datetime]  # inclusive UTC bounds
# The /stats counters plus input and output tokens: every number of the home page's cards and panels.
STATS_COUNTERS = (
    "n_all",
    "n_error",
    "in_tok",
    "out_tok",
    "cc_tok",
    "cr_tok",
    "cost",
    "actual_cost",
    "cc_cost",
    "cr_cost",
    "rt_sum",
    "rt_n",
)
MINUTE_COUNTERS = ("n_all", "in_tok", "out_tok", "cc_tok", "cr_tok")  # the "RPM / TPM" card
DAY_COUNTERS = ("n_all", "in_tok", "out_tok", "cc_tok", "cr_tok", "cost", "rt_sum", "rt_n")
RATE_WINDOW = timedelta(seconds=60)  # Aether's "RPM / TPM" card: the last minute
ONLINE_WINDOW = timedelta(minutes=5)  # Aether's "online users": users with a request in the last 5 minutes
USERS_SQL = (
    "SELECT count(*) AS total, count(*) FILTER (WHERE (e.data ->> 'is_active')::boolean) AS active"
    " FROM entities e WHERE e.entity = 'user' AND NOT e.deleted AND e.data IS NOT NULL"
    " AND NOT COALESCE((e.data ->> 'is_deleted')::boolean, false)"
)
KEYS_SQL = "SELECT count(*) FROM entities e WHERE e.entity = 'api_key' AND NOT e.deleted AND e.data IS NOT NULL"
USER_KEYS_SQL = KEYS_SQL + " AND e.data ->> 'user_id' = $1"  # a user's own live keys


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose requests: `user_id` None = everyone (an admin's dashboard), else that user's only."""

    user_id: str | None

    def total(self) -> tuple[str, str]:
        """The aggregate dimension and key holding the scope's totals."""
        return ("all", "") if self.user_id is None else ("user", self.user_id)


@dataclass(frozen=True, slots=True)
class StatsSums:
    """What /api/dashboard/stats is made of. `period` and `today` are `STATS_COUNTERS` (zeros over nothing);
    the admin's extras are None for a user; `user` is the caller's entity (quota) for a user, else None."""

    period: Row
    today: Row
    keys: int
    minute: Row | None = None
    online: int | None = None
    users: tuple[int, int] | None = None  # (live users, active users)
    user: Row | None = None


@dataclass(frozen=True, slots=True)
class DailySums:
    """Per day index of the request: the scope's `DAY_COUNTERS`, per model and (admin) per provider id; the
    providers' names by id (the live entities)."""

    totals: dict[int, Row]
    models: dict[int, dict[str, Row]]
    providers: dict[int, dict[str, Row]]
    provider_names: dict[str, str]


async def plans(conn: Conn, spans: Sequence[Span], tz_name: str) -> list[Plan]:
    """The plan of each span over usage_records, from one read of the extent (as `stats.plan_for` plans one)."""
    stored, cut, first, last = await fetch_one(conn, extent_sql("usage_records"))
    zone = ZoneInfo(tz_name) if stored in (None, tz_name) else None  # days built in another zone: unusable
    out = []
    for lo, hi in spans:
        edges: tuple[datetime | None, ...] = (lo, hi, first, last)
        if cut is not None:  # before it only the roll-ups remain (docs/read-model.md "Retention")
            edges = await widen_before_cutoff(conn, "usage_records", lo, hi, first, last, datetime.fromisoformat(cut))
        bounds = clamp(*edges)
        out.append(EMPTY if bounds is None else decompose(bounds[0], bounds[1], zone, edges[3]))
    return out


async def scope_sums(conn: Conn, plan: Plan, scope: Scope, counters: Sequence[str]) -> Row:
    """The scope's counters over one plan; zeros when nothing is in it."""
    dim, key = scope.total()
    found = (await usage_sums(conn, plan, dim, counters, keys=[key])).get(key)
    return found if found is not None else dict.fromkeys(counters, 0)


async def stats(pool: asyncpg.Pool, scope: Scope, period: Span, today: Span, now: datetime, tz_name: str) -> StatsSums:
    """The sums of /api/dashboard/stats over one REPEATABLE READ snapshot."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        windows = [(now - RATE_WINDOW, now), (now - ONLINE_WINDOW, now)]
        p_period, p_today, p_minute, p_online = await plans(conn, [period, today, *windows], tz_name)
        period_sums = await scope_sums(conn, p_period, scope, STATS_COUNTERS)
        today_sums = await scope_sums(conn, p_today, scope, STATS_COUNTERS)
        if scope.user_id is not None:
            keys = await conn.fetchval(USER_KEYS_SQL, scope.user_id)
            user = await ent.user_by_id(conn, scope.user_id)
            return StatsSums(period_sums, today_sums, keys, user=user)
        minute = await scope_sums(conn, p_minute, scope, MINUTE_COUNTERS)
        online = await usage_sums(conn, p_online, "user", ("n_all",))
        n_users, n_active = await fetch_one(conn, USERS_SQL)
        keys = await conn.fetchval(KEYS_SQL)
    n_online = sum(1 for r in online.values() if r["n_all"] > 0)
    return StatsSums(period_sums, today_sums, keys, minute, n_online, (n_users, n_active))


def _day_sources(day_plans: Sequence[Plan], args: Args) -> str:
    """Every day's plan as two row sources tagged with the day's index: `p(i, grain, lo, hi, w)`, the weighted
    runs of buckets, and `e(i, lo, hi)`, the half-open spans recounted from the records."""
    pieces = [(i, *piece) for i, plan in enumerate(day_plans) for piece in plan.pieces]
    edges = [(i, span.lo, span.hi) for i, plan in enumerate(day_plans) for span in plan.edges]
    columns = [args.add([row[n] for row in pieces]) for n in range(5)]
    runs = "unnest({}::int4[], {}::int2[], {}::timestamptz[], {}::timestamptz[], {}::int4[])".format(*columns)
    spans = "unnest({}::int4[], {}::timestamptz[], {}::timestamptz[])".format(
        *[args.add([row[n] for row in edges]) for n in range(3)]
    )
    return f"p AS (SELECT * FROM {runs} AS x(i, grain, lo, hi, w)), e AS (SELECT * FROM {spans} AS x(i, lo, hi))"


def _edge_span(day_plans: Sequence[Plan], args: Args) -> str:
    """The records' `created_at` bounds of every edge, as parameters: PostgreSQL cannot prune the monthly
    partitions by the edges' row source `e`, only by values it plans with (the time series does the same,
    read.timeseries._span); FALSE without an edge."""
    edges = [span for plan in day_plans for span in plan.edges]
    if not edges:
        return "FALSE"
    lo, hi = min(e.lo for e in edges), max(e.hi for e in edges)
    return f"u.created_at >= {args.add(lo)} AND u.created_at < {args.add(hi)}"


def per_day_sql(
    day_plans: Sequence[Plan], dim: str, counters: Sequence[str], *, key: str | None = None, prefix: str | None = None
) -> Statement:
    """Counters per (day index, key of `dim`) over each day's plan, in one statement however many days: of one
    key, of the keys starting with `prefix`, or of every key. Each run is one index range scan of `usage_agg`
    (LATERAL, `OFFSET 0`: see `sql.runs_sql`); each edge a range scan of the records."""
    args = Args()
    record_key = DIM_KEY_SQL[dim]  # also checks that `dim` is one of ours before it is inlined
    key_where = record_where = "TRUE"
    if key is not None:
        ph = args.add(key)
        key_where, record_where = f"a.key = {ph}", f"{record_key} = {ph}"
    elif prefix is not None:
        ph = args.add(prefix)
        key_where, record_where = f"starts_with(a.key, {ph})", f"starts_with({record_key}, {ph})"
    weighted = ", ".join(f"a.{c} * p.w AS {c}" for c in counters)
    exprs = ", ".join(f"{USAGE_COUNTER_SQL[c]} AS {c}" for c in counters)
    sums = ", ".join(f"{cast_sum(c)} AS {c}" for c in counters)
    stored = (
        f"SELECT p.i, a.key, {weighted} FROM p CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.dim = '{dim}'"
        f" AND a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND {key_where} OFFSET 0) a"
    )
    recounted = (
        f"SELECT e.i, {record_key} AS key, {exprs} FROM e JOIN usage_records u ON u.created_at >= e.lo"
        f" AND u.created_at < e.hi WHERE {record_key} IS NOT NULL AND {record_where}"
        f" AND {_edge_span(day_plans, args)} GROUP BY 1, 2"
    )
    return args.statement(
        f'WITH {_day_sources(day_plans, args)} SELECT i, key COLLATE "C" AS key, {sums}'
        f" FROM ({stored} UNION ALL {recounted}) d GROUP BY 1, 2"
    )


async def per_day(
    conn: Conn, day_plans: Sequence[Plan], dim: str, *, key: str | None = None, prefix: str | None = None
) -> dict[int, dict[str, Row]]:
    """day index -> key -> `DAY_COUNTERS`, only where the key has requests that day."""
    if all(p.empty for p in day_plans):
        return {}
    sql, args = per_day_sql(day_plans, dim, DAY_COUNTERS, key=key, prefix=prefix)
    out: dict[int, dict[str, Row]] = {}
    for r in await conn.fetch(sql, *args):
        if r["n_all"] > 0:
            out.setdefault(r["i"], {})[r["key"]] = dict(r)
    return out


def own_models(rows: dict[int, dict[str, Row]], user_id: str) -> dict[int, dict[str, Row]]:
    """The `user_model` rows (key `<user_id> U+001F <model>`) by model, the user's own only: a key with a
    second U+001F after the prefix is another user's whose id starts with `<user_id> U+001F` (stats.models_of)."""
    start = len(user_id) + 1
    return {i: {k[start:]: r for k, r in day.items() if "\x1f" not in k[start:]} for i, day in rows.items()}


async def daily(pool: asyncpg.Pool, scope: Scope, days: Sequence[Span], tz_name: str) -> DailySums:
    """The sums of /api/dashboard/daily-stats over one REPEATABLE READ snapshot; providers for everyone only."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        day_plans = await plans(conn, days, tz_name)
        dim, key = scope.total()
        totals = {i: rows[key] for i, rows in (await per_day(conn, day_plans, dim, key=key)).items()}
        if scope.user_id is not None:
            mine = await per_day(conn, day_plans, "user_model", prefix=scope.user_id + "\x1f")
            return DailySums(totals, own_models(mine, scope.user_id), {}, {})
        models = await per_day(conn, day_plans, "model")
        providers = await per_day(conn, day_plans, "provider")
        ids = {p for day in providers.values() for p in day}
        found = (await ent.entity_maps(conn, {"provider": ids}))["provider"]
    names = {pid: data["name"] for pid, data in found.items() if isinstance(data.get("name"), str)}
    return DailySums(totals, models, providers, names)
