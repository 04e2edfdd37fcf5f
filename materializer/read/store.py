"""ReadStore: every read the HTTP API makes of PostgreSQL, from the aggregates plus exact edge slices.

Every answer comes back as rows, sums and the entities they name (`RecordPage`, `detail_row`, `active_rows`,
`stats_sums`, `aggregation_rows`, `ttl_rows`, ...): the HTTP layer shapes them into the JSON bodies
(http/shape/reads.py). Contract for callers:
- Parameters are already validated; `None` bounds mean unbounded; ranges are inclusive on `created_at`.
- Money (costs, quota, rate multipliers, prices) is returned as `decimal.Decimal` (or None where nothing was
  summed), exactly as summed; percentages, averages and rounding are the shaper's.
- Each method reads one consistent snapshot (a read-only REPEATABLE READ transaction, or one guarded statement,
  or two that read the same snapshot: `_planned`, `_page_counted`), so a batch the worker commits meanwhile is
  either wholly in the answer or not at all.
How each endpoint is answered: docs/read-model.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, tzinfo
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import asyncpg

from usagestream.materializer.pg_pool import Conn
from usagestream.materializer.read import cache, heatmap, stats_filters
from usagestream.materializer.read import entities as ent
from usagestream.materializer.read import records as rec
from usagestream.materializer.read import stats as st
from usagestream.materializer.read.extent import Extent, guarded, read_extent
from usagestream.materializer.read.sql import GUARD_COLUMNS, Statement
from usagestream.ranges import Plan
from usagestream.settings import Settings
from usagestream.stats import GRAIN_DAY

GROUP_BY = ("model", "user", "provider", "api_format")
# Each group_by but provider: the counters summed per key, the one ordering the keys, whether only users are kept.
TOP: dict[str, tuple[tuple[str, ...], str, bool]] = {
    "user": (("n_all", "tot_tok", "cost"), "n_all", True),
    "model": (st.FR_COUNTERS, "n_fr", False),
    "api_format": (st.FR_COUNTERS + ("fr_rt_sum", "fr_rt_n"), "n_fr", False),
}
# How many times a guarded statement is tried (`ReadStore._planned`) before the question is read in a transaction.
GUARD_ATTEMPTS = 3
# The usage_agg dimension keyed by each searched record column.
COLUMN_DIM = {"model": "model", "user_id": "user", "api_key_id": "api_key", "provider_id": "provider"}
Body = dict[str, Any]
Row = dict[str, Any]


class UserTotals(NamedTuple):
    """What the /api/users/me/usage summary is made of: the user's sums, per model (`st.models_of`), the user."""

    totals: Row | None
    by_model: dict[str, Row]
    user: Body | None
    by_format: dict[str, Row]


def _count_target(q: rec.RecordQuery, matches: list[rec.Matches]) -> tuple[str, list[str]] | int | None:
    """The dimension and keys whose `n_all` counts the records of `q` (`ReadStore._count`); 0 when none can
    match, None when the aggregates cannot tell."""
    narrowed = [
        (d, v) for d, v in (("user", q.user_id), ("model", q.model), ("api_format", q.api_format)) if v is not None
    ]
    if matches:
        if narrowed or len(matches) > 1:
            return None
        columns = matches[0].columns()
        if not columns:
            return 0
        if len(columns) > 1:
            return None  # rows matching two columns would be counted twice
        return COLUMN_DIM[columns[0]], matches[0].values[columns[0]]
    if len(narrowed) > 1:
        return None  # no dimension holds two (user_model keys join them with chr(31), which an id may hold)
    return (narrowed[0][0], [narrowed[0][1]]) if narrowed else ("all", [""])


def _row(r: asyncpg.Record) -> Row:
    """A row of a guarded statement (`sql.guarded_sql`) without the guard's columns."""
    return {k: v for k, v in r.items() if k not in GUARD_COLUMNS}


def _named(zone: tzinfo, name: str) -> bool:
    return isinstance(zone, ZoneInfo) and zone.key == name


