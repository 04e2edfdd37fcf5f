"""/stats narrowed by `user_id`, `model` or `provider`, as today's Aether takes them (docs/reference-api.md §3.1).

One filter is one dimension of the aggregates (user, model, or provider: the ids whose current name it is), read
like the unfiltered totals: exact, at the cost of a few dozen bucket rows per key. Two or more filters name no
dimension, so those totals are recounted from the records of the range (a cost that grows with the range, and
blind to records deleted by retention).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from usagestream.materializer.pg_pool import Conn
from usagestream.materializer.read import stats as st
from usagestream.materializer.read.entities import entity_subquery
from usagestream.stats import MONEY_COUNTERS

Row = dict[str, Any]
DIM = {"user_id": "user", "model": "model", "provider_id": "provider"}


async def provider_ids(conn: Conn, name: str) -> list[str]:
    """The ids of the live providers named `name` (the /records `provider` filter's meaning)."""
    return [r["id"] for r in await conn.fetch(entity_subquery("provider", "name", "=", "$1"), name)]


async def filtered_sums(
    conn: Conn,
    start: datetime | None,
    end: datetime | None,
    tz_name: str,
    given: dict[str, list[str]],
) -> Row | None:
    """`st.STATS_COUNTERS` over the records in range whose column (user_id, model, provider_id) holds one of the
    values `given` for it, every filter applying (None: nothing matches)."""
    if any(not values for values in given.values()):
        return None
    if len(given) == 1:
        [(column, keys)] = given.items()
        plan = await st.plan_for(conn, "usage_records", start, end, tz_name)
        return total((await st.usage_sums(conn, plan, DIM[column], st.STATS_COUNTERS, keys=keys)).values())
    plan = await st.records_plan(conn, start, end)
    where = " AND ".join(f"{column} = ANY(${i}::text[])" for i, column in enumerate(given, 1))
    sums = await st.usage_sums(conn, plan, "all", st.STATS_COUNTERS, extra_where=where, extra_args=list(given.values()))
    return sums.get("")


def total(rows: Iterable[Row]) -> Row | None:
    """The counters of several keys' rows added up (None when there is none)."""
    found = list(rows)
    if not found:
        return None
    return {c: sum((r[c] or 0 for r in found), Decimal(0) if c in MONEY_COUNTERS else 0) for c in st.STATS_COUNTERS}
