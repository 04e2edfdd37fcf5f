"""Record queries: the /records page and its filters, the user's records, detail, and rows for /active.

Filters on names (username, key name, provider name) are resolved against the small `entities` table in
sub-selects. A search keyword is first resolved to the ids and model names it matches (`resolve_search`: live
entities, and the distinct models of the month aggregates), so the records are filtered by equality on indexed
columns; a page is then the newest rows of each matched value merged (`page` with branches), which reads about
`limit` rows per value instead of scanning the range for matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from usagestream import fields
from usagestream.materializer.pg_counters import ERROR
from usagestream.materializer.pg_pool import Conn, fetch_one
from usagestream.materializer.read.entities import Entities, as_json, entity_maps, entity_subquery
from usagestream.materializer.read.sql import SNAPSHOT_SQL, Args, Statement, contains_pattern, search_patterns

# Columns of a /records page (no bodies or headers): the fields usagestream/fields.py marks `page`.
PAGE_COLUMNS = ", ".join(fields.PAGE_COLUMNS)

_EXECUTED = (
    "SELECT 1 FROM candidate_records c WHERE c.usage_id = usage_records.id AND c.status IN ('success', 'failed')"
)
STATUS_FILTERS = {
    "stream": "is_stream",
    "standard": "NOT is_stream",
    "error": ERROR,
    "pending": "status = 'pending'",
    "streaming": "status = 'streaming'",
    "completed": "status = 'completed'",
    "cancelled": "status = 'cancelled'",
    "failed": f"(status = 'failed' OR {ERROR})",
    "active": "status IN ('pending', 'streaming')",
    # Today's Aether's attempt filters: the records' has_fallback / has_retry flags (ATTEMPT_FLAGS_SQL), per record.
    "has_fallback": f"EXISTS ({_EXECUTED} HAVING count(DISTINCT c.candidate_index) > 1)",
    "has_retry": f"EXISTS ({_EXECUTED} HAVING count(*) > count(DISTINCT c.candidate_index) OR max(c.retry_index) > 0)",
}


@dataclass
class Matches:
    """What one search keyword matches: values of record columns (model, user_id, api_key_id, provider_id)."""

    values: dict[str, list[str]] = field(default_factory=dict)

    def size(self) -> int:
        return sum(len(v) for v in self.values.values())

    def columns(self) -> list[str]:
        return [c for c, v in self.values.items() if v]


# Record column -> the entity kind and data field a keyword is matched against (None: the model name itself).
SEARCHED = {
    "model": None,
    "api_key_id": ("api_key", "name"),
    "user_id": ("user", "username"),
    "provider_id": ("provider", "name"),
}


def searched_columns(admin: bool) -> list[str]:
    """The record columns a keyword is matched against: a user's search sees key names and models only."""
    return [c for c in SEARCHED if admin or c in ("model", "api_key_id")]


def search_sql(admin: bool) -> str:
    """The values one keyword ($1, an ILIKE pattern) matches, an array per `searched_columns(admin)`."""
    parts = []
    for column in searched_columns(admin):
        spec = SEARCHED[column]
        if spec is None:
            parts.append(
                "ARRAY(SELECT DISTINCT key FROM usage_agg WHERE dim = 'model' AND grain = 3"
                " AND key ILIKE $1 ESCAPE '\\')"
            )
        else:
            parts.append(f"ARRAY({entity_subquery(spec[0], spec[1], 'ILIKE', '$1')})")
    return f"SELECT {', '.join(parts)}"


async def resolve_search(conn: Conn, text: str | None, admin: bool) -> list[Matches]:
    """Each keyword's matches. Models come from the month rows of the `model` dimension: every stored record
    is counted in one of them (same snapshot), so `model = ANY(models)` selects exactly `model ILIKE keyword`."""
    out = []
    columns = searched_columns(admin)
    for pattern in search_patterns(text):
        row = await fetch_one(conn, search_sql(admin), pattern)
        out.append(Matches({c: sorted(row[i]) for i, c in enumerate(columns)}))
    return out


# Aether's `hide_unknown`: neither the model nor the provider name is a placeholder (its misspelling included).
KNOWN = (
    "lower(btrim(COALESCE(model, ''))) NOT IN ('unknown', 'unknow')"
    " AND lower(btrim(COALESCE(provider_name, ''))) NOT IN ('unknown', 'unknow')"
)


