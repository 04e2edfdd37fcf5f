"""create_pool on the real PostgreSQL: what a released connection keeps, with and without `stateless`."""

from __future__ import annotations

import asyncpg
import pytest

from usagestream.materializer.pg_pool import create_pool
from usagestream.settings import Settings


async def _after_release(pool: asyncpg.Pool, prepare: str) -> tuple[str, str]:
    """Run `prepare` on the pool's one connection, release it, then read back its session state."""
    async with pool.acquire() as conn:
        await conn.execute(prepare)
    async with pool.acquire() as conn:
        return await conn.fetchval("SHOW application_name"), await conn.fetchval(
            "SELECT current_setting('transaction_isolation')"
        )


async def test_default_pool_resets_the_session_on_release(settings: Settings) -> None:
    pool = await create_pool(settings, min_size=1, max_size=1)
    try:
        name, _ = await _after_release(pool, "SET application_name = 'leaked'")
    finally:
        await pool.close()
    assert name != "leaked"


async def test_stateless_pool_skips_the_reset_round_trip(settings: Settings) -> None:
    """The API's pool: its users leave no session state, so nothing is reset (one round trip fewer) - a session
    SET would survive, which is why only callers that never make one may use it."""
    pool = await create_pool(settings, min_size=1, max_size=1, stateless=True)
    try:
        name, _ = await _after_release(pool, "SET application_name = 'leaked'")
    finally:
        await pool.close()
    assert name == "leaked"


async def test_stateless_pool_still_rolls_back_an_open_transaction(settings: Settings) -> None:
    pool = await create_pool(settings, min_size=1, max_size=1, stateless=True)
    try:
        async with pool.acquire() as conn:
            await conn.execute("BEGIN ISOLATION LEVEL SERIALIZABLE; SET LOCAL application_name = 'inside'")
        name, isolation = await _after_release(pool, "SELECT 1")
    finally:
        await pool.close()
    assert isolation == "read committed"
    assert name != "inside"


@pytest.mark.parametrize(("custom", "mode"), [(False, "auto"), (True, "force_custom_plan")])
async def test_custom_plans_pool_replans_every_execution(settings: Settings, custom: bool, mode: str) -> None:
    """The worker's pool: a prepared look-up by id is planned for the table as it is now, not kept generic."""
    pool = await create_pool(settings, min_size=1, max_size=1, custom_plans=custom)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == mode
    finally:
        await pool.close()


async def test_reader_pool_compiles_nothing(settings: Settings) -> None:
    """The API's pool: no JIT (at 10 M records compiling a percentile query took over a second, running it 35 ms),
    in read-only sessions."""
    pool = await create_pool(settings, min_size=1, max_size=1, read_only=True)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW jit") == "off"
            assert await conn.fetchval("SHOW default_transaction_read_only") == "on"
    finally:
        await pool.close()


async def test_generic_plans_pool_plans_each_statement_once(settings: Settings) -> None:
    """The API's pool of range questions (ReadStore.planned): a prepared statement keeps the plan of its first
    execution (its parameters unknown), so a range question is not planned again on every call."""
    pool = await create_pool(settings, min_size=1, max_size=1, generic_plans=True, read_only=True)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
            assert await conn.fetchval("SHOW max_parallel_workers_per_gather") == "0"
            assert await conn.fetchval("SHOW jit") == "off"
    finally:
        await pool.close()


async def test_a_pool_plans_either_every_execution_or_once(settings: Settings) -> None:
    with pytest.raises(ValueError, match="not both"):
        await create_pool(settings, custom_plans=True, generic_plans=True)
