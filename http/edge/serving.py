"""How the API is served: an aiohttp AppRunner whose connections are EdgeProtocol (http/edge/protocol.py), with
the timeouts of the app's settings, and `serve()`, the run loop of `usagestream api` (SIGINT/SIGTERM stop it).

aiohttp's `web.run_app` always builds plain RequestHandler connections, hence this runner; tests serve the app
through the same runner (tests/integration/http_support.py), so they exercise what production runs.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from usagestream.http.edge.protocol import EdgeProtocol
from usagestream.http.keys import SETTINGS


class EdgeServer(web.Server):
    """aiohttp's low-level server, making EdgeProtocol connections."""

    def __init__(self, handler: Any, *, header_timeout: float, protocol_args: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._header_timeout = header_timeout
        self._protocol_args = protocol_args

    def __call__(self) -> RequestHandler:
        loop = asyncio.get_running_loop()
        return EdgeProtocol(self, loop=loop, header_timeout=self._header_timeout, **self._protocol_args)


class EdgeRunner(web.AppRunner):
    """An AppRunner (start-up, cleanup, sites as usual) whose server makes EdgeProtocol connections."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # runs the app's start-up and merges its handler_args
        settings = self.app[SETTINGS]
        # `_kwargs`: the connection arguments aiohttp assembled (access log class, debug, handler_args).
        protocol_args = {**plain._kwargs, "keepalive_timeout": settings.http_keepalive_timeout_s}
        return EdgeServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            header_timeout=settings.http_header_timeout_s,
            protocol_args=protocol_args,
        )


def serve(app: web.Application, host: str, port: int, **runner_args: Any) -> None:
    """Serve `app` until SIGINT or SIGTERM, then shut down gracefully (websockets closed, pools and clients)."""
    asyncio.run(_serve(app, host, port, runner_args))


async def _serve(app: web.Application, host: str, port: int, runner_args: dict[str, Any]) -> None:
    runner = EdgeRunner(app, **runner_args)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.TCPSite(runner, host, port).start()
        await stop.wait()
    finally:
        await runner.cleanup()
