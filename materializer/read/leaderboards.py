"""Leaderboards of users, API keys and models over a range (`/api/admin/stats/leaderboard/*`).

Counted as Aether counts them: requests that finished and reached a provider (the `fr` counters of
docs/reference-api.md §1.4), per key of the user, api_key or model dimension, filtered as `stats_scope` says;
then the entities decide who may rank (deleted users and keys never; inactive users unless asked; admins'
users and keys when `exclude_admin`). Ranking and paging are the HTTP layer's (usagestream.stats_math).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from usagestream.materializer.pg_pool import Conn
from usagestream.materializer.read import stats_scope as scope
from usagestream.materializer.read.entities import as_json
from usagestream.materializer.read.sql import Args

COUNTERS = ("n_fr", "fr_tot_tok", "fr_cost")
GROUPS = ("user", "api_key", "model")
OWNED_KEYS_SQL = "SELECT id FROM entities WHERE entity = 'api_key' AND NOT deleted AND data ->> 'user_id' = $1"
USERS_SQL = "SELECT id, deleted, data FROM entities WHERE entity = 'user' AND id = ANY($1::text[])"
API_KEYS_SQL = (
    "SELECT k.id, k.data, o.deleted AS owner_deleted, o.data AS owner FROM entities k"
    " LEFT JOIN entities o ON o.entity = 'user' AND o.id = k.data ->> 'user_id'"
    " WHERE k.entity = 'api_key' AND NOT k.deleted AND k.data IS NOT NULL AND k.id = ANY($1::text[])"
)


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    name: str
    requests: int
    tokens: int
    cost: Decimal


@dataclass(frozen=True, slots=True)
class Ask:
    """One leaderboard question (validated)."""

    group: str
    user_id: str | None
    model: str | None
    provider_name: str | None
    include_inactive: bool
    exclude_admin: bool


async def read(pool: asyncpg.Pool, ask: Ask, span: tuple[datetime, datetime], tz_name: str) -> list[Entry]:
    """Every ranked entry (unsorted), in one read-only REPEATABLE READ snapshot."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        f = await scope.resolve(conn, ask.user_id, ask.model, ask.provider_name)
        owned = await _owned_keys(conn, f.user_id) if ask.group == "api_key" and f.user_id is not None else None
        args = Args()
        rows = await scope.sums(conn, scope.group_scope(ask.group, f, args, owned), COUNTERS, span, tz_name, args)
        rows = {k: r for k, r in rows.items() if r["n_fr"] > 0}
        if ask.group == "user":
            return await _users(conn, rows, ask)
        if ask.group == "api_key":
            return await _api_keys(conn, rows, ask)
        return [_entry(k, k, r) for k, r in rows.items()]


def _entry(key: str, name: str, r: dict[str, Any]) -> Entry:
    return Entry(key, name, r["n_fr"], r["fr_tot_tok"], r["fr_cost"])


async def _owned_keys(conn: Conn, user_id: str) -> list[str]:
    rows = await conn.fetch(OWNED_KEYS_SQL, user_id)
    return [r["id"] for r in rows]


def _gone(data: dict[str, Any] | None) -> bool:
    """A deleted user: its entity removed (tombstone) or marked `is_deleted`."""
    return data is None or data.get("is_deleted") is True


def _admin(data: dict[str, Any] | None) -> bool:
    role = None if data is None else data.get("role")
    return isinstance(role, str) and role.lower() == "admin"


def _user_name(user_id: str, data: dict[str, Any]) -> str:
    for field in ("username", "email"):
        value = data.get(field)
        if isinstance(value, str) and value.strip():
            return value
    return user_id


async def _users(conn: Conn, rows: dict[str, dict[str, Any]], ask: Ask) -> list[Entry]:
    """Aether's rule: a user without an entity ranks under its id (not with `exclude_admin`)."""
    found = await conn.fetch(USERS_SQL, list(rows))
    known = {r["id"]: (None if r["deleted"] else as_json(r["data"])) for r in found}
    out = []
    for key, r in rows.items():
        if key not in known:
            if not ask.exclude_admin:
                out.append(_entry(key, key, r))
            continue
        data = known[key]
        if data is None or _gone(data) or (ask.exclude_admin and _admin(data)):
            continue
        if ask.include_inactive or data.get("is_active", True) is not False:
            out.append(_entry(key, _user_name(key, data), r))
    return out


async def _api_keys(conn: Conn, rows: dict[str, dict[str, Any]], ask: Ask) -> list[Entry]:
    """Live keys only (a deleted key or owner drops out); the key's name, else its id. The contract's api_key
    entity has no `is_active`: a key is active unless its data says otherwise."""
    found = await conn.fetch(API_KEYS_SQL, list(rows))
    out = []
    for f in found:
        data, owner = as_json(f["data"]), None if f["owner_deleted"] else as_json(f["owner"])
        if f["owner_deleted"] is not None and _gone(owner):
            continue
        if (ask.exclude_admin and _admin(owner)) or (not ask.include_inactive and data.get("is_active") is False):
            continue
        name = data.get("name")
        out.append(_entry(f["id"], name if isinstance(name, str) and name else f["id"], rows[f["id"]]))
    return out
