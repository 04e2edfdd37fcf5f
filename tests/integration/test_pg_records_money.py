"""Money and prices reach usage_records exactly: the records' COPY carries them as decimal text (pg_views
`_usage_row`), and PostgreSQL must parse back the very number the gateway sent, in every form JSON allows."""

from __future__ import annotations

import json
from decimal import Decimal

import asyncpg
import pytest

from usagestream.contract import parse_usage
from usagestream.materializer import pg_tables as t
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.write.pg_views import PgViews
from usagestream.publisher.loadgen.traffic import generate
from usagestream.settings import Settings

# JSON number texts as a gateway may write them: exponents both ways, long fractions, integers, zero.
TEXTS = ["1e-9", "2.5E+3", "0.000165000", "12345678901234.123456789012345678", "0", "7", "-0.0", "1E-30"]


def _completed_message() -> tuple[bytes, dict[str, object]]:
    for m in generate(50, seed=4):
        if m.kind == "usage" and m.value and json.loads(m.value)["usage"]["status"] == "completed":
            return m.key, json.loads(m.value)
    raise AssertionError("the load generator made no completed request")


@pytest.mark.parametrize("shift", range(3))
async def test_money_round_trips_exactly(settings: Settings, pg: asyncpg.Connection, shift: int) -> None:
    key, env = _completed_message()
    names = list(t.USAGE_NUMERIC)
    placed = {name: TEXTS[(i + shift) % len(TEXTS)] for i, name in enumerate(names)}
    text = json.dumps(env)
    usage = env["usage"]
    assert isinstance(usage, dict)
    for name in names:  # splice the raw number text, so json.dumps cannot normalize it
        text = text.replace(f'"{name}": {json.dumps(usage[name])}', f'"{name}": {placed[name]}', 1)
    ev = parse_usage(key, text.encode())
    pool = await create_pool(settings)
    try:
        await PgViews(pool, settings).apply([(0, ev)], [])
    finally:
        await pool.close()
    row = await pg.fetchrow(f"SELECT {', '.join(names)} FROM usage_records WHERE id = $1", ev.usage_id)
    assert row is not None
    assert {n: row[n] for n in names} == {n: Decimal(placed[n]) for n in names}  # numerically equal, no rounding
