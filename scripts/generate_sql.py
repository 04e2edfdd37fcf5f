#!/usr/bin/env python3
"""Rewrites materializer/sql/*.sql: the text of every SQL statement (and shared predicate) the materializer builds
from fixed lists (the field registry's columns, the counters, the dimensions, the grains), rendered once with
those fixed inputs, so a reader sees in the repository exactly what is sent. A statement whose variable part is a
name from a fixed set (a record table, a partitioned table) is rendered once per member. Statements written as
literals in their module are shown too, so each file lists everything its module sends.

The read side builds its statements per request (from a range plan, the filters, the grouping): each comes from
a pure builder (`materializer/read/*.py`, `..._sql` functions returning a `Statement`) that the reader calls, and
this script calls the same builder for representative requests (the plans of `PLANS`, with and without filters,
each grouping), writing under each statement the builder call, the request it stands for and its arguments.

    PYTHONSAFEPATH=1 .venv/bin/python scripts/generate_sql.py          # write the files
    PYTHONSAFEPATH=1 .venv/bin/python scripts/generate_sql.py --check  # exit 1 (with a diff) if one is stale

tests/unit/test_sql_golden.py fails while a file is not what this script would write.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from usagestream.materializer import pg_counters, pg_day_times, pg_provider_days, pg_tables
from usagestream.materializer.ops import retention, verify
from usagestream.materializer.pg_counters import DIM_KEY_SQL
from usagestream.materializer.read import (
    cache,
    cutoff,
    dashboard,
    entities,
    extent,
    leaderboards,
    provider_days,
    provider_performance,
    records,
    series_cache,
    stats,
    stats_scope,
    stats_series,
    stats_totals,
    store,
    timeseries,
)
from usagestream.materializer.read import stats_filters as sf
from usagestream.materializer.read.sql import Args, Statement
from usagestream.materializer.write import pg_views
from usagestream.range_bounds import TICK, Span
from usagestream.ranges import EMPTY, Plan, clamp, decompose
from usagestream.stats import GRAINS
from usagestream.timeseries import Extent, boundaries, plan

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "materializer" / "sql"

Entries = Iterable[tuple[str, str]]


def _pg_views() -> Entries:
    v, t = pg_views, pg_tables
    yield "write_preamble([0, 3], retention=True)  -- ends with _TEMP_TABLES_DDL", v.write_preamble([0, 3], True)
    yield "write_preamble([1], retention=False)", v.write_preamble([1], False)
    for table, state, columns in (
        ("usage_records", t.USAGE_STATE_COLUMNS, t.USAGE_RECORD_COLUMNS),
        ("candidate_records", t.CANDIDATE_STATE_COLUMNS, t.CANDIDATE_RECORD_COLUMNS),
    ):
        yield (
            f"select_for_update_sql({table!r}, {table.split('_')[0].upper()}_STATE_COLUMNS)",
            v.select_for_update_sql(table, state),
        )
        yield f"delete_moved_sql({table!r})", v.delete_moved_sql(table)
        yield f"record_homes_sql({table!r})", v.record_homes_sql(table)
        yield f"upsert_sql({table!r}, ..._RECORD_COLUMNS, fence=True)", v.upsert_sql(table, columns, True)
    yield "SPREAD_USAGE_SQL", v.SPREAD_USAGE_SQL
    yield "SPREAD_USAGE_ONE_QUARTER_SQL  -- facts sharing their buckets", v.SPREAD_USAGE_ONE_QUARTER_SQL
    yield "SPREAD_ATTEMPTS_SQL", v.SPREAD_ATTEMPTS_SQL
    yield "OVERDUE_SQL", v.OVERDUE_SQL
    yield "TIME_OUT_SQL", v.TIME_OUT_SQL
    yield "ACTIVE_STATES_SQL", v.ACTIVE_STATES_SQL
    yield "TIMEZONE_SQL", v.TIMEZONE_SQL
    yield "DEAD_LETTER_SQL", v.DEAD_LETTER_SQL
    yield "ENTITY_DELETED_SQL", v.ENTITY_DELETED_SQL
    yield "ENTITY_SQL", v.ENTITY_SQL


def _pg_counters() -> Entries:
    for name in ("FINISHED", "REACHED", "FR", "ERROR", "COMPLETED", "S200", "EXECUTED"):
        yield name, getattr(pg_counters, name)
    for table in ("USAGE_COUNTER_SQL", "ATTEMPT_COUNTER_SQL", "DIM_KEY_SQL"):
        for key, expr in getattr(pg_counters, table).items():
            yield f"{table}[{key!r}]", expr


def _day_times() -> Entries:
    d = pg_day_times
    for name in ("BUMP_SQL", "STALE_SQL", "FILL_SQL", "FORGET_DAYS_SQL", "FORGET_REVS_SQL", "MISMATCH_SQL"):
        yield name, getattr(d, name)
    yield "backfill_sql('UTC')  -- bench/reads_load.py (migration 0011 freezes its own copy)", d.backfill_sql("UTC")


def _provider_days() -> Entries:
    d = pg_provider_days
    for name in (
        "KEPT_SQL",
        "SLICES_SQL",
        "RECORDS_SQL",
        "STALE_SQL",
        "FILL_SQL",
        "FORGET_SQL",
        "FORGET_HOURS_SQL",
        "MISMATCH_SQL",
    ):
        yield name, getattr(d, name)
    yield "read.provider_days.MAX_NAME_SQL  -- only when a group's shown names differ", provider_days.MAX_NAME_SQL
    for i, sql in enumerate(d.backfill_sql("UTC")):
        yield f"backfill_sql('UTC')[{i}]  -- bench/reads_load.py (migration 0012 freezes its own copy)", sql


def _retention() -> Entries:
    r = retention
    yield "COUNT_BODIES_SQL", r.COUNT_BODIES_SQL
    yield "CLEAR_BODIES_SQL", r.CLEAR_BODIES_SQL
    for table in pg_tables.PARTITIONED_TABLES:
        yield f"stray_months_sql({table!r})", r.stray_months_sql(table)
        yield f"default_count_sql({table + '_default'!r})", r.default_count_sql(f"{table}_default")
        yield f"default_delete_sql({table!r})", r.default_delete_sql(table)
        yield f"forget_homes_sql({table!r}, '{table}_p202501')", r.forget_homes_sql(table, f"{table}_p202501")


def _verify() -> Entries:
    # The recount under the default USAGESTREAM_TIMEZONE (UTC): another zone changes only the day and month
    # buckets' `AT TIME ZONE` name. Every dimension at grain 0; every grain for `all` (the other dimensions'
    # statements differ from their grain-0 one exactly as `all`'s do).
    tz, usage_step, attempt_step = "UTC", None, None
    for _label, table, expected, where in verify._steps(tz):
        if table == "usage_agg" and usage_step is None:
            usage_step = (table, expected, where)
        if table == "attempt_agg" and attempt_step is None:
            attempt_step = (table, expected, where)
    for dim in DIM_KEY_SQL:
        yield f"expected_usage_sql({dim!r}, 0, 'UTC')", verify.expected_usage_sql(dim, 0, tz)
    for grain in GRAINS[1:]:
        yield f"expected_usage_sql('all', {grain}, 'UTC')", verify.expected_usage_sql("all", grain, tz)
    for grain in GRAINS:
        yield f"expected_attempts_sql({grain}, 'UTC')", verify.expected_attempts_sql(grain, tz)
    for step in (usage_step, attempt_step):
        assert step is not None
        table, expected, where = step
        yield f"difference_sql({table!r}, <its first expected_*_sql>, {where!r})", verify.difference_sql(*step)
        yield f"rebuild_step_sql({table!r}, <its first expected_*_sql>)", verify.rebuild_step_sql(table, expected)
    for table in pg_tables.PARTITIONED_TABLES:
        yield f"homes_difference_sql({table!r})", verify.homes_difference_sql(table)


def _cache() -> Entries:
    c = cache
    yield "ALL_USERS  -- the CTE grp(g) of every user with a completed record since $1 (a skip scan)", c.ALL_USERS
    for user, key, what in (
        ("user-1", "key-1", "one user's requests by API key (user_id and api_key_id given)"),
        (None, "key-1", "by API key (api_key_id given)"),
        ("user-1", None, "one user (user_id given)"),
        (None, None, "every user"),
    ):
        yield _call(f"ttl_sql({user!r}, {key!r}, SINCE)", f"TTL analysis, {what}", c.ttl_sql(user, key, SINCE))
    for user, multi, what in (
        ("user-1", False, "one user's newest points"),
        (None, False, "the newest points of every user"),
        (None, True, "every user's share of the limit (multi)"),
    ):
        yield _call(
            f"timeline_sql(SINCE, 1000, {user!r}, multi={multi})",
            f"interval timeline, {what}",
            c.timeline_sql(SINCE, 1000, user, multi),
        )


def _records() -> Entries:
    r = records
    yield "PAGE_COLUMNS", r.PAGE_COLUMNS
    for key, predicate in r.STATUS_FILTERS.items():
        yield f"STATUS_FILTERS[{key!r}]", predicate
    for admin, request in ((True, "/records ?search=gpt"), (False, "/api/users/me/usage ?search=gpt")):
        text = r.search_sql(admin)
        yield _call(f"search_sql(admin={admin})", f"{request}: one per keyword", Statement(text, ("%gpt%",)))
    for name, (what, f) in _filters().items():
        if name in COUNTED_OVER_RECORDS:  # the others' totals come from the aggregates (see _stats)
            yield _call(f"count_sql({name})", f"the total of {what}", r.count_sql(f))
        yield _call(f"page_sql({name}, 20, 40)", f"a page of {what}", r.page_sql(f, 20, 40))
    yield _call(
        "export_sql(ADMIN_FILTERED)", "a records export (its cursor)", r.export_sql(_filters()["ADMIN_FILTERED"][1])
    )
    yield from _full_pages()
    yield "ATTEMPT_FLAGS_SQL", r.ATTEMPT_FLAGS_SQL
    yield "DETAIL_BY_ID_SQL", r.DETAIL_BY_ID_SQL
    yield "DETAIL_BY_REQUEST_SQL", r.DETAIL_BY_REQUEST_SQL
    columns = ", ".join(r.ACTIVE_COLUMNS)
    yield _call("active_sql(ACTIVE_COLUMNS, ids, None)", "/active (admin)", r.active_sql(columns, ["u-1", "u-2"], None))
    yield _call(
        "active_sql(ACTIVE_COLUMNS, ids, 'user-1')", "/active (a user)", r.active_sql(columns, ["u-1"], "user-1")
    )


def _page_cases() -> list[tuple[str, records.Filters, str, str]]:
    """The pages whose statements are recorded: the whole range, and one model (a total from its dimension)."""
    model = records.Filters()
    model.range(START, END)
    model.admin(None, None, "gpt-4o", None, None)
    return [("ADMIN_RANGE", _filters()["ADMIN_RANGE"][1], "all", ""), ("ADMIN_MODEL", model, "model", "gpt-4o")]


def _full_pages() -> Entries:
    """Pages as ReadStore.record_page and .user_page read them: rows, flags, names and total in one statement."""
    r, fs = records, _filters()
    for name, f, dim, key in _page_cases():
        page = r.page_sql(f, 20, 40)
        sums = stats.usage_sums_sql(PLANS["RUNS_AND_EDGES"], dim, ("n_all",), keys=[key], extra_args=page.args)
        yield _call(
            f"full_page_sql(page_sql({name}, 20, 40), aggregate_total_sql(usage_sums_sql(RUNS_AND_EDGES, {dim!r})))",
            f"/records {'with a range only' if dim == 'all' else '?model='}: the page with its flags and names, the"
            " total from the aggregates (ReadStore._count, a records_only plan)",
            r.full_page_sql(page, r.aggregate_total_sql(sums)),
        )
    for name in COUNTED_OVER_RECORDS:
        what, f = fs[name]
        page = r.page_sql(f, 20, 40)
        yield _call(
            f"full_page_sql(page_sql({name}, 20, 40), exact_total_sql({name}, page.args))",
            f"{what}: the page with its flags and names, the total counted over the records",
            r.full_page_sql(page, r.exact_total_sql(f, page.args)),
        )
    yield _call(
        "full_page_sql(page_sql(ADMIN_RANGE, 20, 40))",
        "/records ?include_total=false: the page with its flags and names, no total",
        r.full_page_sql(r.page_sql(fs["ADMIN_RANGE"][1], 20, 40)),
    )


# The filters whose total ReadStore counts over the records: the aggregates cannot tell it (ReadStore._count).
COUNTED_OVER_RECORDS = ("ADMIN_FILTERED", "ADMIN_SEARCH", "USER_SEARCH")


def _filters() -> dict[str, tuple[str, records.Filters]]:
    """Record filters as ReadStore.record_page and .user_page build them, by name."""
    r, out = records, {}
    f = r.Filters()
    f.range(START, END)
    out["ADMIN_RANGE"] = ("/records with a range only", f)
    f = r.Filters()
    f.range(START, END)
    f.admin("user-1", "ali", "gpt-4o", "OpenAI", "failed")
    out["ADMIN_FILTERED"] = ("/records ?user_id= &username= &model= &provider= &status=failed", f)
    f = r.Filters()
    f.range(START, END)
    f.matched(
        [r.Matches({"model": ["gpt-4o", "gpt-4o-mini"], "api_key_id": ["key-1"], "user_id": [], "provider_id": []})]
    )
    out["ADMIN_SEARCH"] = ("/records ?search=gpt (3 values matched: the page merged from one branch each)", f)
    f = r.Filters()
    f.range(START, END)
    f.matched([r.Matches({"model": [f"model-{i}" for i in range(r.MAX_BRANCHES + 1)], "api_key_id": []})])
    out["ADMIN_SEARCH_WIDE"] = ("/records ?search=model (25 values matched: too many branches, read in order)", f)
    f = r.Filters()
    f.add("user_id = {}", "user-1")
    f.range(START, END)
    f.matched([r.Matches({"model": ["gpt-4o", "gpt-4o-mini"], "api_key_id": ["key-1"]})])
    out["USER_SEARCH"] = ("/api/users/me/usage ?search=gpt (the user's own records)", f)
    return out


def _entities() -> Entries:
    e = entities
    yield "ENTITY_MAPS_SQL  -- $1 kinds, $2 ids (pairs)", e.ENTITY_MAPS_SQL
    yield "USER_BY_ID_SQL", e.USER_BY_ID_SQL
    yield "MANAGEMENT_TOKEN_SQL", e.MANAGEMENT_TOKEN_SQL
    yield "CREDENTIALS_SQL  -- $1 user ids, $2 token digests", e.CREDENTIALS_SQL
    yield "entity_subquery('user', 'username', 'ILIKE', '$1')", e.entity_subquery("user", "username", "ILIKE", "$1")


# --- the read side's representative requests ----------------------------------------------------------------------
START = datetime(2026, 1, 3, 10, 7, 12, tzinfo=UTC)
END = datetime(2026, 3, 14, 16, 52, tzinfo=UTC)
NEWEST = datetime(2026, 3, 20, tzinfo=UTC)  # the newest record: the runs may read whole buckets past it
SINCE = datetime(2026, 3, 13, 16, 52, tzinfo=UTC)  # a cache analysis over the last 24 hours
UTC_ZONE = ZoneInfo("UTC")
PLANS = {
    # [START, END]: quarters, hours and days subtracted from whole months, and two cut ends recounted
    "RUNS_AND_EDGES": decompose(START, END, UTC_ZONE, NEWEST),
    # January and February 2026 exactly: one run of month rows, nothing recounted
    "RUNS_ONLY": decompose(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC) - TICK, UTC_ZONE, NEWEST),
    # [START, END] recounted from the records alone (stats.records_plan: a filter no aggregate holds)
    "EDGES_ONLY": Plan((Span(START, END + TICK),), ()),
}


def _stats() -> Entries:
    st, plan_ = stats, PLANS["RUNS_AND_EDGES"]
    yield "DAY_ZONE_SQL", st.DAY_ZONE_SQL
    for table in ("usage_records", "candidate_records"):
        yield f"extent_sql({table!r})  -- what plan_for plans from", st.extent_sql(table)
    yield "RECORDS_EXTENT_SQL  -- what records_plan plans from", st.RECORDS_EXTENT_SQL
    for name in ("RUNS_AND_EDGES", "RUNS_ONLY"):
        statement = st.usage_sums_sql(PLANS[name], "all", st.STATS_COUNTERS)
        yield _call(f"usage_sums_sql({name}, 'all', STATS_COUNTERS)", "/stats", statement)
    # /stats narrowed as today's Aether narrows it (read.stats_filters)
    yield "stats_filters.PROVIDER_IDS_SQL  -- /stats?provider=: the ids of that current name", sf.PROVIDER_IDS_SQL
    for plan_name, given, request in (
        ("RUNS_AND_EDGES", {"model": ["gpt-4o"]}, "/stats?model=gpt-4o (one filter: its dimension)"),
        ("RUNS_AND_EDGES", {"provider_id": ["prov-1", "prov-2"]}, "/stats?provider=OpenAI (the ids of that name)"),
        ("EDGES_ONLY", {"user_id": ["user-1"], "model": ["gpt-4o"]}, "/stats?user_id=&model= (recounted)"),
    ):
        yield _call(f"stats_filters.sums_sql({plan_name}, {given})", request, sf.sums_sql(PLANS[plan_name], given))
    for group, counters, order, users in (
        ("model", st.FR_COUNTERS, "n_fr", False),
        ("api_format", (*st.FR_COUNTERS, "fr_rt_sum", "fr_rt_n"), "n_fr", False),
        ("user", ("n_all", "tot_tok", "cost"), "n_all", True),
    ):
        call = f"top_keys_sql(RUNS_AND_EDGES, {group!r}, {counters}, {order!r}, 20, join_users={users})"
        yield _call(
            call, f"/aggregation/stats ?group_by={group}", st.top_keys_sql(plan_, group, counters, order, 20, users)
        )
    yield _call(
        "attempt_top_sql(RUNS_AND_EDGES, 20)",
        "/aggregation/stats ?group_by=provider: the top providers by attempts (over candidate_records' plan)",
        st.attempt_top_sql(plan_, 20),
    )
    yield _call(
        "provider_rows_sql(RUNS_AND_EDGES, RUNS_AND_EDGES, 20)",
        "/aggregation/stats ?group_by=provider: the top providers, their usage sums and names in one statement",
        st.provider_rows_sql(plan_, plan_, 20),
    )
    yield _call(
        "usage_sums_sql(RUNS_AND_EDGES, 'provider', PROVIDER_COUNTERS, keys=['prov-1', 'prov-2'])",
        "/aggregation/stats ?group_by=provider: those providers' usage",
        st.usage_sums_sql(plan_, "provider", st.PROVIDER_COUNTERS, keys=["prov-1", "prov-2"]),
    )
    yield _call(
        "usage_sums_sql(RUNS_AND_EDGES, 'user', USER_COUNTERS, keys=['user-1'])",
        "/api/users/me/usage: the user's summary",
        st.usage_sums_sql(plan_, "user", st.USER_COUNTERS, keys=["user-1"]),
    )
    yield _call(
        "usage_sums_sql(RUNS_AND_EDGES, 'user_model', USER_COUNTERS, key_prefix='user-1\\x1f')",
        "/api/users/me/usage: the user's summary per model",
        st.usage_sums_sql(plan_, "user_model", st.USER_COUNTERS, key_prefix="user-1\x1f"),
    )
    yield _call(
        "usage_sums_sql(RUNS_AND_EDGES, 'user_api_format', FORMAT_COUNTERS, key_prefix='user-1\\x1f')",
        "/api/users/me/usage: the user's summary per API format",
        st.usage_sums_sql(plan_, "user_api_format", st.FORMAT_COUNTERS, key_prefix="user-1\x1f"),
    )
    for dim, key, who in (("api_key", "key-1", "one API key"), ("user", "user-1", "one user"), ("all", "", "all")):
        yield _call(
            f"usage_sums_sql(RUNS_AND_EDGES, {dim!r}, HIT_COUNTERS, keys=[{key!r}])",
            f"cache hit analysis of {who}",
            st.usage_sums_sql(plan_, dim, st.HIT_COUNTERS, keys=[key]),
        )
    yield _call(
        "usage_sums_sql(EDGES_ONLY, 'user', HIT_COUNTERS, keys=['user-1'], extra_where='api_key_id = $1',"
        " extra_args=['key-1'])",
        "cache hit analysis of one user's API key (no dimension holds user x key: the records recounted)",
        st.usage_sums_sql(
            PLANS["EDGES_ONLY"],
            "user",
            st.HIT_COUNTERS,
            keys=["user-1"],
            extra_where="api_key_id = $1",
            extra_args=["key-1"],
        ),
    )
    for dim, keys, request in (
        ("all", [""], "/records with a range only"),
        ("model", ["gpt-4o"], "/records ?model="),
        ("model", ["gpt-4o", "gpt-4o-mini"], "/records ?search= (one keyword matching one column's values)"),
    ):
        yield _call(
            f"usage_sums_sql(RUNS_AND_EDGES, {dim!r}, ('n_all',), keys={keys})",
            f"{request}: the total from the aggregates (ReadStore._count, a records_only plan)",
            st.usage_sums_sql(plan_, dim, ("n_all",), keys=keys),
        )
    lo, hi = datetime(2025, 3, 15, tzinfo=UTC), datetime(2026, 3, 15, tzinfo=UTC) - TICK
    yield _call("heatmap_sql(None, 1, lo, hi)", "the heatmap of every request (days)", st.heatmap_sql(None, 1, lo, hi))
    yield _call("heatmap_sql('user-1', 1, lo, hi)", "a user's heatmap", st.heatmap_sql("user-1", 1, lo, hi))


# The extents the guarded statements of read.extent.sql are planned from (both tables alike): no cut-off, and a
# cut-off on 2025-12-01 with the first and last 15-minute roll-up before it.
EXTENT = extent.Extent("usage_records", None, None, datetime(2025, 12, 1, 0, 3, tzinfo=UTC), NEWEST, None, None)
CUT_EXTENT = replace(
    EXTENT,
    cut="2025-12-01T00:00:00+00:00",
    rollup_first=datetime(2024, 12, 1, tzinfo=UTC),
    rollup_last=datetime(2025, 11, 30, 23, 45, tzinfo=UTC),
)


def _extent() -> Entries:
    """One statement per range question: the plan from an extent read earlier, checked in the statement."""
    x, st, r = extent, stats, records
    for table in x.TABLES:
        yield f"extent_sql({table!r})  -- what the guarded plans are planned from", x.extent_sql(table)
    for name, e in (("EXTENT", EXTENT), ("CUT_EXTENT", CUT_EXTENT)):
        args = Args()
        yield _call(
            f"guard_sql({name}.bounded(), args)", "the guard alone", args.statement(x.guard_sql(e.bounded(), args))
        )
    plan_, bounded = PLANS["RUNS_AND_EDGES"], [EXTENT.bounded()]
    yield _call(
        "guarded(usage_sums_sql(RUNS_AND_EDGES, 'all', STATS_COUNTERS), [EXTENT])",
        "/stats",
        x.guarded(st.usage_sums_sql(plan_, "all", st.STATS_COUNTERS), bounded),
    )
    for group, (counters, order, users) in store.TOP.items():
        yield _call(
            f"guarded(top_keys_sql(RUNS_AND_EDGES, {group!r}, ...), [EXTENT], top_order({order!r}))",
            f"/aggregation/stats ?group_by={group}",
            x.guarded(st.top_keys_sql(plan_, group, counters, order, 20, users), bounded, st.top_order(order)),
        )
    candidates = replace(EXTENT, table="candidate_records").bounded()
    yield _call(
        "guarded(provider_rows_sql(RUNS_AND_EDGES, RUNS_AND_EDGES, 20), [candidates' EXTENT, EXTENT], PROVIDER_ORDER)",
        "/aggregation/stats ?group_by=provider",
        x.guarded(st.provider_rows_sql(plan_, plan_, 20), [candidates, *bounded], st.PROVIDER_ORDER),
    )
    fs = _filters()
    for name, f, dim, key in _page_cases():
        page = r.page_sql(f, 20, 40)
        sums = st.usage_sums_sql(plan_, dim, ("n_all",), keys=[key], extra_args=page.args)
        yield _call(
            f"guarded(full_page_sql(page_sql({name}, 20, 40), aggregate_total_sql({dim!r}), flags=True), [EXTENT],"
            " PAGE_ORDER)",
            f"/records {'with a range only' if dim == 'all' else '?model='}: a page in one statement, with its flags",
            x.guarded(r.full_page_sql(page, r.aggregate_total_sql(sums), flags=True), bounded, r.PAGE_ORDER),
        )
    page = r.page_sql(fs["ADMIN_RANGE"][1], 20, 40)
    yield _call(
        "guarded(full_page_sql(page_sql(ADMIN_RANGE, 20, 40), 'SELECT 0::bigint', flags=True), [EXTENT], PAGE_ORDER)",
        "/records with a range outside the data (an empty plan: a total of 0)",
        x.guarded(r.full_page_sql(page, Statement("SELECT 0::bigint", page.args), flags=True), bounded, r.PAGE_ORDER),
    )
    what, f = fs["ADMIN_FILTERED"]
    page = r.page_sql(f, 20, 40)
    yield _call(
        "guarded(full_page_sql(page_sql(ADMIN_FILTERED, 20, 40), exact_total_sql(...)), [], PAGE_ORDER)",
        f"{what}: counted over the records, no plan (no guard: for the snapshot)",
        x.guarded(r.full_page_sql(page, r.exact_total_sql(f, page.args)), [], r.PAGE_ORDER),
    )
    yield "records.FLAGS_AT_SQL  -- the page's flags, with the snapshot they were read in", r.FLAGS_AT_SQL


def _cutoff() -> Entries:
    for table in ("usage_records", "candidate_records"):
        yield f"oldest_rollups_sql({table!r})  -- $1 the records cut-off", cutoff.oldest_rollups_sql(table)


def _series_queries() -> list[timeseries.SeriesQuery]:
    """Hourly series over [10:07:12, 15:52] of END's day (both end buckets cut), each grouping of each scope."""
    ts, start, end = timeseries, END.replace(hour=10, minute=7, second=12), END.replace(hour=15)
    scopes = [(None, g) for g in (None, *ts.ADMIN_GROUPS)] + [("user-1", g) for g in (None, *ts.USER_GROUPS)]
    return [ts.SeriesQuery(start, end, "hour", UTC_ZONE, group, 10, NEWEST, user) for user, group in scopes]


