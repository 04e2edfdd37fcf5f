"""Browser fixtures: the e2e deployment (own database, topics, consumer group and Redis prefix; the real
`usagestream worker` and `usagestream api` processes; the e2e dataset published through Kafka), and Debian's
headless Chromium driven by Playwright through its executable path (browser downloads are impossible here).

Playwright's sync API keeps an event loop on the main thread, so every coroutine of the test helpers runs
on a worker thread (`browser_env.run`)."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
# the e2e helpers (deployment, dataset) and the integration helpers (events, worker process), by absolute
# path: never the repository root, whose http/ folder would shadow the standard library's
for folder in (HERE.parent / "e2e", HERE.parent / "integration"):
    if str(folder) not in sys.path:
        sys.path.append(str(folder))

from browser_env import ACTIVE_TIMEOUT_S, CHROMIUM, SCREENSHOTS, TIMEZONE, in_thread, run  # noqa: E402
from e2e_env import (  # noqa: E402
    Deployment,
    admin_sql,
    deployment_settings,
    forget_redis,
    start_api,
    topics,
    wait_http,
)
from e2e_world import build_world  # noqa: E402
from workerproc import produce, start_worker, stop_worker  # noqa: E402

from usagestream.materializer.ops import migrate  # noqa: E402
from usagestream.settings import Settings  # noqa: E402


@pytest.fixture(scope="session")
def chromium_path() -> str:
    missing = shutil.which(CHROMIUM) is None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = True
    if missing:
        message = f"needs Debian's chromium at {CHROMIUM} and the playwright package (pip install -e '.[dev]')"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs both (.ci/run): a missing browser is a broken build, not a skip
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    base = Settings.from_env()
    tag = uuid.uuid4().hex[:8]
    logs = tmp_path_factory.mktemp("browser")
    dbname = f"usagestream_browser_{tag}"
    run(lambda: admin_sql(base, f'CREATE DATABASE "{dbname}"'))
    settings = deployment_settings(base, "browser", tag, dbname, logs / "state", TIMEZONE, ACTIVE_TIMEOUT_S)
    worker = api = None
    try:
        in_thread(lambda: migrate.upgrade(settings))
        run(lambda: topics(settings, create=True))
        world = build_world(datetime.now(UTC), settings.tz, ACTIVE_TIMEOUT_S)
        worker = start_worker(settings, logs / "worker.log")
        api = start_api(settings, logs / "api.log")
        dep = Deployment(settings, f"http://127.0.0.1:{settings.http_port}", world, worker, api, logs)
        run(lambda: produce(settings, world.messages))
        run(dep.wait_caught_up)
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
                run(step)
            except Exception as exc:  # cleanup is best effort; the test outcome is what matters
                print(f"browser cleanup: {exc!r}", file=sys.stderr)


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """Module-scoped on purpose: while Playwright's sync API runs, the main thread counts as inside an event
    loop, which would break the asyncio tests that run after this folder in the same session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        chromium = pw.chromium.launch(executable_path=chromium_path, headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