@dataclass(frozen=True)
class RecordQuery:
    """The filters of a records read (/records, /api/users/me/usage, their exports), once for every layer: the
    handler parses them into this, the store builds its WHERE clause from it (`where`). `owner` set: only that
    user's records, with the user scope's search (key name and model only) and no admin filter; None: the admin
    scope with every /records filter (docs/reference-api.md §3.4). None everywhere means no filter."""

    start: datetime | None = None
    end: datetime | None = None
    search: str | None = None
    owner: str | None = None
    user_id: str | None = None
    username: str | None = None
    model: str | None = None
    provider: str | None = None
    status: str | None = None
    api_format: str | None = None
    hide_unknown: bool = False

    def by_aggregates(self) -> bool:
        """Whether no filter but the range, user_id, model, api_format and search is set (the ones whose total
        the aggregates can tell, see ReadStore._count)."""
        narrowed = self.username is not None or self.provider is not None or self.status is not None
        return self.owner is None and not narrowed and not self.hide_unknown


class Filters:
    """The WHERE clause of a records query, built condition by condition."""

    def __init__(self) -> None:
        self.args = Args()
        self.where: list[str] = []
        self.matches: list[Matches] = []

    def add(self, sql: str, *values: Any) -> None:
        self.where.append(sql.format(*(self.args.add(v) for v in values)))

    def sql(self) -> str:
        return " AND ".join(self.where) or "TRUE"

    def range(self, start: datetime | None, end: datetime | None) -> None:
        if start is not None:
            self.add("created_at >= {}", start)
        if end is not None:
            self.add("created_at <= {}", end)

    def matched(self, matches: list[Matches]) -> None:
        """Each keyword must match one of its resolved values (see resolve_search)."""
        self.matches = matches
        for m in matches:
            cols = m.columns()
            parts = [f"{c} = ANY({self.args.add(m.values[c])}::text[])" for c in cols]
            self.where.append("(" + " OR ".join(parts) + ")" if parts else "FALSE")

    def search(self, text: str | None, admin: bool) -> None:
        """Each keyword must match the key name or model (admin: also the username or provider name)."""
        for pattern in search_patterns(text):
            ph = self.args.add(pattern)
            parts = [
                f"api_key_id IN ({entity_subquery('api_key', 'name', 'ILIKE', ph)})",
                f"model ILIKE {ph} ESCAPE '\\'",
            ]
            if admin:
                parts.append(f"user_id IN ({entity_subquery('user', 'username', 'ILIKE', ph)})")
                parts.append(f"provider_id IN ({entity_subquery('provider', 'name', 'ILIKE', ph)})")
            self.where.append("(" + " OR ".join(parts) + ")")

    def admin(
        self,
        user_id: str | None,
        username: str | None,
        model: str | None,
        provider: str | None,
        status: str | None,
        api_format: str | None = None,
        hide_unknown: bool = False,
    ) -> None:
        if api_format is not None:
            self.add("api_format = {}", api_format)
        if hide_unknown:
            self.where.append(KNOWN)
        if user_id is not None:
            self.add("user_id = {}", user_id)
        if username is not None:
            ph = self.args.add(contains_pattern(username))
            self.where.append(f"user_id IN ({entity_subquery('user', 'username', 'ILIKE', ph)})")
        if model is not None:
            self.add("model = {}", model)
        if provider is not None:
            ph = self.args.add(provider)
            self.where.append(f"provider_id IN ({entity_subquery('provider', 'name', '=', ph)})")
        if status is not None:
            if status not in STATUS_FILTERS:
                raise ValueError(f"unknown status filter {status!r}")
            self.where.append(STATUS_FILTERS[status])


async def where(conn: Conn, q: RecordQuery) -> Filters:
    """The WHERE clause of `q`, with its search resolved (`resolve_search`) in this snapshot."""
    return filters(q, await resolve_search(conn, q.search, admin=q.owner is None))


def filters(q: RecordQuery, matches: list[Matches]) -> Filters:
    """The WHERE clause of `q` once its search is resolved to `matches` (none without a search)."""
    f = Filters()
    admin = q.owner is None
    if not admin:
        f.add("user_id = {}", q.owner)
    f.range(q.start, q.end)
    f.matched(matches)
    if admin:
        f.admin(q.user_id, q.username, q.model, q.provider, q.status, q.api_format, q.hide_unknown)
    return f


