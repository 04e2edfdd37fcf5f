"""The API's HTTP connection: aiohttp's RequestHandler with what a server facing hostile clients needs and aiohttp
does not offer as an option.

- A request-head deadline: a new connection, or a kept-alive one once the first byte of its next request came,
  must deliver the whole request line and headers within `USAGESTREAM_HTTP_HEADER_TIMEOUT_S`, or it is closed
  (a slow-header client cannot hold a socket; idle kept-alive connections are aiohttp's `keepalive_timeout`).
- Arrival time: when a request's head was read off the socket. The access log and the latency histogram measure
  from it, so time a request spent queued behind a busy event loop or a pipelined neighbour is counted.
- A request the parser refuses (a line or header over the limits, an unknown method, a malformed head) is
  answered with the error envelope (400, 405, 414 or 431) and one WARNING line: no traceback, no echo of the
  request, nothing of its query string.

aiohttp (3.9 to 3.14) has no public hook for any of these; the overrides below use `_messages` (the queue of
parsed heads), `_waiter` (set while the connection waits for a request), `_handle_request` and the request's
`_message` (the parsed head it was made from), and tests/integration/test_http_edge.py pins each behaviour.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

from usagestream.http.edge.hardening import harden
from usagestream.http.errors import HTTP, INTERNAL, UNAVAILABLE, error_response

log = logging.getLogger(__name__)
_METHOD_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ ")
ALLOWED = "GET, HEAD"  # every route of the API (http/routes.py) is a GET


class EdgeProtocol(RequestHandler):
    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._max_line = int(kwargs.get("max_line_size", 8190))  # aiohttp's default request-line limit
        self._head_deadline: asyncio.TimerHandle | None = None
        self._arrivals: dict[int, float] = {}  # id(parsed head) -> loop time it was read; popped when answered
        # What a parse error hit: the first bytes of the head being read, its length so far, where its line ended.
        self._head_start = b""
        self._head_len = 0
        self._line_end: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        now = self._loop.time()
        idle = self._waiting_for_request()
        self._note_head(data)
        queued = len(self._messages)
        super().data_received(data)
        fresh = [message for message, _payload in itertools.islice(self._messages, queued, None)]
        for message in fresh:
            self._arrivals[id(message)] = now
        if fresh:
            self._disarm_head_deadline()
            if all(hasattr(message, "method") for message in fresh):  # heads, not a refusal: start a new head
                self._head_start, self._head_len, self._line_end = b"", 0, None
        elif idle and data and self._head_deadline is None:
            self._arm_head_deadline()

    def _note_head(self, data: bytes) -> None:
        if len(self._head_start) < 64:
            self._head_start += data[: 64 - len(self._head_start)]
        if self._line_end is None and (end := data.find(b"\n")) >= 0:
            self._line_end = self._head_len + end
        self._head_len += len(data)

    def arrival(self, request: web.BaseRequest) -> float | None:
        """The loop time at which `request`'s head was read, while it is being answered."""
        return self._arrivals.get(id(request._message))

    async def _handle_request(
        self,
        request: web.BaseRequest,
        start_time: float | None,
        request_handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
    ) -> tuple[web.StreamResponse, bool]:
        arrived = self.arrival(request)
        if start_time is not None and arrived is not None:
            start_time = arrived  # aiohttp's own start is when the request left the queue, not when it came
        try:
            return await super()._handle_request(request, start_time, request_handler)
        finally:
            self._arrivals.pop(id(request._message), None)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The envelope for what aiohttp answers itself: a head the parser refused, or an exception that escaped
        the middlewares (a bug: logged with its traceback, answered with a bare 500)."""
        if request.writer.output_size > 0:  # as aiohttp: a response is under way, only closing is left
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        if isinstance(exc, HttpProcessingError):
            response = self._refusal(request, exc)
        elif status == 504:
            response = error_response(504, UNAVAILABLE, "The request timed out")
        else:
            log.error("%s %s failed outside the error middleware", request.method, request.path, exc_info=exc)
            response = error_response(500, INTERNAL, "Internal server error")
        harden(response.headers)
        response.force_close()
        return response

    def _refusal(self, request: web.BaseRequest, exc: HttpProcessingError) -> web.Response:
        status, text = self._classify(exc)
        # The exception's text quotes the request (its path and query): only its class is logged.
        log.warning("refused a malformed request from %s: %s %s (%s)", request.remote, status, text, type(exc).__name__)
        response = error_response(status, HTTP, text)
        if status == 405:
            response.headers["Allow"] = ALLOWED
        return response

    def _classify(self, exc: HttpProcessingError) -> tuple[int, str]:
        head = self._head_start
        if isinstance(exc, LineTooLong):
            line_too_long = self._line_end is None or self._line_end > self._max_line
            if line_too_long and _METHOD_TOKEN.match(head):
                return 414, "The request line is too long"
            return 431, "A request header is too long"
        if isinstance(exc, BadHttpMethod) and _METHOD_TOKEN.match(head):
            return 405, "Method not allowed"
        if "Too many headers" in str(exc):
            return 431, "Too many request headers"
        return 400, "Malformed HTTP request"

    def _waiting_for_request(self) -> bool:
        waiter = self._waiter
        return waiter is not None and not waiter.done() and not self._messages

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self._loop.call_later(self._header_timeout, self._head_deadline_passed)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_deadline_passed(self) -> None:
        self._head_deadline = None
        if self._waiting_for_request() and self.transport is not None:  # not if a head came or it is answered
            peer = self.transport.get_extra_info("peername")
            log.info(
                "closed a connection from %s: no complete request head within %ss",
                peer and peer[0],
                self._header_timeout,
            )
            self.force_close()
