"""The API's HTTP edge, over real sockets: what the parser refuses gets the envelope and one WARNING line, slow
and idle clients lose their sockets, latency counts from a request's arrival, every response carries the
hardening headers (http/edge/protocol.py, http/edge/serving.py, http/edge/hardening.py)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient
from http_support import (
    ADMIN_ID,
    USER_ID,
    app_for,
    bearer,
    long_secret,
    mint,
    raw_exchange,
    responses_in,
    serve,
    standard_store,
)

from usagestream.http.metrics import METRICS
from usagestream.metrics import Histogram
from usagestream.settings import Settings

pytestmark = pytest.mark.integration
MARKER = f"SECRET{uuid.uuid4().hex[:8]}"
HARDENED = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "server": "usagestream",
}


@pytest.fixture
async def client(settings: Settings, redis_client: aioredis.Redis) -> AsyncIterator[TestClient[Any, Any]]:
    settings = replace(long_secret(settings), http_header_timeout_s=0.5, http_keepalive_timeout_s=2.0)
    app = app_for(settings, standard_store())

    async def block(request: web.Request) -> web.Response:
        time.sleep(0.4)
        return web.json_response({})

    app.router.add_get("/test/block", block)
    test_client = await serve(app)
    try:
        yield test_client
    finally:
        await test_client.close()


def _get(target: str, *headers: str) -> bytes:
    return "\r\n".join([f"GET {target} HTTP/1.1", "Host: x", *headers, "", ""]).encode()


MALFORMED = [
    (_get(f"/api/users/me/usage?search={MARKER}{'a' * 9000}"), 414),
    (_get(f"/api/users/me/usage?search={MARKER}", "X-Big: " + "b" * 9000), 431),
    (_get(f"/api/users/me/usage?search={MARKER}", *(f"X-{i}: y" for i in range(200))), 431),
    (_get(f"/api/users/me/usage?search={MARKER}").replace(b"GET", b"FOO", 1), 405),
    (_get(f"/api/users/me/usage?search={MARKER}", "Bad Header: x"), 400),
    (f"\x16\x03\x01 {MARKER}\r\n\r\n".encode(), 400),  # TLS (or any garbage) sent to the plain-HTTP port
]


@pytest.mark.parametrize(("raw", "status"), MALFORMED, ids=["url", "header", "headers", "method", "token", "tls"])
async def test_malformed_requests_get_the_envelope_and_one_warning(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture, raw: bytes, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    [response] = await raw_exchange(client.port, raw)
    assert response.status == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": {"type": "http_error", "message": response.json()["error"]["message"]}}
    assert MARKER.encode() not in response.body, "the request is not echoed"
    assert HARDENED.items() <= response.headers.items()
    if status == 405:
        assert response.headers["allow"] == "GET, HEAD"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING, [r.getMessage() for r in warnings]
    assert warnings[0].exc_info is None and f" {status} " in warnings[0].getMessage()
    for record in caplog.records:
        assert MARKER not in record.getMessage() and MARKER not in (record.exc_text or "")


async def test_a_kept_alive_connection_classifies_its_next_request_afresh(client: TestClient[Any, Any]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    try:
        for target, status in [("/health", 200), ("/health?" + "a" * 9000, 414)]:
            writer.write(_get(target))
            assert await _status(reader) == status
    finally:
        writer.close()


async def test_slow_silent_and_idle_clients_are_closed(client: TestClient[Any, Any]) -> None:
    """Header timeout 0.5 s, keep-alive 2 s (the fixture's settings)."""
    started = time.monotonic()

    async def closed_after(reader: asyncio.StreamReader) -> float:
        async with asyncio.timeout(5):
            while await reader.read(65536):
                pass
        return time.monotonic() - started

    async def trickle(writer: asyncio.StreamWriter) -> None:
        writer.write(b"GET /health HTTP/1.1\r\n")
        for i in range(20):
            await asyncio.sleep(0.2)
            if writer.is_closing():
                return
            writer.write(f"X-{i}: y\r\n".encode())

    silent = [await asyncio.open_connection("127.0.0.1", client.port) for _ in range(3)]
    slow = [await asyncio.open_connection("127.0.0.1", client.port) for _ in range(3)]
    tricklers = [asyncio.create_task(trickle(w)) for _, w in slow]
    for reader, writer in silent + slow:
        assert 0.4 < await closed_after(reader) < 2.0
        writer.close()
    await asyncio.gather(*tricklers, return_exceptions=True)

    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    started = time.monotonic()
    writer.write(_get("/health"))
    assert await _status(reader) == 200
    await asyncio.sleep(0.8)  # idle past the header timeout, within keep-alive: still served, in two pieces
    writer.write(b"GET /health HTTP/1.1\r\n")
    await asyncio.sleep(0.2)
    writer.write(b"Host: x\r\n\r\n")
    assert await _status(reader) == 200
    started = time.monotonic()
    assert 1.8 < await closed_after(reader) < 3.5, "then closed after keep-alive's 2 s of idleness"
    writer.close()


async def _status(reader: asyncio.StreamReader) -> int:
    """One response read off a kept-alive connection (its body consumed); its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    [response] = responses_in(head + await reader.readexactly(length))
    return response.status


async def test_latency_counts_from_arrival_not_from_the_end_of_the_queue(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """/health pipelined behind a handler that holds the loop for 0.4 s waited that long: the log and the
    histogram say so (aiohttp's own clock starts when the request leaves the queue and says ~0 ms); the loop-lag
    histogram shows the stall itself."""
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    responses = await raw_exchange(client.port, _get("/test/block") + _get("/health"), expect=2)
    assert [r.status for r in responses] == [200, 200]
    assert client.app is not None
    metrics = client.app[METRICS]
    async with asyncio.timeout(2):
        while _observations_over(metrics.loop_lag, 0.25) < 1:  # the probe wakes up at its next turn
            await asyncio.sleep(0.05)
    await client.close()  # every access-log line is written
    lines = {r.__dict__["fields"]["route"]: r.__dict__["fields"] for r in caplog.records if hasattr(r, "fields")}
    assert lines["/test/block"]["latency_ms"] >= 400
    assert lines["/health"]["latency_ms"] >= 350, lines["/health"]
    assert metrics.latency.value("GET", "/health") >= 0.35


def _observations_over(histogram: Histogram, seconds: float) -> int:
    samples = {(name, labels): value for name, labels, value in histogram.samples()}
    total = samples[(histogram.name + "_count", ())]
    return int(total - samples[(histogram.name + "_bucket", (("le", str(seconds)),))])


async def test_every_response_carries_the_hardening_headers(client: TestClient[Any, Any], settings: Settings) -> None:
    settings = long_secret(settings)
    admin, user = mint(settings, ADMIN_ID, "admin"), mint(settings, USER_ID)
    for path, headers in [
        ("/api/admin/usage/stats", bearer(admin)),
        ("/api/users/me/usage", bearer(user)),
        ("/api/admin/usage/stats", {}),
        ("/no/such/path", {}),
        ("/health", {}),
    ]:
        response = await client.get(path, headers=headers)
        got = {name.lower(): value for name, value in response.headers.items()}
        assert HARDENED.items() <= got.items(), (path, got)
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    page = await client.get("/")
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Server"] == "usagestream"
    assert page.headers["Cache-Control"] == "no-cache", "the dashboard keeps its own caching policy"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"], "and its own CSP"
    handshake = _get(
        f"/api/users/me/usage/active/ws?access_token={user}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    )
    [upgrade] = await raw_exchange(client.port, handshake)
    assert upgrade.status == 101 and upgrade.headers["server"] == "usagestream"
