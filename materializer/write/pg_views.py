"""The PostgreSQL write side: one version-fenced transaction per batch for records, aggregates and entities.

Idempotence is recorded, not assumed: each record row holds the highest `seq` applied, read FOR UPDATE in the
same transaction that adds the aggregate deltas, so a redelivered or older snapshot changes nothing, and a crash
at any instant either commits the whole batch or none of it.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from usagestream.contract import CandidateEvent, EntityEvent, UsageEvent
from usagestream.errors import ConfigError
from usagestream.materializer import pg_tables as t
from usagestream.materializer.pg_counters import DIM_KEY_SQL
from usagestream.materializer.pg_cutoffs import read_cutoffs
from usagestream.materializer.pg_day_times import BUMP_SQL
from usagestream.materializer.pg_pool import Conn
from usagestream.materializer.write.pg_beside import FOLD_CHUNK, beside
from usagestream.ports import Applied, State
from usagestream.settings import Settings
from usagestream.stats import (
    ATTEMPT_COUNTERS,
    GRAINS,
    MONEY_COUNTERS,
    TIMEOUT_MESSAGE,
    USAGE_COUNTERS,
    CandidateFacts,
    Deltas,
    UsageFacts,
    timed_out,
)

log = logging.getLogger(__name__)


def split_retained(
    events: Sequence[tuple[int, Any]], cutoff: datetime | None, created_at: Any
) -> tuple[list[tuple[int, Any]], list[tuple[int, Any]]]:
    """(events at or after the records cut-off, events before it) by each event's created_at."""
    if cutoff is None:
        return list(events), []
    kept: list[tuple[int, Any]] = []
    late: list[tuple[int, Any]] = []
    for item in events:
        (kept if created_at(item[1]) >= cutoff else late).append(item)
    return kept, late


def facts_from_state(s: State) -> UsageFacts:
    return UsageFacts(
        created_at=s["created_at"],
        user_id=s["user_id"],
        api_key_id=s["api_key_id"],
        model=s["model"],
        provider_name=s["provider_name"],
        provider_id=s["provider_id"],
        api_format=s["api_format"],
        endpoint_api_format=s["endpoint_api_format"],
        status=s["status"],
        status_code=s["status_code"],
        has_error_message=s["error_message"] is not None,
        input_tokens=s["input_tokens"],
        output_tokens=s["output_tokens"],
        total_tokens=s["total_tokens"],
        cache_creation_input_tokens=s["cache_creation_input_tokens"],
        cache_read_input_tokens=s["cache_read_input_tokens"],
        total_cost_usd=s["total_cost_usd"],
        actual_total_cost_usd=s["actual_total_cost_usd"],
        cache_creation_cost_usd=s["cache_creation_cost_usd"],
        cache_read_cost_usd=s["cache_read_cost_usd"],
        response_time_ms=s["response_time_ms"],
    )


def _usage_row(partition: int, ev: UsageEvent, bodies_cutoff: datetime | None = None) -> tuple[Any, ...]:
    """The record's COPY row. Money and prices go as their exact decimal text (`str` of the int or Decimal):
    asyncpg's binary numeric encoder was most of the client's CPU per row (docs/benchmarks.md, "Ingest");
    PostgreSQL parses the text when the upsert casts it (tmp_usage_records holds them as text)."""
    u = ev.usage
    values = list(_FIELDS_OF(vars(u)))  # one C call for every field instead of a getattr each
    for i in _NUMERIC_AT:
        if values[i] is not None:
            values[i] = str(values[i])
    if bodies_cutoff is not None and u.created_at < bodies_cutoff:  # retention already cleared its month
        for i in _BODY_AT:
            values[i] = None
    return (ev.seq, partition, False, *values)


_FIELDS_OF = operator.itemgetter(*t.USAGE_FIELDS)
_BODY_AT = tuple(i for i, name in enumerate(t.USAGE_FIELDS) if name in t.USAGE_BODY_COLUMNS)
_NUMERIC_AT = tuple(i for i, name in enumerate(t.USAGE_FIELDS) if name in t.USAGE_NUMERIC)


def _candidate_row(partition: int, ev: CandidateEvent) -> tuple[Any, ...]:
    head = (ev.candidate_id, ev.seq, partition, ev.usage_id, ev.request_id)
    return (*head, *_CANDIDATE_FIELDS_OF(vars(ev.candidate)))  # one C call, as in _usage_row


