"""The asyncpg connection pool shared by a process, with exact JSON codecs for json/jsonb columns."""

from __future__ import annotations

from typing import Any, TypeAlias
from urllib.parse import parse_qs, urlsplit

import asyncpg
import msgspec

from usagestream.settings import Settings

# A connection as the code uses it: one from `asyncpg.connect`, or one acquired from the pool (a proxy of the same
# methods). A string: asyncpg's classes are generic only in its type stubs.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"

# Decimals inside bodies and entity data are written as JSON numbers, exactly as they arrived.
_encoder = msgspec.json.Encoder(decimal_format="number")
_decoder = msgspec.json.Decoder()


def encode_json(value: Any) -> str:
    text = _encoder.encode(value).decode("utf-8")
    # PostgreSQL's jsonb cannot hold NUL characters; keep the record rather than fail the whole batch forever.
    return text.replace("\\u0000", "\\ufffd")


def _encode_jsonb(value: Any) -> bytes:
    # jsonb's binary format is a version byte (1) followed by the JSON text; binary lets COPY carry it.
    return b"\x01" + encode_json(value).encode("utf-8")


def _decode_jsonb(data: bytes) -> Any:
    return _decoder.decode(data[1:])


def _encode_json_binary(value: Any) -> bytes:
    return encode_json(value).encode("utf-8")


async def fetch_one(conn: Conn, query: str, *args: Any) -> asyncpg.Record:
    """`conn.fetchrow` of a statement that always returns one row (aggregates, or a SELECT without FROM): the
    type checker then knows the row is there."""
    row = await conn.fetchrow(query, *args)
    if row is None:
        raise RuntimeError(f"no row from a statement that always returns one: {query[:80]}")
    return row


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )
    await conn.set_type_codec(
        "json", encoder=_encode_json_binary, decoder=_decoder.decode, schema="pg_catalog", format="binary"
    )


def loopback_without_sslmode(dsn: str) -> bool:
    """True for a DSN naming a loopback host (or a Unix socket) and no sslmode: TLS there protects nothing."""
    parts = urlsplit(dsn)
    if "sslmode" in parse_qs(parts.query) or "ssl" in parse_qs(parts.query):
        return False
    host = parse_qs(parts.query).get("host", [parts.hostname or ""])[0]
    return host in ("", "localhost", "::1") or host.startswith(("127.", "/"))


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release hook of pools whose users leave no session state (see create_pool's `stateless`)."""


# The worker's session setting (see `custom_plans` below); benchmarks that time the worker's statements use it too.
CUSTOM_PLANS = {"plan_cache_mode": "force_custom_plan"}
# The API's pool for the guarded range questions (`ReadStore.planned`): each of their statements is planned once
# per connection and its partitions pruned when it runs (docs/read-model.md "Planned once per connection"). Without
# parallel workers: planned without its parameters' values, an edge slice (at most 15 minutes of records) is
# estimated at the planner's default share of the table (0.5 %, 50,000 rows at 10 M), enough to plan workers whose
# start took 30-55 ms, a hundred times the slice's read.
GENERIC_PLANS = {"plan_cache_mode": "force_generic_plan", "max_parallel_workers_per_gather": "0"}
# A reader's statements are short; PostgreSQL's JIT compiles any statement whose estimate passes jit_above_cost,
# which the records' partitioned appends do at a few million rows whatever they read, and compiling takes far
# longer than running them.
READER = {"default_transaction_read_only": "on", "jit": "off"}


async def create_pool(
    settings: Settings,
    min_size: int = 1,
    max_size: int = 4,
    *,
    stateless: bool = False,
    custom_plans: bool = False,
    generic_plans: bool = False,
    read_only: bool = False,
) -> asyncpg.Pool:
    """A pool for the configured database; each connection gets the JSON codecs.

    asyncpg's default (sslmode=prefer) negotiates TLS whenever the server offers it, as Debian's does; on
    loopback that cost ~5 % of the worker's CPU for nothing, so it is off there unless the DSN sets sslmode.

    `stateless`: the pool's users never change session state (no SET outside a transaction, no LISTEN, no
    session advisory lock, no cursor left open), so a released connection needs no `RESET ALL; UNLISTEN *; ...`:
    that was one more round trip per acquire, two of the ~9 of an API request. asyncpg still rolls back a
    transaction left open.

    `custom_plans`: every execution is planned with its parameters and the tables' sizes of the moment. The
    worker's look-ups by id (`id = ANY($1)` over every month partition) are prepared once per connection; after
    five runs PostgreSQL may keep a generic plan made while a partition was nearly empty (a sequential scan) and
    reuse it as the partition grows to millions of rows, until an ANALYZE invalidates it. Replanning costs well
    under a millisecond per statement, a few statements per batch.

    `generic_plans`: the opposite: every prepared statement keeps the one plan made at its first execution, with
    its parameters unknown (partitions are then pruned when it runs). Only for statements whose best plan does
    not depend on their parameters' values (the API's guarded range questions, `ReadStore.planned`).

    `read_only`: the pool of a reader (the API, exports), on `USAGESTREAM_POSTGRES_READ_DSN` (a streaming replica)
    when it is set. Its sessions are read-only, so a reader that tried to write would fail on the primary as it
    would on a standby, not only in production; and without JIT compilation (`READER`)."""
    dsn = settings.asyncpg_read_dsn if read_only else settings.asyncpg_dsn
    extra: dict[str, Any] = {"ssl": False} if loopback_without_sslmode(dsn) else {}
    if stateless:
        extra["reset"] = _keep_session
    server_settings: dict[str, str] = {}
    if custom_plans and generic_plans:
        raise ValueError("a pool plans either every execution or once, not both")
    if custom_plans:
        server_settings.update(CUSTOM_PLANS)
    if generic_plans:
        server_settings.update(GENERIC_PLANS)
    if read_only:
        server_settings.update(READER)
    if server_settings:
        extra["server_settings"] = server_settings
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=60,
        **extra,
    )
    assert pool is not None
    return pool
