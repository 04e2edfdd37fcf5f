"""`usagestream retention`: month partitions of the records created ahead, old months dropped, old bodies cleared.

Aggregates are never touched: the stats of a month whose records are gone stay exact. What makes that safe is
the records cut-off (`meta.records_cutoff`, the first instant whose records are kept): it only moves forward, it
is moved under the exclusive retention lock that every writer of records takes shared, and from then on the
writer refuses every event of a request created before it (`beyond_retention`, materializer/write/pg_views.py), since
the record that held its seq fence is gone. docs/design.md "Retention" gives the argument.

`run(pool, settings)` is what a long-running process calls periodically (it is idempotent and cheap when there
is nothing to do); it always creates the partitions of the coming months, whatever the retention settings.
Every worker calls it (USAGESTREAM_RETENTION_INTERVAL_S) with `wait=False`: passes are serialized by a session
advisory lock, and a worker finding one running skips its turn (`Report.skipped`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from usagestream.materializer import pg_day_times, pg_provider_days
from usagestream.materializer import pg_tables as t
from usagestream.materializer.pg_cutoffs import Cutoffs, read_cutoffs
from usagestream.materializer.pg_pool import Conn, create_pool
from usagestream.settings import Settings

log = logging.getLogger(__name__)

AHEAD_MONTHS = 3  # month partitions kept ready ahead of now (rows beyond them land in the default partition)
LOCK_TIMEOUT = "10s"  # a DROP waits for readers; give up (and retry next time) rather than queue the API behind
_PART = re.compile(r"_p(\d{4})(\d{2})$")
# Held (session level) for a whole pass, bodies included: one pass at a time across every process. The cut-off
# move alone is already serialized by t.RETENTION_LOCK; this also keeps two passes from clearing the same days.
PASS_LOCK = (t.RETENTION_LOCK[0], 1)


def month_floor(ts: datetime) -> datetime:
    """The start of the UTC month holding `ts`."""
    u = ts.astimezone(UTC)
    return u.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(ts: datetime) -> datetime:
    m = month_floor(ts)
    return m.replace(year=m.year + 1, month=1) if m.month == 12 else m.replace(month=m.month + 1)


def targets(now: datetime, settings: Settings) -> Cutoffs:
    """Where the cut-offs should be at `now` (None: keep forever). Records go by whole UTC months (at least
    `retention_records_days` are kept), bodies by whole UTC days."""
    records = bodies = None
    if settings.retention_records_days:
        records = month_floor(now - timedelta(days=settings.retention_records_days))
    if settings.retention_bodies_days:
        day = (now - timedelta(days=settings.retention_bodies_days)).astimezone(UTC)
        bodies = day.replace(hour=0, minute=0, second=0, microsecond=0)
    return Cutoffs(records, bodies)


@dataclass
class Report:
    records_cutoff: datetime | None = None
    bodies_cutoff: datetime | None = None
    created: list[str] = field(default_factory=list)
    dropped: list[tuple[str, int]] = field(default_factory=list)  # (partition, estimated rows)
    default_rows_deleted: int = 0
    bodies_cleared: int = 0
    dry_run: bool = False
    skipped: bool = False  # another pass was running (run(wait=False)): nothing done

    def lines(self) -> list[str]:
        verb = "would " if self.dry_run else ""
        out = [
            f"records cut-off: {_iso(self.records_cutoff)}",
            f"bodies cut-off: {_iso(self.bodies_cutoff)}",
        ]
        out += [f"{verb}create partition {name}" for name in self.created]
        out += [f"{verb}drop partition {name} (~{rows} rows)" for name, rows in self.dropped]
        if self.default_rows_deleted:
            out.append(f"{verb}delete {self.default_rows_deleted} rows of the default partitions")
        out.append(f"{verb}clear bodies of {self.bodies_cleared} records")
        return out


def _iso(ts: datetime | None) -> str:
    return "none (keep forever)" if ts is None else ts.isoformat()


async def month_partitions(conn: Conn, table: str) -> list[tuple[str, datetime, datetime]]:
    """(name, lo, hi) of `table`'s month partitions, oldest first (the names say their month)."""
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass",
        table,
    )
    out = []
    for r in rows:
        m = _PART.search(r["relname"])
        if m and r["relname"] == f"{table}_p{m.group(1)}{m.group(2)}":
            lo = datetime(int(m.group(1)), int(m.group(2)), 1, tzinfo=UTC)
            out.append((r["relname"], lo, next_month(lo)))
    return sorted(out, key=lambda p: p[1])


