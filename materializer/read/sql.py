"""SQL building blocks of the read side: counters recounted from records, range plans as SQL, LIKE escaping.

The counters and dimension keys as SQL come from `materializer/pg_counters.py` (shared with the writer and
`verify`). Every query built here takes positional parameters collected by `Args`; a reader's whole statement
comes from a pure builder returning a `Statement` (its text and its arguments in order), which
scripts/generate_sql.py renders for representative requests into materializer/sql/read.*.sql.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from usagestream.materializer.pg_counters import ATTEMPT_COUNTER_SQL, DIM_KEY_SQL, EXECUTED, USAGE_COUNTER_SQL
from usagestream.range_bounds import Span
from usagestream.ranges import Plan
from usagestream.stats import ATTEMPT_COUNTERS, MONEY_COUNTERS


class Statement(NamedTuple):
    """One statement as a reader sends it: its text and its positional arguments (`$1`, `$2`, ... in order)."""

    text: str
    args: tuple[Any, ...] = ()


class Args:
    """Positional parameters of one statement: `add(value)` returns its placeholder."""

    def __init__(self, values: Sequence[Any] = ()) -> None:
        self.values: list[Any] = list(values)

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def statement(self, text: str) -> Statement:
        """`text` with the parameters collected so far."""
        return Statement(text, tuple(self.values))


def spans_sql(column: str, spans: Sequence[Span], args: Args) -> str:
    """`column` inside any of the half-open spans; FALSE when there are none."""
    if not spans:
        return "FALSE"
    parts = [f"({column} >= {args.add(s.lo)} AND {column} < {args.add(s.hi)})" for s in spans]
    return "(" + " OR ".join(parts) + ")"


def cast_sum(counter: str) -> str:
    """The outer SUM of a counter column, as bigint for counts (PostgreSQL sums bigints as numeric)."""
    return f"sum({counter})" if counter in MONEY_COUNTERS else f"sum({counter})::bigint"


def pieces_sql(plan: Plan, args: Args) -> str:
    """The plan's weighted runs as a row source `p(grain, lo, hi, w)`: each stands for the rows of its grain with
    `lo <= bucket < hi`, one index range scan however many buckets the run spans (see `runs_sql`)."""
    grains = args.add([g for g, _, _, _ in plan.pieces])
    los = args.add([lo for _, lo, _, _ in plan.pieces])
    his = args.add([hi for _, _, hi, _ in plan.pieces])
    weights = args.add([w for _, _, _, w in plan.pieces])
    return (
        f"unnest({grains}::int2[], {los}::timestamptz[], {his}::timestamptz[], {weights}::int4[])"
        " AS p(grain, lo, hi, w)"
    )


def runs_sql(plan: Plan, args: Args, columns: str, table: str, where: str, read: Sequence[str]) -> str:
    """`columns` (over `a`, the aggregate row's columns `read`, and `p`, its run) of every row of `table` in one of
    the plan's runs that passes `where`: a nested loop of index range scans, one per run, each reading only the
    buckets stored in it, whatever the range's length. (`OFFSET 0` keeps the planner from flattening the LATERAL
    subquery into a join, which it may then hash over a scan of the whole table; the subquery then returns what
    it selects, so it selects only `read`: `*` copied every row's ~70 columns, most of a wide question's time.)"""
    return (
        f"SELECT {columns} FROM {pieces_sql(plan, args)} CROSS JOIN LATERAL (SELECT {', '.join(read)} FROM {table} a"
        f" WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND {where} OFFSET 0) a"
    )


def usage_union(
    plan: Plan,
    dim: str,
    counters: Sequence[str],
    args: Args,
    key_where: str = "TRUE",
    record_where: str = "TRUE",
) -> str:
    """Rows (key, counters...) from the plan's weighted buckets and the edge recount, to be summed by key.

    `key_where` filters aggregate rows by `key`; `record_where` is the same filter over usage_records columns.
    """
    key = DIM_KEY_SQL[dim]  # also checks that `dim` is one of ours before it is inlined
    parts = []
    if plan.pieces:
        weighted = ", ".join(f"a.{c} * p.w AS {c}" for c in counters)
        where = f"a.dim = '{dim}' AND {key_where}"
        parts.append(runs_sql(plan, args, f"a.key, {weighted}", "usage_agg", where, ("key", *counters)))
    if plan.edges:
        exprs = ", ".join(f"{USAGE_COUNTER_SQL[c]} AS {c}" for c in counters)
        parts.append(
            f"SELECT {key} AS key, {exprs} FROM usage_records"
            f" WHERE {spans_sql('created_at', plan.edges, args)} AND {key} IS NOT NULL"
            f" AND {record_where} GROUP BY 1"
        )
    if not parts:
        parts.append(f"SELECT NULL::text AS key, {', '.join(f'0 AS {c}' for c in counters)} WHERE FALSE")
    return " UNION ALL ".join(parts)


def attempt_union(plan: Plan, args: Args) -> str:
    """Rows (provider_id, attempt counters...) of a plan over attempt_agg and candidate_records."""
    parts = []
    if plan.pieces:
        weighted = ", ".join(f"a.{c} * p.w AS {c}" for c in ATTEMPT_COUNTERS)
        parts.append(
            runs_sql(
                plan, args, f"a.provider_id, {weighted}", "attempt_agg", "TRUE", ("provider_id", *ATTEMPT_COUNTERS)
            )
        )
    if plan.edges:
        exprs = ", ".join(f"{ATTEMPT_COUNTER_SQL[c]} AS {c}" for c in ATTEMPT_COUNTERS)
        parts.append(
            f"SELECT provider_id, {exprs} FROM candidate_records"
            f" WHERE {spans_sql('created_at', plan.edges, args)} AND {EXECUTED} GROUP BY 1"
        )
    if not parts:
        parts.append(
            f"SELECT NULL::text AS provider_id, {', '.join(f'0 AS {c}' for c in ATTEMPT_COUNTERS)} WHERE FALSE"
        )
    return " UNION ALL ".join(parts)


def guarded_sql(stmt: Statement, guard: str, order: str = "") -> Statement:
    """`stmt` run only where `guard` (a condition over parameters that follow `stmt`'s own, `read.extent.guard_sql`)
    holds in the statement's snapshot. Its rows come back with two more leading columns: `plan_ok` (the guard's
    value, the same in every row) and `found` (NULL in the one row answered when the guard fails or `stmt` has no
    row). `order` orders the rows (over `s`, the statement's columns): the wrapping does not keep the statement's
    own order. The snapshot comes back as `snap` (`SNAPSHOT_SQL`, `read.records.same_snapshot`)."""
    # The guard is a CTE read twice, so it is computed once; `WHERE (SELECT ok FROM g)` is a one-time filter, so
    # PostgreSQL does not run the statement at all when the guard fails.
    return Statement(
        f"WITH g AS (SELECT {guard} AS ok, {SNAPSHOT_SQL} AS snap) SELECT g.ok AS plan_ok, g.snap, s.*"
        f" FROM g LEFT JOIN (SELECT true AS found, x.* FROM ({stmt.text}) x WHERE (SELECT ok FROM g)) s ON TRUE{order}",
        stmt.args,
    )


GUARD_COLUMNS = ("plan_ok", "snap", "found")
# The statement's snapshot as text, NULL on a standby: there `pg_current_snapshot()` leaves out the transactions
# in progress (PostgreSQL keeps them elsewhere during recovery), so two equal texts would not mean one snapshot.
SNAPSHOT_SQL = "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_snapshot()::text END"


def escape_like(text: str) -> str:
    """Escape LIKE wildcards (docs/reference-api.md §4.6): backslash, then % and _."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def safe_truncate_escaped(text: str, n: int) -> str:
    """Cut escaped text to n characters without leaving a dangling escape backslash at the end."""
    if len(text) <= n:
        return text
    cut = text[:n]
    trailing = len(cut) - len(cut.rstrip("\\"))
    return cut[:-1] if trailing % 2 else cut


def search_patterns(search: str | None) -> list[str]:
    """The ILIKE patterns of a search text: at most 10 whitespace keywords, escaped, each cut to 100."""
    if not search:
        return []
    return ["%" + safe_truncate_escaped(escape_like(kw), 100) + "%" for kw in search.strip().split()[:10]]


def contains_pattern(text: str) -> str:
    """An ILIKE pattern for a substring, escaped but not length-capped (the records `username` filter)."""
    return "%" + escape_like(text) + "%"


def iso(ts: datetime | None) -> str | None:
    """An ISO 8601 string in UTC (`+00:00`), or None."""
    return None if ts is None else ts.astimezone(UTC).isoformat()
