"""Every scope of the stats family runs against PostgreSQL whatever the plan's shape: runs only (a range on the
stored grains), edges only (recounted from the records), or both. A scope whose aggregate filter and record filter
used separate parameters failed with "could not determine data type of parameter" when the plan left one of the
two parts out (a leaderboard filtered by model at a time of day whose range needed no edge: a 500)."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from usagestream.materializer.read import stats_scope as scope
from usagestream.materializer.read.sql import Args
from usagestream.range_bounds import TICK, Span
from usagestream.ranges import Plan, decompose

pytestmark = pytest.mark.integration

UTC_ZONE = __import__("zoneinfo").ZoneInfo("UTC")
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
PLANS = {
    "runs only": decompose(START, END - TICK, UTC_ZONE, datetime(2026, 3, 20, tzinfo=UTC)),
    "edges only": Plan((Span(START, END),), ()),
    "runs and edges": decompose(START.replace(minute=7), END - TICK, UTC_ZONE, datetime(2026, 3, 20, tzinfo=UTC)),
}
FILTERS = [
    scope.Filters(),
    scope.Filters(user_id="user-1"),
    scope.Filters(model="gpt-4o"),
    scope.Filters(user_id="user-1", model="gpt-4o"),
    scope.Filters(providers=("prov-1",)),
    scope.Filters(providers=("prov-1", "prov-2")),
    scope.Filters(model="gpt-4o", providers=("prov-1", "prov-2")),
    scope.Filters(user_id="user-1", providers=("prov-1",)),
    scope.Filters(model="gpt-4o", providers=()),
]


@pytest.mark.parametrize("plan_name", list(PLANS))
@pytest.mark.parametrize("group", ["user", "model", "api_key", None])
async def test_every_scope_runs_with_every_plan_shape(
    pg: asyncpg.Connection, plan_name: str, group: str | None
) -> None:
    plan = PLANS[plan_name]
    assert (bool(plan.pieces), bool(plan.edges)) == {
        "runs only": (True, False),
        "edges only": (False, True),
        "runs and edges": (True, True),
    }[plan_name]
    for f in FILTERS:
        args = Args()
        s = scope.total_scope(f, args) if group is None else scope.group_scope(group, f, args, ["key-1"])
        # a scope recounted from the records is always read with a records-only plan (stats_scope.sums)
        sql, values = scope.sums_sql(PLANS["edges only"] if s.records_only else plan, s, ("n_all", "cost"), args)
        assert await pg.fetch(sql, *values) == [], (f, group, sql)


@pytest.mark.parametrize(
    "f", [scope.Filters(providers=("p-1",)), scope.Filters(model="gpt-4o", providers=("p-1", "p-2"))]
)
def test_a_providers_models_are_read_from_the_provider_model_dimension(f: scope.Filters) -> None:
    """A provider filter on the models' board, and a provider with a model as one total, are answered from the
    provider_model dimension (migration 0010), not recounted from the range's records."""
    board, total = scope.group_scope("model", f, Args()), scope.total_scope(f, Args())
    assert (board.dim, board.records_only) == ("provider_model", False)
    if f.model is not None:
        assert (total.dim, total.records_only) == ("provider_model", False)
    assert board.shown("p-1\x1fgpt-4o") == "gpt-4o"
