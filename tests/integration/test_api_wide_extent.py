"""The real `usagestream api` over records dated at both ends of the years the contract accepts (0002-01-02 and
9998-12-30), which stretch every open range over ten thousand years (issue 13, item 1).

- Every range endpoint, without dates and over 0001-01-01..9999-12-31, answers within REQUEST_BOUND in one of the
  passes below (EXPORT_BOUND for the exports, which stream every record; generous for a loaded 2-core machine; these
  answers take tens of milliseconds here, and took 30 s or more when the plan had a piece per month and day of the
  extent).
- Meanwhile a separate process (so that the test's own client work cannot delay it) sends `/health` every
  HEALTH_EVERY seconds over one kept-alive connection. No request may hold the API's event loop: in one pass
  over all the requests every sample answers within 50 ms (the issue's bound). The probe waits for each answer,
  so a stall of the loop shows as one slow sample, and so does the odd delay of the OS scheduler on a machine
  shared with other jobs: a stall comes back in every pass, that delay does not, so up to PASSES passes are
  made (one of them with its median under 50 ms and every sample under HEALTH_MAX).
- A request whose client disconnects stops its database work: its query, blocked behind a lock the test holds,
  leaves pg_stat_activity once the client is gone.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import jwt
import pytest
from test_pg_reads_seed import TABLES, add_admin, clone_records, seed
from workerproc import stop_worker

from usagestream.settings import Settings

E2E = Path(__file__).resolve().parent.parent / "e2e"
if str(E2E) not in sys.path:
    sys.path.append(str(E2E))

from e2e_env import free_port, start_api, wait_http  # noqa: E402

pytestmark = pytest.mark.integration

ADMIN = "/api/admin/usage"
USER = "/api/users/me/usage"
REQUEST_BOUND = 2.0  # seconds, each request but the exports
# The exports stream every record of the range (BULK and more) as CSV or JSON Lines: their time is that work, about
# 2 s here on a loaded 2-core machine (a clean-clone CI run took 2.05 s), not a held loop; the freeze this test
# guards against took 30 s or more.
EXPORT_BOUND = 10.0
HEALTH_BOUND = 0.050  # seconds, every /health sample during a request in one pass (and each pass's median)
HEALTH_MAX = 0.250  # seconds, every /health sample of every pass
PASSES = 3
HEALTH_EVERY = 0.01
BULK = 30_000  # completed requests of the last hours: interval timelines and TTL analyses of this many points
WIDE = {"start_date": "0001-01-01T00:00:00Z", "end_date": "9999-12-31T23:59:59Z"}  # datetimes: no day limit

PROBE = """
import http.client, json, os, sys, time
host, port, stop, every = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
conn = http.client.HTTPConnection(host, port, timeout=60)
samples = []
while not os.path.exists(stop):
    began, wall = time.perf_counter(), time.time()
    conn.request("GET", "/health")
    response = conn.getresponse()
    response.read()
    samples.append((time.perf_counter() - began, response.status, wall))
    time.sleep(every)
print(json.dumps(samples))
"""


@dataclass
class Api:
    url: str
    settings: Settings
    logs: Path

    def token(self, user_id: str, role: str) -> dict[str, str]:
        claims = {"user_id": user_id, "role": role, "type": "access", "exp": int(time.time()) + 3600}
        return {"Authorization": "Bearer " + jwt.encode(claims, self.settings.jwt_secret, algorithm="HS256")}


async def _seed(dsn: str, tz: ZoneInfo) -> None:
    """The read tests' world with its two far records, an admin, and BULK completed records of the last hours
    (records only: the cache analyses recount records; the aggregates keep the seeded world)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"TRUNCATE {TABLES}")
        await seed(conn, tz, far=True)
        await add_admin(conn)
        fresh = {
            "id": "'bulk-' || g",
            "request_id": "'bulk-req-' || g",
            "status": "'completed'",
            "user_id": "(ARRAY['u0', 'u1', 'u2', 'u3', 'u4', 'u5'])[1 + g % 6]",
            "created_at": "now() - g * interval '1 second'",
        }
        await clone_records(conn, BULK, fresh)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


@pytest.fixture
async def api(settings: Settings, tmp_path: Path) -> AsyncIterator[Api]:
    secret = "wide-extent-" + uuid.uuid4().hex + uuid.uuid4().hex
    s = replace(settings, timezone="America/Havana", http_port=free_port(), jwt_secret=secret)  # DST at midnight
    await _seed(s.asyncpg_dsn, ZoneInfo(s.timezone))
    logs = tmp_path / "api.log"
    proc = start_api(s, logs)
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{s.http_port}/health", proc)
        yield Api(f"http://127.0.0.1:{s.http_port}", s, logs)
    finally:
        stop_worker(proc, timeout=10)


