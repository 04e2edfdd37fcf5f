"""A time series reads from the records only the minutes its stored rows cannot answer: the range's cut ends
(materializer/read/timeseries.py `_span`). PostgreSQL is given each slice's own bounds, so it plans the records'
part over the months of those minutes only; one bound from the first slice to the last covered the whole range,
and PostgreSQL then read most of the records to keep a few minutes of them (docs/read-model.md "Time series")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from usagestream.materializer.read.timeseries import SeriesQuery, _rank_plan, statement
from usagestream.timeseries import Extent, plan

pytestmark = pytest.mark.integration

UTC_ZONE = ZoneInfo("UTC")
END = datetime(2026, 11, 27, 18, 7, 11, 123457, tzinfo=UTC)
START = END - timedelta(days=365) + timedelta(minutes=7, seconds=13)  # both ends off the 15-minute grid


async def _record_partitions(pg: asyncpg.Connection, granularity: str, group_by: str | None) -> set[str]:
    """The month partitions of usage_records in the plan of one series over [START, END]."""
    m = START.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while m <= END:  # every month of the range has its partition, as in a database with a year of records
        await pg.execute("SELECT usagestream_month_partition('usage_records', $1)", m)
        m = (m + timedelta(days=32)).replace(day=1)
    extent = Extent(START - timedelta(days=40), END + timedelta(days=1), UTC_ZONE)
    q = SeriesQuery(START, END, granularity, UTC_ZONE, group_by, 10, END + timedelta(hours=1))
    p = plan(START, END, granularity, UTC_ZONE, q.now, extent, False)
    ranking = _rank_plan(START, END, q, extent, False) if group_by else None
    sql, args = statement(p, ranking, q)
    explained = "\n".join(r[0] for r in await pg.fetch("EXPLAIN " + sql, *args))
    return set(re.findall(r"usage_records_p\d{6}", explained))


@pytest.mark.parametrize(("granularity", "group_by"), [("day", "model"), ("hour", None), ("month", "user")])
async def test_only_the_months_of_the_cut_ends_are_read(
    pg: asyncpg.Connection, granularity: str, group_by: str | None
) -> None:
    found = await _record_partitions(pg, granularity, group_by)
    assert found == {"usage_records_p202511", "usage_records_p202611"}, found