def _timeseries() -> Entries:
    yield "ATTEMPT_EXTENT_SQL  -- group_by=provider: the candidates' extent", timeseries.ATTEMPT_EXTENT_SQL
    extent = Extent(datetime(2026, 1, 1, tzinfo=UTC), NEWEST, UTC_ZONE)
    for q in _series_queries():
        records_only = q.user_id is not None and q.group_by in ("api_format", "api_key")
        p = plan(q.start, q.end, "hour", UTC_ZONE, NEWEST, extent, records_only)
        ranking = plan(q.start, q.end, "month", UTC_ZONE, NEWEST, extent, records_only) if q.group_by else None
        scope = "admin" if q.user_id is None else "a user's own"
        attempts = (p, ranking) if q.group_by == "provider" and ranking is not None else None
        yield _call(
            "statement(plan(hour), plan(month) if grouped, q[, the candidates' plans: the same two])",
            f"{scope} time series, group_by={q.group_by}{' (records only)' if records_only else ''}",
            timeseries.statement(p, ranking, q, attempts),
        )
    yield (
        "series_cache.GUARD_SQL  -- the kept chunks' guard and revisions ($1, $2: the chunks' bounds)",
        (series_cache.GUARD_SQL),
    )
    for q in _series_queries()[:2]:  # kept chunks: the buckets read, per segment (here each bucket its own)
        p = plan(q.start, q.end, "hour", UTC_ZONE, NEWEST, extent)
        ranking = plan(q.start, q.end, "month", UTC_ZONE, NEWEST, extent) if q.group_by else None
        yield _call(
            "statement(plan(hour), plan(month) if grouped, q, None, stamps, segs)",
            f"admin time series per segment, group_by={q.group_by}",
            timeseries.statement(p, ranking, q, None, None, list(range(len(p.buckets)))),
        )
    q = _series_queries()[1]  # the ranking kept beside the chunks: counted per segment, then listed
    p = plan(q.start, q.end, "hour", UTC_ZONE, NEWEST, extent)
    segs = list(range(len(p.buckets)))
    yield _call(
        "count_statement(plan(hour), q, segs)",
        f"admin time series, the groups' requests per segment (kept ranking), group_by={q.group_by}",
        timeseries.count_statement(p, q, segs),
    )
    bounds = ([q.start], [q.end])
    yield _call(
        "count_statement(plan(hour), q, segs, bounds)",
        "the same in one statement with the kept chunks' guard (series_cache.guard_columns) of one chunk's bounds",
        timeseries.count_statement(p, q, segs, bounds),
    )
    ranking = plan(q.start, q.end, "month", UTC_ZONE, NEWEST, extent)
    yield _call(
        "statement(plan(hour), plan(month), q, None, None, segs, ranked)",
        f"admin time series per segment, the groups listed (kept ranking), group_by={q.group_by}",
        timeseries.statement(p, ranking, q, None, None, segs, ["model-a", "model-b"]),
    )