# The columns an /active item is built from (http/shape/records.py `active_item`).
ACTIVE_COLUMNS = (
    "id",
    "user_id",
    "status",
    "status_code",
    "error_message",
    "is_stream",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "total_cost_usd",
    "actual_total_cost_usd",
    "rate_multiplier",
    "response_time_ms",
    "first_byte_time_ms",
    "api_format",
    "endpoint_api_format",
    "has_format_conversion",
    "provider_name",
    "provider_api_key_id",
    "created_at",
)


@dataclass(frozen=True)
class RecordPage:
    """A page of records with what shaping them needs: the entities they name and (admin page) attempt flags;
    `estimated`: `total` is a lower bound from the page (ESTIMATE), not a count."""

    rows: list[asyncpg.Record]
    entities: Entities
    total: int
    flags: dict[str, dict[str, bool]] = field(default_factory=dict)
    estimated: bool = False


# How a page's total is found (ReadStore.record_page): counted, counted with no page, or estimated from the page.
EXACT, ONLY, ESTIMATE = "exact", "only", "estimate"


# A page is merged from per-value branches when a keyword matches at most this many values.
MAX_BRANCHES = 24


def count_sql(f: Filters) -> Statement:
    """The number of records the filters select."""
    return f.args.statement(f"SELECT count(*) FROM usage_records WHERE {f.sql()}")


def page_sql(f: Filters, limit: int, offset: int) -> Statement:
    """A page of the records the filters select, newest first (created_at desc, then id desc): merged from the
    narrowest keyword's values (`merged_page_sql`) when it has 1 to MAX_BRANCHES, else read in that order."""
    narrow = min(f.matches, key=Matches.size, default=None)
    if narrow is not None and 0 < narrow.size() <= MAX_BRANCHES:  # no value: the filters hold FALSE, no branch
        return merged_page_sql(f, narrow, limit, offset)
    args = Args(f.args.values)
    lim, off = args.add(limit), args.add(offset)
    return args.statement(
        f"SELECT {PAGE_COLUMNS} FROM usage_records WHERE {f.sql()}"
        f" ORDER BY created_at DESC, id DESC LIMIT {lim} OFFSET {off}"
    )


def merged_page_sql(f: Filters, m: Matches, limit: int, offset: int) -> Statement:
    """The page as the newest `offset + limit` rows of each value the keyword matches (one index range scan
    each: usage_records_<column> is (column, created_at DESC)), merged. Every matching row has one of these
    values, so the page is among them; UNION drops a row that two values select."""
    args = Args(f.args.values)
    where, n = f.sql(), args.add(offset + limit)
    branches = [
        f"(SELECT id, created_at FROM usage_records WHERE {where} AND {c} = {args.add(v)}"
        f" ORDER BY created_at DESC, id DESC LIMIT {n})"
        for c in m.columns()
        for v in m.values[c]
    ]
    lim, off = args.add(limit), args.add(offset)
    return args.statement(
        f"WITH ids AS (SELECT id, created_at FROM ({' UNION '.join(branches)}) b"
        f" ORDER BY created_at DESC, id DESC LIMIT {lim} OFFSET {off})"
        f" SELECT {PAGE_COLUMNS} FROM usage_records WHERE (id, created_at) IN (SELECT id, created_at FROM ids)"
        " ORDER BY created_at DESC, id DESC"
    )


def export_sql(f: Filters) -> Statement:
    """Every record the filters select, newest first: the cursor of an export (materializer/read/export.py)."""
    return f.args.statement(
        f"SELECT {PAGE_COLUMNS} FROM usage_records WHERE {f.sql()} ORDER BY created_at DESC, id DESC"
    )


# The entities a page row names: (entity kind, the record column holding its id); `page_entities` and
# `full_page_sql` read them.
NAMED = (
    ("user", "user_id"),
    ("api_key", "api_key_id"),
    ("provider", "provider_id"),
    ("provider_endpoint", "provider_endpoint_id"),
    ("provider_api_key", "provider_api_key_id"),
)


async def page_entities(conn: Conn, rows: Sequence[Any]) -> Entities:
    """The entities a page of records names: users, keys, providers, endpoints, upstream keys."""
    return await entity_maps(conn, {kind: [r[column] for r in rows] for kind, column in NAMED})


