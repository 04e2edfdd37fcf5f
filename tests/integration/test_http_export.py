"""The export paths and `usagestream export` over the read tests' seeded world, against the JSON endpoints.

The real `usagestream api` serves both: for the same filters, an export's rows are the JSON endpoint's items
(every page of them), in CSV and in JSON Lines, for the admin and the user scope; a search for an API key name
full of CSV's special characters (quote, comma, newline, a leading `=`) round-trips; a user's export holds only
that user's records and only the user item's fields; the CLI writes the same bytes as the API.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import jwt
import pytest
from http_support import serve
from test_pg_reads_seed import TABLES, seed
from workerproc import stop_worker

from usagestream.http.keys import ApiOptions
from usagestream.http.server import create_app
from usagestream.http.shape import export as shape
from usagestream.materializer.pg_pool import encode_json
from usagestream.settings import Settings

E2E = Path(__file__).resolve().parent.parent / "e2e"
if str(E2E) not in sys.path:
    sys.path.append(str(E2E))

from e2e_env import free_port, start_api, wait_http  # noqa: E402

pytestmark = pytest.mark.integration

ADMIN = "/api/admin/usage"
USER = "/api/users/me/usage"
WIDE = {"start_date": "0001-01-01T00:00:00Z", "end_date": "9999-12-31T23:59:59Z"}  # datetimes: no day limit
# k1 (a key of u0) renamed: a CSV cell that needs quoting, holds a newline and starts like a formula.
SPECIAL = '=SUM("a,b";1)\n"q"'
ADMIN_ONLY = {
    "user_id",
    "user_email",
    "username",
    "provider",
    "actual_cost",
    "rate_multiplier",
    "api_key_name",
    "provider_key_name",
    "has_retry",  # has_fallback is the user's too: today's Aether shows it on the user's records
    "has_rectified",
    "request_metadata",
}


@dataclass
class Api:
    url: str
    settings: Settings

    def token(self, user_id: str, role: str) -> dict[str, str]:
        claims = {"user_id": user_id, "role": role, "type": "access", "exp": int(time.time()) + 3600}
        return {"Authorization": "Bearer " + jwt.encode(claims, self.settings.jwt_secret, algorithm="HS256")}


async def _seed(dsn: str, tz: ZoneInfo) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"TRUNCATE {TABLES}")
        await seed(conn, tz, far=True)
        admin = {"username": "root", "email": None, "role": "admin", "is_active": True, "is_deleted": False}
        await conn.execute(
            "INSERT INTO entities (entity, id, seq, deleted, data) VALUES ('user', 'u-admin', 1, false, $1::jsonb)",
            encode_json(admin),
        )
        await conn.execute(
            "UPDATE entities SET data = jsonb_set(data, '{name}', to_jsonb($1::text)) WHERE entity = 'api_key'"
            " AND id = 'k1'",
            SPECIAL,
        )
    finally:
        await conn.close()


@pytest.fixture
async def api(settings: Settings, tmp_path: Path) -> AsyncIterator[Api]:
    s = replace(settings, http_port=free_port(), jwt_secret="export-" + uuid.uuid4().hex + uuid.uuid4().hex)
    await _seed(s.asyncpg_dsn, ZoneInfo(s.timezone))
    proc = start_api(s, tmp_path / "api.log")
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{s.http_port}/health", proc)
        yield Api(f"http://127.0.0.1:{s.http_port}", s)
    finally:
        stop_worker(proc, timeout=10)


async def _get(session: aiohttp.ClientSession, url: str, query: dict[str, str], headers: dict[str, str]) -> Any:
    async with session.get(url, params=query, headers=headers) as resp:
        body = await resp.read()
        assert resp.status == 200, (url, query, resp.status, body[:300])
        return body, resp.headers


async def _json_items(api: Api, path: str, query: dict[str, str], headers: dict[str, str], size: int) -> list[Any]:
    """Every item of every page of a JSON records endpoint, money as Decimal."""
    items: list[Any] = []
    async with aiohttp.ClientSession() as session:
        while True:
            page = {**query, "limit": str(size), "offset": str(len(items))}
            body, _ = await _get(session, api.url + path, page, headers)
            records = json.loads(body, parse_float=Decimal)["records"]
            items.extend(records)
            if len(records) < size:
                return items


async def _export(api: Api, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[bytes, Any]:
    async with aiohttp.ClientSession() as session:
        body: bytes
        body, response_headers = await _get(session, api.url + path, query, headers)
    return body, response_headers


def _csv_table(body: bytes) -> list[list[str]]:
    assert body.split(b"\n", 1)[0].endswith(b"\r") and body.endswith(b"\r\n")  # CRLF line ends (RFC 4180)
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


def _expected_csv(items: list[Any], columns: tuple[str, ...]) -> list[list[str]]:
    return [list(columns)] + [[shape.cell(shape.flatten(i).get(c)) for c in columns] for i in items]


async def _compare(api: Api, scope: str, query: dict[str, str], headers: dict[str, str]) -> list[Any]:
    """The CSV and JSON Lines exports of `query` against the JSON endpoint's items; returns the items."""
    if scope == "admin":
        items = await _json_items(api, f"{ADMIN}/records", query, headers, 500)
        path, columns = f"{ADMIN}/export/records", shape.RECORD_COLUMNS
    else:
        items = await _json_items(api, USER, query, headers, 200)
        path, columns = f"{USER}/export/records", shape.USER_RECORD_COLUMNS
    body, h = await _export(api, path, {**query, "format": "jsonl"}, headers)
    assert h["Content-Type"].startswith("application/x-ndjson")
    assert [json.loads(line, parse_float=Decimal) for line in body.splitlines()] == items
    body, h = await _export(api, path, {**query, "format": "csv"}, headers)
    assert h["Content-Type"].startswith("text/csv")
    assert h["Content-Disposition"].startswith('attachment; filename="usage-records-')
    assert _csv_table(body) == _expected_csv(items, columns)
    return items


