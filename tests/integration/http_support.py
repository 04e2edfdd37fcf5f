"""Helpers for the HTTP API tests: a stand-in read store, token minting, and a running test app."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from usagestream.http.edge.serving import EdgeRunner
from usagestream.http.keys import ApiOptions
from usagestream.http.server import create_app
from usagestream.materializer.read.records import EXACT, RecordQuery
from usagestream.settings import Settings

ADMIN_ID = "u-admin"
USER_ID = "u-alice"
OTHER_ID = "u-bob"


@dataclass
class FakeReads:
    """Implements usagestream.http.store.Reads from dicts; records every call for assertions."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    key_names: dict[str, str] = field(default_factory=dict)
    flags: dict[str, dict[str, bool]] = field(default_factory=dict)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    fail_credentials: bool = False

    def _note(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((name, kwargs or args))

    async def stats(self, start: datetime | None, end: datetime | None, **only: str | None) -> dict[str, Any]:
        self._note("stats", start, end, *((only,) if only else ()))
        return {
            "total_requests": 1,
            "total_tokens": 3,
            "total_cost": Decimal("0.10"),
            "total_actual_cost": Decimal("0.05"),
            "avg_response_time": 1.5,
            "error_count": 0,
            "error_rate": 0,
            "cache_stats": {
                "cache_creation_tokens": 0,
                "cache_read_tokens": 0,
                "cache_creation_cost": Decimal(0),
                "cache_read_cost": Decimal(0),
            },
        }

    async def aggregation(self, group_by: str, start: Any, end: Any, limit: int) -> list[dict[str, Any]]:
        self._note("aggregation", group_by, start, end, limit)
        return []

    async def heatmap(
        self, user_id: str | None, include_actual_cost: bool, now: datetime, zone: tzinfo | None = None
    ) -> dict[str, Any]:
        self._note("heatmap", user_id, include_actual_cost, zone)
        return {
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
            "total_days": 0,
            "active_days": 0,
            "max_requests": 0,
            "days": [],
        }

    async def records(self, q: RecordQuery, limit: int, offset: int, total: str = EXACT) -> dict[str, Any]:
        self._note("records", q, limit, offset, total)
        return {"records": [], "total": 0, "limit": limit, "offset": offset, "total_is_estimated": False}

    async def detail(self, usage_id: str, include_bodies: bool = True) -> dict[str, Any] | None:
        self._note("detail", usage_id, include_bodies)
        return None

    async def active_records(self, ids: list[str], user_id: str | None) -> list[dict[str, Any]]:
        self._note("active_records", list(ids), user_id)
        return [r for i, r in self.rows.items() if i in ids and (user_id is None or r["user_id"] == user_id)]

    async def ttl_analysis(self, user_id: Any, api_key_id: Any, hours: int, now: datetime) -> dict[str, Any]:
        self._note("ttl", user_id, api_key_id, hours)
        return {
            "analysis_period_hours": hours,
            "total_users_analyzed": 0,
            "ttl_distribution": {"5min": 0, "15min": 0, "30min": 0, "60min": 0},
            "users": [],
        }

    async def hit_analysis(self, user_id: Any, api_key_id: Any, hours: int, now: datetime) -> dict[str, Any]:
        self._note("hit", user_id, api_key_id, hours)
        keys = (
            "total_requests",
            "requests_with_cache_hit",
            "total_input_tokens",
            "total_cache_read_tokens",
            "total_cache_creation_tokens",
        )
        out: dict[str, Any] = {"analysis_period_hours": hours, **dict.fromkeys(keys, 0)}
        out.update(
            request_cache_hit_rate=0,
            token_cache_hit_rate=0.0,
            total_cache_read_cost_usd=Decimal(0),
            total_cache_creation_cost_usd=Decimal(0),
            estimated_savings_usd=Decimal(0),
        )
        return out

    async def interval_timeline(
        self, hours: int, limit: int, user_id: Any, include_user_info: bool, now: datetime
    ) -> dict[str, Any]:
        self._note("timeline", hours, limit, user_id, include_user_info)
        return {"analysis_period_hours": hours, "total_points": 0, "points": []}

    async def user_usage(
        self, user_id: str, start: Any, end: Any, search: Any, limit: int, offset: int
    ) -> dict[str, Any]:
        self._note("user_usage", user_id, start, end, search, limit, offset)
        return {
            "total_requests": 0,
            "total_input_tokens": 0,
            "total_output_tokens": 0,
            "total_tokens": 0,
            "total_cost": 0,
            "avg_response_time": 0,
            "quota_usd": None,
            "used_usd": 0,
            "summary_by_model": [],
            "summary_by_api_format": [],
            "pagination": {"total": 0, "limit": limit, "offset": offset, "has_more": False},
            "records": [],
        }

    async def user_by_id(self, user_id: str) -> dict[str, Any] | None:
        return self.users.get(user_id)

    async def management_token(self, token_sha256: str) -> dict[str, Any] | None:
        return self.tokens.get(token_sha256)

    async def credentials(
        self, user_ids: list[str], token_sha256s: list[str]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        self._note("credentials", sorted(user_ids), sorted(token_sha256s))
        if self.fail_credentials:
            raise OSError("PostgreSQL is down (a test's stand-in)")
        users = {i: self.users[i] for i in user_ids if i in self.users}
        return users, {t: self.tokens[t] for t in token_sha256s if t in self.tokens}

    async def provider_key_names(self, ids: list[str]) -> dict[str, str]:
        self._note("provider_key_names", sorted(ids))
        return {i: self.key_names[i] for i in ids if i in self.key_names}

    async def attempt_flags(self, ids: list[str]) -> dict[str, dict[str, bool]]:
        self._note("attempt_flags", sorted(ids))
        return {i: self.flags[i] for i in ids if i in self.flags}


def long_secret(settings: Settings) -> Settings:
    """The same settings with a JWT key long enough for pyjwt not to warn (warnings are errors in tests)."""
    return replace(settings, jwt_secret=settings.jwt_secret + "-" + "k" * 32)


def user(user_id: str, role: str = "user", *, active: bool = True, deleted: bool = False) -> dict[str, Any]:
    return {"id": user_id, "username": user_id, "email": None, "role": role, "is_active": active, "is_deleted": deleted}


def standard_store() -> FakeReads:
    store = FakeReads()
    store.users = {ADMIN_ID: user(ADMIN_ID, "admin"), USER_ID: user(USER_ID), OTHER_ID: user(OTHER_ID)}
    return store


def mint(settings: Settings, user_id: str, role: str = "user", *, ttl: int = 3600, **extra: Any) -> str:
    claims = {"user_id": user_id, "role": role, "type": "access", "exp": int(time.time()) + ttl, **extra}
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def add_management_token(store: FakeReads, token: str, user_id: str, **fields: Any) -> None:
    record = {"user_id": user_id, "is_active": True, "expires_at": None, "allowed_ips": None, **fields}
    store.tokens[hashlib.sha256(token.encode()).hexdigest()] = record


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class EdgeTestServer(TestServer):
    """The app served as `usagestream api` serves it: EdgeRunner (the edge protocol, the settings' timeouts)."""

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        return EdgeRunner(self.app, **kwargs)


def app_for(settings: Settings, store: Any, options: ApiOptions | None = None) -> web.Application:
    return create_app(settings, options=options, store_factory=lambda _pool, _settings: store)


async def start(settings: Settings, store: Any, options: ApiOptions | None = None) -> TestClient[Any, Any]:
    return await serve(app_for(settings, store, options))


async def serve(app: web.Application) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(EdgeTestServer(app))
    await client.start_server()
    return client


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def raw_exchange(port: int, request: bytes, *, expect: int = 1, timeout: float = 10.0) -> list[RawResponse]:
    """Write `request` (raw bytes: one or several pipelined requests) on a new connection and read until `expect`
    responses (Content-Length framed) came or the server closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        data = b""
        async with asyncio.timeout(timeout):
            while len(responses_in(data)) < expect and (chunk := await reader.read(65536)):
                data += chunk
    finally:
        writer.close()
    return responses_in(data)


def responses_in(data: bytes) -> list[RawResponse]:
    out = []
    while b"\r\n\r\n" in data:
        head, data = data.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        length = int(headers.get("content-length", "0"))
        if len(data) < length:
            break
        out.append(RawResponse(int(status_line.split()[1]), headers, data[:length]))
        data = data[length:]
    return out