ATTEMPT_FLAGS_SQL = (
    "SELECT usage_id, count(DISTINCT candidate_index) > 1 AS has_fallback,"
    " (count(*) > count(DISTINCT candidate_index) OR max(retry_index) > 0) AS has_retry,"
    " COALESCE(bool_or(extra_data -> 'rectified' = 'true'::jsonb), false) AS has_rectified"
    " FROM candidate_records WHERE usage_id = ANY($1::text[]) AND status IN ('success', 'failed')"
    " GROUP BY usage_id"
)
FLAGS = ("has_fallback", "has_retry", "has_rectified")


async def attempt_flags(conn: Conn, usage_ids: list[str]) -> dict[str, dict[str, bool]]:
    """has_fallback / has_retry / has_rectified of each request from its executed candidates."""
    if not usage_ids:
        return {}
    rows = await conn.fetch(ATTEMPT_FLAGS_SQL, usage_ids)
    return {r["usage_id"]: {k: bool(r[k]) for k in FLAGS} for r in rows}


# `ATTEMPT_FLAGS_SQL` with the snapshot it read (`same_snapshot`) in a first column (one row even without flags).
FLAGS_AT_SQL = f"SELECT s.snap, f.* FROM (SELECT {SNAPSHOT_SQL} AS snap) s LEFT JOIN ({ATTEMPT_FLAGS_SQL}) f ON TRUE"


async def attempt_flags_at(conn: Conn, usage_ids: list[str]) -> tuple[dict[str, dict[str, bool]], str | None]:
    """`attempt_flags`, and the snapshot the statement read them in (`sql.SNAPSHOT_SQL`: None on a standby)."""
    rows = await conn.fetch(FLAGS_AT_SQL, usage_ids)
    flags = {r["usage_id"]: {k: bool(r[k]) for k in FLAGS} for r in rows if r["usage_id"] is not None}
    return flags, rows[0]["snap"]


def same_snapshot(a: str | None, b: str | None) -> bool:
    """Whether two statements read the same snapshot, so that together they read what one transaction would:
    equal `pg_current_snapshot()` values (xmin, xmax and the transactions in progress) make every row version
    equally visible, as no transaction ended between them (read-only statements start none). Never on a standby
    (None: `sql.SNAPSHOT_SQL`)."""
    return a is not None and a == b


def no_entities() -> Entities:
    """The entities of no row: each kind a page names, empty."""
    return {kind: {} for kind, _ in NAMED}


def full_page_sql(page: Statement, total: Statement | None = None, flags: bool = False) -> Statement:
    """`page` (from `page_sql`) with the data of the live entities each row names (`<kind>_data`, NULL when
    absent), newest first. With `total` (a count built over `page`'s parameters: its arguments start with
    them), a first column `page_total`, and an empty page still answers one row (its record columns NULL).
    With `flags`, each row's attempt flags too (`flag_<name>`, NULL without executed attempts: `flags_of`).

    The page, its names and its count were three round trips. The attempt flags join them only in a statement
    planned once per connection (`ReadStore.planned`): planned per call, the flags' read of every candidate
    partition cost more planning than their round trip (then `attempt_flags`, a statement of their own)."""
    # Subqueries, not joins: five more joins cost the planner more than they save (one probe of a small table).
    named = ", ".join(
        f"(SELECT e.data FROM entities e WHERE e.entity = '{kind}' AND e.id = page.{column}"
        f" AND NOT e.deleted AND e.data IS NOT NULL) AS {kind}_data"
        for kind, column in NAMED
    )
    ctes, join = f"WITH page AS ({page.text})", ""
    if flags:
        named += ", " + ", ".join(f"fl.{k} AS flag_{k}" for k in FLAGS)
        ctes += f", fl AS ({PAGE_FLAGS_SQL})"
        join = " LEFT JOIN fl ON fl.usage_id = page.id"
    if total is None:
        return Statement(f"{ctes} SELECT page.*, {named} FROM page{join}{ORDER}", page.args)
    return Statement(
        f"{ctes} SELECT t.page_total, page.*, {named}"
        f" FROM (SELECT ({total.text}) AS page_total) t LEFT JOIN page ON TRUE{join}{ORDER}",
        total.args,
    )


