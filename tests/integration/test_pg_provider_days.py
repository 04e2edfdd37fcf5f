"""The kept provider-performance days (`provider_days`, `provider_day_rows`, migration 0012) are exact: the answer
of `/api/admin/stats/performance/providers`, kept days where their revision is current and records elsewhere,
equals the records-only statement after any mix of new requests, late events into old hours, status and time
changes, moves of created_at, redelivered snapshots, filler rounds and retention; a day the filler computed before
a batch committed is never read after it; verify finds a kept row that differs from its records. In a zone whose
days begin on whole UTC hours the current day is composed from its kept closed hours and the records of the others,
under the same rules (late events into closed hours, moves between hours, filler rounds, the race, retention)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import pytest
from eventgen import usage_event, usage_record
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as hs
from writer_ops import open_batch, written

from usagestream.contract import UsageEvent, parse_usage
from usagestream.http.shape import provider_performance as shape
from usagestream.materializer.ops import retention, verify
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.read import provider_performance as perf
from usagestream.materializer.write import provider_days_fill
from usagestream.materializer.write.day_times_fill import closed_days
from usagestream.materializer.write.pg_views import PgViews
from usagestream.settings import Settings

pytestmark = pytest.mark.integration

ZONE = "Asia/Kolkata"  # +05:30: its days start on half hours, so a day meets 25 UTC hour counters
START = datetime(2025, 8, 28, tzinfo=UTC)  # the days straddle 1 September, where the test's retention cuts
NOW = datetime(2025, 9, 5, tzinfo=UTC)
# Berlin (+02:00 in summer): its days begin on whole UTC hours, so the filler keeps the closed hours of the current
# day, 4 September, which began at 3 September 22:00 UTC; at HOURS_NOW 17 of its hours are closed.
HOURS_ZONE = "Europe/Berlin"
HOURS_NOW = datetime(2025, 9, 4, 15, tzinfo=UTC)
TODAY = datetime(2025, 9, 3, 22, tzinfo=UTC)
HOUR_SPANS = "SELECT count(*) FROM provider_days WHERE hi - lo = interval '1 hour'"
EMPTY = (
    "TRUNCATE usage_records, candidate_records, usage_record_homes, candidate_record_homes, usage_agg, attempt_agg,"
    " meta, completed_times_days, completed_times_revs, provider_days, provider_day_rows"
)
# (provider_id, provider_name): one provider under two stored ids and two names (collation decides the shown one),
# a reserved name, no provider at all.
PROVIDERS = [("p1", "Alpha"), ("p1 ", "alpha"), ("p2", "Beta"), ("p3", "unknown"), (None, "pending")]


def _settings(settings: Settings, zone: str = ZONE) -> Settings:
    # 14 days back from NOW: the closed days include the whole ISO week of 25 to 31 August, kept as a week too.
    return replace(settings, timezone=zone, day_times_fill_days=14, day_times_fill_batch=3)


def _event(rid: str, seq: int, created: datetime, op: tuple[Any, ...]) -> UsageEvent:
    status, code, rt, fb, prov, stream, tokens = op
    pid, name = PROVIDERS[prov]
    meta = None if stream is None else {"upstream_is_stream": stream}
    rec = usage_record(
        rid,
        created,
        status=status,
        status_code=code,
        response_time_ms=rt,
        first_byte_time_ms=fb,
        provider_id=pid,
        provider_name=name,
        output_tokens=tokens,
        total_tokens=tokens,
        request_metadata=meta,
    )
    return parse_usage(rid.encode(), usage_event(rec, seq))


def _now(s: Settings) -> datetime:
    return HOURS_NOW if s.timezone == HOURS_ZONE else NOW


def _days(s: Settings) -> list[tuple[datetime, datetime]]:
    return closed_days(_now(s), s, None)


def _ask(s: Settings, q: tuple[int, int, str | None]) -> perf.Ask:
    """Every closed day and a last one (never kept whole: the current day, or in Kolkata a partial one), top
    `limit`, a slow threshold, a provider filter."""
    days = _days(s)
    tail = timedelta(days=1) if s.timezone == HOURS_ZONE else timedelta(hours=7)
    bounds = [d[0] for d in days] + [days[-1][1], days[-1][1] + tail]
    limit, slow, pid = q
    return perf.Ask(bounds, limit, slow, provider_id=pid)


def _comparable(rows: list[dict[str, Any]]) -> list[Any]:
    """The rows as the answer reads them: a bucket's percentiles and the summary's name are never shown."""
    out = []
    for r in rows:
        r = dict(r)
        if r["kind"] == 0:
            r["p_rt"] = r["p_fb"] = None
        if r["kind"] == 3:
            r["provider"] = None
        out.append(sorted(r.items()))
    return sorted(out, key=repr)


async def _both(
    pool: asyncpg.Pool, conn: asyncpg.Connection, ask: perf.Ask, planned: asyncpg.Pool | None = None
) -> tuple[Any, Any]:
    sql, args = perf.statement(ask)
    want = [dict(r) for r in await conn.fetch(sql, *args)]
    got = await perf.read(pool, ask, planned)
    label = str
    return (_comparable(got), shape.body(got, label)), (_comparable(want), shape.body(want, label))


async def _fill_all(pool: asyncpg.Pool, s: Settings, now: datetime | None = None) -> None:
    while (await provider_days_fill.fill_round(pool, s, now or _now(s))).left:
        pass


def _today_hours() -> list[tuple[datetime, datetime]]:
    return [(TODAY + timedelta(hours=k), TODAY + timedelta(hours=k + 1)) for k in range(17)]


async def _kept_current(conn: asyncpg.Connection, days: list[tuple[datetime, datetime]]) -> int:
    los, his = [d[0] for d in days], [d[1] for d in days]
    rows = await conn.fetch(
        "SELECT DISTINCT i FROM (" + perf.provider_days.KEPT_SQL + ") x", los, his, None, len(los), 0
    )
    return len(rows)


OPS = hs.lists(
    hs.tuples(
        hs.integers(0, 7),  # request
        hs.integers(0, 8 * 24 - 1),  # hours after START
        hs.tuples(
            hs.sampled_from(["completed", "completed", "failed", "streaming", "cancelled"]),
            hs.sampled_from([None, 200, 429, 500]),
            hs.one_of(hs.none(), hs.integers(0, 40)),  # response time: few values, many ties
            hs.one_of(hs.none(), hs.integers(0, 40)),
            hs.integers(0, len(PROVIDERS) - 1),
            hs.sampled_from([None, True, False]),
            hs.integers(0, 50),
        ),
        hs.booleans(),  # redeliver the request's last snapshot instead
    ),
    min_size=1,
    max_size=40,
)
QUERIES = hs.lists(
    hs.tuples(hs.integers(1, 3), hs.integers(1, 41), hs.sampled_from([None, None, "p1", "p1 ", "p2"])),
    min_size=1,
    max_size=3,
)


async def _scenario(settings: Settings, ops: list[Any], fill_every: int, queries: list[Any], zone: str) -> None:
    s = _settings(settings, zone)
    async with written(s, START, EMPTY) as (pool, conn, writes):
        for n, (who, hour, fields, again) in enumerate(ops):
            await writes.write(n, who, hour, again, partial(_event, op=fields))
            if n % fill_every == 0:
                await _fill_all(pool, s)
            got, want = await _both(pool, conn, _ask(s, queries[n % len(queries)]))
            assert got == want
        await _fill_all(pool, s)
        assert await _kept_current(conn, _days(s)) == len(_days(s))  # after full rounds every closed day is kept
        assert await conn.fetchval("SELECT count(*) FROM provider_days WHERE hi - lo > interval '2 days'") == 1
        if zone == HOURS_ZONE:  # and every closed hour of the current day
            assert await _kept_current(conn, _today_hours()) == 17
        else:
            assert await conn.fetchval(HOUR_SPANS) == 0
        for q in queries:
            got, want = await _both(pool, conn, _ask(s, q))
            assert got == want


@given(ops=OPS, fill_every=hs.integers(1, 6), queries=QUERIES)
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_kept_and_recounted_days_equal_the_records_statement(
    settings: Settings, ops: list[Any], fill_every: int, queries: list[Any]
) -> None:
    asyncio.run(_scenario(settings, ops, fill_every, queries, ZONE))


@given(ops=OPS, fill_every=hs.integers(1, 6), queries=QUERIES)
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_current_day_from_kept_hours_and_records_equals_the_records_statement(
    settings: Settings, ops: list[Any], fill_every: int, queries: list[Any]
) -> None:
    """The ops' hours reach past HOURS_NOW: records land in closed and open hours of the current day, late ones into
    hours already kept, and moves carry records between hours."""
    asyncio.run(_scenario(settings, ops, fill_every, queries, HOURS_ZONE))


def _many(i: int) -> tuple[Any, ...]:
    return ("completed" if i % 5 else "failed", None, 100 + i * 37 % 5000, i * 13 % 700, i % 3, None, i % 90)


async def _seed(views: PgViews, n: int) -> None:
    events = [(0, _event(str(uuid.uuid4()), 1, START + timedelta(minutes=37 * i), _many(i))) for i in range(n)]
    await views.apply(events, [])


async def test_large_days_read_through_fences_and_slices_equal_the_records_statement(
    settings: Settings, pg: asyncpg.Connection
) -> None:
    """Runs far longer than a fence step, so the ranks and slow counts come from slices of the kept runs; the
    kept days' statements on a pool that plans each statement once (the API's), as on one that plans per call."""
    s = _settings(settings)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    planned = await create_pool(s, stateless=True, read_only=True, generic_plans=True)
    try:
        views = PgViews(pool, s)
        for k in range(6):
            events = [
                (0, _event(str(uuid.uuid4()), 1, START + timedelta(seconds=97 * i + k), _many(i + k)))
                for i in range(1200)
            ]
            await views.apply(events, [])
        await _fill_all(pool, s)
        for q in ((8, 10_000, None), (1, 2500, None), (2, 1, "p1"), (3, 4999, "p2")):
            for kept_on in (None, planned):
                got, want = await _both(pool, pg, _ask(s, q), kept_on)
                assert got == want
        assert await pg.fetchval("SELECT max(rt_all_n) FROM provider_day_rows") > 20 * 32
    finally:
        await planned.close()
        await pool.close()


class _Slices:
    """A connection that notes the runs of the slices it is asked to read (SLICES_SQL's second parameter)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn, self.runs = conn, ""

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        if sql == perf.provider_days.SLICES_SQL:
            self.runs += str(args[1])  # its text form (or a list of ints)
        return await self.conn.fetch(sql, *args)


async def test_the_default_slow_threshold_reads_no_slice_of_the_response_times(
    settings: Settings, pg: asyncpg.Connection
) -> None:
    """The kept rows bring their slow count at the default threshold (10,000 ms): a request with it reads no slice
    of a run of all response times (`rt_all`, run 2), another threshold does; both answer as the records do."""
    s = _settings(settings)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    try:
        events = [
            (0, _event(str(uuid.uuid4()), 1, START + timedelta(seconds=61 * i), _many(i) + ())) for i in range(3000)
        ]
        await PgViews(pool, s).apply(events, [])
        await pg.execute("UPDATE usage_records SET response_time_ms = response_time_ms * 3")  # 300 to 15,297 ms
        await pg.execute("TRUNCATE provider_days, provider_day_rows")
        await _fill_all(pool, s)
        for slow, reads_rt_all in ((10_000, False), (2500, True)):
            ask = _ask(s, (8, slow, None))
            async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
                spy = _Slices(conn)
                got = await perf.provider_days.read(spy, ask.bounds[:-1], ask.bounds[1:], ask)  # type: ignore[arg-type]
            assert ("2" in spy.runs) is reads_rt_all
            sql, args = perf.statement(ask)
            assert got is not None and _comparable(got) == _comparable([dict(r) for r in await pg.fetch(sql, *args)])
        assert await pg.fetchval("SELECT sum(slow_n) FROM provider_day_rows WHERE provider_id = ''") > 0
    finally:
        await pool.close()


async def test_a_day_filled_before_a_batch_commits_is_not_read_after_it(
    settings: Settings, pg: asyncpg.Connection
) -> None:
    s = _settings(settings)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    try:
        views, days = PgViews(pool, s), _days(s)
        await _seed(views, 200)
        late = _event(
            str(uuid.uuid4()), 1, START + timedelta(days=2, hours=3), ("completed", 200, 99_999, 5, 2, None, 7)
        )
        # A batch holding its transaction open (its record and its hour's counter written, not committed) while
        # the filler computes every day: the filler's snapshot does not see the batch.
        async with open_batch(pool, s, late):
            await _fill_all(pool, s)
            assert await _kept_current(pg, days) == len(days)
            before = await perf.read(pool, _ask(s, (8, 10_000, None)))
        # The day of the late record is no longer current; every other day still is; the answer is the recount.
        assert await _kept_current(pg, days) == len(days) - 1
        got, want = await _both(pool, pg, _ask(s, (8, 10_000, None)))
        assert got == want
        assert _comparable(await perf.read(pool, _ask(s, (8, 10_000, None)))) != _comparable(before)
    finally:
        await pool.close()


async def test_retention_keeps_the_answer_exact(settings: Settings, pg: asyncpg.Connection) -> None:
    s = _settings(settings)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    try:
        views, days = PgViews(pool, s), _days(s)
        await _seed(views, 300)
        await _fill_all(pool, s)
        assert await _kept_current(pg, days) == len(days)
        # Retention cuts at 1 September (UTC): the Kolkata day of 1 September began on 31 August, 18:30 UTC.
        kept = replace(s, retention_records_days=31)
        await retention.run(pool, kept, now=datetime(2025, 10, 2, tzinfo=UTC))
        assert await pg.fetchval("SELECT count(*) FROM provider_days WHERE lo < '2025-09-01Z'") == 0
        assert await pg.fetchval("SELECT count(*) FROM provider_day_rows WHERE lo < '2025-09-01Z'") == 0
        got, want = await _both(pool, pg, _ask(s, (8, 3000, None)))
        assert got == want
        await _fill_all(pool, replace(kept, day_times_fill_days=40))
        got, want = await _both(pool, pg, _ask(s, (8, 3000, None)))
        assert got == want
        assert await verify.differences(pg, ZONE) == (0, [])
    finally:
        await pool.close()


async def test_verify_reports_a_kept_row_that_differs_from_its_records(
    settings: Settings, pg: asyncpg.Connection
) -> None:
    s = _settings(settings)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    try:
        await _seed(PgViews(pool, s), 100)
        await _fill_all(pool, s)
        assert (await verify.differences(pg, ZONE))[0] == 0
        await pg.execute(
            "UPDATE provider_day_rows SET rt_all = substring(rt_all FROM 5) || int4send(2000000000)"
            " WHERE ctid = (SELECT min(ctid) FROM provider_day_rows WHERE rt_all_n > 1)"
        )
        count, shown = await verify.differences(pg, ZONE)
        assert count == 1 and any("provider_days" in line for line in shown)
    finally:
        await pool.close()


async def test_one_filler_round_at_a_time(settings: Settings, pg: asyncpg.Connection) -> None:
    """A worker whose round finds another worker's running skips its turn and writes nothing."""
    s = _settings(settings)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    try:
        await _seed(PgViews(pool, s), 50)
        await pg.execute("SELECT pg_advisory_lock($1, $2)", *provider_days_fill.FILL_LOCK)
        try:
            assert await provider_days_fill.fill_round(pool, s, NOW) == provider_days_fill.Round(skipped=True)
            assert await pg.fetchval("SELECT count(*) FROM provider_days") == 0
        finally:
            await pg.execute("SELECT pg_advisory_unlock($1, $2)", *provider_days_fill.FILL_LOCK)
        done = await provider_days_fill.fill_round(pool, s, NOW)
        assert (done.skipped, done.filled) == (False, 3)
    finally:
        await pool.close()


async def test_an_hour_filled_before_a_batch_commits_is_not_read_after_it(
    settings: Settings, pg: asyncpg.Connection
) -> None:
    s = _settings(settings, HOURS_ZONE)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    try:
        views, hours = PgViews(pool, s), _today_hours()
        await _seed(views, 300)  # every 37 minutes from START: the current day's hours have records
        late = _event(
            str(uuid.uuid4()), 1, TODAY + timedelta(hours=5, minutes=9), ("completed", 200, 99_999, 5, 2, None, 7)
        )
        async with open_batch(pool, s, late):
            await _fill_all(pool, s)
            assert await _kept_current(pg, hours) == 17
            before = await perf.read(pool, _ask(s, (8, 10_000, None)))
        # The late record's hour is no longer current, the other closed hours still are; the answer is the recount.
        assert await _kept_current(pg, hours) == 16
        got, want = await _both(pool, pg, _ask(s, (8, 10_000, None)))
        assert got == want
        assert _comparable(await perf.read(pool, _ask(s, (8, 10_000, None)))) != _comparable(before)
    finally:
        await pool.close()


async def test_kept_hours_are_read_forgotten_once_their_day_is_kept_and_recounted_by_verify(
    settings: Settings, pg: asyncpg.Connection
) -> None:
    s = _settings(settings, HOURS_ZONE)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    try:
        await _seed(PgViews(pool, s), 300)
        await _fill_all(pool, s)
        assert await pg.fetchval(HOUR_SPANS) == 17
        assert await verify.differences(pg, HOURS_ZONE) == (0, [])
        # A kept hour's row changed behind the filler's back: the answer reads it (so it differs from the
        # records), and verify reports it.
        await pg.execute(
            "UPDATE provider_day_rows SET n = n + 1000 WHERE ctid = (SELECT min(ctid) FROM provider_day_rows"
            " WHERE hi - lo = interval '1 hour' AND provider_id <> '')"
        )
        got, want = await _both(pool, pg, _ask(s, (8, 3000, None)))
        assert got != want
        count, shown = await verify.differences(pg, HOURS_ZONE)
        assert count == 1 and any("provider_days" in line for line in shown)
        # A day later the 4th is closed and kept whole: its hours are forgotten, the 5th's closed ones kept.
        await _fill_all(pool, s, HOURS_NOW + timedelta(days=1))
        assert await pg.fetchval(HOUR_SPANS + " AND lo < $1", TODAY + timedelta(days=1)) == 0
        assert await pg.fetchval(HOUR_SPANS) == 17
    finally:
        await pool.close()


async def test_retention_forgets_kept_hours_before_its_cut(settings: Settings, pg: asyncpg.Connection) -> None:
    s = _settings(settings, HOURS_ZONE)
    await pg.execute(EMPTY)
    pool = await create_pool(s, custom_plans=True)
    try:
        await _seed(PgViews(pool, s), 300)
        # The current day 1 September (Berlin) began on 31 August, 22:00 UTC: its first two hours lie before
        # retention's cut at 1 September (UTC), the next ones after it.
        now = datetime(2025, 9, 1, 6, tzinfo=UTC)
        await _fill_all(pool, s, now)
        assert await pg.fetchval(HOUR_SPANS) == 8
        await retention.run(pool, replace(s, retention_records_days=31), now=datetime(2025, 10, 2, tzinfo=UTC))
        assert await pg.fetchval("SELECT count(*) FROM provider_days WHERE lo < '2025-09-01Z'") == 0
        assert await pg.fetchval("SELECT count(*) FROM provider_day_rows WHERE lo < '2025-09-01Z'") == 0
        assert await pg.fetchval(HOUR_SPANS) == 6
        today = datetime(2025, 8, 31, 22, tzinfo=UTC)
        ask = perf.Ask([today, today + timedelta(days=1)], 8, 3000)
        got, want = await _both(pool, pg, ask)
        assert got == want
        assert await verify.differences(pg, HOURS_ZONE) == (0, [])
    finally:
        await pool.close()
