"""Seed data for the ReadStore tests: a few hundred varied requests written through the real writer (PgViews),
and the plain-Python truth they are checked against (no project aggregation code is used for expectations)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from usagestream.contract import EntityEvent
from usagestream.http.shape.reads import ShapedReads
from usagestream.materializer.pg_pool import create_pool, encode_json
from usagestream.settings import Settings
from usagestream.stats import ATTEMPT_COUNTERS, USAGE_COUNTERS, CandidateFacts, Deltas, UsageFacts

NOW = datetime(2026, 11, 27, 18, 7, 11, 123457, tzinfo=UTC)
FAR = (datetime(2, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), datetime(9998, 12, 30, 21, 7, 9, 1, tzinfo=UTC))
DELETED_USER = "已删除用户"

USERS = {
    "u0": ("alice", "alice@example.com"),
    "u1": ("bob_x", "bob@example.com"),
    "u2": ("car%l", None),
    "u3": ("Dave", "dave@example.com"),
    "u4": ("eve\\", "eve@example.com"),
    "u5": ("frank", "frank@example.com"),
    "u6": ("gone", "gone@example.com"),  # deleted later
}
# u7 never gets an entity (unknown user).
KEYS = {
    "k0": ("u0", "main key"),
    "k1": ("u0", "test_key"),
    "k2": ("u1", "50% off"),
    "k3": ("u2", None),
    "k4": ("u3", "dave-key"),
    "k5": ("u4", "eve"),
    "k6": ("u5", "frank key"),
    "k7": ("u6", "gone key"),
    "k8": ("u7", "orphan"),
}
PROVIDERS = {"p0": "OpenAI-Main", "p1": "Anthropic_X", "p2": "Deleted Prov"}  # p3: no entity
ENDPOINTS = {"e0": ("p0", "openai:chat"), "e1": ("p1", "claude:chat"), "e2": ("p1", "claude:cli")}
UPSTREAM_KEYS = {"pk0": ("p0", "upA"), "pk1": ("p1", "upB")}
MODELS = ["gpt-4o", "claude-3", "gemini_1.5%pro", "Model-X", "gpt-4o-mini"]
FORMATS = ["claude:chat", "openai:chat", "CLAUDE", None, "", "openai:cli"]
TIERS = {"tiers": [{"up_to": 1000, "input_price_per_1m": 1}, {"up_to": None, "input_price_per_1m": 2}]}


@dataclass
class World:
    """What was seeded: final usage rows and candidates as plain dicts, and the live entity data."""

    usage: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)
    upstream: dict[str, str] = field(default_factory=dict)


def _money(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(0, 5_000_000)) / Decimal(10**6)


def _created(rng: random.Random) -> datetime:
    kind = rng.random()
    if kind < 0.15:  # exactly on a 15-minute boundary
        return (NOW - timedelta(minutes=15 * rng.randint(0, 3000))).replace(second=0, microsecond=0, minute=0)
    if kind < 0.55:  # the last two days, dense (cache analyses)
        return NOW - timedelta(seconds=rng.randint(0, 2 * 86400), microseconds=rng.randint(0, 999999))
    return NOW - timedelta(seconds=rng.randint(0, 30 * 86400), microseconds=rng.randint(0, 999999))


def _final(rng: random.Random, base: dict[str, Any]) -> dict[str, Any]:
    status = rng.choice(["completed", "completed", "completed", "failed", "cancelled", "pending", "streaming"])
    u = dict(base, status=status)
    if status in ("pending", "streaming"):
        u["provider_name"] = "pending" if status == "pending" else rng.choice(["OpenAI-Main", "x"])
        return u
    pid = rng.choice(["p0", "p1", "p2", "p3", None])
    u.update(
        provider_id=pid,
        provider_name=rng.choice(["unknown", "OpenAI-Main", "old-name", "prov"]),
        provider_endpoint_id=rng.choice(["e0", "e1", "e2", None]),
        provider_api_key_id=rng.choice(["pk0", "pk1", "pk9", None]),
        target_model=rng.choice([None, "tm-1"]),
        endpoint_api_format=rng.choice(FORMATS),
        has_format_conversion=rng.choice([None, True, False]),
        status_code=rng.choice([200, 200, 200, 400, 499, 500, None]),
        error_message=rng.choice([None, None, None, "boom", ""]),
        input_tokens=rng.randint(0, 5000),
        output_tokens=rng.randint(0, 3000),
        cache_creation_input_tokens=rng.choice([0, rng.randint(0, 3000)]),
        cache_read_input_tokens=rng.choice([0, 0, rng.randint(1, 9000)]),
        response_time_ms=rng.choice([None, rng.randint(1, 90000)]),
        first_byte_time_ms=rng.choice([None, rng.randint(1, 900)]),
        rate_multiplier=rng.choice([None, Decimal("0.8"), Decimal("1")]),
    )
    u["total_tokens"] = u["input_tokens"] + u["output_tokens"]
    for name in ("input", "output", "cache_creation", "cache_read", "request"):
        u[f"{name}_cost_usd"] = _money(rng)
        u[f"actual_{name}_cost_usd"] = _money(rng)
    u["total_cost_usd"] = sum(
        (u[f"{n}_cost_usd"] for n in ("input", "output", "cache_creation", "cache_read")), Decimal(0)
    )
    u["actual_total_cost_usd"] = _money(rng)
    u["input_price_per_1m"] = rng.choice([None, Decimal("3.5")])
    if rng.random() < 0.1:
        u["request_type"] = "video"
        u["request_metadata"] = {
            "billing_snapshot": {"rule_name": "r", "cost": 1.5, "dimensions_used": {"duration_seconds": 4}}
        }
    return u


ZERO_MONEY = {
    f"{p}{n}_cost_usd": Decimal(0)
    for p in ("", "actual_")
    for n in ("input", "output", "cache_creation", "cache_read", "request", "total")
}


def _pending(rng: random.Random, i: int) -> dict[str, Any]:
    uid = rng.choice(["u0", "u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", None])
    keys = [k for k, (owner, _) in KEYS.items() if owner == uid]
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "request_id": f"req-{i % 290:04d}",
        "user_id": uid,
        "api_key_id": rng.choice(keys) if keys else None,
        "provider_name": "pending",
        "provider_id": None,
        "provider_endpoint_id": None,
        "provider_api_key_id": None,
        "model": rng.choice(MODELS),
        "target_model": None,
        "api_format": rng.choice(FORMATS),
        "endpoint_api_format": None,
        "has_format_conversion": None,
        "request_type": "chat",
        "is_stream": rng.random() < 0.5,
        "status": "pending",
        "status_code": None,
        "error_message": None,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "total_tokens": 0,
        **ZERO_MONEY,
        "rate_multiplier": None,
        "input_price_per_1m": None,
        "output_price_per_1m": None,
        "cache_creation_price_per_1m": None,
        "cache_read_price_per_1m": None,
        "price_per_request": None,
        "response_time_ms": None,
        "first_byte_time_ms": None,
        "created_at": _created(rng),
        "finalized_at": None,
        "request_headers": {"x": "1"},
        "provider_request_headers": None,
        "response_headers": None,
        "client_response_headers": None,
        "request_body": {"messages": []},
        "response_body": None,
        "request_metadata": None,
    }


def _candidates(rng: random.Random, u: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for index in range(rng.randint(0, 3)):
        for retry in range(rng.choice([1, 1, 2])):
            out.append(
                {
                    "id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "usage_id": u["id"],
                    "request_id": u["request_id"],
                    "candidate_index": index,
                    "retry_index": retry,
                    "user_id": u["user_id"],
                    "api_key_id": u["api_key_id"],
                    "provider_id": rng.choice(["p0", "p1", "p2", "p3", None]),
                    "endpoint_id": None,
                    "key_id": None,
                    "status": rng.choice(["success", "failed", "failed", "skipped", "available", "cancelled"]),
                    "skip_reason": None,
                    "error_type": None,
                    "error_message": None,
                    "is_cached": False,
                    "status_code": None,
                    "latency_ms": rng.choice([None, rng.randint(1, 5000)]),
                    "extra_data": rng.choice([None, {"rectified": True}, {"rectified": False}]),
                    "created_at": u["created_at"] + timedelta(seconds=rng.choice([0, 0, 1, 7])),
                    "started_at": None,
                    "finished_at": None,
                }
            )
    return out


def generate(
    seed: int = 7, n: int = 320, far: bool = False, at: Sequence[datetime] = ()
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(first snapshots, final snapshots, candidates); `far`: two of them (and their candidates) dated at the
    ends of the years the contract accepts, which stretch every open range over ten thousand years; `at`: the
    next ones dated at these instants (local midnights and the microsecond before them, say)."""
    rng = random.Random(seed)
    first = [_pending(rng, i) for i in range(n)]
    first[0]["created_at"] = NOW  # exactly at a range end used by the tests
    if far:
        first[1]["created_at"], first[2]["created_at"] = FAR
    for u, instant in zip(first[3:], at, strict=False):
        u["created_at"] = instant
    final = [_final(rng, u) for u in first]
    cands = [c for u in final for c in _candidates(rng, u)]
    return first, final, cands