# --- the /api/admin/stats/* family and the dashboard ----------------------------------------------------------------
FIRST = datetime(2025, 12, 1, tzinfo=UTC)  # the oldest record of their representative data (newest: NEWEST)
DAYS = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 15, tzinfo=UTC) - TICK)  # local days 03-01 to 03-14
PREVIOUS = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC) - TICK)  # a comparison's RUNS_ONLY
# The filter combinations of the family as `stats_scope.Filters` (provider_name resolved to its live ids), by name.
FAMILY_FILTERS = {
    "none": stats_scope.Filters(),
    "user_id": stats_scope.Filters("user-1"),
    "model": stats_scope.Filters(model="gpt-4o"),
    "provider_name": stats_scope.Filters(providers=("prov-1", "prov-2")),
    "user_id+model": stats_scope.Filters("user-1", "gpt-4o"),
    "model+provider_name": stats_scope.Filters(model="gpt-4o", providers=("prov-1", "prov-2")),
}
# Per leaderboard, the filter combinations that build distinct statements (stats_scope.group_scope's branches).
BOARD_FILTERS = {
    "user": ("none", "user_id", "model", "user_id+model", "provider_name"),
    "model": ("none", "user_id", "model", "user_id+model", "provider_name"),
    "api_key": ("none", "user_id", "model", "provider_name"),
}
SERIES_ASKS = [("day", DAYS, name) for name in FAMILY_FILTERS] + [
    ("hour", (DAYS[1] - timedelta(hours=24) + TICK, DAYS[1]), "none")
]
SAVINGS_FILTERS = ("none", "model", "provider_name", "model+provider_name")  # cost/savings takes no user_id
PERFORMANCE_ASKS = {
    "no filter": {},
    "?provider_id=": {"provider_id": "prov-1"},
    "every filter": {
        "provider_id": "prov-1",
        "model": "gpt-4o",
        "api_format": "openai",
        "is_stream": True,
        "has_format_conversion": False,
    },
}