_CANDIDATE_FIELDS_OF = operator.itemgetter(*t.CANDIDATE_FIELDS)


def latest_by(items: Iterable[tuple[int, Any]], ident: str) -> dict[str, tuple[int, Any]]:
    """Keep, per id, the (partition, event) with the highest seq (first one wins on a tie)."""
    best: dict[str, tuple[int, Any]] = {}
    for partition, ev in items:
        key = getattr(ev, ident)
        cur = best.get(key)
        if cur is None or ev.seq > cur[1].seq:
            best[key] = (partition, ev)
    return best


class PgViews:
    """Applies batches of parsed events to PostgreSQL. One instance per worker process."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings

    async def apply(
        self,
        usage: Sequence[tuple[int, UsageEvent]],
        candidates: Sequence[tuple[int, CandidateEvent]],
        entities: Sequence[EntityEvent] = (),
    ) -> Applied:
        """Apply one batch in one transaction; returns what changed (after the commit)."""
        out = Applied()
        partitions = sorted({p for p, _ in usage} | {p for p, _ in candidates})
        async with self.pool.acquire() as conn, conn.transaction():
            # Shared retention lock first (retention and rebuild take it exclusive), then the partition locks;
            # the cut-offs are read after both, in their own statement, so they hold until this commit.
            await conn.execute(write_preamble(partitions, retention=True))
            cut = await read_cutoffs(conn)
            usage, late_usage = split_retained(usage, cut.records, lambda ev: ev.usage.created_at)
            candidates, late_cands = split_retained(candidates, cut.records, lambda ev: ev.candidate.created_at)
            out.beyond_retention = [*late_usage, *late_cands]
            if out.beyond_retention:
                log.warning(
                    "%d events of requests created before the records cut-off %s: not applied",
                    len(out.beyond_retention),
                    cut.records.isoformat() if cut.records else None,
                )
            deltas = Deltas(self.settings.tz)
            await self._usage(conn, usage, deltas, out, cut.bodies)
            await self._candidates(conn, candidates, deltas, out)
            await self.write_deltas(conn, deltas)
            if entities:
                out.entities_applied = await _entities(conn, entities)
        return out

    async def _usage(
        self,
        conn: Conn,
        events: Sequence[tuple[int, UsageEvent]],
        deltas: Deltas,
        out: Applied,
        bodies_cutoff: datetime | None = None,
    ) -> None:
        latest = latest_by(events, "usage_id")
        if not latest:
            return
        stored = await _select_for_update(conn, "usage_records", t.USAGE_STATE_COLUMNS, list(latest))
        rows, moved, homes, changed = [], [], [], []
        for usage_id, (partition, ev) in latest.items():
            old = stored.get(usage_id)
            if old is not None and old["seq"] >= ev.seq:
                out.usage_stale += 1
                out.usage_states[usage_id] = old
                continue
            changed.append((partition, ev, old))
            rows.append(_usage_row(partition, ev, bodies_cutoff))
            if old is None or old["created_at"] != ev.usage.created_at:
                homes.append((usage_id, ev.usage.created_at))
                if old is not None:
                    moved.append((usage_id, old["created_at"]))
        out.usage_applied += len(rows)
        out.usage_stale += len(events) - len(latest)
        await _delete_moved(conn, "usage_records", moved)
        hours = [*(ev.usage.created_at for _p, ev, _old in changed), *(m[1] for m in moved)]
        await beside(_write_usage(conn, rows, homes, hours), _fold_usage(changed, deltas, out))

    async def _candidates(
        self,
        conn: Conn,
        events: Sequence[tuple[int, CandidateEvent]],
        deltas: Deltas,
        out: Applied,
    ) -> None:
        latest = latest_by(events, "candidate_id")
        if not latest:
            return
        stored = await _select_for_update(conn, "candidate_records", t.CANDIDATE_STATE_COLUMNS, list(latest))
        rows, moved, homes, changed = [], [], [], []
        for cid, (partition, ev) in latest.items():
            old = stored.get(cid)
            if old is not None and old["seq"] >= ev.seq:
                continue
            if old is None or old["created_at"] != ev.candidate.created_at:
                homes.append((cid, ev.candidate.created_at))
                if old is not None:
                    moved.append((cid, old["created_at"]))
            changed.append((ev, old))
            rows.append(_candidate_row(partition, ev))
        out.candidates_applied += len(rows)
        out.candidates_stale += len(events) - len(rows)
        await _delete_moved(conn, "candidate_records", moved)
        writes = _write_records(conn, "candidate_records", t.CANDIDATE_RECORD_COLUMNS, rows, homes)
        await beside(writes, _fold_candidates(changed, deltas))

    async def write_deltas(self, conn: Conn, deltas: Deltas) -> None:
        """Add the batch's deltas to the aggregates: its fact rows are copied as they are and spread to every
        dimension and grain by PostgreSQL (SPREAD_USAGE_SQL), which runs on another core than the worker."""
        facts = deltas.usage_fact_rows()
        await _spread(conn, "tmp_usage_facts", USAGE_FACT_COLUMNS, facts, spread_usage_sql(facts))
        await _spread(conn, "tmp_attempt_facts", ATTEMPT_FACT_COLUMNS, deltas.attempt_fact_rows(), SPREAD_ATTEMPTS_SQL)

    async def time_out(self, partitions: Sequence[int]) -> Applied:
        """Mark requests of these partitions still active `active_timeout_s` after created_at as failed (504).

        The seq is left unchanged, so any newer gateway event still wins over the timeout.
        """
        out = Applied()
        if not partitions:
            return out
        timeout = timedelta(seconds=self.settings.active_timeout_s)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(write_preamble(sorted(partitions), retention=False))
            rows = await conn.fetch(
                OVERDUE_SQL,
                list(partitions),
                timeout,
            )
            if not rows:
                return out
            deltas = Deltas(self.settings.tz)
            for row in rows:
                old = facts_from_state(row)
                deltas.apply_usage(old, timed_out(old))
                new = dict(row)
                new.update(status="failed", status_code=504, error_message=TIMEOUT_MESSAGE)
                out.usage_states[row["id"]] = new
            await conn.execute(
                TIME_OUT_SQL,
                [r["id"] for r in rows],
                TIMEOUT_MESSAGE,
                timeout,
            )
            # Before the aggregates, as in a batch (`_usage`): every writer locks counter rows, then aggregate rows.
            await bump_hours(conn, [r["created_at"] for r in rows])
            await self.write_deltas(conn, deltas)
            out.usage_applied = len(rows)
        log.info("timed out %d active requests", len(rows))
        return out

    async def active_states(self, partitions: Sequence[int]) -> list[State]:
        """The current state of every active request of these partitions (to rebuild the Redis live set)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                ACTIVE_STATES_SQL,
                list(partitions),
            )
        return [dict(r) for r in rows]

    async def check_timezone(self) -> None:
        """Day buckets are built in one time zone: refuse to mix two in one database (run `rebuild` to change)."""
        async with self.pool.acquire() as conn:
            stored = await conn.fetchval(
                TIMEZONE_SQL,
                self.settings.timezone,
            )
        if stored != self.settings.timezone:
            raise ConfigError(
                f"the day aggregates were built in {stored}, but USAGESTREAM_TIMEZONE is {self.settings.timezone}:"
                " run `usagestream rebuild` with the new time zone (workers stopped), or restore the old setting"
            )

    async def count_dead_letter(self, topic: str, count: int, last_reason: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                DEAD_LETTER_SQL,
                topic,
                count,
                last_reason[:1000],
            )


