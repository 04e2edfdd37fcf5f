"""The worker's Prometheus metrics (`WorkerMetrics`) and the small server exposing them at `/metrics`.

The server listens on USAGESTREAM_WORKER_METRICS_HOST:USAGESTREAM_WORKER_METRICS_PORT (default 127.0.0.1:9464;
port 0 turns it off). Who may scrape is the API's rule (usagestream.metrics.scrape_refusal): the bearer
USAGESTREAM_METRICS_TOKEN if set, else loopback peers only.

Where each hook is called (one WorkerMetrics per worker process, passed to the Pipeline):
- worker start, inside the running loop: `runner = await start_metrics_server(settings, metrics)`;
  at shutdown, after the stores closed: `await stop_metrics_server(runner)`.
- `consumed(topic, n)`: for each batch the pipeline gets, per topic (every message, good or bad).
- `dead_lettered(topic, reason)`: where a message goes to the dead-letter topic (Pipeline._reject), with the
  InvalidEvent reason, "rejected by PostgreSQL: ..." or "beyond_retention: ..."; the reason is folded into a few
  fixed kinds.
- `applied(topic, n)` / `skipped(topic, "duplicate" | "stale" | "superseded", n)`: after PostgreSQL committed a
  batch, from its Applied counts and the batch's own collapse (same seq again = duplicate, an older seq than the
  stored one = stale, an older snapshot of a request whose newer one came in the same batch = superseded). So,
  per topic, consumed = applied + skipped + dead-lettered.
- `batch(size, seconds)`: once per batch that reached the stores: its message count and the time from the start
  of the PostgreSQL apply to the end of the Redis sync (retries included).
- `event_age(stage, seconds)`: by the batch consumer, the age (now - Kafka timestamp) of the oldest message of
  each fetch as it is fetched (`fetched`), and of each batch when its apply begins (`began`) and once its offsets
  are committed (`committed`, after both stores have it): how stale what a dashboard reads is, and where it waited.
- `lag(topic, partition, messages)`: after each poll, per assigned partition: highwater - position (aiokafka
  `consumer.highwater(tp) - consumer.position(tp)`, skipped while highwater is None);
  `forget_partitions(topic_partitions)`: on revoke, so a partition owned by another worker leaves no stale gauge.
- `store_error(exc)` then `store_retry(store_of(exc))`: in Pipeline._retry's `except TRANSIENT` branch, one each
  per failed attempt (`store_error` classifies the exception: postgres, redis, kafka or network).
- `redis_rebuilt(partitions)`: in Pipeline.sweep when Redis had forgotten partitions and the live set was rebuilt.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

from usagestream.metrics import CONTENT_TYPE, Registry, scrape_refusal, store_of
from usagestream.settings import Settings

log = logging.getLogger(__name__)

SKIP_REASONS = ("duplicate", "stale", "superseded")
BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)
AGE_STAGES = ("fetched", "began", "committed")
AGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300)
# Dead-letter reasons are free text with values in them; labels get one of these fixed kinds (first match wins,
# else `schema`: a field breaks the contract). Patterns follow the reasons usagestream.contract raises.
_KINDS = (
    (re.compile(r"^beyond_retention"), "beyond_retention"),
    (re.compile(r"^rejected by postgresql"), "refused_by_postgres"),
    (re.compile(r"tombstone"), "tombstone"),
    (re.compile(r"^(not valid json|json nested|not a json object)"), "json"),
    (re.compile(r"^(unsupported contract version|missing required field v$)"), "version"),
    (re.compile(r"^(kind must|missing required field kind$)"), "kind"),
    (re.compile(r"(message has no key|message key|entity key)"), "key"),
    (re.compile(r"^unexpected topic"), "topic"),
)


def dead_letter_kind(reason: str) -> str:
    """The bounded `reason` label of a dead letter (see _KINDS)."""
    text = reason.lower()
    return next((kind for pattern, kind in _KINDS if pattern.search(text)), "schema")


class WorkerMetrics:
    """The metric objects of one worker process, with one method per hook (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = reg = Registry()
        p = "usagestream_worker_"
        self.consumed_total = reg.counter(p + "events_consumed_total", "Messages polled from Kafka.", ("topic",))
        self.applied_total = reg.counter(
            p + "events_applied_total", "Events whose new state PostgreSQL committed.", ("topic",)
        )
        self.skipped_total = reg.counter(
            p + "events_skipped_total",
            "Events that changed nothing: duplicate (same seq again), stale (older than the stored seq) or"
            " superseded (a newer snapshot of the same id came in the same batch).",
            ("topic", "reason"),
        )
        self.dead_lettered_total = reg.counter(
            p + "dead_lettered_total", "Messages sent to the dead-letter topic, by kind of reason.", ("topic", "reason")
        )
        self.batch_size = reg.histogram(p + "batch_size", "Messages per applied batch.", buckets=BATCH_BUCKETS)
        self.apply_seconds = reg.histogram(
            p + "apply_duration_seconds", "Time to apply one batch: PostgreSQL commit and Redis sync, retries included."
        )
        self.event_age_seconds = reg.histogram(
            p + "event_age_seconds",
            "Age (since its Kafka timestamp) of the oldest message of each fetch when fetched, and of each batch when"
            " its apply began and when its offsets were committed.",
            ("stage",),
            buckets=AGE_BUCKETS,
        )
        self.lag_messages = reg.gauge(
            p + "consumer_lag", "Messages behind the partition's end (highwater - position).", ("topic", "partition")
        )
        self.store_errors_total = reg.counter(
            p + "store_errors_total", "Failed store operations (infrastructure, not data), by store.", ("store",)
        )
        self.store_retries_total = reg.counter(
            p + "store_retries_total", "Store operations retried after a backoff, by store.", ("store",)
        )
        self.redis_rebuilds_total = reg.counter(
            p + "redis_rebuilds_total", "Live-set rebuilds after Redis lost a partition's keys."
        )
        self.redis_rebuilt_partitions_total = reg.counter(
            p + "redis_rebuilt_partitions_total", "Partitions whose live set was rebuilt from PostgreSQL."
        )

    def consumed(self, topic: str, n: int = 1) -> None:
        self.consumed_total.labels(topic=topic).inc(n)

    def applied(self, topic: str, n: int) -> None:
        self.applied_total.labels(topic=topic).inc(n)

    def skipped(self, topic: str, reason: str, n: int) -> None:
        if reason not in SKIP_REASONS:
            raise ValueError(f"skip reason must be one of {SKIP_REASONS}, got {reason!r}")
        self.skipped_total.labels(topic=topic, reason=reason).inc(n)

    def dead_lettered(self, topic: str, reason: str) -> None:
        self.dead_lettered_total.labels(topic=topic, reason=dead_letter_kind(reason)).inc()

    def batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.apply_seconds.observe(seconds)

    def event_age(self, stage: str, seconds: float) -> None:
        if stage not in AGE_STAGES:
            raise ValueError(f"age stage must be one of {AGE_STAGES}, got {stage!r}")
        self.event_age_seconds.labels(stage=stage).observe(max(seconds, 0.0))  # another host's clock may be ahead

    def lag(self, topic: str, partition: int, messages: int) -> None:
        self.lag_messages.labels(topic=topic, partition=partition).set(max(messages, 0))

    def forget_partitions(self, topic_partitions: Iterable[tuple[str, int]]) -> None:
        for topic, partition in topic_partitions:
            self.lag_messages.remove(topic=topic, partition=partition)

    def store_error(self, exc: BaseException) -> None:
        self.store_errors_total.labels(store=store_of(exc)).inc()

    def store_retry(self, store: str) -> None:
        self.store_retries_total.labels(store=store).inc()

    def redis_rebuilt(self, partitions: int) -> None:
        self.redis_rebuilds_total.inc()
        self.redis_rebuilt_partitions_total.inc(partitions)


async def start_metrics_server(settings: Settings, metrics: WorkerMetrics) -> web.AppRunner | None:
    """Serve `/metrics`; None if USAGESTREAM_WORKER_METRICS_PORT is 0 or the port cannot be bound (logged: the
    worker keeps consuming, since metrics are not worth stopping ingestion for)."""
    if settings.worker_metrics_port == 0:
        return None
    app = web.Application()
    app.router.add_get("/metrics", _serve(settings.metrics_token, metrics.registry))
    runner = web.AppRunner(app, access_log=None)  # a scrape every 15 s is not an event worth a log line
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.worker_metrics_host, settings.worker_metrics_port).start()
    except OSError as exc:
        log.error(
            "worker metrics not served: cannot listen on %s:%s (%s)",
            settings.worker_metrics_host,
            settings.worker_metrics_port,
            exc,
        )
        await runner.cleanup()
        return None
    log.info("worker metrics on http://%s:%s/metrics", settings.worker_metrics_host, settings.worker_metrics_port)
    return runner


async def stop_metrics_server(runner: web.AppRunner | None) -> None:
    if runner is not None:
        await runner.cleanup()


def _serve(token: str, registry: Registry) -> Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        refusal = scrape_refusal(token, request.headers.get("Authorization"), request.remote)
        if refusal is not None:
            return web.Response(
                status=refusal,
                text="metrics: bearer token required"
                if refusal == 401
                else "metrics: loopback peers only (set USAGESTREAM_METRICS_TOKEN)",
            )
        return web.Response(body=registry.expose().encode(), headers={"Content-Type": CONTENT_TYPE})

    return serve