def family_plan(span: tuple[datetime, datetime], scope: stats_scope.Scope) -> Plan:
    """The plan `stats_scope.sums` reads `span` with (stats.plan_for, or stats.records_plan for a scope recounted
    from the records), over the representative extent [FIRST, NEWEST]."""
    if scope.records_only:
        return Plan((Span(span[0], span[1] + TICK),), ())
    return decompose(span[0], span[1], UTC_ZONE, NEWEST)


def _sums(
    call: str,
    request: str,
    f: stats_scope.Filters,
    build: Callable[[stats_scope.Filters, Args], stats_scope.Scope],
    counters: Sequence[str],
    span: tuple[datetime, datetime],
) -> tuple[str, str]:
    """An entry of `stats_scope.sums_sql` for the scope `build` makes of `f` (with the statement's arguments)."""
    args = Args()
    scope = build(f, args)
    return _call(call, request, stats_scope.sums_sql(family_plan(span, scope), scope, counters, args))


def _stats_family() -> Entries:
    sc, lb, tot = stats_scope, leaderboards, stats_totals
    yield "PROVIDER_IDS_SQL  -- stats_scope.resolve: a provider_name filter's live provider ids", sc.PROVIDER_IDS_SQL
    for granularity, (lo, hi), name in SERIES_ASKS:
        f = FAMILY_FILTERS[name]
        q = timeseries.SeriesQuery(lo, hi, granularity, UTC_ZONE, None, 1, NEWEST)
        records_only = sc.total_scope(f, Args()).records_only
        p = plan(lo, hi, granularity, UTC_ZONE, NEWEST, Extent(FIRST, NEWEST, UTC_ZONE), records_only)
        yield _call(
            f"stats_series.series_sql(plan({granularity}), {name}, q)",
            f"/time-series ?granularity={granularity} filtered by {name}"
            + (" (and cost/forecast)" if (granularity, name) == ("day", "none") else ""),
            stats_series.series_sql(p, f, q),
        )
    for group, names in BOARD_FILTERS.items():
        for name in names:
            f, owned = FAMILY_FILTERS[name], ["key-1", "key-2"] if group == "api_key" else None
            yield _sums(
                f"stats_scope.sums_sql(plan, group_scope({group!r}, {name}), leaderboards.COUNTERS)",
                f"/leaderboard/{group.replace('_', '-')}s filtered by {name}",
                f,
                lambda f, args, group=group, owned=owned: sc.group_scope(group, f, args, owned),
                lb.COUNTERS,
                (START, END),
            )
    yield "leaderboards.OWNED_KEYS_SQL  -- /leaderboard/api-keys ?user_id=: the user's keys", lb.OWNED_KEYS_SQL
    yield "leaderboards.USERS_SQL  -- /leaderboard/users: who may rank", lb.USERS_SQL
    yield "leaderboards.API_KEYS_SQL  -- /leaderboard/api-keys: which keys may rank, and their owners", lb.API_KEYS_SQL
    for span, which in (((START, END), "current"), (PREVIOUS, "previous")):
        yield _sums(
            "stats_scope.sums_sql(plan, total_scope(none), COMPARISON_COUNTERS)",
            f"/comparison: the {which} period",
            FAMILY_FILTERS["none"],
            sc.total_scope,
            tot.COMPARISON_COUNTERS,
            span,
        )
    for name in SAVINGS_FILTERS:
        yield _sums(
            f"stats_scope.sums_sql(plan, total_scope({name}), SAVINGS_COUNTERS)",
            f"/cost/savings filtered by {name}",
            FAMILY_FILTERS[name],
            sc.total_scope,
            tot.SAVINGS_COUNTERS,
            (START, END),
        )
    days = _day_spans(DAYS)
    kept = Statement(pg_day_times.KEPT_SQL, ([d[0] for d in days], [d[1] for d in days]))
    yield _call("pg_day_times.KEPT_SQL (the kept days still current)", "/performance/percentiles", kept)
    yield _call(
        "stats_totals.percentiles_sql(days)  -- the days not kept, here all",
        "/performance/percentiles",
        tot.percentiles_sql(days),
    )
    for what, filters in PERFORMANCE_ASKS.items():
        ask = provider_performance.Ask(boundaries(*DAYS, "day", UTC_ZONE), 8, 10_000, **filters)
        if provider_performance.keepable(ask):
            los, his = list(ask.bounds[:-1]), list(ask.bounds[1:])
            yield _call(
                f"pg_provider_days.KEPT_SQL (the kept days still current), {what}",
                f"/performance/providers ?granularity=day, {what}",
                Statement(pg_provider_days.KEPT_SQL, (los, his, ask.provider_id, len(los), ask.slow_ms)),
            )
            hours = [his[-1] - timedelta(hours=24 - k) for k in range(25)]  # the last day's hours: a day not kept
            yield _call(
                f"pg_provider_days.KEPT_SQL (the kept hours of a day not kept), {what}",
                f"/performance/providers ?granularity=day, {what}",
                Statement(
                    pg_provider_days.KEPT_SQL, (hours[:-1], hours[1:], ask.provider_id, len(hours) - 1, ask.slow_ms)
                ),
            )
        yield _call(
            f"provider_performance.statement(Ask(day bounds, 8, 10000, {what}))",
            f"/performance/providers ?granularity=day, {what}",
            provider_performance.statement(ask),
        )