# Every statement this module sends is shown as text in materializer/sql/write.pg_views.sql (scripts/generate_sql.py
# writes it, tests/unit/test_sql_golden.py keeps it current). Static ones are literals here.
TIMEZONE_SQL = """\
INSERT INTO meta (key, value) VALUES ('timezone', $1) ON CONFLICT (key) DO UPDATE SET value = meta.value \
RETURNING value"""
DEAD_LETTER_SQL = """\
INSERT INTO dead_letter_counts (topic, count, last_reason) VALUES ($1, $2, $3) ON CONFLICT (topic) DO UPDATE \
SET count = dead_letter_counts.count + EXCLUDED.count, last_reason = EXCLUDED.last_reason, updated_at = now()"""
TIME_OUT_SQL = """\
UPDATE usage_records SET status = 'failed', status_code = 504, error_message = $2, timed_out = true, \
finalized_at = created_at + $3::interval, updated_at = now() WHERE id = ANY($1::text[])"""
_STATE_COLS = ", ".join(t.USAGE_STATE_COLUMNS)
# The active requests of partitions $1 created before now() - $2, to time out (the oldest 10,000 per pass).
OVERDUE_SQL = (
    f"SELECT {_STATE_COLS} FROM usage_records WHERE kafka_partition = ANY($1::int[])"
    " AND status IN ('pending', 'streaming') AND created_at < now() - $2::interval"
    " ORDER BY id LIMIT 10000 FOR UPDATE"
)
ACTIVE_STATES_SQL = (
    f"SELECT {_STATE_COLS} FROM usage_records WHERE kafka_partition = ANY($1::int[])"
    " AND status IN ('pending', 'streaming')"
)


