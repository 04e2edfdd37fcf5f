"""End-to-end fixtures: one session-wide deployment on the real stack (own database, topics, consumer group
and Redis prefix), the real `usagestream worker` and `usagestream api` processes, and one dataset published
through Kafka before the first test. Every test then asks the HTTP API and compares with its own recount."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

# tests/integration holds the event helpers (eventgen) and the worker process helpers (workerproc); it is put
# on sys.path by its absolute path (never the repository root: its http/ folder would shadow the stdlib's).
INTEGRATION = Path(__file__).resolve().parent.parent / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.append(str(INTEGRATION))

from e2e_env import Api, Deployment, admin_sql, deployment_settings, forget_redis, start_api, topics, wait_http  # noqa: E402
from e2e_world import World, build_world  # noqa: E402
from workerproc import produce, start_worker, stop_worker  # noqa: E402

from usagestream.materializer.ops import migrate  # noqa: E402
from usagestream.settings import Settings  # noqa: E402

TIMEZONE = "Asia/Shanghai"
ACTIVE_TIMEOUT_S = 3 * 3600  # requests of the dataset still active after 3 hours are timed out by the worker


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    base = Settings.from_env()
    tag = uuid.uuid4().hex[:8]
    logs = tmp_path_factory.mktemp("e2e")
    dbname = f"usagestream_e2e_{tag}"
    asyncio.run(admin_sql(base, f'CREATE DATABASE "{dbname}"'))
    settings = deployment_settings(base, "e2e", tag, dbname, logs / "state", TIMEZONE, ACTIVE_TIMEOUT_S)
    worker = api = None
    try:
        migrate.upgrade(settings)
        asyncio.run(topics(settings, create=True))
        world = build_world(datetime.now(UTC), settings.tz, ACTIVE_TIMEOUT_S)
        worker = start_worker(settings, logs / "worker.log")
        api = start_api(settings, logs / "api.log")
        dep = Deployment(settings, f"http://127.0.0.1:{settings.http_port}", world, worker, api, logs)
        asyncio.run(produce(settings, world.messages))
        asyncio.run(dep.wait_caught_up())
        wait_http(dep.base_url + "/health", api)
        yield dep
    finally:
        for proc in (api, worker):
            if proc is not None:
                stop_worker(proc)
        for step in (
            lambda: topics(settings, create=False),
            lambda: forget_redis(settings),
            lambda: admin_sql(base, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'),
        ):
            try:
                asyncio.run(step())
            except Exception as exc:  # cleanup is best effort; the test outcome is what matters
                print(f"e2e cleanup: {exc!r}", file=sys.stderr)


@pytest.fixture
async def api(deployment: Deployment) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield Api(session, deployment)


@pytest.fixture
def world(deployment: Deployment) -> World:
    return deployment.world
