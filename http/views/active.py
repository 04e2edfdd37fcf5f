"""`/active` for admins and users: Redis live set first, PostgreSQL only for ids no longer live."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from usagestream.http.redis_live import LiveSet, Raw
from usagestream.http.shape.live_items import Item, key_ids, shape, visible
from usagestream.http.store import Reads

log = logging.getLogger(__name__)
NEWEST_LIMIT = 50


async def key_names(store: Reads, raws: Sequence[Raw]) -> dict[str, str]:
    """Upstream key names for admin items; a failed lookup leaves them null, never fails the poll."""
    ids = key_ids(raws)
    if not ids:
        return {}
    try:
        return await store.provider_key_names(ids)
    except Exception:  # the live answer matters more than the names: degrade, never fail the poll
        log.warning("provider key names unavailable", exc_info=True)
        return {}


async def attempt_flags(store: Reads, raws: Sequence[Raw]) -> dict[str, dict[str, bool]] | None:
    """The attempt flags of these requests (has_fallback); None if PostgreSQL does not answer (flags null)."""
    ids = sorted({r["id"] for r in raws if isinstance(r.get("id"), str)})
    if not ids:
        return {}
    try:
        return await store.attempt_flags(ids)
    except Exception:  # as for the key names: the live answer matters more than the flags
        log.warning("attempt flags unavailable", exc_info=True)
        return None


async def shape_all(store: Reads, raws: Sequence[Raw], *, admin: bool) -> list[Item]:
    names = await key_names(store, raws) if admin else {}
    flags = await attempt_flags(store, raws)
    return [
        shape(raw, admin=admin, key_names=names, flags=None if flags is None else flags.get(str(raw.get("id")), {}))
        for raw in raws
    ]


async def active(
    live: LiveSet, store: Reads, ids: list[str] | None, *, user_id: str | None, admin: bool
) -> dict[str, Any]:
    """`{"requests": [...]}`: the given ids (any status, in the order asked), or the 50 newest active.

    `user_id` scopes the answer to one user (the user variant); admin items carry provider fields.
    """
    if ids is None:
        raws = await live.newest(NEWEST_LIMIT, user_id)
    elif not ids:
        return {"requests": []}
    else:
        raws = await _by_ids(live, store, ids, user_id)
    return {"requests": await shape_all(store, raws, admin=admin)}


async def _by_ids(live: LiveSet, store: Reads, ids: list[str], user_id: str | None) -> list[Raw]:
    found: dict[str, Raw] = {k: v for k, v in (await live.by_ids(ids)).items() if visible(v, user_id)}
    missing = [i for i in ids if i not in found]
    if missing:
        for row in await store.active_records(missing, user_id):
            if isinstance(row.get("id"), str) and visible(row, user_id):
                found.setdefault(row["id"], row)
    return [found[i] for i in ids if i in found]