def _quarters(n: int) -> dict[str, str]:
    """A range of `n` 15-minute buckets ending at the current quarter."""
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    end = end.replace(minute=end.minute - end.minute % 15) + timedelta(minutes=15)
    start = end - timedelta(minutes=15 * n)
    return {"start_date": start.isoformat(), "end_date": (end - timedelta(microseconds=1)).isoformat()}


def _requests(api: Api) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """(path, query, headers) of every range endpoint: without dates, and over the widest dates."""
    admin, user = api.token("u-admin", "admin"), api.token("u0", "user")
    dated: list[tuple[str, dict[str, str], dict[str, str]]] = [
        (f"{ADMIN}/stats", {}, admin),
        *((f"{ADMIN}/aggregation/stats", {"group_by": g}, admin) for g in ("model", "user", "provider", "api_format")),
        (f"{ADMIN}/records", {"limit": "500"}, admin),
        (f"{ADMIN}/records", {"user_id": "u0"}, admin),
        (f"{ADMIN}/records", {"search": "gpt"}, admin),
        (USER, {"limit": "200"}, user),
    ]
    undated: list[tuple[str, dict[str, str], dict[str, str]]] = [
        (f"{ADMIN}/heatmap", {}, admin),
        (f"{USER}/heatmap", {}, user),
        *((f"{ADMIN}/cache-affinity/hit-analysis", {"hours": "720", **q}, admin) for q in ({}, {"user_id": "u0"})),
        (f"{ADMIN}/cache-affinity/ttl-analysis", {"hours": "720"}, admin),
        (f"{ADMIN}/cache-affinity/interval-timeline", {"hours": "720", "limit": "50000"}, admin),
        (
            f"{ADMIN}/cache-affinity/interval-timeline",
            {"hours": "720", "limit": "50000", "include_user_info": "true"},
            admin,
        ),
        (f"{USER}/interval-timeline", {"hours": "720", "limit": "20000"}, user),
        # The largest time series the API answers: 10,000 quarters x 10 series (usagestream.timeseries bounds).
        (f"{ADMIN}/timeseries", {"granularity": "15m", "group_by": "user", "limit": "9", **_quarters(10_000)}, admin),
        (f"{ADMIN}/timeseries", {"granularity": "month", "start_date": "2000-01-01", "end_date": "2799-12-31"}, admin),
        (f"{USER}/timeseries", {"granularity": "hour", "group_by": "model", **_quarters(4 * 9_000)}, user),
        # Exports: the largest time series as CSV, and every record (BULK and more) streamed (docs/api.md "Exports").
        (
            f"{ADMIN}/export/timeseries",
            {"granularity": "15m", "group_by": "user", "limit": "9", **_quarters(10_000)},
            admin,
        ),
        (f"{ADMIN}/export/records", {"format": "csv", **WIDE}, admin),
        (f"{USER}/export/records", {"format": "jsonl", **WIDE}, user),
    ]
    return [*dated, *((p, {**q, **WIDE}, h) for p, q, h in dated), *undated]


async def _timed(session: aiohttp.ClientSession, url: str, query: dict[str, str], headers: dict[str, str]) -> float:
    began = time.perf_counter()
    async with session.get(url, params=query, headers=headers) as resp:
        body = await resp.read()
        assert resp.status == 200, (url, query, resp.status, body[:300])
    return time.perf_counter() - began


@dataclass
class Pass:
    took: list[tuple[float, str, dict[str, str], float]]  # (seconds, path, query, wall-clock start) per request
    health: list[tuple[float, float]]  # (seconds, wall-clock start) per /health sample

    def worst_health(self) -> list[float]:
        """Per request, the slowest /health sample taken while it ran (0 if none was)."""
        return [
            max((t for t, began in self.health if start < began + t and began < start + took), default=0.0)
            for took, _, _, start in self.took
        ]

    def during(self, sample: tuple[float, float]) -> str:
        """The requests under way while a /health sample waited: what to look at when it was slow."""
        t, began = sample
        busy = [f"{p}?{q}" for took, p, q, start in self.took if start < began + t and began < start + took]
        return f"{t * 1000:.1f} ms during {busy or 'no request'}"


async def _pass(api: Api, stop: Path) -> Pass:
    """Every request once, in order, while the probe process samples /health."""
    port = api.url.rsplit(":", 1)[1]
    probe = subprocess.Popen(
        [sys.executable, "-c", PROBE, "127.0.0.1", port, str(stop), str(HEALTH_EVERY)], stdout=subprocess.PIPE
    )
    took: list[tuple[float, str, dict[str, str], float]] = []
    try:
        await asyncio.sleep(0.3)  # the probe's first samples come before the heavy requests
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3 * EXPORT_BOUND)) as session:
            for path, query, headers in _requests(api):
                began = time.time()
                took.append((await _timed(session, api.url + path, query, headers), path, query, began))
        await asyncio.sleep(0.3)
    finally:
        stop.touch()
        out, _ = await asyncio.to_thread(probe.communicate, timeout=120)
        stop.unlink()
    samples: list[tuple[float, int, float]] = json.loads(out)
    assert all(status == 200 for _, status, _ in samples)
    return Pass(took, [(t, wall) for t, _, wall in samples])


