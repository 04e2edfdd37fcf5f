"""Alembic migrations on a fresh, empty PostgreSQL database; `usagestream db upgrade` twice is harmless."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace

import asyncpg
import pytest
from alembic.script import ScriptDirectory

from usagestream.materializer import pg_migrations
from usagestream.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TABLES = {
    "usage_records", "candidate_records", "entities", "usage_agg", "attempt_agg", "dead_letter_counts",
    "meta",
}


async def _admin(sql: str) -> None:
    head = Settings.from_env().asyncpg_dsn.rpartition("/")[0]
    conn = await asyncpg.connect(f"{head}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _schema(dsn: str) -> tuple[set[str], list[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = {r["tablename"] for r in rows}
        versions = [r["version_num"] for r in await conn.fetch("SELECT version_num FROM alembic_version")]
        return tables, versions
    finally:
        await conn.close()


@pytest.fixture
def empty_db() -> Iterator[Settings]:
    """Settings pointing at a brand-new empty database, dropped afterwards."""
    name = f"usagestream_mig_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = Settings.from_env()
    yield replace(base, postgres_dsn=base.asyncpg_dsn.rpartition("/")[0] + "/" + name)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_migrations_apply_to_an_empty_database(empty_db: Settings) -> None:
    pg_migrations.upgrade(empty_db)
    tables, versions = asyncio.run(_schema(empty_db.asyncpg_dsn))
    assert TABLES <= tables
    head = ScriptDirectory.from_config(pg_migrations.alembic_config(empty_db)).get_current_head()
    assert versions == [head]


def test_db_upgrade_command_twice_is_harmless(empty_db: Settings) -> None:
    env = {**os.environ, "PYTHONSAFEPATH": "1", "USAGESTREAM_POSTGRES_DSN": empty_db.postgres_dsn}
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "usagestream.cli", "db", "upgrade"], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    tables, versions = asyncio.run(_schema(empty_db.asyncpg_dsn))
    assert TABLES <= tables and len(versions) == 1