async def test_admin_exports_equal_the_records_endpoint(api: Api) -> None:
    admin = api.token("u-admin", "admin")
    cases = [
        {},
        {"search": "gpt"},
        {"search": SPECIAL.split("\n")[0]},
        {"status": "failed", "username": "a"},
        {"user_id": "u0", "model": "gpt-4o"},
        {"provider": "OpenAI-Main", "start_date": "2026-11-01"},
    ]
    sizes = []
    for case in cases:
        sizes.append(len(await _compare(api, "admin", {**WIDE, **case}, admin)))
    assert sizes[0] > 300 and all(sizes[1:]), sizes  # every case selects records
    special, _ = await _export(api, f"{ADMIN}/export/records", {**WIDE, "search": "SUM"}, admin)
    table = _csv_table(special)
    name = table[0].index("api_key.name")
    assert {row[name] for row in table[1:]} == {"'" + SPECIAL}  # the formula defence, the newline kept


async def test_user_export_is_the_callers_own_records_only(api: Api) -> None:
    u0 = api.token("u0", "user")
    items = await _compare(api, "user", WIDE, u0)
    await _compare(api, "user", {**WIDE, "search": SPECIAL.split("\n")[0]}, u0)
    conn = await asyncpg.connect(api.settings.asyncpg_dsn)
    try:
        own = {r["id"] for r in await conn.fetch("SELECT id FROM usage_records WHERE user_id = 'u0'")}
    finally:
        await conn.close()
    assert {i["id"] for i in items} == own and len(own) > 10
    body, _ = await _export(api, f"{USER}/export/records", {**WIDE, "format": "jsonl"}, u0)
    for line in body.splitlines():
        assert not ADMIN_ONLY & set(json.loads(line)), line
    header = _csv_table((await _export(api, f"{USER}/export/records", WIDE, u0))[0])[0]
    assert not ADMIN_ONLY & set(header) and tuple(header) == shape.USER_RECORD_COLUMNS


async def test_aggregation_and_timeseries_exports_equal_the_json(api: Api) -> None:
    admin, u0 = api.token("u-admin", "admin"), api.token("u0", "user")
    async with aiohttp.ClientSession() as session:
        for group_by in shape.AGGREGATION_COLUMNS:
            query = {**WIDE, "group_by": group_by}
            body, _ = await _get(session, f"{api.url}{ADMIN}/aggregation/stats", query, admin)
            items = json.loads(body, parse_float=Decimal)
            assert items
            out, _ = await _get(session, f"{api.url}{ADMIN}/export/aggregation", {**query, "format": "jsonl"}, admin)
            assert [json.loads(line, parse_float=Decimal) for line in out.splitlines()] == items
            out, _ = await _get(session, f"{api.url}{ADMIN}/export/aggregation", query, admin)
            assert _csv_table(out) == _expected_csv(items, shape.AGGREGATION_COLUMNS[group_by])
        series = [(ADMIN, {"group_by": "user", "limit": "3"}, admin), (USER, {"group_by": "model"}, u0)]
        for prefix, extra, who in series:
            query = {"start_date": "2026-11-20", "end_date": "2026-11-28", "granularity": "day", **extra}
            body, _ = await _get(session, f"{api.url}{prefix}/timeseries", query, who)
            rows = shape.series_rows(json.loads(body, parse_float=Decimal))
            assert len(rows) > 9
            out, _ = await _get(session, f"{api.url}{prefix}/export/timeseries", {**query, "format": "jsonl"}, who)
            assert [json.loads(line, parse_float=Decimal) for line in out.splitlines()] == rows
            out, _ = await _get(session, f"{api.url}{prefix}/export/timeseries", query, who)
            assert _csv_table(out) == _expected_csv(rows, shape.TIMESERIES_COLUMNS)


