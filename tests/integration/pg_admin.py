"""Statements on PostgreSQL's maintenance database (create and drop the tests' databases)."""

from __future__ import annotations

import asyncio

import asyncpg

FORCE = " WITH (FORCE)"


async def run_admin_sql(admin_dsn: str, sql: str, attempts: int = 60) -> None:
    """Run one statement. DROP DATABASE ... WITH (FORCE) fails while an autovacuum worker (a superuser process
    that our role may not terminate) is on the database, e.g. analysing a million fresh rows; a plain DROP DATABASE
    cancels autovacuum itself but fails while any other session remains. So alternate the two until one works."""
    plain = sql.replace(FORCE, "") if sql.rstrip().endswith(FORCE) else None
    for attempt in range(attempts):
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(plain if plain is not None and attempt % 2 else sql)
            return
        except (asyncpg.exceptions.InsufficientPrivilegeError, asyncpg.exceptions.ObjectInUseError):
            if attempt == attempts - 1:
                raise
        finally:
            await conn.close()
        await asyncio.sleep(0.5)