def _day_spans(span: tuple[datetime, datetime]) -> list[tuple[datetime, datetime]]:
    """Each UTC day of `span`, half-open."""
    lo, out = span[0], []
    while lo < span[1]:
        out.append((lo, lo + timedelta(days=1)))
        lo += timedelta(days=1)
    return out


# The dashboard's representative request: at DASH_NOW, this month so far and today; the daily stats of the last
# 7 days; inclusive spans as http/views/dashboard_stats.py builds them (UTC).
DASH_NOW = END
DASH_SPANS = {
    "period": (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC) - TICK),
    "today": (datetime(2026, 3, 14, tzinfo=UTC), datetime(2026, 3, 15, tzinfo=UTC) - TICK),
    "minute": (DASH_NOW - dashboard.RATE_WINDOW, DASH_NOW),
    "online": (DASH_NOW - dashboard.ONLINE_WINDOW, DASH_NOW),
}
DASH_DAYS = [(datetime(2026, 3, d, tzinfo=UTC), datetime(2026, 3, d + 1, tzinfo=UTC) - TICK) for d in range(8, 15)]


def dashboard_plan(span: tuple[datetime, datetime]) -> Plan:
    """The plan `dashboard.plans` makes of `span` over the representative extent [FIRST, NEWEST]."""
    bounds = clamp(span[0], span[1], FIRST, NEWEST)
    return EMPTY if bounds is None else decompose(bounds[0], bounds[1], UTC_ZONE, NEWEST)