def select_for_update_sql(table: str, columns: Sequence[str]) -> str:
    """The stored rows of ids $1, through the table's homes (id -> created_at): one primary-key descent there, then
    the record in the one partition of that created_at (pruned at run time, per id), not a probe of every month."""
    cols = ", ".join(f"r.{c}" for c in columns)
    homes = t.HOMES[table]
    return (
        f"SELECT {cols} FROM {homes} h JOIN {table} r ON r.id = h.id AND r.created_at = h.created_at"
        " WHERE h.id = ANY((SELECT $1::text[])::text[]) ORDER BY r.id FOR UPDATE OF r"
    )


def record_homes_sql(table: str) -> str:
    """Record where ids $1 now live ($2: their created_at): new ids, and ids whose created_at moved."""
    return (
        f"INSERT INTO {t.HOMES[table]} (id, created_at) SELECT * FROM unnest($1::text[], $2::timestamptz[])"
        " ON CONFLICT (id) DO UPDATE SET created_at = EXCLUDED.created_at"
    )


def delete_moved_sql(table: str) -> str:
    return f"DELETE FROM {table} WHERE (id, created_at) IN (SELECT * FROM unnest($1::text[], $2::timestamptz[]))"


_STATE_FIELDS = tuple(name for name in t.USAGE_STATE_COLUMNS if name not in ("seq", "kafka_partition"))
_STATE_OF = operator.itemgetter(*_STATE_FIELDS)


def _state_of(partition: int, ev: UsageEvent) -> dict[str, Any]:
    state = dict(zip(_STATE_FIELDS, _STATE_OF(vars(ev.usage)), strict=True))
    state["seq"] = ev.seq
    state["kafka_partition"] = partition
    return state


async def _select_for_update(conn: Conn, table: str, columns: Sequence[str], ids: list[str]) -> dict[str, State]:
    # ORDER BY id: concurrent transactions lock rows in one order. The array is behind a sub-select so that
    # the (custom) plan is made without its values: PostgreSQL otherwise estimates `= ANY` value by value in
    # every month partition, which costs more planning than the index scans it chooses (measured by
    # bench/lookups.py, docs/benchmarks.md "By-id look-ups on a long history").
    rows = await conn.fetch(select_for_update_sql(table, columns), ids)
    return {r["id"]: r for r in rows}


def _fold_usage(
    changed: Sequence[tuple[int, UsageEvent, State | None]], deltas: Deltas, out: Applied
) -> Iterator[None]:
    """Fold each changed request (its stored state out, its new one in) and note its new state, in pieces (see
    pg_beside: this runs while the record writes execute)."""
    for i, (partition, ev, old) in enumerate(changed, 1):
        new_state = _state_of(partition, ev)
        deltas.apply_usage(facts_from_state(old) if old else None, facts_from_state(new_state))
        out.usage_states[ev.usage_id] = new_state
        if i % FOLD_CHUNK == 0:
            yield


def _fold_candidates(changed: Sequence[tuple[CandidateEvent, State | None]], deltas: Deltas) -> Iterator[None]:
    """Fold each changed attempt slot, in pieces, as _fold_usage."""
    for i, (ev, old) in enumerate(changed, 1):
        was = CandidateFacts(old["created_at"], old["provider_id"], old["status"], old["latency_ms"]) if old else None
        deltas.apply_candidate(was, CandidateFacts.of(ev.candidate))
        if i % FOLD_CHUNK == 0:
            yield


