"""A short-lived cache of upstream (provider) key names for admin feed items: one lookup per key a minute."""

from __future__ import annotations

import logging
import time

from usagestream.http.store import Reads

log = logging.getLogger(__name__)
TTL_S = 60.0
MAX_ENTRIES = 10_000


class KeyNames:
    def __init__(self, store: Reads) -> None:
        self.store = store
        self._cache: dict[str, tuple[str | None, float]] = {}

    async def lookup(self, key_id: object) -> dict[str, str]:
        """`{key_id: name}` if the key has a name, else {} (also when PostgreSQL does not answer)."""
        if not isinstance(key_id, str) or not key_id:
            return {}
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is None or cached[1] < now:
            try:
                name = (await self.store.provider_key_names([key_id])).get(key_id)
            except Exception:  # the event must go out; the name can come with the next one
                log.warning("provider key name unavailable", exc_info=True)
                return {}
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
            cached = (name, now + TTL_S)
            self._cache[key_id] = cached
        return {key_id: cached[0]} if cached[0] is not None else {}