# `ATTEMPT_FLAGS_SQL` of the rows of a statement's `page` (`full_page_sql` with flags).
PAGE_FLAGS_SQL = ATTEMPT_FLAGS_SQL.replace("$1::text[]", "ARRAY(SELECT id FROM page)")


def flags_of(rows: Sequence[asyncpg.Record]) -> dict[str, dict[str, bool]]:
    """`attempt_flags` of a page read with its flags (`full_page_sql`): only rows with executed attempts."""
    return {r["id"]: {k: bool(r[f"flag_{k}"]) for k in FLAGS} for r in rows if r["flag_has_fallback"] is not None}


ORDER = " ORDER BY page.created_at DESC, page.id DESC"


def aggregate_total_sql(sums: Statement) -> Statement:
    """The records `sums` (a `usage_sums_sql` of `n_all`) counts, as one number."""
    return Statement(f"SELECT COALESCE(sum(n_all), 0)::bigint FROM ({sums.text}) c", sums.args)


def exact_total_sql(f: Filters, args: Sequence[Any]) -> Statement:
    """`count_sql(f)` over `args`, which start with the filters' own (a page's: its limit and offset follow)."""
    return Statement(count_sql(f).text, tuple(args))


@dataclass(frozen=True)
class FullPage:
    """What `full_page` read: the total (None when not asked), the rows, the entities they name, their flags."""

    total: int | None
    rows: list[asyncpg.Record]
    entities: Entities
    flags: dict[str, dict[str, bool]]


async def full_page(conn: Conn, page: Statement, total: Statement | None = None) -> FullPage:
    """Run `full_page_sql(page, total)`, then read the flags of its rows (`attempt_flags`)."""
    sql, args = full_page_sql(page, total)
    got = await conn.fetch(sql, *args)
    found, rows, ents = page_of(got, total is not None)
    return FullPage(found, rows, ents, await attempt_flags(conn, [r["id"] for r in rows]))


PAGE_ORDER = " ORDER BY s.created_at DESC, s.id DESC"  # `full_page_sql`'s, once wrapped (`sql.guarded_sql`)


def page_of(got: Sequence[asyncpg.Record], counted: bool) -> tuple[int | None, list[asyncpg.Record], Entities]:
    """The total (None unless `counted`), the records and the entities they name, from `full_page_sql`'s rows."""
    found = int(got[0]["page_total"]) if counted and got else 0 if counted else None  # counted: a first row is there
    rows = [r for r in got if r["id"] is not None]  # an empty page's one row holds no record
    ents = no_entities()
    for r in rows:
        for kind, column in NAMED:
            data = r[f"{kind}_data"]
            if data is not None and r[column] not in ents[kind]:
                ents[kind][r[column]] = as_json(data)
    return found, rows, ents


DETAIL_BY_ID_SQL = "SELECT * FROM usage_records WHERE id = $1"
DETAIL_BY_REQUEST_SQL = "SELECT * FROM usage_records WHERE request_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1"


async def detail_row(conn: Conn, usage_id: str) -> asyncpg.Record | None:
    """The record with this id, else the newest with this request_id."""
    row = await conn.fetchrow(DETAIL_BY_ID_SQL, usage_id)
    if row is None:
        row = await conn.fetchrow(DETAIL_BY_REQUEST_SQL, usage_id)
    return row


async def detail_entities(conn: Conn, r: asyncpg.Record) -> Entities:
    pid, model = r["provider_id"], r["model"]
    return await entity_maps(
        conn,
        {
            "user": [r["user_id"]],
            "api_key": [r["api_key_id"]],
            "provider_endpoint": [r["provider_endpoint_id"]],
            "model_pricing": [f"{pid}:{model}" if pid is not None else None],
            "global_model_pricing": [model],
        },
    )


def active_sql(columns: str, ids: list[str], user_id: str | None) -> Statement:
    """`columns` of the records with these ids (of `user_id` only, if given)."""
    sql = f"SELECT {columns} FROM usage_records WHERE id = ANY($1::text[])"
    if user_id is None:
        return Statement(sql, (ids,))
    return Statement(sql + " AND user_id = $2", (ids, user_id))


async def active_rows(conn: Conn, ids: list[str], user_id: str | None, columns: str) -> list[Any]:
    sql, args = active_sql(columns, ids, user_id)
    return list(await conn.fetch(sql, *args))
