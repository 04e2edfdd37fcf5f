"""Settings of the browser tests, and `run`: the main thread's event loop belongs to Playwright's sync API,
so the coroutines of the e2e helpers (publish, wait until caught up) run on a thread of their own."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

CHROMIUM = os.environ.get("USAGESTREAM_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "artifacts" / "screenshots"
TIMEZONE = "Asia/Shanghai"  # the server's day buckets; the browser runs in another zone on purpose
BROWSER_TZ = "America/New_York"
ACTIVE_TIMEOUT_S = 3 * 3600  # requests of the dataset still active after 3 hours are timed out by the worker
T = TypeVar("T")


def in_thread(call: Callable[[], T]) -> T:
    """`call()` on a fresh thread (for code that runs its own event loop, e.g. the migrations)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a fresh thread and return its result."""
    return in_thread(lambda: asyncio.run(make()))
