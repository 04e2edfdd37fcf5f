"""Retention's cut-offs as stored in `meta`: read by the writer (it refuses events before them), by retention
(it moves them) and by `verify` (it recounts only what the records still hold)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from usagestream.materializer.pg_pool import Conn


@dataclass(frozen=True)
class Cutoffs:
    """Retention's cut-offs as stored in `meta` (None: nothing dropped or cleared yet)."""

    records: datetime | None = None
    bodies: datetime | None = None


async def read_cutoffs(conn: Conn) -> Cutoffs:
    rows = await conn.fetch("SELECT key, value FROM meta WHERE key IN ('records_cutoff', 'bodies_cutoff')")
    found = {r["key"]: datetime.fromisoformat(r["value"]) for r in rows}
    return Cutoffs(found.get("records_cutoff"), found.get("bodies_cutoff"))