def _entity(kind: str, ident: str, data: dict[str, Any] | None, seq: int = 1, deleted: bool = False) -> EntityEvent:
    return EntityEvent(entity=kind, id=ident, seq=seq, emitted_at=NOW, deleted=deleted, data=data)


def entity_events() -> list[EntityEvent]:
    evs = [
        _entity(
            "user",
            uid,
            {
                "username": name,
                "email": email,
                "role": "user",
                "is_active": True,
                "is_deleted": False,
                "quota_usd": Decimal("10.5"),
                "used_usd": Decimal("1.25"),
            },
        )
        for uid, (name, email) in USERS.items()
    ]
    evs.append(_entity("user", "u6", None, seq=2, deleted=True))
    evs += [_entity("api_key", k, {"user_id": o, "name": n, "display": f"sk-{k}...xyz"}) for k, (o, n) in KEYS.items()]
    evs.append(_entity("api_key", "k7", None, seq=2, deleted=True))
    evs += [_entity("provider", p, {"name": "old-" + n, "billing_type": "pay"}) for p, n in PROVIDERS.items()]
    evs += [_entity("provider", p, {"name": n, "billing_type": "pay"}, seq=2) for p, n in PROVIDERS.items()]
    evs.append(_entity("provider", "p2", None, seq=3, deleted=True))
    evs += [_entity("provider_endpoint", e, {"provider_id": p, "api_format": f}) for e, (p, f) in ENDPOINTS.items()]
    evs += [_entity("provider_api_key", k, {"provider_id": p, "name": n}) for k, (p, n) in UPSTREAM_KEYS.items()]
    evs.append(_entity("model_pricing", "p0:gpt-4o", {"provider_id": "p0", "model": "gpt-4o", "tiered_pricing": TIERS}))
    evs.append(_entity("global_model_pricing", "claude-3", {"model": "claude-3", "tiered_pricing": TIERS}))
    return evs


