"""An export of a million records holds constant memory: through the real `usagestream api` and through
`usagestream export` (issue 15: "constant memory for any size").

The records go into a database of their own (one INSERT ... SELECT generate_series, as test_api_wide_extent's
seed does), so no other test's rows count. Each process's peak resident set (VmHWM of the API, ru_maxrss of the
CLI) is read after a small export (imports, pools and caches loaded) and after the full one: the growth must stay
under GROWTH_BOUND, far below what holding the export would need (a million shaped records take gigabytes), and
the number of rows must be exact.
"""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import jwt
import pytest
from pg_admin import run_admin_sql
from test_pg_reads_seed import add_admin, clone_records, seed
from workerproc import stop_worker

from usagestream.materializer.ops import migrate
from usagestream.settings import Settings

E2E = Path(__file__).resolve().parent.parent / "e2e"
if str(E2E) not in sys.path:
    sys.path.append(str(E2E))

from e2e_env import free_port, start_api, wait_http  # noqa: E402

pytestmark = pytest.mark.integration

BULK = 1_000_000
GROWTH_BOUND = 100 * 1024 * 1024  # bytes of peak RSS growth allowed for the whole export
WIDE = {"start_date": "0001-01-01T00:00:00Z", "end_date": "9999-12-31T23:59:59Z"}  # datetimes: no day limit
NONE = {"start_date": "2000-01-01", "end_date": "2000-01-02"}  # no record: the small export
# The CLI in a wrapper that reports its own peak RSS (ru_maxrss, KiB on Linux) on its last stderr line.
CLI = (
    "import resource, sys\n"
    "from usagestream.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


@dataclass
class Api:
    url: str
    settings: Settings
    pid: int

    def headers(self) -> dict[str, str]:
        claims = {"user_id": "u-admin", "role": "admin", "type": "access", "exp": int(time.time()) + 3600}
        return {"Authorization": "Bearer " + jwt.encode(claims, self.settings.jwt_secret, algorithm="HS256")}


@pytest.fixture(scope="module")
def big_dsn() -> Iterator[str]:
    """A database of its own with the migrations applied, dropped afterwards."""
    base = Settings.from_env()
    name = f"usagestream_t_export_{uuid.uuid4().hex[:8]}"
    admin = base.asyncpg_dsn.rpartition("/")[0] + "/postgres"
    asyncio.run(run_admin_sql(admin, f'CREATE DATABASE "{name}"'))
    dsn = base.asyncpg_dsn.rpartition("/")[0] + "/" + name
    try:
        migrate.upgrade(replace(base, postgres_dsn=dsn))
        asyncio.run(_seed(dsn, ZoneInfo(base.timezone)))
        yield dsn
    finally:
        asyncio.run(run_admin_sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _seed(dsn: str, tz: ZoneInfo) -> None:
    """An admin, the read tests' world, and BULK copies of one of its completed records (fresh ids)."""
    conn = await asyncpg.connect(dsn)
    try:
        await seed(conn, tz, n=20)
        await add_admin(conn)
        fresh = {
            "id": "'bulk-' || g",
            "request_id": "'bulk-req-' || g",
            "created_at": "timestamptz '2026-11-20' - g * interval '1 second'",
        }
        await clone_records(conn, BULK, fresh)
        await conn.execute("ANALYZE usage_records")
    finally:
        await conn.close()


async def _total(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM usage_records"))
    finally:
        await conn.close()


@pytest.fixture
async def api(settings: Settings, big_dsn: str, tmp_path: Path) -> AsyncIterator[Api]:
    s = replace(settings, postgres_dsn=big_dsn, http_port=free_port(), jwt_secret="mem-" + uuid.uuid4().hex * 2)
    proc = start_api(s, tmp_path / "api.log")
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{s.http_port}/health", proc)
        yield Api(f"http://127.0.0.1:{s.http_port}", s, proc.pid)
    finally:
        stop_worker(proc, timeout=10)


def _peak_rss(pid: int) -> int:
    """The process's peak resident set size in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


async def _download_lines(api: Api, query: dict[str, str]) -> int:
    """Lines of a JSON Lines export, counted as the body arrives (never held whole)."""
    lines = 0
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        url = f"{api.url}/api/admin/usage/export/records"
        async with session.get(url, params={**query, "format": "jsonl"}, headers=api.headers()) as resp:
            assert resp.status == 200
            async for data in resp.content.iter_any():
                lines += data.count(b"\n")
    return lines


async def test_api_export_of_a_million_records_holds_constant_memory(api: Api) -> None:
    total = await _total(api.settings.asyncpg_dsn)
    assert total >= BULK
    assert await _download_lines(api, NONE) == 0
    before = _peak_rss(api.pid)
    began = time.monotonic()
    assert await _download_lines(api, WIDE) == total
    took = time.monotonic() - began
    growth = _peak_rss(api.pid) - before
    print(f"API export: {total} records in {took:.1f} s, peak RSS growth {growth / 2**20:.1f} MiB")
    assert growth < GROWTH_BOUND


async def _export_backends(dsn: str) -> int:
    """Backends of the test database (only the API uses it meanwhile) running a query or inside a transaction."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend' AND state IN ('active', 'idle in transaction')"
            )
        )
    finally:
        await conn.close()


async def test_a_client_leaving_mid_export_ends_its_transaction(api: Api) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{api.url}/api/admin/usage/export/records"
        async with session.get(url, params={**WIDE, "format": "csv"}, headers=api.headers()) as resp:
            assert resp.status == 200
            await resp.content.readexactly(1 << 20)  # a few chunks in: the cursor is open
            assert await _export_backends(api.settings.asyncpg_dsn) == 1
    deadline = time.monotonic() + 10
    while await _export_backends(api.settings.asyncpg_dsn) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert await _export_backends(api.settings.asyncpg_dsn) == 0


def _cli(settings: Settings, out: Path, query: dict[str, str]) -> tuple[int, float, str]:
    """(peak RSS in bytes, seconds, stderr) of `usagestream export records --format csv` writing `out`."""
    options = [f"--{k.replace('_', '-')}={v}" for k, v in query.items()]
    env = {**os.environ, **settings.to_env(), "PYTHONSAFEPATH": "1"}
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", CLI, "export", "records", "--format", "csv", "--output", str(out), *options],
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stderr.decode().strip().splitlines()[-1].split()
    assert last[0] == "maxrss", done.stderr[-2000:]
    return int(last[1]), time.monotonic() - began, done.stderr.decode()


def _csv_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1  # minus the header


async def test_cli_export_of_a_million_records_holds_constant_memory(
    settings: Settings, big_dsn: str, tmp_path: Path
) -> None:
    s = replace(settings, postgres_dsn=big_dsn)
    total = await _total(big_dsn)
    small, _, _ = await asyncio.to_thread(_cli, s, tmp_path / "none.csv", NONE)
    assert _csv_rows(tmp_path / "none.csv") == 0
    full, took, stderr = await asyncio.to_thread(_cli, s, tmp_path / "all.csv", WIDE)
    print(f"CLI export: {total} records in {took:.1f} s, peak RSS {full / 2**20:.1f} MiB (small: {small / 2**20:.1f})")
    assert full - small < GROWTH_BOUND
    progress = [line for line in stderr.splitlines() if line.endswith(" records...")]
    assert progress and f"usagestream export: {total} rows written to {tmp_path / 'all.csv'}" in stderr
    assert await asyncio.to_thread(_csv_rows, tmp_path / "all.csv") == total
