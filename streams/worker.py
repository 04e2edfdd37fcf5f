"""`usagestream worker`: the faust app, its agents (requests and entities) and the upkeep timer.

Agents take raw bytes in batches (`take_events`), with concurrency 1; faust acks a batch's events only after the
pipeline has committed them to PostgreSQL and synced Redis, and commits offsets from those acks (at least once).
Exactness does not depend on faust: every write is fenced by seq (see materializer/pg_views.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import faust
import mode
import redis.asyncio as aioredis

from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.pg_views import PgViews
from usagestream.materializer.redis_views import RedisLive
from usagestream.settings import Settings
from usagestream.streams.dead_letters import DeadLetters
from usagestream.streams.pipeline import TRANSIENT, Pipeline, RawMessage

log = logging.getLogger(__name__)

# faust reads these bare variables and lets them override what the code passes (STYLE.md traps).
_FAUST_ENV = (
    "BROKER_URL",
    "WEB_PORT",
    "WEB_HOST",
    "WEB_ENABLED",
    "PROCESSING_GUARANTEE",
    "APP_DATADIR",
    "DATADIR",
)


class Worker:
    """Composition root of the worker process: settings -> faust app with its agents and stores."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pipeline: Pipeline | None = None
        self.app = self._build_app()

    def _build_app(self) -> faust.App:
        s = self.settings
        for name in _FAUST_ENV:
            if os.environ.pop(name, None) is not None:
                log.warning("ignoring environment variable %s: usagestream sets faust's options itself", name)
        datadir = Path(s.state_dir).expanduser().resolve() / "faust"
        datadir.mkdir(parents=True, exist_ok=True)
        app = faust.App(
            s.consumer_group,
            broker=[f"kafka://{h}" for h in s.kafka_bootstrap.split(",")],
            datadir=str(datadir),
            web_enabled=False,
            processing_guarantee="at_least_once",
            topic_allow_declare=False,
            topic_disable_leader=True,
            topic_partitions=s.partitions,
            consumer_auto_offset_reset="earliest",
            broker_commit_interval=1.0,
            broker_max_poll_records=s.batch_size,
            stream_buffer_maxsize=max(4096, s.batch_size * 2),
            broker_session_timeout=10.0,
            broker_heartbeat_interval=2.0,
            broker_rebalance_timeout=30.0,
            stream_wait_empty=False,
            key_serializer="raw",
            value_serializer="raw",
        )
        requests = app.topic(s.topic_usage, s.topic_candidates, key_type=bytes, value_type=bytes)
        entities = app.topic(s.topic_entities, key_type=bytes, value_type=bytes)
        app.agent(requests, name="requests", concurrency=1)(self._consume)
        app.agent(entities, name="entities", concurrency=1)(self._consume)
        app.timer(s.sweep_interval_s, on_leader=False)(self._sweep)
        worker = self

        class Stores(mode.Service):  # closes the stores when faust stops the app
            async def on_stop(self) -> None:
                await worker.close()

        app.service(Stores)
        self._ready = asyncio.Lock()
        return app

    async def ready(self) -> Pipeline:
        """The pipeline, connecting the stores on first use (inside faust's running loop, never at import)."""
        async with self._ready:
            delay = 0.5
            while self.pipeline is None:
                try:
                    await self._connect()
                except TRANSIENT as exc:  # a store is down at start: wait for it like for any outage
                    log.warning(
                        "stores not reachable yet (%s: %s); retrying in %.1fs", type(exc).__name__, exc, delay
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            return self.pipeline

    async def _connect(self) -> None:
        s = self.settings
        pool = await create_pool(s, min_size=1, max_size=4)
        try:
            views = PgViews(pool, s)
            await views.check_timezone()
        except BaseException:
            await pool.close()
            raise
        self.pool = pool
        self.redis = aioredis.from_url(s.redis_url, socket_timeout=10, socket_connect_timeout=5)
        live = RedisLive(self.redis, s)
        self.pipeline = Pipeline(s, views, live, DeadLetters(self.app, s).send)
        log.info("worker stores connected: %s", s.redacted())

    async def close(self) -> None:
        if self.pipeline is None:
            return
        c = self.pipeline.counters
        log.info("worker stopping: consumed=%d applied=%d stale=%d dead=%d", c.consumed, c.applied, c.stale,
                 c.dead_lettered)  # fmt: skip
        self.pipeline = None
        await self.pool.close()
        await self.redis.aclose()

    async def _consume(self, stream: Any) -> None:
        s = self.settings
        async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
            batch = [
                RawMessage(
                    e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value
                )
                for e in events
            ]
            try:
                pipeline = await self.ready()
                await pipeline.process(batch)
            except Exception:
                # A bug or a fatal setting, not bad data or an outage: stop without committing, so the batch is
                # redelivered to the restarted worker instead of a crashed agent leaving the process alive.
                log.critical("cannot apply a batch; exiting", exc_info=True)
                logging.shutdown()
                os._exit(70)

    def assigned_partitions(self) -> list[int]:
        assignment = self.app.consumer.assignment()
        return sorted({tp.partition for tp in assignment if tp.topic == self.settings.topic_usage})

    async def _sweep(self) -> None:
        try:
            pipeline = await self.ready()
            await pipeline.sweep(self.assigned_partitions())
        except Exception:  # the timer must survive anything; the next tick retries
            log.exception("upkeep failed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loglevel", default=None, help="log level (default: USAGESTREAM_LOG_LEVEL)")


def cli(settings: Settings, args: argparse.Namespace) -> int:
    from usagestream.streams.kafka_topics import ensure_topics

    asyncio.run(ensure_topics(settings))
    worker = Worker(settings)
    level = (args.loglevel or settings.log_level).lower()
    faust_worker = faust.Worker(worker.app, loglevel=level, loop=asyncio.new_event_loop(), quiet=True)
    faust_worker.execute_from_commandline()
    return 0
