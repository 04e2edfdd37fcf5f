"""Live-feed benchmark: push latency to 1,000 concurrent websocket clients of `usagestream api`.

It creates a fresh database (migrations + the load generator's entities, so the admin token authenticates),
starts `usagestream api`, opens N admin websocket clients (`/api/admin/usage/active/ws`) spread over a few client
processes, then publishes M changes at a steady rate on the Redis channel the worker publishes on
(`{prefix}live:events`, the same `{"type": "upsert", "item": ...}` message the worker's Lua script sends). Each
item's id carries its publish time (time.time_ns), so every client computes publish -> receipt latency itself.
Reported: p50 / p99 / max over every (change, client) pair, how many were lost, the API's and the clients' CPU time.
Usage: PYTHONSAFEPATH=1 .venv/bin/python bench/feed.py [--clients 1000] [--changes 3000] [--rate 20]
       [--client raw|aiohttp]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import multiprocessing as mp
import os
import platform
import re
import resource
import shlex
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import jwt
import redis.asyncio as aioredis
import yarl

from usagestream.contract import parse_entity
from usagestream.materializer.ops import migrate
from usagestream.materializer.pg_pool import _init_connection
from usagestream.materializer.redis_layout import LiveKeys
from usagestream.materializer.write.pg_views import _entities
from usagestream.publisher.loadgen.traffic import generate
from usagestream.settings import Settings

ADMIN_ID = "00000000-0000-4000-a000-00000000ad01"  # population.admin_messages
SECTION = "## Live feed"
CLIENT_KINDS = {
    "raw": "a minimal websocket reader in each client process (asyncio protocol: frame parsing, pong, one regex"
    " per upsert; `--client raw`, the default), so that the clients, which share the two cores with the API,"
    " add as little as possible to the latency.",
    "aiohttp": "aiohttp's client websockets (`--client aiohttp`), one reader task per socket.",
}
ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- the clients (child processes) ------------------------------------------------------------------------------
_ID = re.compile(r'"id":\s*"fb-(\d+)-(\d+)"')
_ID_BYTES = re.compile(rb'"id":\s*"fb-(\d+)-(\d+)"')
_UPSERT = b'{"type":"upsert"'


class RawFeedClient(asyncio.Protocol):
    """A minimal websocket client (handshake, frame parsing, pong) so that the clients, which share this machine's
    two cores with the API, cost as little as possible: their receive time is part of every latency."""

    def __init__(self, got: list[tuple[int, int]], opened: asyncio.Future[None]) -> None:
        self.got, self.opened = got, opened
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))

    def send(self, opcode: int, payload: bytes) -> None:
        """A client frame must be masked; an all-zero mask leaves the payload as it is."""
        assert self.transport is not None and len(payload) < 126
        self.transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + b"\0\0\0\0" + payload)

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        buf = self.buf
        buf += data
        if not self.open and not self.handshake():
            return
        at = 0
        while (frame := frame_at(buf, at)) is not None:
            opcode, start, at = frame
            if opcode == 1 and buf.startswith(_UPSERT, start):
                m = _ID_BYTES.search(buf, start, at)
                if m is not None:
                    self.got.append((int(m.group(1)), now - int(m.group(2))))
            elif opcode == 9:  # ping (the server's heartbeat): answer or be closed
                self.send(0xA, bytes(buf[start:at]))
        del buf[:at]

    def handshake(self) -> bool:
        """Consume the 101 answer once it is complete; True when the socket is open."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        if not self.buf.startswith(b"HTTP/1.1 101"):
            self.opened.set_exception(RuntimeError(bytes(self.buf[:end]).decode(errors="replace")))
            return False
        del self.buf[: end + 4]
        self.open = True
        self.opened.set_result(None)
        return True


def frame_at(buf: bytearray, at: int) -> tuple[int, int, int] | None:
    """(opcode, payload start, payload end) of the complete server frame at `at`, or None if incomplete."""
    size = len(buf)
    if size - at < 2:
        return None
    opcode, n, head = buf[at] & 0x0F, buf[at + 1] & 0x7F, 2
    if n >= 126:
        head = 4 if n == 126 else 10
        if size - at < head:
            return None
        n = int.from_bytes(buf[at + 2 : at + head], "big")
    if size - at < head + n:
        return None
    return opcode, at + head, at + head + n


