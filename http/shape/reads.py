"""The API's read store: the materializer's answers, with the records shaped as the reference shows them.

`ReadStore` (materializer/read/store.py) answers questions with rows and the entities they name; this subclass
adds the four methods of `usagestream.http.store.Reads` that return records, each shaping what the store read
(http/shape/records.py), in bounded slices of the event loop (usagestream/slices.py). Every other method of
`Reads` is the store's own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from usagestream.http.shape.records import active_item, detail_item, record_item, user_record_item
from usagestream.materializer.read.store import ReadStore
from usagestream.slices import map_sliced

Body = dict[str, Any]
RECORD_SLICE = 100  # records shaped per slice of the event loop: a record (tiered pricing) costs more than a point


class ShapedReads(ReadStore):
    """What the handlers call (`Reads`). One instance per API process."""

    async def records(
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
    ) -> Body:
        page = await self.record_page(
            start=start,
            end=end,
            search=search,
            user_id=user_id,
            username=username,
            model=model,
            provider=provider,
            status=status,
            limit=limit,
            offset=offset,
        )
        ents, flags = page.entities, page.flags
        items = await map_sliced(lambda r: record_item(r, ents, flags.get(r["id"])), page.rows, RECORD_SLICE)
        return {"records": items, "total": page.total, "limit": limit, "offset": offset}

    async def detail(self, usage_id: str) -> Body | None:
        found = await self.detail_row(usage_id)
        return None if found is None else detail_item(*found)

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
        body, page = await self.user_page(user_id, start, end, search, limit, offset)
        body["records"] = await map_sliced(lambda r: user_record_item(r, page.entities), page.rows, RECORD_SLICE)
        return body
