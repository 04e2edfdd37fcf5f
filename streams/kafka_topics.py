"""The contract's Kafka topics, created on purpose with their partition counts and cleanup policies."""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from usagestream.errors import StoreUnavailable, UsagestreamError
from usagestream.settings import Settings

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36


class TopicError(UsagestreamError):
    """Kafka refused to create a topic (bad name, too few brokers, ...): fix the setting the message names."""


def topic_specs(settings: Settings) -> list[NewTopic]:
    """usage and candidates share a partition count, so one request's events meet in one worker."""
    n = settings.partitions
    return [
        NewTopic(settings.topic_usage, n, 1, topic_configs={"cleanup.policy": "delete"}),
        NewTopic(settings.topic_candidates, n, 1, topic_configs={"cleanup.policy": "delete"}),
        NewTopic(settings.topic_entities, n, 1, topic_configs={"cleanup.policy": "compact"}),
        NewTopic(settings.topic_dlq, 1, 1, topic_configs={"cleanup.policy": "delete"}),
    ]


@asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client; Kafka connection failures become StoreUnavailable."""
    client = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15000)
    try:
        await client.start()
    except KafkaError as exc:
        await client.close()
        raise StoreUnavailable(f"Kafka at {settings.kafka_bootstrap} does not answer: {exc!r}") from exc
    try:
        yield client
    finally:
        await client.close()


async def ensure_topics(settings: Settings) -> None:
    """Create the four contract topics if missing; existing ones are kept as they are (warning if odd)."""
    async with admin_client(settings) as client:
        response = await client.create_topics(topic_specs(settings))
        created = _check_created(response.to_object()["topic_errors"])
        for name in created:
            log.info("created topic %s", name)
        # A topic created a moment ago may not be in the metadata yet: take its count from the request.
        counts = {t.name: t.num_partitions for t in topic_specs(settings)[:2] if t.name in created}
        old = [name for name in (settings.topic_usage, settings.topic_candidates) if name not in counts]
        counts.update(await partition_counts(client, old) if old else {})
    if len(set(counts.values())) > 1:
        log.warning(
            "usage and candidate topics have different partition counts %s: one request's events may "
            "be processed by two workers; recreate them with the same count",
            counts,
        )


def _check_created(results: list[dict[str, object]]) -> list[str]:
    created = []
    for item in results:
        if item["error_code"] == 0:
            created.append(str(item["topic"]))
        elif item["error_code"] != TOPIC_ALREADY_EXISTS:
            detail = f"{item['error_message']} (error {item['error_code']})"
            raise TopicError(f"cannot create topic {item['topic']}: {detail}")
    return created


async def partition_counts(client: AIOKafkaAdminClient, topics: list[str], wait: float = 10.0) -> dict[str, int]:
    """topic -> number of partitions, for topics that exist.

    A topic created a moment ago (maybe by someone else) can be missing from the metadata for a while: retry
    for up to `wait` seconds before leaving a topic out.
    """
    deadline = time.monotonic() + wait
    while True:
        described = await client.describe_topics(topics)
        counts = {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}
        if len(counts) == len(set(topics)) or time.monotonic() >= deadline:
            return counts
        await asyncio.sleep(0.25)


async def topic_config(client: AIOKafkaAdminClient, topic: str, name: str) -> str | None:
    """One configuration value of a topic (for example cleanup.policy), as the broker reports it."""
    responses = await client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {name: None})])
    for response in responses:
        for resource in response.to_object()["resources"]:
            for entry in resource["config_entries"]:
                if entry["config_names"] == name:
                    return str(entry["config_value"])
    return None


async def wait_for_broker(settings: Settings, timeout: float) -> None:
    """Return once the broker answers a metadata request; StoreUnavailable after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with admin_client(settings) as client:
                await client.describe_cluster()
                return
        except (StoreUnavailable, KafkaError):
            if time.monotonic() >= deadline:
                message = f"Kafka at {settings.kafka_bootstrap} not ready after {timeout:.0f}s"
                raise StoreUnavailable(message) from None
            await asyncio.sleep(0.5)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="wait up to SECONDS for the broker to answer first"
    )


def cli(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> None:
        if args.wait > 0:
            await wait_for_broker(settings, args.wait)
        await ensure_topics(settings)

    asyncio.run(run())
    names = ", ".join(t.name for t in topic_specs(settings))
    print(f"topics ready on {settings.kafka_bootstrap}: {names}")
    return 0
