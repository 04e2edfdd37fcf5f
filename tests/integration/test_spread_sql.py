"""The worker hands PostgreSQL fact rows and lets SQL spread them to every dimension and grain
(pg_views.SPREAD_USAGE_SQL): the stored rows must equal usagestream.stats' own spread, digit for digit."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.write.pg_views import (
    SPREAD_USAGE_ONE_QUARTER_SQL,
    SPREAD_USAGE_SQL,
    PgViews,
    spread_usage_sql,
    write_preamble,
)
from usagestream.settings import Settings
from usagestream.stats import ATTEMPT_COUNTERS, USAGE_COUNTERS, CandidateFacts, Deltas, UsageFacts, day_start


def _facts(rng: random.Random, start: datetime) -> UsageFacts:
    user = rng.choice([None, "u-1", "u-2", "u\tweird\\3"])
    tokens = rng.randrange(0, 5000)
    return UsageFacts(
        created_at=start + timedelta(seconds=rng.randrange(0, 3 * 86400), microseconds=rng.randrange(10**6)),
        user_id=user,
        api_key_id=rng.choice([None, "k-1", "k-2"]),
        model=rng.choice(["m-a", "m-b", "été"]),
        provider_name=rng.choice(["unknown", "pending", "prov"]),
        provider_id=rng.choice([None, "p-1", "p-2"]),
        api_format=rng.choice([None, "openai:chat", "claude:chat", " Gemini :x", "OPENAI", "\u3000google:y"]),
        endpoint_api_format=rng.choice([None, None, "", "openai:chat", "claude:chat", "gemini\u00a0:z"]),
        status=rng.choice(["pending", "streaming", "completed", "failed", "cancelled"]),
        status_code=rng.choice([None, 200, 429, 500]),
        has_error_message=rng.random() < 0.2,
        input_tokens=tokens,
        output_tokens=tokens // 2,
        total_tokens=tokens + tokens // 2,
        cache_creation_input_tokens=rng.randrange(0, 100),
        cache_read_input_tokens=rng.choice([0, rng.randrange(1, 900)]),
        total_cost_usd=Decimal(rng.randrange(0, 10**12)).scaleb(-rng.randrange(0, 20)),
        actual_total_cost_usd=Decimal("0.1") + Decimal(rng.randrange(10**6)).scaleb(-9),
        cache_creation_cost_usd=Decimal(rng.randrange(10**4)).scaleb(-7),
        cache_read_cost_usd=Decimal("1e-30") * rng.randrange(3),
        response_time_ms=rng.choice([None, rng.randrange(1, 60000)]),
    )


@pytest.mark.parametrize("zone", ["UTC", "America/Santiago", "Asia/Kathmandu"])
async def test_sql_spread_equals_the_pure_spread(settings: Settings, pg: asyncpg.Connection, zone: str) -> None:
    rng = random.Random(zone)
    tz = ZoneInfo(zone)
    start = datetime(2026, 4, 3, 20, 0, tzinfo=UTC)  # Santiago leaves DST on this weekend
    deltas = Deltas(tz)
    facts = [_facts(rng, start) for _ in range(400)]
    for f in facts:
        deltas.apply_usage(None, f)
    for f in facts[::3]:  # replacements: retraction and addition, sometimes to other keys
        deltas.apply_usage(f, _facts(rng, start))
    for _ in range(200):
        c = CandidateFacts(
            start + timedelta(minutes=rng.randrange(4000)),
            rng.choice(["p-1", "p-2"]),
            rng.choice(["success", "failed"]),
            rng.choice([None, rng.randrange(1, 9000)]),
        )
        deltas.apply_candidate(None, c)
    assert await _spread_and_read(settings, pg, deltas) == dict(deltas.usage_rows())
    attempts = {
        (r["provider_id"], r["grain"], r["bucket"]): tuple(r[c] for c in ATTEMPT_COUNTERS)
        for r in await pg.fetch("SELECT * FROM attempt_agg")
    }
    assert {k: v for k, v in attempts.items() if any(v)} == dict(deltas.attempt_rows())


async def _spread_and_read(settings: Settings, pg: asyncpg.Connection, deltas: Deltas) -> dict[Any, Any]:
    """Write the deltas through PgViews.write_deltas; the stored non-zero usage rows."""
    pool = await create_pool(settings)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(write_preamble([0], retention=True))
            await PgViews(pool, settings).write_deltas(conn, deltas)
    finally:
        await pool.close()
    stored = {
        (r["dim"], r["key"], r["grain"], r["bucket"]): tuple(r[c] for c in USAGE_COUNTERS)
        for r in await pg.fetch("SELECT * FROM usage_agg")
    }
    return {k: v for k, v in stored.items() if any(v)}


async def test_a_batch_in_one_bucket_is_spread_in_one_step(settings: Settings, pg: asyncpg.Connection) -> None:
    """Facts sharing their buckets (one 15-minute bucket) take the one-step statement, with the same rows."""
    rng = random.Random(7)
    start = datetime(2026, 4, 3, 20, 0, tzinfo=UTC)
    deltas = Deltas(ZoneInfo("UTC"))
    for _ in range(300):
        f = _facts(rng, start)
        deltas.apply_usage(None, replace(f, created_at=start + timedelta(seconds=rng.randrange(900))))
    assert spread_usage_sql(deltas.usage_fact_rows()) == SPREAD_USAGE_ONE_QUARTER_SQL
    assert await _spread_and_read(settings, pg, deltas) == dict(deltas.usage_rows())


async def test_a_quarter_holding_a_local_midnight_takes_the_two_step_spread(
    settings: Settings, pg: asyncpg.Connection
) -> None:
    """Amsterdam's summer time of 1935 was 1 h 19 min 32 s ahead of UTC: its midnight fell inside the UTC quarter
    22:30-22:45, so facts of that one quarter have two day buckets and must be merged per grain (a check of the
    15-minute bucket alone would send rows the one-step statement writes twice: ON CONFLICT cannot do that)."""
    rng = random.Random(8)
    tz = ZoneInfo("Europe/Amsterdam")
    quarter = datetime(1935, 6, 1, 22, 30, tzinfo=UTC)
    assert day_start(quarter, tz) != day_start(quarter + timedelta(minutes=14), tz)
    deltas = Deltas(tz)
    for i in range(200):
        f = _facts(rng, quarter)
        deltas.apply_usage(None, replace(f, created_at=quarter + timedelta(seconds=i * 899 // 199)))
    assert spread_usage_sql(deltas.usage_fact_rows()) == SPREAD_USAGE_SQL
    assert await _spread_and_read(settings, pg, deltas) == dict(deltas.usage_rows())