async def _missing_months(conn: Conn, table: str, now: datetime, records: datetime | None) -> list[datetime]:
    """This month and AHEAD_MONTHS after it, plus every retained month whose rows sit in the default partition
    (a backfill of old history lands there first), that have no partition yet."""
    have = {lo for _, lo, _ in await month_partitions(conn, table)}
    months, m = set(), month_floor(now)
    for _ in range(AHEAD_MONTHS + 1):
        months.add(m)
        m = next_month(m)
    strays = await conn.fetch(stray_months_sql(table), m)
    months |= {r["m"].replace(tzinfo=UTC) for r in strays}
    return sorted(x for x in months - have if records is None or x >= records)


async def run(
    pool: asyncpg.Pool, settings: Settings, now: datetime | None = None, dry_run: bool = False, wait: bool = True
) -> Report:
    """One retention pass (see the module docstring). Safe to run from several processes at once: passes take
    turns (a dry run needs no turn); with `wait=False` a pass already running elsewhere makes this one a no-op."""
    async with pool.acquire() as conn:
        if dry_run:
            return await _pass(conn, settings, now or datetime.now(UTC), dry_run)
        if wait:
            await conn.execute("SELECT pg_advisory_lock($1, $2)", *PASS_LOCK)
        elif not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *PASS_LOCK):
            return Report(skipped=True)
        try:
            return await _pass(conn, settings, now or datetime.now(UTC), dry_run)
        finally:
            try:
                await conn.execute("SELECT pg_advisory_unlock($1, $2)", *PASS_LOCK)
            except Exception:  # a broken connection took the lock with its session; the pool resets the rest
                log.debug("retention pass lock not released explicitly", exc_info=True)


async def _pass(conn: Conn, settings: Settings, now: datetime, dry_run: bool) -> Report:
    goal = targets(now, settings)
    report = Report(dry_run=dry_run)
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *t.RETENTION_LOCK)
        cur = await read_cutoffs(conn)
        records = _later(cur.records, goal.records)
        bodies = _later(cur.bodies, goal.bodies)
        report.records_cutoff, report.bodies_cutoff = records, bodies
        for table in t.PARTITIONED_TABLES:
            await _partitions(conn, table, now, records, report, dry_run)
        if not dry_run:
            await _store_cutoffs(conn, Cutoffs(records, bodies))
            if records is not None:
                await conn.execute(pg_day_times.FORGET_DAYS_SQL, records)
                await conn.execute(pg_day_times.FORGET_REVS_SQL, records)
                await conn.execute(pg_provider_days.FORGET_SQL, records)
        else:
            report.bodies_cleared = await _bodies_to_clear(conn, records, bodies)
    if not dry_run and bodies is not None:
        report.bodies_cleared = await _clear_bodies(conn, records, bodies)
    moved = (records, bodies) != (cur.records, cur.bodies)
    if not dry_run and (moved or report.dropped or report.bodies_cleared or report.created):
        log.info("retention: %s", "; ".join(report.lines()))
    return report


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    """Cut-offs only move forward: a setting raised later does not bring dropped records back."""
    if a is None or b is None:
        return a or b
    return max(a, b)


async def _partitions(
    conn: Conn, table: str, now: datetime, records: datetime | None, report: Report, dry_run: bool
) -> None:
    for month in await _missing_months(conn, table, now, records):
        name = f"{table}_p{month:%Y%m}"
        if not dry_run:
            await conn.fetchval("SELECT usagestream_month_partition($1, $2)", table, month)
        report.created.append(name)
    if records is None:
        return
    for name, _lo, hi in await month_partitions(conn, table):
        if hi <= records:
            rows = await conn.fetchval(
                "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = $1::regclass", name
            )
            report.dropped.append((name, int(rows)))
            if not dry_run:
                await conn.execute(forget_homes_sql(table, name))
                await conn.execute(f'DROP TABLE "{name}"')
    # Rows outside every month partition (very old backfills) are few: those before the cut-off are deleted.
    default = f"{table}_default"
    if dry_run:
        n = await conn.fetchval(default_count_sql(default), records)
    else:
        n = await conn.fetchval(default_delete_sql(table), records)
    report.default_rows_deleted += int(n)