async def _write_usage(
    conn: Conn, rows: list[tuple[Any, ...]], homes: list[tuple[str, datetime]], hours: list[datetime]
) -> None:
    await _write_records(conn, "usage_records", t.USAGE_RECORD_COLUMNS, rows, homes)
    await bump_hours(conn, hours)


async def _write_records(
    conn: Conn, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]], homes: list[tuple[str, datetime]]
) -> None:
    """The fenced upsert of a batch's changed records, then their homes (moved rows were deleted before)."""
    await _upsert(conn, table, columns, rows, fence=True)
    await _record_homes(conn, table, homes)


async def bump_hours(conn: Conn, created: list[datetime]) -> None:
    """Raise the revision of the UTC hours of `created` (records this transaction changed), so that no kept day
    of the completed requests' times that meets them is read as current any more (materializer/pg_day_times.py).
    Every writer calls it before adding to the aggregates, so two transactions lock these rows and the aggregate
    rows in the same order and cannot deadlock."""
    if created:
        await conn.execute(BUMP_SQL, created)


async def _record_homes(conn: Conn, table: str, homes: list[tuple[str, datetime]]) -> None:
    if homes:
        await conn.execute(record_homes_sql(table), [h[0] for h in homes], [h[1] for h in homes])


async def _delete_moved(conn: Conn, table: str, moved: list[tuple[str, datetime]]) -> None:
    """Delete the stored rows of ids whose new snapshot has another created_at (docs/contract.md §2.3 says it never
    changes; if it does, the newest snapshot still replaces the old one, in the partition of its own month).
    The key is (id, created_at) since partitioning, so the upsert alone would keep both rows."""
    if moved:
        await conn.execute(
            delete_moved_sql(table),
            [m[0] for m in moved],
            [m[1] for m in moved],
        )


def write_preamble(partitions: Sequence[int], retention: bool) -> str:
    """One round trip at the start of a write transaction (simple protocol, statements run in order): the shared
    retention lock (retention and rebuild take it exclusive), the partition locks in ascending order, and the
    session's temp tables if this connection has none yet. Only integers of ours are inlined."""
    statements = [
        f"SELECT pg_advisory_xact_lock_shared({int(a)}, {int(b)})" for a, b in [t.RETENTION_LOCK] if retention
    ]
    statements += [f"SELECT pg_advisory_xact_lock({int(t.PARTITION_LOCK_NAMESPACE)}, {int(p)})" for p in partitions]
    return ";\n".join([*statements, *_TEMP_TABLES_DDL])


async def _upsert(conn: Conn, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]], fence: bool) -> None:
    if not rows:
        return
    tmp = f"tmp_{table}"  # created by write_preamble (start of the transaction)
    await conn.copy_records_to_table(tmp, records=rows, columns=list(columns))
    await conn.execute(upsert_sql(table, columns, fence))


def upsert_sql(table: str, columns: Sequence[str], fence: bool) -> str:
    """From the table's COPY target (tmp_<table>, its numerics as text) into the table; `fence`: only a newer seq
    replaces a row. Rendered for both record tables in materializer/sql/write.pg_views.sql."""
    cols = ", ".join(columns)
    selected = ", ".join(f"{c}::numeric" if c in _TEXT_NUMERIC else c for c in columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "id")
    where = f" WHERE EXCLUDED.seq > {table}.seq" if fence else ""
    return (
        f"INSERT INTO {table} ({cols}) SELECT {selected} FROM tmp_{table} ORDER BY id"
        f" ON CONFLICT (id, created_at) DO UPDATE SET {updates}, updated_at = now(){where}"
    )


# --- aggregate deltas: fact rows (Deltas.usage_fact_rows) spread to dimensions and grains in SQL ---------------

