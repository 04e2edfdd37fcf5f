"""The worker's `/metrics` server: started on its setting's port, scraped over TCP, parsed back; off with port 0."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
from prom_support import samples, value
from testsupport import free_port

from usagestream.metrics import CONTENT_TYPE
from usagestream.settings import Settings
from usagestream.streams.worker_metrics import WorkerMetrics, start_metrics_server, stop_metrics_server

pytestmark = pytest.mark.integration
TOPIC = "gateway.usage.v1"


@pytest.fixture
def worker_settings() -> Settings:
    return Settings.from_env({}, worker_metrics_port=free_port())


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_scrape_shows_what_the_hooks_recorded(worker_settings: Settings, http: aiohttp.ClientSession) -> None:
    metrics = WorkerMetrics()
    runner = await start_metrics_server(worker_settings, metrics)
    assert runner is not None
    url = f"http://127.0.0.1:{worker_settings.worker_metrics_port}/metrics"
    try:
        async with http.get(url) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == CONTENT_TYPE
            before = await resp.text()
        assert value(before, "usagestream_worker_redis_rebuilds_total") == 0, "unlabelled counters start at 0"
        assert value(before, "usagestream_worker_batch_size_count") == 0
        metrics.consumed(TOPIC, 7)
        metrics.applied(TOPIC, 6)
        metrics.dead_lettered(TOPIC, "missing required field v")
        for size in (3, 4):
            metrics.batch(size, 0.01)
        metrics.lag(TOPIC, 2, 40)
        async with http.get(url) as resp:
            after = await resp.text()
    finally:
        await stop_metrics_server(runner)
    assert value(after, "usagestream_worker_events_consumed_total", topic=TOPIC) == 7
    assert value(after, "usagestream_worker_events_applied_total", topic=TOPIC) == 6
    assert value(after, "usagestream_worker_dead_lettered_total", topic=TOPIC, reason="version") == 1
    assert value(after, "usagestream_worker_batch_size_count") == 2
    assert value(after, "usagestream_worker_batch_size_sum") == 7
    assert value(after, "usagestream_worker_batch_size_bucket", le="10.0") == 2
    assert value(after, "usagestream_worker_consumer_lag", topic=TOPIC, partition=2) == 40
    assert value(after, "usagestream_worker_apply_duration_seconds_count") == 2
    assert {"usagestream_worker_store_errors_total", "usagestream_worker_lag"} & {
        n for n, _ in samples(after)
    } == set(), "labelled series appear only once they moved"
    with pytest.raises(aiohttp.ClientConnectionError):  # stopped: the port is closed again
        async with http.get(url):
            pass


async def test_token_is_required_when_configured(worker_settings: Settings, http: aiohttp.ClientSession) -> None:
    runner = await start_metrics_server(replace(worker_settings, metrics_token="w-Tok3n"), WorkerMetrics())
    url = f"http://127.0.0.1:{worker_settings.worker_metrics_port}/metrics"
    try:
        async with http.get(url) as resp:
            assert resp.status == 401
        async with http.get(url, headers={"Authorization": "Bearer nope"}) as resp:
            assert resp.status == 401
        async with http.get(url, headers={"Authorization": "Bearer w-Tok3n"}) as resp:
            assert resp.status == 200 and "usagestream_worker_events_consumed_total" in await resp.text()
    finally:
        await stop_metrics_server(runner)


async def test_port_zero_disables_and_a_taken_port_does_not_stop_the_worker(worker_settings: Settings) -> None:
    assert await start_metrics_server(replace(worker_settings, worker_metrics_port=0), WorkerMetrics()) is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = replace(worker_settings, worker_metrics_port=taken.getsockname()[1])
        assert await start_metrics_server(busy, WorkerMetrics()) is None