async def _store_cutoffs(conn: Conn, cut: Cutoffs) -> None:
    for key, value in (("records_cutoff", cut.records), ("bodies_cutoff", cut.bodies)):
        if value is not None:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
                key,
                value.isoformat(),
            )


# Generated from the body columns; shown as text in materializer/sql/ops.retention.sql (scripts/generate_sql.py).
_ANY_BODY = " OR ".join(f"{c} IS NOT NULL" for c in t.USAGE_BODY_COLUMNS)
COUNT_BODIES_SQL = f"SELECT count(*) FROM usage_records WHERE created_at >= $1 AND created_at < $2 AND ({_ANY_BODY})"
_CLEARED = ", ".join(f"{c} = NULL" for c in t.USAGE_BODY_COLUMNS)
CLEAR_BODIES_SQL = f"UPDATE usage_records SET {_CLEARED} WHERE created_at >= $1 AND created_at < $2 AND ({_ANY_BODY})"


def stray_months_sql(table: str) -> str:
    """The months of `table`'s default partition rows created before $1."""
    return (
        f"SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC') AS m FROM {table}_default"
        " WHERE created_at < $1"
    )


def default_count_sql(default: str) -> str:
    return f"SELECT count(*) FROM {default} WHERE created_at < $1"


def default_delete_sql(table: str) -> str:
    """Delete the default partition's rows created before $1, and their homes; returns how many records."""
    return (
        f"WITH d AS (DELETE FROM {table}_default WHERE created_at < $1 RETURNING id, created_at),"
        f" h AS (DELETE FROM {t.HOMES[table]} h USING d WHERE h.id = d.id AND h.created_at = d.created_at)"
        " SELECT count(*) FROM d"
    )


def forget_homes_sql(table: str, partition: str) -> str:
    """Before a month partition is dropped: the homes of its records (materializer/pg_tables.py HOMES)."""
    return f'DELETE FROM {t.HOMES[table]} h USING "{partition}" p WHERE h.id = p.id AND h.created_at = p.created_at'


async def _bodies_to_clear(conn: Conn, records: datetime | None, bodies: datetime | None) -> int:
    if bodies is None:
        return 0
    lo = records or datetime.min.replace(tzinfo=UTC)
    n = await conn.fetchval(
        COUNT_BODIES_SQL,
        lo,
        bodies,
    )
    return int(n)


async def _clear_bodies(conn: Conn, records: datetime | None, bodies: datetime) -> int:
    """Clear bodies and headers of records created before `bodies`, one UTC day per transaction, resuming where
    the last pass stopped (`meta.bodies_cleared_to`). The cut-off is already stored, so the writer clears the
    bodies of any late snapshot itself: once a day is done here it stays done."""
    done_to = await conn.fetchval("SELECT value FROM meta WHERE key = 'bodies_cleared_to'")
    if done_to:
        lo = datetime.fromisoformat(done_to)
    else:
        lo = await conn.fetchval("SELECT min(created_at) FROM usage_records")
    if lo is None:
        return 0
    if records is not None:
        lo = max(lo, records)
    lo = lo.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    cleared = 0
    while lo < bodies:
        hi = min(lo + timedelta(days=1), bodies)
        async with conn.transaction():
            status = await conn.execute(
                CLEAR_BODIES_SQL,
                lo,
                hi,
            )
            cleared += int(status.split()[-1])
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ('bodies_cleared_to', $1)"
                " ON CONFLICT (key) DO UPDATE SET value = $1",
                hi.isoformat(),
            )
        lo = hi
    return cleared


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print what would be created, dropped, cleared")


async def _main(settings: Settings, dry_run: bool) -> Report:
    pool = await create_pool(settings, min_size=1, max_size=1)
    try:
        return await run(pool, settings, dry_run=dry_run)
    finally:
        await pool.close()


def cli(settings: Settings, args: argparse.Namespace) -> int:
    report = asyncio.run(_main(settings, args.dry_run))
    for line in report.lines():
        print(line, file=sys.stdout)
    return 0
