"""The daily percentiles of `/api/admin/stats/performance/percentiles` read each day as one index-only range scan
of `usage_records_completed_times` (migration 0010): the completed records' response and first-byte times by
`created_at`, without visiting the wide records in the heap (docs/read-model.md "The stats family")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from usagestream.materializer.read.stats_totals import percentiles_sql

pytestmark = pytest.mark.integration


async def test_each_day_is_an_index_only_scan(pg: asyncpg.Connection) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    days = [(start + timedelta(days=i), start + timedelta(days=i + 1)) for i in range(3)]
    sql, args = percentiles_sql(days)
    async with pg.transaction():
        # With so few rows the planner would rather read the heap; what is checked is that the index can answer.
        # Plain index scans are off too: on near-empty partitions another index on created_at costs the same and
        # the planner's pick between equal costs varies (a clean-clone CI run got one); an index-only scan is left
        # possible only through an index that holds both times.
        await pg.execute(
            "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexscan = off"
        )
        plan = "\n".join(r[0] for r in await pg.fetch("EXPLAIN " + sql, *args))
    scans = [line for line in plan.splitlines() if " Scan " in line and "Function Scan" not in line]
    # A month partition's copy of the index is named by PostgreSQL (`..._created_at_response_time_ms_...`).
    assert scans and all("Index Only Scan" in s and "response_time_ms" in s for s in scans), plan
