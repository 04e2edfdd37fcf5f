"""The read interface the API needs from PostgreSQL (ShapedReads of http/shape/reads.py implements it).

Money values in the returned dicts are Decimal (written as exact JSON numbers), datetimes are ISO strings.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Protocol

from usagestream.materializer.read.records import EXACT, RecordQuery

Range = datetime | None


class Reads(Protocol):
    """What the handlers call; any object with these coroutines works (tests use a stand-in)."""

    async def stats(self, start: Range, end: Range, **only: str | None) -> dict[str, Any]:
        """/stats; `only`: the filters given among `user_id`, `model`, `provider` (the view passes no other)."""
        ...

    async def aggregation(self, group_by: str, start: Range, end: Range, limit: int) -> list[dict[str, Any]]: ...

    async def heatmap(
        self, user_id: str | None, include_actual_cost: bool, now: datetime, zone: tzinfo | None = None
    ) -> dict[str, Any]:
        """The 365 days ending today of `zone` (None: the configured zone)."""
        ...

    async def records(self, q: RecordQuery, limit: int, offset: int, total: str = EXACT) -> dict[str, Any]:
        """/records: `q` the filters, `total` EXACT, ONLY or ESTIMATE (materializer/read/records.py)."""
        ...

    async def detail(self, usage_id: str, include_bodies: bool = True) -> dict[str, Any] | None: ...

    async def active_records(self, ids: list[str], user_id: str | None) -> list[dict[str, Any]]: ...

    async def ttl_analysis(
        self, user_id: str | None, api_key_id: str | None, hours: int, now: datetime
    ) -> dict[str, Any]: ...

    async def hit_analysis(
        self, user_id: str | None, api_key_id: str | None, hours: int, now: datetime
    ) -> dict[str, Any]: ...

    async def interval_timeline(
        self, hours: int, limit: int, user_id: str | None, include_user_info: bool, now: datetime
    ) -> dict[str, Any]: ...

    async def user_usage(
        self, user_id: str, start: Range, end: Range, search: str | None, limit: int, offset: int
    ) -> dict[str, Any]: ...

    async def user_by_id(self, user_id: str) -> dict[str, Any] | None: ...

    async def management_token(self, token_sha256: str) -> dict[str, Any] | None: ...

    async def credentials(
        self, user_ids: list[str], token_sha256s: list[str]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """(users by id, management tokens by digest): the live ones among those asked, in one round trip."""
        ...

    async def provider_key_names(self, ids: list[str]) -> dict[str, str]: ...

    async def attempt_flags(self, ids: list[str]) -> dict[str, dict[str, bool]]: ...
