"""Entity look-ups of the read side: current names and settings from `entities`; deleted rows are absent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from usagestream.materializer.pg_pool import Conn

Entities = dict[str, dict[str, dict[str, Any]]]  # entity kind -> id -> data

_LIVE = "NOT e.deleted AND e.data IS NOT NULL"
# The statements, literal (shown in materializer/sql/read.entities.sql with the rest of the read side's).
ENTITY_MAPS_SQL = (
    "SELECT e.entity, e.id, e.data FROM entities e"
    " JOIN unnest($1::text[], $2::text[]) AS k(entity, id) ON e.entity = k.entity AND e.id = k.id"
    f" WHERE {_LIVE}"
)
USER_BY_ID_SQL = (
    "SELECT e.data, (e.data ->> 'quota_usd')::numeric AS quota_usd,"
    " (e.data ->> 'used_usd')::numeric AS used_usd"
    f" FROM entities e WHERE e.entity = 'user' AND e.id = $1 AND {_LIVE}"
)
MANAGEMENT_TOKEN_SQL = (
    "SELECT e.id, e.data FROM entities e WHERE e.entity = 'management_token'"
    f" AND e.data ->> 'token_sha256' = $1 AND {_LIVE} ORDER BY e.id LIMIT 1"
)
CREDENTIALS_SQL = (
    "SELECT e.entity, e.id, e.data FROM entities e WHERE e.entity = 'user' AND e.id = ANY($1::text[])"
    f" AND {_LIVE}"
    " UNION ALL (SELECT DISTINCT ON (e.data ->> 'token_sha256') e.entity, e.id, e.data FROM entities e"
    " WHERE e.entity = 'management_token' AND e.data ->> 'token_sha256' = ANY($2::text[])"
    f" AND {_LIVE} ORDER BY e.data ->> 'token_sha256', e.id)"
)


def as_json(value: Any) -> Any:
    """A json/jsonb value as Python data, whether or not the pool has the JSON codec of pg_pool."""
    return msgspec.json.decode(value) if isinstance(value, str) else value


async def entity_maps(conn: Conn, wanted: Mapping[str, Iterable[str | None]]) -> Entities:
    """The live entities of each kind among the given ids (None ids ignored), in one query."""
    kinds: list[str] = []
    ids: list[str] = []
    for kind, values in wanted.items():
        for value in {v for v in values if v is not None}:
            kinds.append(kind)
            ids.append(value)
    out: Entities = {kind: {} for kind in wanted}
    if not ids:
        return out
    rows = await conn.fetch(ENTITY_MAPS_SQL, kinds, ids)
    for r in rows:
        out[r["entity"]][r["id"]] = as_json(r["data"])
    return out


async def user_by_id(conn: Conn, user_id: str) -> dict[str, Any] | None:
    """The user's current data plus `id`, with `quota_usd` / `used_usd` as exact Decimals; None if absent."""
    row = await conn.fetchrow(USER_BY_ID_SQL, user_id)
    if row is None:
        return None
    data = dict(as_json(row["data"]))
    data.update(id=user_id, quota_usd=row["quota_usd"], used_usd=row["used_usd"])
    return data


async def management_token(conn: Conn, token_sha256: str) -> dict[str, Any] | None:
    """The live management_token entity with this SHA-256 (hex, any case), as its data plus `id`."""
    row = await conn.fetchrow(MANAGEMENT_TOKEN_SQL, token_sha256.lower())
    if row is None:
        return None
    return {**as_json(row["data"]), "id": row["id"]}


Credentials = tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]


async def credentials(conn: Conn, user_ids: list[str], token_sha256s: list[str]) -> Credentials:
    """In one statement: the live users among `user_ids` (as `user_by_id` gives them, without the money) and
    the live management tokens among the digests (as `management_token` gives them: the lowest id wins)."""
    rows = await conn.fetch(CREDENTIALS_SQL, user_ids, [t.lower() for t in token_sha256s])
    users: dict[str, dict[str, Any]] = {}
    tokens: dict[str, dict[str, Any]] = {}
    for r in rows:
        data = {**as_json(r["data"]), "id": r["id"]}
        if r["entity"] == "user":
            users[r["id"]] = data
        else:
            tokens[data["token_sha256"]] = data
    return users, tokens


async def provider_key_names(conn: Conn, ids: list[str]) -> dict[str, str]:
    """Upstream (provider) key names by id, for the keys that exist."""
    found = await entity_maps(conn, {"provider_api_key": ids})
    return {k: v["name"] for k, v in found["provider_api_key"].items() if v.get("name") is not None}


def entity_subquery(kind: str, field: str, op: str, placeholder: str) -> str:
    """`SELECT id` of live entities of `kind` whose data field matches (`op` is `=` or `ILIKE`)."""
    escape = " ESCAPE '\\'" if op == "ILIKE" else ""
    return (
        f"SELECT e.id FROM entities e WHERE e.entity = '{kind}' AND {_LIVE}"
        f" AND e.data ->> '{field}' {op} {placeholder}{escape}"
    )
