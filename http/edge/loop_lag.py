"""How late the API's event loop runs a wake-up it asked for, as `usagestream_http_event_loop_lag_seconds`.

A request's latency can only count from when its bytes were read, and nothing is read while a handler holds the
loop: a stall would hide from the request histogram. This probe sees it: it sleeps `INTERVAL` and records by how
much the wake-up came late (a 2 s stall is one 2 s observation, whatever requests it delayed).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from usagestream.http.metrics import METRICS
from usagestream.metrics import Histogram

INTERVAL = 0.1  # ten wake-ups a second: a few microseconds of CPU, and a stall is seen within 0.1 s of its end


async def watch(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the probe runs while the app does."""
    task = asyncio.create_task(_probe(app[METRICS].loop_lag), name="usagestream-loop-lag")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _probe(histogram: Histogram) -> None:
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + INTERVAL
        await asyncio.sleep(INTERVAL)
        histogram.observe(max(0.0, loop.time() - due))