def _dashboard() -> Entries:
    d, st = dashboard, stats
    plans = {name: dashboard_plan(span) for name, span in DASH_SPANS.items()}
    for who, dim, key in (("admin", "all", ""), ("user", "user", "user-1")):
        for name in ("period", "today"):
            yield _call(
                f"stats.usage_sums_sql({name}, {dim!r}, dashboard.STATS_COUNTERS, keys=[{key!r}])",
                f"/api/dashboard/stats ({who}): the {name}",
                st.usage_sums_sql(plans[name], dim, d.STATS_COUNTERS, keys=[key]),
            )
    yield _call(
        "stats.usage_sums_sql(minute, 'all', dashboard.MINUTE_COUNTERS, keys=[''])",
        "/api/dashboard/stats (admin): the last minute's rates",
        st.usage_sums_sql(plans["minute"], "all", d.MINUTE_COUNTERS, keys=[""]),
    )
    yield _call(
        "stats.usage_sums_sql(online, 'user', ('n_all',))",
        "/api/dashboard/stats (admin): the users online (a request in the last 5 minutes)",
        st.usage_sums_sql(plans["online"], "user", ("n_all",)),
    )
    yield "USERS_SQL  -- /api/dashboard/stats (admin): live and active users", d.USERS_SQL
    yield "KEYS_SQL  -- /api/dashboard/stats (admin): live API keys", d.KEYS_SQL
    yield "USER_KEYS_SQL  -- /api/dashboard/stats (user): the user's live API keys", d.USER_KEYS_SQL
    day_plans = [dashboard_plan(span) for span in DASH_DAYS]
    for who, dim, where, call in (
        ("admin", "all", {"key": ""}, "key=''"),
        ("admin", "model", {}, "every key"),
        ("admin", "provider", {}, "every key"),
        ("user", "user", {"key": "user-1"}, "key='user-1'"),
        ("user", "user_model", {"prefix": "user-1\x1f"}, "prefix='user-1\\x1f'"),
    ):
        yield _call(
            f"per_day_sql(day plans, {dim!r}, DAY_COUNTERS, {call})",
            f"/api/dashboard/daily-stats ({who}), the last 7 days",
            d.per_day_sql(day_plans, dim, d.DAY_COUNTERS, **where),
        )


