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
from usagestream.materializer.read.sql import Statement
from usagestream.ranges import Plan
from usagestream.stats import MONEY_COUNTERS

Row = dict[str, Any]
DIM = {"user_id": "user", "model": "model", "provider_id": "provider"}


# The ids of the live providers with a given current name ($1).
PROVIDER_IDS_SQL = entity_subquery("provider", "name", "=", "$1")


async def provider_ids(conn: Conn, name: str) -> list[str]:
    """The ids of the live providers named `name` (the /records `provider` filter's meaning)."""
    return [r["id"] for r in await conn.fetch(PROVIDER_IDS_SQL, name)]


def sums_sql(plan: Plan, given: dict[str, list[str]]) -> Statement:
    """The statement of `filtered_sums` over `plan` (`st.plan_for`'s for one filter, `st.records_plan`'s for
    several), rendered in materializer/sql/read.stats.sql."""
    if len(given) == 1:
        [(column, keys)] = given.items()
        return st.usage_sums_sql(plan, DIM[column], st.STATS_COUNTERS, keys=keys)
    where = " AND ".join(f"{column} = ANY(${i}::text[])" for i, column in enumerate(given, 1))
    return st.usage_sums_sql(plan, "all", st.STATS_COUNTERS, extra_where=where, extra_args=list(given.values()))


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
        plan = await st.plan_for(conn, "usage_records", start, end, tz_name)
    else:
        plan = await st.records_plan(conn, start, end)
    if plan.empty:
        return None
    sql, args = sums_sql(plan, given)
    rows = [dict(r) for r in await conn.fetch(sql, *args)]
    return total(rows) if len(given) == 1 else next((r for r in rows if r["key"] == ""), None)


def total(rows: Iterable[Row]) -> Row | None:
    """The counters of several keys' rows added up (None when there is none)."""
    found = list(rows)
    if not found:
        return None
    return {c: sum((r[c] or 0 for r in found), Decimal(0) if c in MONEY_COUNTERS else 0) for c in st.STATS_COUNTERS}