def _bound(path: str) -> float:
    return EXPORT_BOUND if "/export/" in path else REQUEST_BOUND


async def test_far_records_freeze_nothing(api: Api, tmp_path: Path) -> None:
    """Up to PASSES passes: every request must, in at least one pass, answer within REQUEST_BOUND (an export within
    EXPORT_BOUND: a request that freezes on the extent is slow in every pass, while a loaded machine delays the odd
    answer of one pass, as a clean-clone CI run saw for the 800-year month series); at least one pass must have the
    median /health under HEALTH_BOUND and none over HEALTH_MAX; and every request must, in at least one pass, have
    every /health sample taken while it ran under HEALTH_BOUND. A request that holds the event loop stalls /health
    in every pass, while it runs; the OS scheduler of a machine shared with other jobs delays the odd sample of one
    pass (a clean-clone CI run saw one of 368 ms while PostgreSQL summed the largest time series), not the same
    request's in each."""
    clean: set[int] = set()  # the requests that had a pass with every /health sample under HEALTH_BOUND
    slowest: dict[int, str] = {}
    answered: set[int] = set()  # the requests that had a pass answering within their bound
    late: dict[int, str] = {}
    steady = False  # a pass had its median /health under HEALTH_BOUND and every sample under HEALTH_MAX
    unsteady: list[str] = []  # why the other passes did not
    for _ in range(PASSES):
        run = await _pass(api, tmp_path / "stop-probe")
        for i, (t, p, q, _) in enumerate(run.took):
            if t < _bound(p):
                answered.add(i)
            else:
                late[i] = f"{t:.3f} s: {p}?{q}"
        health = [t for t, _ in run.health]
        top = sorted(run.health, reverse=True)[:3]
        assert len(health) >= 20, health
        if statistics.median(health) < HEALTH_BOUND and max(health) < HEALTH_MAX:
            steady = True
        else:
            unsteady.append(f"median {statistics.median(health) * 1000:.1f} ms, top {[run.during(x) for x in top]}")
        for i, worst in enumerate(run.worst_health()):
            if worst < HEALTH_BOUND:
                clean.add(i)
            else:
                slowest[i] = f"{worst * 1000:.1f} ms during {run.took[i][1]}?{run.took[i][2]}"
        if steady and len(clean) == len(answered) == len(run.took):
            break
    assert not [i for i in late if i not in answered], [v for i, v in late.items() if i not in answered]
    assert steady, unsteady
    assert not [i for i in slowest if i not in clean], [v for i, v in slowest.items() if i not in clean]


async def _waiting_on_lock(conn: asyncpg.Connection) -> list[int]:
    """The backends of this database whose range plan (`read.stats.plan_for`) waits for a lock."""
    rows = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        " AND state = 'active' AND pid <> pg_backend_pid() AND query LIKE '%records_cutoff%'"
    )
    return [r["pid"] for r in rows]


async def _eventually(check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.05)


async def test_a_dropped_client_stops_its_query(api: Api) -> None:
    """The query of a request whose client went away is cancelled: it no longer waits in PostgreSQL."""
    locker = await asyncpg.connect(api.settings.asyncpg_dsn)
    watcher = await asyncpg.connect(api.settings.asyncpg_dsn)
    try:
        tx = locker.transaction()
        await tx.start()
        await locker.execute("LOCK TABLE usage_records IN ACCESS EXCLUSIVE MODE")  # every range read waits
        host, port = api.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        auth = api.token("u-admin", "admin")["Authorization"]
        head = f"GET {ADMIN}/stats?start_date=0001-01-01 HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}"
        writer.write(f"{head}\r\n\r\n".encode())
        await writer.drain()
        waiting = await _eventually(lambda: _waiting_on_lock(watcher), 10)
        assert waiting, "the request's query never reached PostgreSQL"
        writer.transport.abort()  # the client goes away without an answer

        async def gone() -> bool:
            return not set(waiting) & set(await _waiting_on_lock(watcher))

        assert await _eventually(gone, 5), "the query kept waiting after its client had gone"
        await tx.rollback()
        async with aiohttp.ClientSession() as session:  # the API and its pool still answer
            assert await _timed(session, f"{api.url}{ADMIN}/stats", {}, api.token("u-admin", "admin")) < 5
    finally:
        await locker.close()
        await watcher.close()