def live_entities(world: World) -> None:
    world.users = {u: {"username": n, "email": e} for u, (n, e) in USERS.items() if u != "u6"}
    world.keys = {k: {"name": n, "display": f"sk-{k}...xyz", "user_id": o} for k, (o, n) in KEYS.items() if k != "k7"}
    world.providers = {p: n for p, n in PROVIDERS.items() if p != "p2"}
    world.endpoints = {e: f for e, (_, f) in ENDPOINTS.items()}
    world.upstream = {k: n for k, (_, n) in UPSTREAM_KEYS.items()}


def _facts(u: dict[str, Any]) -> UsageFacts:
    names = [f for f in UsageFacts.__dataclass_fields__ if f != "has_error_message"]
    return UsageFacts(**{k: u[k] for k in names}, has_error_message=u["error_message"] is not None)


def _cand_facts(c: dict[str, Any]) -> CandidateFacts:
    return CandidateFacts(c["created_at"], c["provider_id"], c["status"], c["latency_ms"])


async def _insert(conn: asyncpg.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    cols = list(rows[0])
    marks = ", ".join(f"${i + 1}" for i in range(len(cols)))
    values = [tuple(encode_json(r[c]) if isinstance(r[c], dict | list) else r[c] for c in cols) for r in rows]
    await conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", values)


async def _write_entities(conn: asyncpg.Connection) -> None:
    latest: dict[tuple[str, str], EntityEvent] = {}
    for ev in entity_events():
        latest[(ev.entity, ev.id)] = ev
    rows = [
        {
            "entity": e.entity,
            "id": e.id,
            "seq": e.seq,
            "deleted": e.deleted,
            "data": dict(e.data) if e.data is not None else None,
        }
        for e in latest.values()
    ]
    await _insert(conn, "entities", rows)


async def _write_aggregates(conn: asyncpg.Connection, d: Deltas) -> None:
    usage = [
        dict(zip(("dim", "key", "grain", "bucket", *USAGE_COUNTERS), (*k, *v), strict=True)) for k, v in d.usage_rows()
    ]
    attempts = [
        dict(zip(("provider_id", "grain", "bucket", *ATTEMPT_COUNTERS), (*k, *v), strict=True))
        for k, v in d.attempt_rows()
    ]
    await _insert(conn, "usage_agg", usage)
    await _insert(conn, "attempt_agg", attempts)


async def seed(
    conn: asyncpg.Connection,
    tz: ZoneInfo,
    n: int = 320,
    seed_value: int = 7,
    far: bool = False,
    at: Sequence[datetime] = (),
) -> World:
    """Write entities, records and candidates, and the aggregates as the writer folds them (first snapshot,
    then its replacement by the final one), with usagestream.stats; `far` and `at` as `generate` takes them."""
    first, final, cands = generate(seed_value, n, far, at)
    await _write_entities(conn)
    await _insert(conn, "usage_records", [{**u, "seq": 2, "kafka_partition": 0} for u in final])
    await _insert(conn, "candidate_records", [{**c, "seq": 1, "kafka_partition": 0} for c in cands])
    d = Deltas(tz)
    for u0, u1 in zip(first, final, strict=True):
        d.apply_usage(None, _facts(u0))
        d.apply_usage(_facts(u0), _facts(u1))
    for c in cands:
        d.apply_candidate(None, _cand_facts(c))
    await _write_aggregates(conn, d)
    await conn.execute("INSERT INTO meta (key, value) VALUES ('timezone', $1)", tz.key)
    world = World(usage=final, candidates=cands)
    live_entities(world)
    return world


TABLES = (
    "usage_records, candidate_records, usage_record_homes, candidate_record_homes, entities, usage_agg, attempt_agg,"
    " dead_letter_counts, meta, completed_times_days, completed_times_revs, provider_days, provider_day_rows"
)


async def add_admin(conn: asyncpg.Connection, user_id: str = "u-admin") -> None:
    """An active admin user entity (the API's admin paths need one behind a JWT)."""
    admin = {"username": "root", "email": None, "role": "admin", "is_active": True, "is_deleted": False}
    await conn.execute(
        "INSERT INTO entities (entity, id, seq, deleted, data) VALUES ('user', $1, 1, false, $2::jsonb)",
        user_id,
        encode_json(admin),
    )


async def clone_records(conn: asyncpg.Connection, n: int, fresh: dict[str, str]) -> None:
    """`n` more records in one statement: copies of a completed record of a user, with the columns of `fresh`
    (SQL expressions of `g`, 1..n) replaced; for histories too large to publish (records only, no aggregates)."""
    columns = await conn.fetchval(
        "SELECT array_agg(column_name::text ORDER BY ordinal_position) FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = 'usage_records'"
    )
    select = ", ".join(fresh.get(c, f"t.{c}") for c in columns)
    await conn.execute(
        f"INSERT INTO usage_records ({', '.join(columns)}) SELECT {select} FROM generate_series(1, $1) g,"
        " (SELECT * FROM usage_records WHERE status = 'completed' AND user_id IS NOT NULL LIMIT 1) t",
        n,
    )


async def seed_database(dsn: str, tz: ZoneInfo, far: bool = False, n: int = 320, at: Sequence[datetime] = ()) -> World:
    """Empty the database's tables and seed them (for module-scoped fixtures)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"TRUNCATE {TABLES}")
        return await seed(conn, tz, n=n, far=far, at=at)
    finally:
        await conn.close()


@dataclass
class Ctx:
    world: World
    store: ShapedReads
    tz: ZoneInfo
    conn: asyncpg.Connection


@pytest.fixture(name="seeded", scope="module", params=["Asia/Kathmandu", "America/St_Johns"])
def seeded_fixture(request: pytest.FixtureRequest, database_dsn: str) -> tuple[World, str]:
    """The session database, emptied and seeded once per module and zone."""
    return asyncio.run(seed_database(database_dsn, ZoneInfo(request.param))), request.param


@pytest.fixture(name="ctx")
async def ctx_fixture(seeded: tuple[World, str], settings: Settings) -> AsyncIterator[Ctx]:
    world, zone = seeded
    s = replace(settings, timezone=zone)
    pool = await create_pool(s)
    planned = await create_pool(s, generic_plans=True)  # as the API runs its range questions (server.py)
    conn = await asyncpg.connect(s.asyncpg_dsn)
    yield Ctx(world, ShapedReads(pool, s, planned), ZoneInfo(zone), conn)
    await conn.close()
    await planned.close()
    await pool.close()


class CountingPool:
    """A pool over a pool whose connections count the statements they send (BEGIN and COMMIT aside): the round
    trips of an answer, which are much of its time at 10 M (docs/benchmarks.md)."""

    def __init__(self, pool: Any) -> None:
        self.pool, self.sent = pool, 0
        self.snaps: list[str] = []  # the snapshot each statement returning one (a `snap` column) read

    def one_snapshot(self) -> bool:
        """Whether the last two statements that returned their snapshot (a page's and its flags') read the same
        one: when they did not (another session's transaction ended between them), the page is read again in a
        transaction."""
        return len(set(self.snaps[-2:])) <= 1

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self.pool.acquire() as conn:
            yield _CountingConn(conn, self)


class _CountingConn:
    def __init__(self, conn: Any, owner: CountingPool) -> None:
        self.conn, self.owner = conn, owner

    def transaction(self, **kw: Any) -> Any:
        return self.conn.transaction(**kw)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.conn, name)
        if name not in ("fetch", "fetchrow", "fetchval", "execute"):
            return method

        async def counted(*args: Any) -> Any:
            self.owner.sent += 1
            got = await method(*args)
            if name == "fetch" and got and "snap" in got[0].keys():
                self.owner.snaps.append(got[0]["snap"])
            return got

        return counted
