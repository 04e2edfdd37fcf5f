#!/usr/bin/env python3
"""Rewrites materializer/sql/*.sql: the text of every SQL statement (and shared predicate) the materializer builds
from fixed lists (the field registry's columns, the counters, the dimensions, the grains), rendered once with
those fixed inputs, so a reader sees in the repository exactly what is sent. A statement whose variable part is a
name from a fixed set (a record table, a partitioned table) is rendered once per member. Statements written as
literals in their module are shown too, so each file lists everything its module sends. Read-side statements
built per request from a range plan or filters are not rendered (their variable part is the request).

    PYTHONSAFEPATH=1 .venv/bin/python scripts/generate_sql.py          # write the files
    PYTHONSAFEPATH=1 .venv/bin/python scripts/generate_sql.py --check  # exit 1 (with a diff) if one is stale

tests/unit/test_sql_golden.py fails while a file is not what this script would write.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterable
from pathlib import Path

from usagestream.materializer import pg_counters, pg_tables
from usagestream.materializer.ops import retention, verify
from usagestream.materializer.pg_counters import DIM_KEY_SQL
from usagestream.materializer.read import cache, records
from usagestream.materializer.write import pg_views
from usagestream.stats import GRAINS

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
    c, one = cache, "WITH grp(g) AS (SELECT $2::text)"
    yield "ALL_USERS", c.ALL_USERS
    yield "ttl_query: by API key of one user (ttl_groups)", c.ttl_query("api_key_id", ["user_id = $3"], one)
    yield "ttl_query: by API key (ttl_groups)", c.ttl_query("api_key_id", [], one)
    yield "ttl_query: one user (ttl_groups)", c.ttl_query("user_id", [], one)
    yield "ttl_query: every user (ttl_groups)", c.ttl_query("user_id", [], c.ALL_USERS)
    yield "simple_timeline(user_filter=True)", c.simple_timeline(True)
    yield "simple_timeline(user_filter=False)", c.simple_timeline(False)
    yield "MULTI_TIMELINE", c.MULTI_TIMELINE


def _records() -> Entries:
    yield "PAGE_COLUMNS", records.PAGE_COLUMNS
    for key, predicate in records.STATUS_FILTERS.items():
        yield f"STATUS_FILTERS[{key!r}]", predicate


MODULES = {
    "write.pg_views": _pg_views,
    "pg_counters": _pg_counters,
    "ops.retention": _retention,
    "ops.verify": _verify,
    "read.cache": _cache,
    "read.records": _records,
}


def render(module: str, entries: Entries) -> str:
    head = [
        f"-- usagestream.materializer.{module}: the SQL it sends, exactly as sent (one statement or predicate",
        "-- per entry, under its name in the module). Written by scripts/generate_sql.py: do not edit.",
    ]
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
