"""The API's read store: the materializer's answers, shaped as the reference shows them.

`ReadStore` (materializer/read/store.py) answers questions with rows, sums and the entities they name; this
subclass adds the methods of `usagestream.http.store.Reads` that return JSON bodies, each shaping what the store
read (records: http/shape/records.py; range totals: http/shape/stats.py; cache affinity: http/shape/cache.py),
long lists in bounded slices of the event loop (usagestream/slices.py). The other methods of `Reads` (users,
tokens, key names) are the store's own.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, cast

from usagestream.http.shape import cache, stats
from usagestream.http.shape.records import active_item, detail_item, record_item, user_record_item
from usagestream.materializer.read.records import EXACT, RecordQuery
from usagestream.materializer.read.stats import ProviderRow
from usagestream.materializer.read.store import ReadStore
from usagestream.slices import map_sliced

Body = dict[str, Any]
RECORD_SLICE = 100  # records shaped per slice of the event loop: a record (tiered pricing) costs more than a point


class ShapedReads(ReadStore):
    """What the handlers call (`Reads`). One instance per API process."""

    async def stats(self, start: datetime | None, end: datetime | None, **only: str | None) -> Body:
        return stats.stats_body(await self.stats_sums(start, end, **only))

    async def aggregation(self, group_by: str, start: datetime | None, end: datetime | None, limit: int) -> list[Body]:
        rows = await self.aggregation_rows(group_by, start, end, limit)
        if group_by == "provider":
            return [stats.provider_item(*r) for r in cast(list[ProviderRow], rows)]
        item = {"user": stats.user_item, "model": stats.model_item, "api_format": stats.api_format_item}[group_by]
        return [item(r) for r in cast(list[Body], rows)]

    async def heatmap(
        self, user_id: str | None, include_actual_cost: bool, now: datetime, zone: tzinfo | None = None
    ) -> Body:
        rows = await self.heatmap_rows(user_id, now, zone)
        return stats.heatmap_body(rows, zone or self.settings.tz, now, include_actual_cost)

    async def hit_analysis(self, user_id: str | None, api_key_id: str | None, hours: int, now: datetime) -> Body:
        return stats.hit_body(hours, await self.hit_sums(user_id, api_key_id, hours, now))

    async def ttl_analysis(self, user_id: str | None, api_key_id: str | None, hours: int, now: datetime) -> Body:
        groups, users = await self.ttl_rows(user_id, api_key_id, hours, now)
        return await cache.ttl_body(groups, users, hours, by_user=api_key_id is None)

    async def interval_timeline(
        self, hours: int, limit: int, user_id: str | None, include_user_info: bool, now: datetime
    ) -> Body:
        multi = include_user_info and user_id is None
        rows, users = await self.timeline_rows(hours, limit, user_id, multi, now)
        return await cache.timeline_body(rows, users, hours, multi)

    async def records(self, q: RecordQuery, limit: int, offset: int, total: str = EXACT) -> Body:
        page = await self.record_page(q, limit, offset, total)
        ents, flags = page.entities, page.flags
        items = await map_sliced(lambda r: record_item(r, ents, flags.get(r["id"])), page.rows, RECORD_SLICE)
        body = {"records": items, "total": page.total, "limit": limit, "offset": offset}
        body["total_is_estimated"] = page.estimated
        return body

    async def detail(self, usage_id: str, include_bodies: bool = True) -> Body | None:
        found = await self.detail_row(usage_id)
        return None if found is None else detail_item(*found, include_bodies=include_bodies)

    async def active_records(self, ids: list[str], user_id: str | None) -> list[Body]:
        """Raw /active fields of these ids (any status), only `user_id`'s if given; key names resolved."""
        rows, names = await self.active_rows(ids, user_id)
        return [active_item(r, names) for r in rows]

    async def user_usage(
        self,
        user_id: str,
        start: datetime | None,
        end: datetime | None,
        search: str | None,
        limit: int,
        offset: int,
    ) -> Body:
        totals, page = await self.user_page(user_id, start, end, search, limit, offset)
        body = stats.user_summary(*totals)
        body["pagination"] = stats.pagination(page.total, limit, offset)
        ents, flags = page.entities, page.flags
        body["records"] = await map_sliced(
            lambda r: user_record_item(r, ents, flags.get(r["id"])), page.rows, RECORD_SLICE
        )
        return body
