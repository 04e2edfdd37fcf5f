"""Statements on PostgreSQL's maintenance database (create and drop the tests' databases)."""

from __future__ import annotations

import asyncio

import asyncpg


async def run_admin_sql(admin_dsn: str, sql: str, attempts: int = 20) -> None:
    """Run one statement. DROP DATABASE ... WITH (FORCE) fails while an autovacuum worker (a superuser process
    that our role may not terminate) is on the database; it leaves within moments, so try again."""
    for attempt in range(attempts):
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
            return
        except (asyncpg.exceptions.InsufficientPrivilegeError, asyncpg.exceptions.ObjectInUseError):
            if attempt == attempts - 1:
                raise
        finally:
            await conn.close()
        await asyncio.sleep(0.5)