async def _raw_clients(url: str, token: str, n: int, ready: Any, go: Any, done: Any) -> tuple[list[Any], float]:
    raise_nofile()
    got: list[tuple[int, int]] = []
    loop = asyncio.get_running_loop()
    parsed = yarl.URL(url)
    gate = asyncio.Semaphore(32)

    async def connect() -> RawFeedClient:
        async with gate:
            opened: asyncio.Future[None] = loop.create_future()
            _, proto = await loop.create_connection(lambda: RawFeedClient(got, opened), parsed.host, parsed.port)
            key = base64.b64encode(os.urandom(16)).decode()
            assert proto.transport is not None
            proto.transport.write(
                f"GET {parsed.raw_path_qs} HTTP/1.1\r\nHost: {parsed.host}:{parsed.port}\r\n"
                f"Authorization: Bearer {token}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            await asyncio.wait_for(opened, 60)
            return proto

    clients = await asyncio.gather(*(connect() for _ in range(n)))
    ready.put(n)
    cpu = await _cpu_between(go, done)
    for c in clients:
        c.send(0x8, (1000).to_bytes(2, "big"))
    await asyncio.sleep(0.5)
    for c in clients:
        if c.transport is not None:
            c.transport.close()
    return got, cpu


async def _cpu_between(go: Any, done: Any) -> float:
    """This client process's CPU seconds from `go` being set until `done` is (the measured changes)."""
    while not go.is_set():
        await asyncio.sleep(0.05)
    cpu0 = time.process_time()
    while not done.is_set():
        await asyncio.sleep(0.2)
    return time.process_time() - cpu0


async def _clients(url: str, token: str, n: int, ready: Any, go: Any, done: Any) -> tuple[list[Any], float]:
    """Open n aiohttp websockets, report ready, collect (change number, latency ns) until `done` is set."""
    raise_nofile()
    got: list[tuple[int, int]] = []
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn, headers={"Authorization": f"Bearer {token}"}) as session:
        gate = asyncio.Semaphore(32)

        async def connect() -> aiohttp.ClientWebSocketResponse:
            async with gate:
                return await session.ws_connect(url, heartbeat=None, max_msg_size=0, autoping=True)

        sockets = await asyncio.gather(*(connect() for _ in range(n)))
        ready.put(n)

        async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                now = time.time_ns()
                m = _ID.search(msg.data)
                if m is not None and msg.data.startswith('{"type":"upsert"'):
                    got.append((int(m.group(1)), now - int(m.group(2))))

        readers = [asyncio.create_task(read(ws)) for ws in sockets]
        cpu = await _cpu_between(go, done)
        for ws in sockets:
            await ws.close()
        await asyncio.gather(*readers, return_exceptions=True)
    return got, cpu


def client_process(kind: str, url: str, token: str, n: int, ready: Any, go: Any, done: Any, out: Any) -> None:
    run_clients = _raw_clients if kind == "raw" else _clients
    out.put(asyncio.run(run_clients(url, token, n, ready, go, done)))


# --- the run ------------------------------------------------------------------------------------------------


def item(i: int) -> dict[str, Any]:
    """A live item as the worker writes it (usagestream.live.live_item), its id carrying the publish time."""
    return {
        "id": f"fb-{i}-{time.time_ns()}",
        "seq": 2,
        "user_id": "feedbench-user",
        "api_key_id": "feedbench-key",
        "status": "streaming",
        "model": "claude-sonnet-4",
        "provider_name": "anthropic",
        "provider_id": "p1",
        "provider_api_key_id": None,
        "api_format": "claude:chat",
        "endpoint_api_format": "claude:chat",
        "has_format_conversion": False,
        "input_tokens": 1200 + i % 97,
        "output_tokens": i % 400,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 800,
        "total_cost_usd": "0.012345",
        "actual_total_cost_usd": "0.012345",
        "rate_multiplier": "1",
        "response_time_ms": None,
        "first_byte_time_ms": 420,
        "created_at": datetime.now(UTC).isoformat(),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_api(settings: Settings) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        **settings.to_env(),
        "PYTHONSAFEPATH": "1",
        "USAGESTREAM_LOG_LEVEL": "WARNING",
        "USAGESTREAM_HTTP_PORT": str(port),
    }
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-feed-api-{os.getpid()}.log"
    exe = Path(sys.executable).parent / "usagestream"
    proc = subprocess.Popen([str(exe), "api"], env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    async with aiohttp.ClientSession() as s:
        for _ in range(300):
            try:
                async with s.get(f"http://127.0.0.1:{port}/ready") as r:
                    if r.status == 200:
                        return proc, port
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"usagestream api did not become ready: see {log_path}")