async def test_export_parameters_and_scope_are_checked(api: Api) -> None:
    admin, u0 = api.token("u-admin", "admin"), api.token("u0", "user")
    cases = [
        (f"{ADMIN}/export/records", {"format": "xml"}, admin, 422),
        (f"{ADMIN}/export/records", {"status": "nope"}, admin, 422),
        (f"{ADMIN}/export/records", {"start_date": "yesterday"}, admin, 422),
        (f"{ADMIN}/export/records", {}, u0, 403),
        (f"{ADMIN}/export/records", {}, {}, 401),
        (f"{ADMIN}/export/aggregation", {}, admin, 422),
        (f"{ADMIN}/export/aggregation", {"group_by": "color"}, admin, 400),
        (f"{ADMIN}/export/timeseries", {"tz": "Mars/Olympus"}, admin, 422),
        (f"{USER}/export/timeseries", {"group_by": "user"}, u0, 403),
        (f"{USER}/export/records", {"search": "a\x00"}, u0, 422),
        (f"{USER}/export/records", {}, {}, 401),
    ]
    async with aiohttp.ClientSession() as session:
        for path, query, headers, status in cases:
            async with session.get(api.url + path, params=query, headers=headers) as resp:
                body = await resp.json()
                assert (resp.status, set(body)) == (status, {"error"}), (path, query, await resp.text())


def _cli(api: Api, *args: str) -> subprocess.CompletedProcess[bytes]:
    exe = Path(sys.executable).parent / "usagestream"
    env = {**api.settings.to_env(), "PYTHONSAFEPATH": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(exe), "export", *args], env=env, capture_output=True, timeout=120, check=False)


async def test_cli_writes_what_the_api_exports(api: Api, tmp_path: Path) -> None:
    admin, u0 = api.token("u-admin", "admin"), api.token("u0", "user")
    runs = [
        (f"{ADMIN}/export/records", {**WIDE, "search": "gpt", "format": "csv"}, admin, ["records"]),
        (f"{USER}/export/records", {**WIDE, "format": "jsonl"}, u0, ["records", "--user", "u0"]),
        (f"{ADMIN}/export/aggregation", {**WIDE, "group_by": "provider", "format": "csv"}, admin, ["aggregation"]),
    ]
    for path, query, headers, command in runs:
        expected, _ = await _export(api, path, query, headers)
        options = [f"--{k.replace('_', '-')}={v}" for k, v in query.items()]
        out = tmp_path / "out"
        done = await asyncio.to_thread(_cli, api, *command, *options, "--output", str(out))
        assert done.returncode == 0, done.stderr
        assert out.read_bytes() == expected and expected
        assert not (tmp_path / "out.part").exists()
        stdout = await asyncio.to_thread(_cli, api, *command, *options)
        assert stdout.stdout == expected
    bad = await asyncio.to_thread(_cli, api, "records", "--status", "nope")
    assert bad.returncode == 2 and b"Query parameter 'status'" in bad.stderr


async def _waiting_on_lock(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    finally:
        await conn.close()


async def test_record_exports_at_once_are_bounded(settings: Settings) -> None:
    """With exports_max=1, a second record export while one runs is 429; once it has finished, a new one runs."""
    s = replace(settings, jwt_secret="export-" + uuid.uuid4().hex + uuid.uuid4().hex)
    await _seed(s.asyncpg_dsn, ZoneInfo(s.timezone))
    api = Api("", s)
    client = await serve(create_app(s, options=ApiOptions(exports_max=1)))
    lock = await asyncpg.connect(s.asyncpg_dsn)
    try:
        path, headers = f"{ADMIN}/export/records", api.token("u-admin", "admin")
        tx = lock.transaction()
        await tx.start()
        await lock.execute("LOCK TABLE usage_records IN ACCESS EXCLUSIVE MODE")  # the first export waits on it
        first = asyncio.ensure_future(client.get(path, params=WIDE, headers=headers))
        for _ in range(100):
            if await _waiting_on_lock(s.asyncpg_dsn):
                break
            await asyncio.sleep(0.1)
        second = await client.get(f"{USER}/export/records", headers=api.token("u0", "user"))
        assert second.status == 429 and "retry" in (await second.json())["error"]["message"]
        await tx.rollback()
        done = await first
        assert done.status == 200 and len((await done.read()).splitlines()) > 300
        third = await client.get(path, params={**WIDE, "format": "jsonl"}, headers=headers)
        assert third.status == 200 and len((await third.read()).splitlines()) > 300
    finally:
        await lock.close()
        await client.close()