def _call(call: str, request: str, statement: Statement) -> tuple[str, str]:
    """An entry for a read-side statement: the builder call, the request it stands for, its arguments."""
    args = "".join(f"\n--   ${i} = {_value(v)}" for i, v in enumerate(statement.args, start=1))
    return f"{call}\n--   for: {request}{args}", statement.text


def _value(v: Any) -> str:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return repr(v)


MODULES = {
    "write.pg_views": _pg_views,
    "pg_counters": _pg_counters,
    "pg_day_times": _day_times,
    "pg_provider_days": _provider_days,
    "ops.retention": _retention,
    "ops.verify": _verify,
    "read.cache": _cache,
    "read.records": _records,
    "read.stats": _stats,
    "read.extent": _extent,
    "read.entities": _entities,
    "read.cutoff": _cutoff,
    "read.timeseries": _timeseries,
    "read.stats_family": _stats_family,
    "read.dashboard": _dashboard,
}


# What the read side's files add to the common head: the representative requests their statements are built for.
_RANGE = f"{START.isoformat()} to {END.isoformat()} (inclusive), newest record {NEWEST.isoformat()}"
READ_HEAD = {
    "read.stats": [
        "Built per request: each entry names the builder call, the request it stands for, then its arguments",
        "($1, $2, ... in order). The plans (usagestream/ranges.py, zone UTC):",
        f"  RUNS_AND_EDGES  {_RANGE}:",
        "                  runs of month rows minus the days, hours and quarters outside the range (weight -1),",
        "                  and the two cut ends recounted from usage_records ($5-$8);",
        "  RUNS_ONLY       January and February 2026 exactly: one run of month rows, nothing recounted;",
        "  EDGES_ONLY      the same range recounted from the records alone (records_plan).",
        "The range's statements differ by plan only in which parts of the UNION ALL are there (runs, recounts).",
    ],
    "read.records": [
        f"Built per request: filters as ReadStore.record_page/.user_page build them, over {START.isoformat()}",
        f"to {END.isoformat()}; each entry names the builder call, the request, then its arguments in order.",
    ],
    "read.cache": ["Built per request: each entry names the builder call, the request, then its arguments."],
    "read.extent": [
        "A range question in one statement (ReadStore._planned): the plan built from an extent read earlier, the",
        "statement run only where its guard holds. Built per request as read.stats.sql's RUNS_AND_EDGES, from",
        f"EXTENT (records from 2025-12-01T00:03:00+00:00 to {NEWEST.isoformat()}, no cut-off; `bounded()`",
        "moves the newest to the end of its 15-minute bucket); the guard also with CUT_EXTENT (a cut-off).",
    ],
    "read.stats_family": [
        "The statements of /api/admin/stats/* (http/views/admin_stats.py), built per request: each entry names",
        "the builder call, the request it stands for, then its arguments in order. Representative data: records",
        f"from {FIRST.isoformat()} to {NEWEST.isoformat()} (zone UTC). The ranges: the series over the local",
        "days 2026-03-01 to 2026-03-14 (and the hours of 2026-03-14); the sums over",
        f"{START.isoformat()} to {END.isoformat()} (runs and recounted edges, as read.stats.sql's",
        "RUNS_AND_EDGES; a filter combination no dimension holds: the range recounted from the records alone),",
        "a comparison's previous period over January and February 2026 (runs only). The filters: none, one",
        "dimension (user_id, model, provider_name), user_id+model (the user_model dimension), and the",
        "combinations recounted from the records. What plans them (extent_sql, RECORDS_EXTENT_SQL, the",
        "cut-off's oldest_rollups_sql) stands in read.stats.sql and read.cutoff.sql.",
    ],
    "read.dashboard": [
        "The statements of /api/dashboard/stats and /api/dashboard/daily-stats, built per request: each entry",
        "names the builder call, the request it stands for, then its arguments in order. The request: at",
        f"{DASH_NOW.isoformat()}, this month (2026-03) and today, the last minute and 5 minutes; the",
        "daily stats of 2026-03-08 to 2026-03-14 (zone UTC), over records from",
        f"{FIRST.isoformat()} to {NEWEST.isoformat()}. Each range is planned as read.stats.sql's (extent_sql);",
        "the user's entity (USER_BY_ID_SQL) and the providers' names (ENTITY_MAPS_SQL) stand in",
        "read.entities.sql.",
    ],
    "read.timeseries": [
        "Built per request: an hourly series over 10:07:12 to 15:52 of 2026-03-14 UTC (both end buckets cut:",
        "their quarters read, the cut minutes recounted), each grouping of each scope, the groups ranked over a",
        "cover of the range by months. After the request, the arguments in order: the scope's user, the bucket",
        "plan's arrays, and (grouped) the limit and the ranking plan's arrays.",
    ],
}