_FACT_BUCKETS = tuple(f"b{grain}" for grain in GRAINS)  # the bucket start of each grain, in GRAINS order
_FACT_KEYS = ("model", "user_id", "provider_id", "api_format", "api_key_id")
USAGE_FACT_COLUMNS = (*_FACT_BUCKETS, *_FACT_KEYS, *USAGE_COUNTERS)
ATTEMPT_FACT_COLUMNS = (*_FACT_BUCKETS, "provider_id", *ATTEMPT_COUNTERS)
_BUCKETS_AS = ", ".join(f"bucket AS {b}" for b in _FACT_BUCKETS)
_USAGE_FACTS_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS tmp_usage_facts ON COMMIT DELETE ROWS AS SELECT"
    f" {_BUCKETS_AS}, {', '.join(f'key AS {k}' for k in _FACT_KEYS)}, {', '.join(USAGE_COUNTERS)}"
    " FROM usage_agg WITH NO DATA"
)
_ATTEMPT_FACTS_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS tmp_attempt_facts ON COMMIT DELETE ROWS AS SELECT"
    f" {_BUCKETS_AS}, provider_id, {', '.join(ATTEMPT_COUNTERS)} FROM attempt_agg WITH NO DATA"
)
_TEXT_NUMERIC = frozenset(t.USAGE_NUMERIC)
# The COPY targets of the records' upserts, with their columns; usage's numerics are text (see _usage_row).
_TEMP_TABLES_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS tmp_usage_records ON COMMIT DELETE ROWS AS SELECT"
    f" {', '.join(f'{c}::text AS {c}' if c in _TEXT_NUMERIC else c for c in t.USAGE_RECORD_COLUMNS)}"
    " FROM usage_records WITH NO DATA",
    "CREATE TEMP TABLE IF NOT EXISTS tmp_candidate_records ON COMMIT DELETE ROWS AS SELECT"
    f" {', '.join(t.CANDIDATE_RECORD_COLUMNS)} FROM candidate_records WITH NO DATA",
    _USAGE_FACTS_DDL,
    _ATTEMPT_FACTS_DDL,
)
_GRAIN_VALUES = ", ".join(f"({grain}::smallint, b{grain})" for grain in GRAINS)


def _increments(table: str, counters: Sequence[str]) -> str:
    return ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in counters)


# Dimension keys by DIM_KEY_SQL, the recount's own rules (verify). Two steps, as in Deltas.usage: per dimension
# key and bucket set first (facts of a batch share a few quarters), then per grain, so the numeric sums run over
# far fewer rows. Rows are inserted in key order, one total order for every worker, so two transactions adding
# to the same rows cannot deadlock.
_BUCKET_COLS = ", ".join(_FACT_BUCKETS)


def _stage_sum(counter: str) -> str:
    # sum(bigint) is numeric: cast the first step's counts back, so the second step sums them as integers
    # (PostgreSQL's int8 sums are several times cheaper than numeric ones).
    return f"sum(f.{counter}) AS {counter}" if counter in MONEY_COUNTERS else f"sum(f.{counter})::bigint AS {counter}"


_DIM_VALUES = ", ".join(f"('{dim}', {key})" for dim, key in DIM_KEY_SQL.items())  # ('model', model), ...
SPREAD_USAGE_SQL = (
    f"WITH by_dim AS (SELECT d.dim, d.key, {', '.join(f'f.{b}' for b in _FACT_BUCKETS)},"
    f" {', '.join(_stage_sum(c) for c in USAGE_COUNTERS)}"
    " FROM tmp_usage_facts f"
    f" CROSS JOIN LATERAL (VALUES {_DIM_VALUES})"
    f" AS d(dim, key) WHERE d.key IS NOT NULL GROUP BY d.dim, d.key, {_BUCKET_COLS})"
    f" INSERT INTO usage_agg ({', '.join(t.USAGE_AGG_COLUMNS)})"
    f" SELECT b.dim, b.key, g.grain, g.bucket, {', '.join(f'sum(b.{c})' for c in USAGE_COUNTERS)}"
    f" FROM by_dim b CROSS JOIN LATERAL (VALUES {_GRAIN_VALUES}) AS g(grain, bucket)"
    " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    f" ON CONFLICT ({', '.join(t.USAGE_AGG_KEY)}) DO UPDATE SET {_increments('usage_agg', USAGE_COUNTERS)}"
)
# The same for a batch whose facts all share their buckets (the usual case: a batch holds a second or so of
# traffic, one 15-minute bucket): each (dimension, key) then has one bucket per grain, so the second GROUP BY
# would merge nothing and only costs its hash table of ~60 sums per row; the first step's rows go out once per
# grain as they are.
# The rows keep the same order (dimension, key, grain, bucket) as SPREAD_USAGE_SQL's, so a worker using one and
# a worker using the other still lock shared rows in one order.
SPREAD_USAGE_ONE_QUARTER_SQL = (
    SPREAD_USAGE_SQL.split(" INSERT INTO ", 1)[0] + f" INSERT INTO usage_agg ({', '.join(t.USAGE_AGG_COLUMNS)})"
    f" SELECT b.dim, b.key, g.grain, g.bucket, {', '.join(f'b.{c}' for c in USAGE_COUNTERS)}"
    f" FROM by_dim b CROSS JOIN LATERAL (VALUES {_GRAIN_VALUES}) AS g(grain, bucket)"
    " ORDER BY 1, 2, 3, 4"
    f" ON CONFLICT ({', '.join(t.USAGE_AGG_KEY)}) DO UPDATE SET {_increments('usage_agg', USAGE_COUNTERS)}"
)


