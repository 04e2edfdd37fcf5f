"""Fixtures for tests on the real stack (`usagestream stack up`): each test session gets its own PostgreSQL
database, and each test its own Redis prefix, Kafka topic names and consumer group, so runs never collide."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pg_admin import run_admin_sql

from usagestream.materializer.ops import migrate
from usagestream.settings import Settings
from usagestream.streams.batch_consumer import BatchConsumer
from usagestream.streams.kafka_io import Consumed

pytestmark = pytest.mark.integration

BASE = Settings.from_env()


def _admin_dsn(dsn: str, database: str) -> str:
    head, _, _db = dsn.rpartition("/")
    return f"{head}/{database}"


@pytest.fixture(scope="session")
def database_dsn() -> Iterator[str]:
    """A fresh database with every migration applied, dropped after the session."""
    name = f"usagestream_t_{uuid.uuid4().hex[:10]}"
    admin = _admin_dsn(BASE.asyncpg_dsn, "postgres")

    async def run(sql: str) -> None:
        await run_admin_sql(admin, sql)

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    dsn = _admin_dsn(BASE.asyncpg_dsn, name)
    migrate.upgrade(replace(BASE, postgres_dsn=dsn))
    yield dsn
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(database_dsn: str) -> Settings:
    """Settings isolated for one test: own topics, group, Redis prefix; the session's database."""
    tag = uuid.uuid4().hex[:8]
    return replace(
        BASE,
        postgres_dsn=database_dsn,
        postgres_read_dsn="",  # readers on the session database too (test_pg_standby.py sets a standby's)
        consumer_group=f"usagestream-test-{tag}",
        redis_prefix=f"usagestream-test-{tag}:",
        topic_usage=f"test.{tag}.usage",
        topic_candidates=f"test.{tag}.candidates",
        topic_entities=f"test.{tag}.entities",
        topic_dlq=f"test.{tag}.dlq",
        partitions=3,
        jwt_secret="test-secret-" + tag,
        state_dir=os.path.join(os.environ.get("TMPDIR", "/tmp"), f"usagestream-test-{tag}"),
    )


@pytest.fixture
async def pg(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the session database, with every table emptied first."""
    conn = await asyncpg.connect(settings.asyncpg_dsn)
    await conn.execute(
        "TRUNCATE usage_records, candidate_records, usage_record_homes, candidate_record_homes, entities, usage_agg,"
        " attempt_agg, dead_letter_counts, meta, completed_times_days, completed_times_revs, provider_days,"
        " provider_day_rows"
    )
    yield conn
    await conn.close()


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(settings.redis_url)
    yield client
    keys = [k async for k in client.scan_iter(match=settings.redis_prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def topics(settings: Settings) -> AsyncIterator[Settings]:
    """Create this test's topics (usage/candidates share the partition count; entities compacted)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(settings.topic_usage, settings.partitions, 1),
                NewTopic(settings.topic_candidates, settings.partitions, 1),
                NewTopic(
                    settings.topic_entities,
                    settings.partitions,
                    1,
                    topic_configs={"cleanup.policy": "compact"},
                ),
                NewTopic(settings.topic_dlq, 1, 1),
            ]
        )
        yield settings
        await admin.delete_topics(
            [settings.topic_usage, settings.topic_candidates, settings.topic_entities, settings.topic_dlq]
        )
    finally:
        await admin.close()


@pytest.fixture
async def consumers(topics: Settings) -> AsyncIterator[list[BatchConsumer[list[Consumed]]]]:
    """Batch consumers a test started (append them): stopped at the end, so none keeps its group membership."""
    made: list[BatchConsumer[list[Consumed]]] = []
    yield made
    for c in made:
        await c.stop()
