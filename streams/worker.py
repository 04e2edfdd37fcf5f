"""`usagestream worker`: the faust app (process lifecycle, the entities agent, the upkeep timer) and the batch
consumer of the two high-volume topics.

usage and candidates are read by streams/batch_consumer.py (one aiokafka consumer in the group
USAGESTREAM_CONSUMER_GROUP, batches by getmany, offsets committed after the PostgreSQL commit and the Redis sync);
faust's per-event path capped ingest at ~3,800 events/s. The entities agent (low volume) stays a faust agent
taking raw bytes in batches; its group is `<consumer_group>.entities` (a group cannot mix faust's assignor with
aiokafka's). Exactness does not depend on either: every write is fenced by seq (see materializer/write/pg_views.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import faust
import mode
import redis.asyncio as aioredis
from aiohttp import web

from usagestream.materializer.ops import retention
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.write import day_times_fill, provider_days_fill
from usagestream.materializer.write.pg_views import PgViews
from usagestream.materializer.write.redis_live import RedisLive
from usagestream.settings import Settings
from usagestream.streams.batch_consumer import BatchConsumer
from usagestream.streams.dead_letters import DeadLetters
from usagestream.streams.kafka_io import Consumed
from usagestream.streams.pipeline import TRANSIENT, Pipeline, Prepared, RawMessage, merge, prepare
from usagestream.streams.worker_metrics import WorkerMetrics, start_metrics_server, stop_metrics_server

log = logging.getLogger(__name__)

RETENTION_RETRY_S = 300.0
GC_YOUNG_THRESHOLD = 50_000  # a failed retention pass is tried again this soon (or at the interval, if shorter)

# faust reads these bare variables and lets them override what the code passes, so the worker drops them.
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
        self.metrics = WorkerMetrics()  # one per process: it outlives reconnections of the stores
        self.pool: asyncpg.Pool | None = None  # the stores, connected by `ready` inside faust's running loop
        self.redis: aioredis.Redis | None = None
        self._ready = asyncio.Lock()
        self.requests = BatchConsumer(
            settings,
            [settings.topic_usage, settings.topic_candidates],
            self._prepare,
            self._apply,
            metrics=self.metrics,
            merge=self._merge,
        )
        self.app = self._build_app()
        self.service = WorkerService(self)
        # faust starts an instance as it starts a registered class (App._prepare_subservice takes either).
        self.app.service(self.service)  # type: ignore[arg-type]

    def _build_app(self) -> faust.App:
        s = self.settings
        for name in _FAUST_ENV:
            if os.environ.pop(name, None) is not None:
                log.warning("ignoring environment variable %s: usagestream sets faust's options itself", name)
        datadir = Path(s.state_dir).expanduser().resolve() / "faust"
        datadir.mkdir(parents=True, exist_ok=True)
        app = faust.App(
            f"{s.consumer_group}.entities",
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
        entities = app.topic(s.topic_entities, key_type=bytes, value_type=bytes)
        app.agent(entities, name="entities", concurrency=1)(self._consume)
        app.timer(s.sweep_interval_s, on_leader=False)(self._sweep)
        return app

    async def ready(self) -> Pipeline:
        """The pipeline, connecting the stores on first use (inside faust's running loop, never at import)."""
        async with self._ready:
            delay = 0.5
            while self.pipeline is None:
                try:
                    await self._connect()
                except TRANSIENT as exc:  # a store is down at start: wait for it like for any outage
                    log.warning("stores not reachable yet (%s: %s); retrying in %.1fs", type(exc).__name__, exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            return self.pipeline

    async def _connect(self) -> None:
        s = self.settings
        pool = await create_pool(s, min_size=1, max_size=4, custom_plans=True)
        try:
            views = PgViews(pool, s)
            await views.check_timezone()
        except BaseException:
            await pool.close()
            raise
        self.pool = pool
        self.redis = aioredis.from_url(s.redis_url, socket_timeout=10, socket_connect_timeout=5)
        live = RedisLive(self.redis, s)
        self.pipeline = Pipeline(s, views, live, DeadLetters(self.app, s).send, self.metrics)
        log.info("worker stores connected: %s", s.redacted())

    async def close(self) -> None:
        if self.pipeline is None:
            return
        c = self.pipeline.stats
        log.info(
            "worker stopping: consumed=%d applied=%d superseded=%d stale=%d dead=%d",
            c.consumed,
            c.applied,
            c.superseded,
            c.stale,
            c.dead_lettered,
        )
        self.pipeline = None
        if self.pool is not None:
            await self.pool.close()
        if self.redis is not None:
            await self.redis.aclose()

    async def _consume(self, stream: Any) -> None:
        """The entities agent: faust acks a batch's events (and commits them) after `_handle` returned."""
        s = self.settings
        async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
            batch = [
                Consumed(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value)
                for e in events
            ]
            await self._apply(self._prepare(batch))

    def _prepare(self, batch: Sequence[RawMessage]) -> Prepared:
        return prepare(self.settings, batch)

    def _merge(self, parts: list[Prepared]) -> Prepared:
        return merge(self.settings, parts)

    async def _apply(self, batch: Prepared) -> None:
        try:
            pipeline = await self.ready()
            await pipeline.apply(batch)
        except Exception:
            # A bug or a fatal setting, not bad data or an outage: stop without committing, so the batch is
            # redelivered to the restarted worker instead of a crashed consumer leaving the process alive.
            log.critical("cannot apply a batch; exiting", exc_info=True)
            logging.shutdown()
            os._exit(70)

    def assigned_partitions(self) -> list[int]:
        assignment = self.requests.assignment()
        return sorted({tp.partition for tp in assignment if tp.topic == self.settings.topic_usage})

    async def _sweep(self) -> None:
        try:
            pipeline = await self.ready()
            await pipeline.sweep(self.assigned_partitions())
        except Exception:  # the timer must survive anything; the next tick retries
            log.exception("upkeep failed")

    async def _retention_loop(self) -> None:
        """Upkeep: a retention pass (month partitions ahead, old records and bodies) at start and then every
        USAGESTREAM_RETENTION_INTERVAL_S. Every worker runs the loop; a pass already running in another one is
        not waited for (`retention.run(wait=False)`), so one worker does the work at a time."""
        interval = self.settings.retention_interval_s
        while True:
            try:
                await self.ready()
                assert self.pool is not None  # connected by ready()
                report = await retention.run(self.pool, self.settings, wait=False)
                if report.skipped:
                    log.debug("retention pass skipped: another process is running one")
                delay = interval
            except Exception:  # a lock timeout, an outage: the worker keeps consuming, the pass is tried again
                delay = min(interval, RETENTION_RETRY_S)
                log.warning("retention pass failed; next try in %.0fs", delay, exc_info=True)
            await asyncio.sleep(delay)

    async def _day_times_loop(self) -> None:
        """Keeps the daily percentiles' and the provider performance's closed days current
        (materializer/write/day_times_fill.py, provider_days_fill.py): a round of each every
        USAGESTREAM_DAY_TIMES_FILL_INTERVAL_S, the next after a second while a round left stale days."""
        interval = self.settings.day_times_fill_interval_s
        while True:
            delay = interval
            try:
                await self.ready()
                assert self.pool is not None  # connected by ready()
                done = await day_times_fill.fill_round(self.pool, self.settings, datetime.now(UTC))
                more = await provider_days_fill.fill_round(self.pool, self.settings, datetime.now(UTC))
                delay = 1.0 if done.left or more.left else interval
            except Exception:  # an outage, a lock: the worker keeps consuming, the next round retries
                log.warning("kept daily percentiles: round failed; next in %.0fs", delay, exc_info=True)
            await asyncio.sleep(delay)


class WorkerService(mode.Service):
    """Runs with the faust app: the metrics server, the batch consumer and the retention loop start after the app
    started; on stop, the batch in flight is drained, then the stores and the metrics server are closed."""

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self.worker = worker
        self.metrics_server: web.AppRunner | None = None
        self.retention_task: asyncio.Task[None] | None = None
        self.day_times_task: asyncio.Task[None] | None = None

    async def on_start(self) -> None:
        w = self.worker
        self.metrics_server = await start_metrics_server(w.settings, w.metrics)
        await w.requests.start()
        w.requests.task.add_done_callback(_exit_if_failed)
        if w.settings.retention_interval_s > 0:
            self.retention_task = asyncio.create_task(w._retention_loop(), name="usagestream-retention")
        if w.settings.day_times_fill_interval_s > 0:
            self.day_times_task = asyncio.create_task(w._day_times_loop(), name="usagestream-day-times")
        # Objects alive now (faust, modules) live as long as the process: keep the collector off them.
        gc.collect()
        gc.freeze()
        # A batch allocates several objects per event that all live until it is applied: with the default
        # threshold (700) the collector ran dozens of times per batch over them (docs/design.md, "Ingest").
        gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)

    async def on_stop(self) -> None:
        for task in (self.retention_task, self.day_times_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.worker.requests.stop()
        await self.worker.close()
        await stop_metrics_server(self.metrics_server)


def _exit_if_failed(task: asyncio.Task[None]) -> None:
    if task.cancelled() or task.exception() is None:
        return
    log.critical("the batch consumer failed; exiting", exc_info=task.exception())
    logging.shutdown()
    os._exit(70)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loglevel", default=None, help="log level (default: USAGESTREAM_LOG_LEVEL)")


def cli(settings: Settings, args: argparse.Namespace) -> int:
    from usagestream.streams.kafka_topics import ensure_topics

    asyncio.run(ensure_topics(settings))
    worker = Worker(settings)
    level = (args.loglevel or settings.log_level).lower()
    # override_logging=False: keep the handler `usagestream.logs.configure` installed (redaction, escaping, JSON);
    # faust would replace it with its own stdout handler. No spinner either: it writes terminal escapes to stdout.
    faust_worker = faust.Worker(
        worker.app, loglevel=level, loop=asyncio.new_event_loop(), quiet=True, override_logging=False
    )
    faust_worker.spinner = None
    logging.getLogger().setLevel(level.upper())  # --loglevel, which faust no longer applies
    faust_worker.execute_from_commandline()
    return 0
