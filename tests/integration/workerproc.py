"""Helpers for tests that run the real `usagestream worker` as a child process and feed it through Kafka."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from testsupport import free_port as free_port  # re-exported: the tests import it from here too
from testsupport import stop_process

from usagestream.settings import Settings

stop_worker = stop_process  # the name the worker tests know


def start_worker(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    """Run `usagestream worker` with these settings. Unless the test chose a metrics port, the worker serves no
    /metrics: workers of parallel tests (and several workers of one test) would fight over the default port."""
    if settings.worker_metrics_port == Settings().worker_metrics_port:
        settings = replace(settings, worker_metrics_port=0)
    env = {**os.environ, **settings.to_env(), "PYTHONSAFEPATH": "1"}
    exe = Path(sys.executable).parent / "usagestream"
    with open(log_path, "ab") as log:
        return subprocess.Popen([str(exe), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)


async def produce(settings: Settings, messages: list[tuple[str, bytes, bytes | None]]) -> None:
    topics = {
        "usage": settings.topic_usage,
        "candidate": settings.topic_candidates,
        "entity": settings.topic_entities,
    }
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5, enable_idempotence=True)
    await producer.start()
    try:
        for kind, key, value in messages:
            await producer.send(topics.get(kind, kind), value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def wait_for(
    conn: asyncpg.Connection,
    sql: str,
    expected: object,
    timeout: float = 120,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    """Poll `sql` until it returns `expected` (the pipeline has caught up); fail early if the worker died."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode} while waiting for {sql!r}")
        value = await conn.fetchval(sql)
        if value == expected:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {sql!r}: got {value!r}, expected {expected!r}")


def no_timeout(settings: Settings) -> Settings:
    return replace(settings, active_timeout_s=10**9)


async def read_dead_letters(settings: Settings, n: int, timeout: float = 60) -> list[dict[str, Any]]:
    """The first `n` messages of the test's dead-letter topic, decoded (fails after `timeout` seconds)."""
    consumer = AIOKafkaConsumer(
        settings.topic_dlq,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout):
            while len(out) < n:
                batch = await consumer.getmany(timeout_ms=500)
                out += [json.loads(m.value) for ms in batch.values() for m in ms if m.value]
    finally:
        await consumer.stop()
    return out