def spread_usage_sql(fact_rows: Sequence[tuple[object, ...]]) -> str:
    """The statement that spreads these fact rows (Deltas.usage_fact_rows: each starts with its buckets). The
    whole bucket tuple is compared, not the 15-minute bucket alone: in a zone whose offset is not whole quarter
    hours a local midnight falls inside a quarter, whose facts then have two day buckets."""
    buckets = {row[: len(_FACT_BUCKETS)] for row in fact_rows}
    return SPREAD_USAGE_ONE_QUARTER_SQL if len(buckets) == 1 else SPREAD_USAGE_SQL


SPREAD_ATTEMPTS_SQL = (
    f"INSERT INTO attempt_agg ({', '.join(t.ATTEMPT_AGG_COLUMNS)})"
    f" SELECT f.provider_id, g.grain, g.bucket, {', '.join(f'sum(f.{c})' for c in ATTEMPT_COUNTERS)}"
    f" FROM tmp_attempt_facts f CROSS JOIN LATERAL (VALUES {_GRAIN_VALUES}) AS g(grain, bucket)"
    " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    f" ON CONFLICT ({', '.join(t.ATTEMPT_AGG_KEY)}) DO UPDATE SET {_increments('attempt_agg', ATTEMPT_COUNTERS)}"
)


async def _spread(conn: Conn, tmp: str, columns: Sequence[str], rows: list[tuple[Any, ...]], sql: str) -> None:
    if not rows:
        return
    await conn.copy_records_to_table(tmp, records=rows, columns=list(columns))
    await conn.execute(sql)


# A tombstone marks the entity deleted whatever its seq; a snapshot replaces an older seq's (data kept if absent).
ENTITY_DELETED_SQL = """\
INSERT INTO entities (entity, id, seq, deleted, data) VALUES ($1, $2, 0, true, NULL) \
ON CONFLICT (entity, id) DO UPDATE SET deleted = true, updated_at = now()"""
ENTITY_SQL = """\
INSERT INTO entities (entity, id, seq, deleted, data) VALUES ($1, $2, $3, $4, $5) \
ON CONFLICT (entity, id) DO UPDATE SET seq = EXCLUDED.seq, deleted = EXCLUDED.deleted, \
data = COALESCE(EXCLUDED.data, entities.data), updated_at = now() \
WHERE EXCLUDED.seq > entities.seq"""


async def _entities(conn: Conn, events: Sequence[EntityEvent]) -> int:
    latest: dict[tuple[str, str], EntityEvent] = {}
    for ev in events:
        k = (ev.entity, ev.id)
        cur = latest.get(k)
        # A tombstone (seq None) is the newest word on its key within the batch.
        if cur is None or ev.seq is None or (cur.seq is not None and ev.seq > cur.seq):
            latest[k] = ev
    applied = 0
    for (entity, ident), ev in sorted(latest.items()):
        if ev.seq is None:
            status = await conn.execute(
                ENTITY_DELETED_SQL,
                entity,
                ident,
            )
        else:
            status = await conn.execute(
                ENTITY_SQL,
                entity,
                ident,
                ev.seq,
                ev.deleted,
                dict(ev.data) if ev.data is not None else None,
            )
        applied += status.endswith(" 1")
    return applied
