"""Record queries: the /records page and its filters, the user's records, detail, and rows for /active.

Filters on names (username, key name, provider name) are resolved against the small `entities` table in
sub-selects; the records are then filtered by id or by model ILIKE (trigram index), newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from usagestream.materializer.pg_reads_entities import Entities, entity_maps, entity_subquery
from usagestream.materializer.pg_reads_sql import ERROR, Args, contains_pattern, search_patterns

# Columns of a /records page (no bodies or headers).
PAGE_COLUMNS = (
    "id, request_id, user_id, api_key_id, provider_name, provider_id, provider_endpoint_id,"
    " provider_api_key_id, model, target_model, api_format, endpoint_api_format, has_format_conversion,"
    " is_stream, status, status_code,"
    " error_message, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens,"
    " total_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, input_price_per_1m,"
    " output_price_per_1m, cache_creation_price_per_1m, cache_read_price_per_1m, response_time_ms,"
    " first_byte_time_ms, created_at, request_metadata"
)

STATUS_FILTERS = {
    "stream": "is_stream",
    "standard": "NOT is_stream",
    "error": ERROR,
    "pending": "status = 'pending'",
    "streaming": "status = 'streaming'",
    "completed": "status = 'completed'",
    "cancelled": "status = 'cancelled'",
    "failed": f"(status = 'failed' OR {ERROR})",
    "active": "status IN ('pending', 'streaming')",
}


class Filters:
    """The WHERE clause of a records query, built condition by condition."""

    def __init__(self) -> None:
        self.args = Args()
        self.where: list[str] = []

    def add(self, sql: str, *values: Any) -> None:
        self.where.append(sql.format(*(self.args.add(v) for v in values)))

    def sql(self) -> str:
        return " AND ".join(self.where) or "TRUE"

    def range(self, start: datetime | None, end: datetime | None) -> None:
        if start is not None:
            self.add("created_at >= {}", start)
        if end is not None:
            self.add("created_at <= {}", end)

    def search(self, text: str | None, admin: bool) -> None:
        """Each keyword must match the key name or model (admin: also the username or provider name)."""
        for pattern in search_patterns(text):
            ph = self.args.add(pattern)
            parts = [
                f"api_key_id IN ({entity_subquery('api_key', 'name', 'ILIKE', ph)})",
                f"model ILIKE {ph} ESCAPE '\\'",
            ]
            if admin:
                parts.append(f"user_id IN ({entity_subquery('user', 'username', 'ILIKE', ph)})")
                parts.append(f"provider_id IN ({entity_subquery('provider', 'name', 'ILIKE', ph)})")
            self.where.append("(" + " OR ".join(parts) + ")")

    def admin(
        self,
        user_id: str | None,
        username: str | None,
        model: str | None,
        provider: str | None,
        status: str | None,
    ) -> None:
        if user_id is not None:
            self.add("user_id = {}", user_id)
        if username is not None:
            ph = self.args.add(contains_pattern(username))
            self.where.append(f"user_id IN ({entity_subquery('user', 'username', 'ILIKE', ph)})")
        if model is not None:
            self.add("model = {}", model)
        if provider is not None:
            ph = self.args.add(provider)
            self.where.append(f"provider_id IN ({entity_subquery('provider', 'name', '=', ph)})")
        if status is not None:
            if status not in STATUS_FILTERS:
                raise ValueError(f"unknown status filter {status!r}")
            self.where.append(STATUS_FILTERS[status])


async def page(
    conn: asyncpg.Connection, f: Filters, limit: int, offset: int, total: int | None = None
) -> tuple[int, list[asyncpg.Record]]:
    """(total matching rows, the page newest first: created_at desc, then id desc).

    `total`, when the caller already knows it (from the aggregates), saves the count over the records."""
    where = f.sql()
    if total is None:
        total = await conn.fetchval(f"SELECT count(*) FROM usage_records WHERE {where}", *f.args.values)  # noqa: S608
    lim, off = f.args.add(limit), f.args.add(offset)
    rows = await conn.fetch(
        f"SELECT {PAGE_COLUMNS} FROM usage_records WHERE {where}"  # noqa: S608
        f" ORDER BY created_at DESC, id DESC LIMIT {lim} OFFSET {off}",
        *f.args.values,
    )
    return total, list(rows)


async def page_entities(conn: asyncpg.Connection, rows: Sequence[Any]) -> Entities:
    """The entities a page of records names: users, keys, providers, endpoints, upstream keys."""
    return await entity_maps(
        conn,
        {
            "user": [r["user_id"] for r in rows],
            "api_key": [r["api_key_id"] for r in rows],
            "provider": [r["provider_id"] for r in rows],
            "provider_endpoint": [r["provider_endpoint_id"] for r in rows],
            "provider_api_key": [r["provider_api_key_id"] for r in rows],
        },
    )


async def attempt_flags(conn: asyncpg.Connection, usage_ids: list[str]) -> dict[str, dict[str, bool]]:
    """has_fallback / has_retry / has_rectified of each request from its executed candidates."""
    if not usage_ids:
        return {}
    rows = await conn.fetch(
        "SELECT usage_id, count(DISTINCT candidate_index) > 1 AS has_fallback,"
        " (count(*) > count(DISTINCT candidate_index) OR max(retry_index) > 0) AS has_retry,"
        " COALESCE(bool_or(extra_data -> 'rectified' = 'true'::jsonb), false) AS has_rectified"
        " FROM candidate_records WHERE usage_id = ANY($1::text[]) AND status IN ('success', 'failed')"
        " GROUP BY usage_id",
        usage_ids,
    )
    return {
        r["usage_id"]: {k: bool(r[k]) for k in ("has_fallback", "has_retry", "has_rectified")} for r in rows
    }


async def detail_row(conn: asyncpg.Connection, usage_id: str) -> asyncpg.Record | None:
    """The record with this id, else the newest with this request_id."""
    row = await conn.fetchrow("SELECT * FROM usage_records WHERE id = $1", usage_id)
    if row is None:
        row = await conn.fetchrow(
            "SELECT * FROM usage_records WHERE request_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
            usage_id,
        )
    return row


async def detail_entities(conn: asyncpg.Connection, r: asyncpg.Record) -> Entities:
    pid, model = r["provider_id"], r["model"]
    return await entity_maps(
        conn,
        {
            "user": [r["user_id"]],
            "api_key": [r["api_key_id"]],
            "model_pricing": [f"{pid}:{model}" if pid is not None else None],
            "global_model_pricing": [model],
        },
    )


async def active_rows(
    conn: asyncpg.Connection, ids: list[str], user_id: str | None, columns: str
) -> list[Any]:
    sql = f"SELECT {columns} FROM usage_records WHERE id = ANY($1::text[])"  # noqa: S608
    if user_id is None:
        return list(await conn.fetch(sql, ids))
    return list(await conn.fetch(sql + " AND user_id = $2", ids, user_id))
