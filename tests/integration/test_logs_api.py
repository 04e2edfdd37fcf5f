"""The API's logs, configured as `usagestream api` configures them: one line per request (method, route, status,
latency), and never a token, a secret, a query string, a header or a body, not even inside an exception."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis.asyncio as aioredis
from http_support import (
    ADMIN_ID,
    USER_ID,
    FakeReads,
    add_management_token,
    bearer,
    long_secret,
    mint,
    raw_exchange,
    standard_store,
    start,
)

from usagestream.logs import configure
from usagestream.settings import Settings

pytestmark = pytest.mark.integration
TAG = uuid.uuid4().hex[:10]
MARKER = f"MARKER-{TAG}"
DSN_PASSWORD = f"DsnPw-{TAG}"
MANAGEMENT = f"ae_{TAG}managementSECRET"
BAD = f"bad-{TAG}-token"


class LeakyStore(FakeReads):
    """A store whose failure message carries a DSN password and a bearer token, as a careless driver might."""

    leak = ""

    async def stats(self, start: Any, end: Any) -> dict[str, Any]:
        raise ConnectionRefusedError(f"connect postgresql://stats:{DSN_PASSWORD}@db/usage ({self.leak})")


@pytest.fixture
def captured(settings: Settings, request: pytest.FixtureRequest) -> Iterator[tuple[Settings, io.StringIO]]:
    """Logging exactly as the CLI sets it up (usagestream.logs.configure), written to a buffer; restored after."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    settings = replace(long_secret(settings), log_format=request.param, log_level="INFO")
    configure(settings)
    buffer = io.StringIO()
    root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    try:
        yield settings, buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


async def _traffic(settings: Settings) -> list[str]:
    """Requests with every kind of credential and the marker in the query, a header and a body; the secrets."""
    admin, user = mint(settings, ADMIN_ID, "admin"), mint(settings, USER_ID)
    store = LeakyStore(users=standard_store().users)
    store.leak = f"Authorization: Bearer {admin}"
    add_management_token(store, MANAGEMENT, ADMIN_ID)
    client = await start(settings, store)
    marked = {"X-Debug": MARKER, "User-Agent": MARKER}
    try:
        got = [
            (await client.get("/api/admin/usage/records", params={"search": MARKER}, headers=bearer(admin))).status,
            (await client.get("/api/users/me/usage", params={"search": MARKER}, headers=bearer(user))).status,
            (await client.get("/api/admin/usage/stats", headers={**bearer(BAD), **marked})).status,
            (await client.get("/api/admin/usage/heatmap", headers=bearer(MANAGEMENT))).status,
            (await client.post("/api/admin/usage/records", data=MARKER, headers=bearer(admin))).status,
            (await client.get("/api/admin/usage/stats", headers=bearer(admin))).status,
            (await client.get(f"/api/admin/usage/{MARKER}-id", headers=bearer(admin))).status,
        ]
        ws = await client.ws_connect("/api/users/me/usage/active/ws", params={"access_token": user})
        await ws.close()
    finally:
        await client.close()  # every handler and access-log line is done once the server closed
    assert got == [200, 200, 401, 200, 405, 503, 404]
    return [
        admin,
        user,
        admin.rsplit(".", 1)[1],
        user.rsplit(".", 1)[1],
        BAD,
        MANAGEMENT,
        MARKER + "&",
        f"search={MARKER}",
        DSN_PASSWORD,
        settings.jwt_secret,
    ]


@pytest.mark.parametrize("captured", ["json"], indirect=True)
async def test_json_lines_for_each_request_and_no_secret(
    captured: tuple[Settings, io.StringIO], redis_client: aioredis.Redis
) -> None:
    settings, buffer = captured
    secrets = await _traffic(settings)
    output = buffer.getvalue()
    for secret in secrets:
        assert secret not in output, f"{secret[:12]}... leaked into the logs"
    assert MARKER not in output.replace(f"/api/admin/usage/{MARKER}-id", ""), "only as a path segment, never query"
    lines = [json.loads(line) for line in output.splitlines()]  # every line is one JSON object
    access = {(x["method"], x["route"], x["status"]): x for x in lines if x["logger"] == "aiohttp.access"}
    for key in [
        ("GET", "/api/admin/usage/records", 200),
        ("GET", "/api/users/me/usage", 200),
        ("GET", "/api/admin/usage/stats", 401),
        ("POST", "unmatched", 405),
        ("GET", "/api/admin/usage/stats", 503),
        ("GET", "/api/admin/usage/{usage_id}", 404),
        ("GET", "/api/users/me/usage/active/ws", 101),
    ]:
        assert key in access, f"no access line for {key}: {sorted(access)}"
        assert isinstance(access[key]["latency_ms"], float) and access[key]["latency_ms"] >= 0
        assert access[key]["level"] == "INFO" and "?" not in access[key]["path"]
    failure = [x for x in lines if x["logger"] == "usagestream.http.edge.middleware"]
    assert len(failure) == 1 and failure[0]["level"] == "WARNING" and "ConnectionRefusedError" in failure[0]["exc"]
    assert "postgresql://stats:***@db/usage" in failure[0]["exc"], "the safety net masked the driver's message"


@pytest.mark.parametrize("captured", ["text"], indirect=True)
async def test_text_lines_carry_no_secret_either(
    captured: tuple[Settings, io.StringIO], redis_client: aioredis.Redis
) -> None:
    settings, buffer = captured
    secrets = await _traffic(settings)
    output = buffer.getvalue()
    for secret in secrets:
        assert secret not in output, f"{secret[:12]}... leaked into the logs"
    assert '"GET /api/admin/usage/records" 200' in output and "route=/api/admin/usage/records" in output


FORGED = "2026-01-01 00:00:00,000 ERROR usagestream.http.auth admin token accepted"
FORGING_PATH = "/api/admin/usage/x%0D%0A" + FORGED.replace(" ", "%20") + "%00%1B%5B2J"


@pytest.mark.parametrize("captured", ["text", "json"], indirect=True)
async def test_a_path_cannot_forge_a_log_line(
    captured: tuple[Settings, io.StringIO], redis_client: aioredis.Redis
) -> None:
    """CR LF, NUL and ESC percent-encoded in a path (no credential needed) reach the log escaped, on the line of
    the request that carried them."""
    settings, buffer = captured
    client = await start(settings, standard_store())
    try:
        [response] = await raw_exchange(client.port, f"GET {FORGING_PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    finally:
        await client.close()
    assert response.status == 401
    output = buffer.getvalue()
    for char in ("\r", "\x00", "\x1b"):
        assert char not in output, f"{char!r} written raw"
    [line] = [line for line in output.splitlines() if "admin token accepted" in line]
    if settings.log_format == "json":
        record = json.loads(line)
        assert record["logger"] == "aiohttp.access" and record["status"] == 401
        assert record["path"] == "/api/admin/usage/x\\r\\n" + FORGED + "\\x00\\x1b[2J"
    else:
        assert " INFO aiohttp.access " in line and f'"GET /api/admin/usage/x\\r\\n{FORGED}\\x00\\x1b[2J" 401' in line
