"""ReadStore: every read the HTTP API makes of PostgreSQL, from the aggregates plus exact edge slices.

Records come back as rows with the entities they name (`RecordPage`, `detail_row`, `active_rows`): the HTTP
layer shapes them (http/shape/reads.py). Contract for callers:
- Parameters are already validated; `None` bounds mean unbounded; ranges are inclusive on `created_at`.
- Money (costs, quota, rate multipliers, prices) is returned as `decimal.Decimal`, exactly as summed: the
  JSON encoder must write Decimals as JSON numbers (e.g. msgspec `decimal_format="number"`). Percentages,
  averages and other derived ratios are floats, rounded as the reference rounds them.
- Timestamps are ISO 8601 strings in UTC (`+00:00`).
- Each method reads one consistent snapshot (a read-only REPEATABLE READ transaction), so a batch the worker
  commits meanwhile is either wholly in the answer or not at all.
How each endpoint is answered: docs/read-model.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from usagestream.materializer.pg_pool import Conn
from usagestream.materializer.read import cache
from usagestream.materializer.read import entities as ent
from usagestream.materializer.read import records as rec
from usagestream.materializer.read import stats as st
from usagestream.ranges import Plan
from usagestream.settings import Settings

GROUP_BY = ("model", "user", "provider", "api_format")
# The usage_agg dimension keyed by each searched record column.
COLUMN_DIM = {"model": "model", "user_id": "user", "api_key_id": "api_key", "provider_id": "provider"}
Body = dict[str, Any]


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

    async def stats(self, start: datetime | None, end: datetime | None) -> Body:
        """/stats (3.1): every request in range, whatever its status."""
        async with self._read() as conn:
            plan = await self._plan(conn, "usage_records", start, end)
            sums = await st.usage_sums(conn, plan, "all", st.STATS_COUNTERS)
        return st.stats_body(sums.get(""))

    async def aggregation(
        self, group_by: str, start: datetime | None, end: datetime | None, limit: int
    ) -> list[Body]:
        """/aggregation/stats (3.2); ties by key (provider: provider_id)."""
        if group_by not in GROUP_BY:
            raise ValueError(f"invalid group_by {group_by!r}")
        async with self._read() as conn:
            plan = await self._plan(conn, "usage_records", start, end)
            if group_by == "provider":
                attempts = await self._plan(conn, "candidate_records", start, end)
                return await st.provider_aggregation(conn, attempts, plan, limit)
            if group_by == "user":
                rows = await st.top_keys(
                    conn, plan, "user", ("n_all", "tot_tok", "cost"), "n_all", limit, True
                )
                return [st.user_item(r) for r in rows]
            counters = st.FR_COUNTERS + (("fr_rt_sum", "fr_rt_n") if group_by == "api_format" else ())
            rows = await st.top_keys(conn, plan, group_by, counters, "n_fr", limit)
        item = st.model_item if group_by == "model" else st.api_format_item
        return [item(r) for r in rows]

    async def heatmap(self, user_id: str | None, include_actual_cost: bool, now: datetime) -> Body:
        """365 local days of settings.timezone ending today; tokens include cache tokens."""
        tz = self.settings.tz
        _, _, lo, hi = st.window(now, tz)
        async with self._read() as conn:
            grain = 1 if await st.day_zone(conn, self.settings.timezone) else 0
            rows = await st.heatmap_rows(conn, user_id, grain, lo, hi)
        return st.heatmap_body(rows, tz, now, include_actual_cost)

    async def record_page(
        self,
        *,
        start: datetime | None,
        end: datetime | None,
        search: str | None,
        user_id: str | None,
        username: str | None,
        model: str | None,
        provider: str | None,
        status: str | None,
        limit: int,
        offset: int,
    ) -> rec.RecordPage:
        """/records (3.4): created_at desc, id desc; `total` counts every matching row."""
        f = rec.Filters()
        f.range(start, end)
        async with self._read() as conn:
            matches = await rec.resolve_search(conn, search, admin=True)
            f.matched(matches)
            f.admin(user_id, username, model, provider, status)
            known = None
            if username is None and provider is None and status is None:
                known = await self._count(conn, start, end, user_id, model, matches)
            total, rows = await rec.page(conn, f, limit, offset, total=known)
            ents = await rec.page_entities(conn, rows)
            flags = await rec.attempt_flags(conn, [r["id"] for r in rows])
        return rec.RecordPage(rows, ents, total, flags)

    async def _count(
        self,
        conn: Conn,
        start: datetime | None,
        end: datetime | None,
        user_id: str | None,
        model: str | None,
        matches: list[rec.Matches],
    ) -> int | None:
        """The number of records in `[start, end]` (of one user, one model, or matching one search keyword that
        matches values of a single column) from the aggregates' `n_all`: the same exact total as a count over
        the records, at the cost of a few dozen bucket rows per key. None when the aggregates cannot tell."""
        dim, keys = "all", [""]
        if matches:
            if user_id is not None or model is not None or len(matches) > 1:
                return None
            columns = matches[0].columns()
            if not columns:
                return 0
            if len(columns) > 1:
                return None  # rows matching two columns would be counted twice
            dim, keys = COLUMN_DIM[columns[0]], matches[0].values[columns[0]]
        elif user_id is not None and model is not None:
            return None  # user_model keys join the two with chr(31), which a user id could contain: count rows
        elif user_id is not None:
            dim, keys = "user", [user_id]
        elif model is not None:
            dim, keys = "model", [model]
        plan = await self._plan(conn, "usage_records", start, end, records_only=True)  # records that exist
        rows = await st.usage_sums(conn, plan, dim, ("n_all",), keys=keys)
        return sum(int(r["n_all"]) for r in rows.values())

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

    async def ttl_analysis(
        self, user_id: str | None, api_key_id: str | None, hours: int, now: datetime
    ) -> Body:
        async with self._read() as conn:
            return await cache.ttl_analysis(conn, user_id, api_key_id, hours, now)

    async def hit_analysis(
        self, user_id: str | None, api_key_id: str | None, hours: int, now: datetime
    ) -> Body:
        """Completed requests with created_at >= now - hours (no upper bound), filtered by the ids given."""
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
                return st.hit_body(hours, sums.get(user_id))
            dim, key = ("user", user_id) if user_id is not None else ("api_key", api_key_id)
            if key is None:
                dim, key = "all", ""
            plan = await self._plan(conn, "usage_records", since, None)
            sums = await st.usage_sums(conn, plan, dim, st.HIT_COUNTERS, keys=[key])
        return st.hit_body(hours, sums.get(key))

    async def interval_timeline(
        self, hours: int, limit: int, user_id: str | None, include_user_info: bool, now: datetime
    ) -> Body:
        async with self._read() as conn:
            return await cache.interval_timeline(conn, hours, limit, user_id, include_user_info, now)

    async def user_page(
        self,
        user_id: str,
        start: datetime | None,
        end: datetime | None,
        search: str | None,
        limit: int,
        offset: int,
    ) -> tuple[Body, rec.RecordPage]:
        """/api/users/me/usage (3.10): the summary and pagination, and the page of records (non-admin)."""
        f = rec.Filters()
        f.add("user_id = {}", user_id)
        f.range(start, end)
        async with self._read() as conn:
            f.matched(await rec.resolve_search(conn, search, admin=False))
            plan = await self._plan(conn, "usage_records", start, end)
            totals = await st.usage_sums(conn, plan, "user", st.USER_COUNTERS, keys=[user_id])
            by_model = await st.usage_sums(
                conn, plan, "user_model", st.USER_COUNTERS, key_prefix=user_id + "\x1f"
            )
            by_model = st.models_of(by_model, user_id)  # never another user's, also in rows of older data
            user = await ent.user_by_id(conn, user_id)
            total, rows = await rec.page(conn, f, limit, offset)
            ents = await rec.page_entities(conn, rows)
        body = st.user_summary(totals.get(user_id), by_model, user)
        body["pagination"] = {
            "total": total,
            "limit": limit,
            "offset": offset,
            "has_more": offset + limit < total,
        }
        return body, rec.RecordPage(rows, ents, total)

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