async def setup_database(base: Settings, name: str) -> Settings:
    root = base.asyncpg_dsn.rsplit("/", 1)[0]
    conn = await asyncpg.connect(root + "/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    settings = replace(base, postgres_dsn=root + "/" + name)
    await asyncio.to_thread(migrate.upgrade, settings)
    return settings


async def drop_database(base: Settings, name: str) -> None:
    conn = await asyncpg.connect(base.asyncpg_dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    base = Settings.from_env()
    tag = uuid.uuid4().hex[:8]
    name = f"usagestream_bench_feed_{tag}"
    settings = await setup_database(base, name)
    settings = replace(settings, redis_prefix=f"bench-feed-{tag}:", jwt_secret=uuid.uuid4().hex * 2)
    limit = raise_nofile()
    log(f"database {name}; open-files limit {limit}")
    proc: subprocess.Popen[bytes] | None = None
    client = aioredis.from_url(settings.redis_url)
    try:
        conn = await asyncpg.connect(settings.asyncpg_dsn)
        await _init_connection(conn)  # the jsonb codec of the pool
        try:
            msgs = generate(1, seed=1, dup_ratio=0.0, reorder_ratio=0.0, rename_ratio=0.0, admin_token="ae_fb_" + tag)
            await _entities(conn, [parse_entity(m.key, m.value) for m in msgs if m.kind == "entities"])
        finally:
            await conn.close()
        proc, port = await start_api(settings)
        token = jwt.encode(
            {"user_id": ADMIN_ID, "role": "admin", "type": "access", "exp": int(time.time()) + 86400},
            settings.jwt_secret,
            algorithm="HS256",
        )
        ws_url = f"ws://127.0.0.1:{port}/api/admin/usage/active/ws"
        ctx = mp.get_context("spawn")
        ready, out, go, done = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Event()
        shares = [args.clients // args.procs + (1 if k < args.clients % args.procs else 0) for k in range(args.procs)]
        children = [
            ctx.Process(target=client_process, args=(args.client, ws_url, token, n, ready, go, done, out))
            for n in shares
        ]
        t0 = time.monotonic()
        for c in children:
            c.start()
        connected = 0
        for _ in children:
            connected += await asyncio.to_thread(ready.get, True, 300)
        log(f"{connected} websocket clients connected in {time.monotonic() - t0:.1f}s")
        await asyncio.sleep(3)  # let every snapshot go out
        channel = LiveKeys.of(settings).channel
        cpu0, load0 = cpu_seconds(proc.pid), os.getloadavg()
        go.set()
        interval = 1.0 / args.rate
        started = time.monotonic()
        for i in range(args.changes):
            delay = started + i * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await client.publish(channel, json.dumps({"type": "upsert", "item": item(i)}, separators=(",", ":")))
        elapsed = time.monotonic() - started
        await asyncio.sleep(args.grace)
        cpu = cpu_seconds(proc.pid) - cpu0
        load1 = os.getloadavg()
        done.set()
        results: list[tuple[int, int]] = []
        client_cpu = 0.0
        for _ in children:
            got, used = await asyncio.to_thread(out.get, True, 300)
            results += got
            client_cpu += used
        for c in children:
            c.join(30)
        lat = [ns / 1e6 for _, ns in results]
        expected = args.changes * connected
        facts = {
            "clients": connected,
            "changes": args.changes,
            "rate": args.changes / elapsed,
            "received": len(lat),
            "expected": expected,
            "p50": statistics.median(lat) if lat else float("nan"),
            "p99": pct(lat, 0.99) if lat else float("nan"),
            "max": max(lat) if lat else float("nan"),
            "api_cpu_s": cpu,
            "client_cpu_s": client_cpu,
            "elapsed_s": elapsed,
            "load_before": load0,
            "load_after": load1,
        }
        log(json.dumps(facts, default=str))
        return facts
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        keys = [k async for k in client.scan_iter(match=settings.redis_prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await drop_database(base, name)


def render(args: argparse.Namespace, runs: list[dict[str, Any]], command: str) -> str:
    lines = [
        SECTION,
        "",
        f"Command: `{command}`",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} cores, Python"
        f" {platform.python_version()}; Redis, PostgreSQL, Kafka and the API on the same machine, shared with other"
        " work (load averages below); the client processes run there too and their receive time is included.",
        f"- {args.clients} admin websocket clients of one `usagestream api` process, in {args.procs} client"
        f" processes; {args.changes:,} changes published at {args.rate}/s with PUBLISH on `{{prefix}}live:events`,"
        " the channel and message the worker's Lua script publishes (not through Kafka and the worker: their"
        " latency is in the Ingest section); latency = receipt by the client - time just before PUBLISH,"
        " over every (change, client) pair.",
        f"- Clients: {CLIENT_KINDS[args.client]}",
        "",
        "| run | clients | changes | rate /s | delivered | p50 ms | p99 ms | max ms | API CPU per change"
        " | clients' CPU per change | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for k, r in enumerate(runs, 1):
        lines.append(
            f"| {k} | {r['clients']} | {r['changes']:,} | {r['rate']:.1f} | {r['received']:,} / {r['expected']:,}"
            f" | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | {r['api_cpu_s'] / r['changes'] * 1000:.1f} ms"
            f" | {r['client_cpu_s'] / r['changes'] * 1000:.1f} ms"
            f" | {r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f} |"
        )
    p50s, p99s = [r["p50"] for r in runs], [r["p99"] for r in runs]
    medians = f"p50 {statistics.median(p50s):.1f} ms, p99 {statistics.median(p99s):.1f} ms"
    lines += ["", f"Median over the runs: {medians}.", ""]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--changes", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=20.0, help="changes per second")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds to wait for the last deliveries")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--client",
        choices=("raw", "aiohttp"),
        default="raw",
        help="raw: a minimal websocket reader (default, cheapest); aiohttp: aiohttp's client websockets",
    )
    parser.add_argument("--out", default="docs/benchmarks.md")
    args = parser.parse_args()
    command = ("PYTHONSAFEPATH=1 .venv/bin/python bench/feed.py " + shlex.join(sys.argv[1:])).strip()
    runs = [asyncio.run(run(args)) for _ in range(args.runs)]
    out = ROOT / args.out if not Path(args.out).is_absolute() else Path(args.out)
    write_section(out, render(args, runs, command))
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