class ReadStore:
    """Read-only queries over the materialized views. One instance per API process."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, planned: asyncpg.Pool | None = None) -> None:
        """`planned`: the pool the guarded range questions (`_planned`) run on, whose sessions plan each statement
        once (pg_pool.create_pool `generic_plans`): planning them per call cost more than running them
        (docs/read-model.md "Planned once per connection"). None: `pool`."""
        self.pool = pool
        self.planned = planned or pool
        self.settings = settings
        self.extents: dict[str, Extent] = {}  # the last extent read of each record table, bounded (`_planned`)
        self.standby = False  # seen reading a standby, where two statements' snapshots cannot be compared

    async def _planned(
        self, conn: Conn, tables: Sequence[str], build: Callable[[list[Extent]], Statement], order: str = ""
    ) -> list[asyncpg.Record] | None:
        """The rows of `build(extents)` (a statement planned from the extents of `tables`) in one statement, with
        the plans' guard (read/extent.py), so the extents come from earlier reads: one round trip when they still
        hold. A guard that fails reads the extents again; None (read it in a transaction instead) when the guard
        keeps failing (the worker moving the data's ends each time)."""
        for _ in range(GUARD_ATTEMPTS):
            known = [self.extents.get(t) or (await read_extent(conn, t)).bounded() for t in tables]
            self.extents.update((e.table, e) for e in known)
            sql, args = guarded(build(known), known, order)
            rows = await conn.fetch(sql, *args)
            if rows and rows[0]["plan_ok"]:  # a guarded statement always answers a row
                return rows
            self.extents.clear()
        return None

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[Conn]:
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield conn

    async def _plan(
        self,
        conn: Conn,
        table: str,
        start: datetime | None,
        end: datetime | None,
        records_only: bool = False,
    ) -> Plan:
        return await st.plan_for(conn, table, start, end, self.settings.timezone, records_only)

    async def stats_sums(
        self,
        start: datetime | None,
        end: datetime | None,
        *,
        user_id: str | None = None,
        model: str | None = None,
        provider: str | None = None,
    ) -> Row | None:
        """/stats (3.1): `st.STATS_COUNTERS` over every request in range, whatever its status (None: none); only
        that user's, model's, or current provider name's when given (`stats_filters`)."""
        if user_id is None and model is None and provider is None:
            async with self.planned.acquire() as conn:
                got = await self._planned(
                    conn,
                    ["usage_records"],
                    lambda e: st.usage_sums_sql(
                        e[0].plan(start, end, self.settings.timezone), "all", st.STATS_COUNTERS
                    ),
                )
            if got is not None:
                return next((_row(r) for r in got if r["found"]), None)
        async with self._read() as conn:
            given = {c: [v] for c, v in (("user_id", user_id), ("model", model)) if v is not None}
            if provider is not None:
                given["provider_id"] = await stats_filters.provider_ids(conn, provider)
            if given:
                return await stats_filters.filtered_sums(conn, start, end, self.settings.timezone, given)
            plan = await self._plan(conn, "usage_records", start, end)
            sums = await st.usage_sums(conn, plan, "all", st.STATS_COUNTERS)
        return sums.get("")

    async def aggregation_rows(
        self, group_by: str, start: datetime | None, end: datetime | None, limit: int
    ) -> list[Row] | list[st.ProviderRow]:
        """/aggregation/stats (3.2): the top keys' sums, ties by key; for "provider", `st.provider_rows`."""
        if group_by not in GROUP_BY:
            raise ValueError(f"invalid group_by {group_by!r}")
        async with self.planned.acquire() as conn:
            got = await self._aggregation_at_once(conn, group_by, start, end, limit)
        if got is not None:
            return got
        async with self._read() as conn:
            plan = await self._plan(conn, "usage_records", start, end)
            if group_by == "provider":
                attempts = await self._plan(conn, "candidate_records", start, end)
                return await st.provider_rows(conn, attempts, plan, limit)
            counters, order, users = TOP[group_by]
            return await st.top_keys(conn, plan, group_by, counters, order, limit, users)

    async def _aggregation_at_once(
        self, conn: Conn, group_by: str, start: datetime | None, end: datetime | None, limit: int
    ) -> list[Row] | list[st.ProviderRow] | None:
        """`aggregation_rows` in one guarded statement (`_planned`); None: read it in a transaction."""
        tz = self.settings.timezone
        if group_by == "provider":
            got = await self._planned(
                conn,
                ["candidate_records", "usage_records"],
                lambda e: st.provider_rows_sql(e[0].plan(start, end, tz), e[1].plan(start, end, tz), limit),
                st.PROVIDER_ORDER,
            )
            return None if got is None else st.provider_rows_of([r for r in got if r["found"]])
        counters, order, users = TOP[group_by]
        got = await self._planned(
            conn,
            ["usage_records"],
            lambda e: st.top_keys_sql(e[0].plan(start, end, tz), group_by, counters, order, limit, users),
            st.top_order(order),
        )
        return None if got is None else [_row(r) for r in got if r["found"]]

    async def heatmap_rows(self, user_id: str | None, now: datetime, zone: tzinfo | None = None) -> list[Row]:
        """Bucket rows whose sums by the local date of `bucket` are the 365 days of `zone` (default
        settings.timezone) ending today (`st.window`); tokens include cache tokens. The day buckets when they
        are that zone's days, else finer buckets and recounts (materializer/read/heatmap.py)."""
        zone = zone or self.settings.tz
        _, today, lo, hi = st.window(now, zone)
        async with self._read() as conn:
            if _named(zone, self.settings.timezone) and await st.day_zone(conn, self.settings.timezone):
                return [dict(r) for r in await st.heatmap_rows(conn, user_id, GRAIN_DAY, lo, hi)]
            return await heatmap.zone_rows(conn, user_id, today, zone)

    async def record_page(self, q: rec.RecordQuery, limit: int, offset: int, total: str = rec.EXACT) -> rec.RecordPage:
        """/records (3.4): the page newest first (created_at desc, id desc), and its total by `total`:
        EXACT counts every matching row; ONLY counts them and reads no row (Aether's total_only); ESTIMATE
        counts nothing: offset + the rows read, + 1 when the page is full (Aether's include_total=false)."""
        if total == rec.EXACT and not q.search:
            found = await self._page_at_once(q, limit, offset)
            if found is not None:
                return found
        async with self._read() as conn:
            f = await rec.where(conn, q)
            page = rec.page_sql(f, limit, offset)
            if total == rec.ESTIMATE:
                got = await rec.full_page(conn, page)
                n = offset + len(got.rows) + (1 if len(got.rows) == limit else 0)
                return rec.RecordPage(got.rows, got.entities, n, got.flags, estimated=True)
            if total == rec.ONLY:
                count = await self._total(conn, q, f)
                n = count if isinstance(count, int) else int(await conn.fetchval(count.text, *count.args))
                return rec.RecordPage([], rec.no_entities(), n)
            count = await self._total(conn, q, f, page.args)
            if isinstance(count, int):  # known to be 0 without reading
                return rec.RecordPage([], rec.no_entities(), count)
            got = await rec.full_page(conn, page, count)
        return rec.RecordPage(got.rows, got.entities, got.total or 0, got.flags)

    async def _page_at_once(self, q: rec.RecordQuery, limit: int, offset: int) -> rec.RecordPage | None:
        """`record_page` with an exact total and no search, without a transaction: the page, its names, its total
        and its flags in one guarded statement when the aggregates give the total (`_planned`); else
        `_page_counted`. None: read it in a transaction."""
        f = rec.filters(q, [])
        page = rec.page_sql(f, limit, offset)
        target = _count_target(q, []) if q.by_aggregates() else None
        if not isinstance(target, tuple):
            return None if self.standby else await self._page_counted(f, page)
        dim, keys = target

        def build(e: list[Extent]) -> Statement:
            plan = e[0].plan(q.start, q.end, self.settings.timezone, records_only=True)
            if plan.empty:
                return rec.full_page_sql(page, Statement("SELECT 0::bigint", page.args), flags=True)
            sums = st.usage_sums_sql(plan, dim, ("n_all",), keys=keys, extra_args=page.args)
            return rec.full_page_sql(page, rec.aggregate_total_sql(sums), flags=True)

        async with self.planned.acquire() as conn:
            got = await self._planned(conn, ["usage_records"], build, rec.PAGE_ORDER)
        if got is None:
            return None
        total, rows, ents = rec.page_of(got, True)
        return rec.RecordPage(rows, ents, total or 0, rec.flags_of(rows))

    async def _page_counted(self, f: rec.Filters, page: Statement) -> rec.RecordPage | None:
        """A page whose total is counted over the records (filters the aggregates cannot count): the page, its
        names and total in one statement, planned for its filters' values, then the flags, which must read the same
        snapshot (`rec.same_snapshot`): the flags inside it cost more planning than their round trip. None: read
        it in a transaction."""
        sql, args = guarded(rec.full_page_sql(page, rec.exact_total_sql(f, page.args)), [], rec.PAGE_ORDER)
        async with self.pool.acquire() as conn:
            got = await conn.fetch(sql, *args)  # no plan: no guard (TRUE), for the snapshot
            total, rows, ents = rec.page_of(got, True)
            if not rows:
                return rec.RecordPage([], ents, total or 0)
            if got[0]["snap"] is None:  # a standby: its flags cannot be shown to share the page's snapshot
                self.standby = True
                return None
            flags, snap = await rec.attempt_flags_at(conn, [r["id"] for r in rows])
        return rec.RecordPage(rows, ents, total or 0, flags) if rec.same_snapshot(snap, got[0]["snap"]) else None

    async def _total(
        self, conn: Conn, q: rec.RecordQuery, f: rec.Filters, page: Sequence[Any] | None = None
    ) -> int | Statement:
        """How many records `f` selects: from the aggregates when they can tell (`_count`), else counted over the
        records; 0 when known without reading, else a statement to run alone (`page` None) or inside the page's
        (its arguments then start with `page`, the page's, which it may leave unreferenced)."""
        counted = await self._count(conn, q, f.matches, page or ()) if q.by_aggregates() else None
        return rec.exact_total_sql(f, f.args.values if page is None else page) if counted is None else counted

    async def _count(
        self, conn: Conn, q: rec.RecordQuery, matches: list[rec.Matches], args: Sequence[Any]
    ) -> int | Statement | None:
        """The number of records in the range (of one user, one model, one API format, or matching one search
        keyword that matches values of a single column) from the aggregates' `n_all`: the same exact total as a
        count over the records, at the cost of a few dozen bucket rows per key. A statement (its arguments
        start with `args`), 0 when known without one, None when the aggregates cannot tell."""
        target = _count_target(q, matches)
        if not isinstance(target, tuple):
            return target
        dim, keys = target
        plan = await self._plan(conn, "usage_records", q.start, q.end, records_only=True)  # records that exist
        if plan.empty:
            return 0
        return rec.aggregate_total_sql(st.usage_sums_sql(plan, dim, ("n_all",), keys=keys, extra_args=args))

    async def detail_row(self, usage_id: str) -> tuple[asyncpg.Record, ent.Entities] | None:
        """/{usage_id} (3.6): by id, then by request_id (the newest if several), with the entities it names;
        None if neither matches."""
        async with self._read() as conn:
            row = await rec.detail_row(conn, usage_id)
            if row is None:
                return None
            ents = await rec.detail_entities(conn, row)
        return row, ents

    async def active_rows(self, ids: list[str], user_id: str | None) -> tuple[list[asyncpg.Record], dict[str, str]]:
        """The /active columns of these ids (any status), only `user_id`'s if given, and their upstream key names."""
        if not ids:
            return [], {}
        async with self._read() as conn:
            rows = await rec.active_rows(conn, ids, user_id, ", ".join(rec.ACTIVE_COLUMNS))
            names = await ent.provider_key_names(conn, [r["provider_api_key_id"] for r in rows])
        return rows, names

    async def ttl_rows(
        self, user_id: str | None, api_key_id: str | None, hours: int, now: datetime
    ) -> tuple[list[asyncpg.Record], dict[str, Body]]:
        """The TTL analysis's groups of the last `hours` and the users they name (`cache.ttl_rows`)."""
        async with self._read() as conn:
            return await cache.ttl_rows(conn, user_id, api_key_id, now - timedelta(hours=hours))

    async def hit_sums(self, user_id: str | None, api_key_id: str | None, hours: int, now: datetime) -> Row | None:
        """`st.HIT_COUNTERS` over the completed requests with created_at >= now - hours (no upper bound),
        filtered by the ids given (None: none)."""
        since = now - timedelta(hours=hours)
        async with self._read() as conn:
            if user_id is not None and api_key_id is not None:
                plan = await st.records_plan(conn, since, None)
                sums = await st.usage_sums(
                    conn,
                    plan,
                    "user",
                    st.HIT_COUNTERS,
                    keys=[user_id],
                    extra_where="api_key_id = $1",
                    extra_args=[api_key_id],
                )
                return sums.get(user_id)
            dim, key = ("user", user_id) if user_id is not None else ("api_key", api_key_id)
            if key is None:
                dim, key = "all", ""
            plan = await self._plan(conn, "usage_records", since, None)
            sums = await st.usage_sums(conn, plan, dim, st.HIT_COUNTERS, keys=[key])
        return sums.get(key)

    async def timeline_rows(
        self, hours: int, limit: int, user_id: str | None, multi: bool, now: datetime
    ) -> tuple[list[asyncpg.Record], dict[str, Body]]:
        """The interval timeline's points of the last `hours` and, if `multi`, the users they name."""
        async with self._read() as conn:
            return await cache.timeline_rows(conn, now - timedelta(hours=hours), limit, user_id, multi)

    async def user_page(
        self,
        user_id: str,
        start: datetime | None,
        end: datetime | None,
        search: str | None,
        limit: int,
        offset: int,
    ) -> tuple[UserTotals, rec.RecordPage]:
        """/api/users/me/usage (3.10): what the summary is made of, and the page of records (non-admin)."""
        async with self._read() as conn:
            f = await rec.where(conn, rec.RecordQuery(start, end, search, owner=user_id))
            plan = await self._plan(conn, "usage_records", start, end)
            totals = await st.usage_sums(conn, plan, "user", st.USER_COUNTERS, keys=[user_id])
            by_model = await st.usage_sums(conn, plan, "user_model", st.USER_COUNTERS, key_prefix=user_id + "\x1f")
            by_model = st.models_of(by_model, user_id)  # never another user's, also in rows of older data
            by_format = await st.usage_sums(
                conn, plan, "user_api_format", st.FORMAT_COUNTERS, key_prefix=user_id + "\x1f"
            )
            by_format = st.formats_of(by_format, user_id)
            user = await ent.user_by_id(conn, user_id)
            page = rec.page_sql(f, limit, offset)
            got = await rec.full_page(conn, page, rec.exact_total_sql(f, page.args))  # flags: today's has_fallback
        summary = UserTotals(totals.get(user_id), by_model, user, by_format)
        return summary, rec.RecordPage(got.rows, got.entities, got.total or 0, got.flags)

    # One statement each: consistent on its own, so no transaction (BEGIN and COMMIT would be two more round
    # trips on every authenticated request).
    async def user_by_id(self, user_id: str) -> Body | None:
        async with self.pool.acquire() as conn:
            return await ent.user_by_id(conn, user_id)

    async def management_token(self, token_sha256: str) -> Body | None:
        async with self.pool.acquire() as conn:
            return await ent.management_token(conn, token_sha256)

    async def credentials(self, user_ids: list[str], token_sha256s: list[str]) -> ent.Credentials:
        async with self.pool.acquire() as conn:
            return await ent.credentials(conn, user_ids, token_sha256s)

    async def provider_key_names(self, ids: list[str]) -> dict[str, str]:
        async with self.pool.acquire() as conn:
            return await ent.provider_key_names(conn, ids)

    async def attempt_flags(self, ids: list[str]) -> dict[str, dict[str, bool]]:
        """has_fallback / has_retry / has_rectified of the requests with executed attempts among these ids."""
        async with self.pool.acquire() as conn:
            return await rec.attempt_flags(conn, ids)
