"""ReadStore: every read the HTTP API makes of PostgreSQL, from the aggregates plus exact edge slices.

Every answer comes back as rows, sums and the entities they name (`RecordPage`, `detail_row`, `active_rows`,
`stats_sums`, `aggregation_rows`, `ttl_rows`, ...): the HTTP layer shapes them into the JSON bodies
(http/shape/reads.py). Contract for callers:
- Parameters are already validated; `None` bounds mean unbounded; ranges are inclusive on `created_at`.
- Money (costs, quota, rate multipliers, prices) is returned as `decimal.Decimal` (or None where nothing was
  summed), exactly as summed; percentages, averages and rounding are the shaper's.
- Each method reads one consistent snapshot (a read-only REPEATABLE READ transaction), so a batch the worker
  commits meanwhile is either wholly in the answer or not at all.
How each endpoint is answered: docs/read-model.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
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
from usagestream.materializer.read.sql import Statement
from usagestream.ranges import Plan
from usagestream.settings import Settings
from usagestream.stats import GRAIN_DAY

GROUP_BY = ("model", "user", "provider", "api_format")
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


def _named(zone: tzinfo, name: str) -> bool:
    return isinstance(zone, ZoneInfo) and zone.key == name


class ReadStore:
    """Read-only queries over the materialized views. One instance per API process."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings

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
        async with self._read() as conn:
            plan = await self._plan(conn, "usage_records", start, end)
            if group_by == "provider":
                attempts = await self._plan(conn, "candidate_records", start, end)
                return await st.provider_rows(conn, attempts, plan, limit)
            if group_by == "user":
                return await st.top_keys(conn, plan, "user", ("n_all", "tot_tok", "cost"), "n_all", limit, True)
            counters = st.FR_COUNTERS + (("fr_rt_sum", "fr_rt_n") if group_by == "api_format" else ())
            return await st.top_keys(conn, plan, group_by, counters, "n_fr", limit)

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
        dim, keys = "all", [""]
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
            dim, keys = COLUMN_DIM[columns[0]], matches[0].values[columns[0]]
        elif len(narrowed) > 1:
            return None  # no dimension holds two (user_model keys join them with chr(31), which an id may hold)
        elif narrowed:
            dim, keys = narrowed[0][0], [narrowed[0][1]]
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