# A file that shows several modules' statements: the modules, for its first line.
TITLES = {
    "read.stats_family": (
        "read.{stats_scope, stats_series, leaderboards, stats_totals, provider_performance} (/api/admin/stats/*)"
    ),
}


def render(module: str, entries: Entries) -> str:
    if module in TITLES:
        first = [
            f"-- usagestream.materializer.{TITLES[module]}: the SQL they send,",
            "-- exactly as sent (one statement per entry, under its name in its module). Written by",
            "-- scripts/generate_sql.py: do not edit.",
        ]
    else:
        first = [
            f"-- usagestream.materializer.{module}: the SQL it sends, exactly as sent (one statement or predicate",
            "-- per entry, under its name in the module). Written by scripts/generate_sql.py: do not edit.",
        ]
    head = [*first, *(f"-- {line}" for line in READ_HEAD.get(module, []))]
    body = [f"\n-- {name}\n{text}\n" for name, text in entries]
    return "\n".join(head) + "\n" + "".join(body)


def expected() -> dict[Path, str]:
    """Each golden file -> the text it should have."""
    return {OUT / f"{module}.sql": render(module, entries()) for module, entries in MODULES.items()}


def stale(want: dict[Path, str]) -> list[str]:
    """A unified diff (committed -> generated) per file that is not `want`'s text, and a line per stray file."""
    out = []
    for path, text in want.items():
        have = path.read_text(encoding="utf-8") if path.exists() else ""
        if have != text:
            name = str(path.relative_to(ROOT))
            diff = difflib.unified_diff(have.splitlines(True), text.splitlines(True), name, f"{name} (generated)")
            out.append(f"{''.join(diff)}{name} is not current: run scripts/generate_sql.py")
    for path in sorted(set(OUT.glob("*.sql")) - set(want)):
        out.append(f"{path.relative_to(ROOT)} is not generated by scripts/generate_sql.py")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="Rewrite materializer/sql/*.sql from the statements' definitions.")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 with a diff if a file is stale")
    args = ap.parse_args()
    want = expected()
    if args.check:
        problems = stale(want)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    OUT.mkdir(exist_ok=True)
    for path, text in want.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
