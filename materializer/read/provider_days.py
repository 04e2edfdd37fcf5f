"""Provider performance from the kept per-(day, provider) rows (materializer/pg_provider_days.py) where their
revision is current, and from the records for the other buckets, in one snapshot: the same rows as the
records-only statement of materializer/read/provider_performance.py (docs/reference-api.md §10.8).

Per bucket and provider the sums add up; the slow count is kept per row at the default threshold, else a bisection
of each day's sorted response times; the range-wide p90 / p99 are exact ranks of the union of the days' sorted runs,
read as fences first and then as the few slices the ranks need (usagestream/sorted_runs.py). A shown name is the
largest one; when the parts of a group disagree PostgreSQL compares them (its collation), in one more statement.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from usagestream.materializer.pg_pool import Conn
from usagestream.materializer.pg_provider_days import ALL, KEPT_SLOW_MS, KEPT_SQL, RECORDS_SQL, SLICES_SQL, WEEK
from usagestream.sorted_runs import (
    Run,
    Slice,
    Window,
    at_least,
    cont,
    cont_ranks,
    narrowed,
    unpack,
    values_at,
)

Row = dict[str, Any]
Fields = Any  # a part's figures, read by name only: a Row, or a kept row's asyncpg Record as fetched (no copy)
FRACTIONS = (0.9, 0.99)  # the answer's p90 / p99 (the records-only statement's ARRAY[0.9, 0.99])
COUNTS = ("n", "ok_n", "rt_n", "fb_n", "tps_n")
NULLABLE = ("rt_sum", "fb_sum", "tps_tok", "tps_ms")  # sums over no value are NULL, as in SQL
RT_OK, FB_OK, RT_ALL = 0, 1, 2
RUN_FIELDS = (("rt_n", "rt_ok_fence"), ("fb_n", "fb_ok_fence"), ("rt_all_n", "rt_all_fence"))  # (size, fence)
# The planner's first pass sees each run through about every COARSE-th value (sorted_runs.narrowed).
COARSE = 512
HOUR, DAY_HOURS = timedelta(hours=1), 25  # a local day is at most 25 hours (a day whose clock goes back)
MAX_NAME_SQL = "SELECT t.g, max(t.x) AS x FROM unnest($1::int[], $2::text[]) AS t(g, x) GROUP BY t.g"


@dataclass(slots=True)
class Part:
    """One provider_id's figures in one bucket: kept (`at` names its row; its fences are unpacked when a run is
    planned, and the reader is sent only those it plans) or from the records (`local` runs)."""

    b: int
    raw: str
    row: Fields
    at: Any = None  # the kept row's ctid in the reader's snapshot (SLICES_SQL)
    local: tuple[Sequence[int], ...] = ()
    slow: int = 0

    @property
    def pid(self) -> str:
        return self.raw.strip(" ")  # PostgreSQL's btrim(text): spaces only

    def run(self, k: int) -> Run:
        """Run `k` (RT_OK, FB_OK, RT_ALL) as the planner sees it."""
        if self.local:
            return Run(len(self.local[k]), 1, self.local[k])
        n, fence = RUN_FIELDS[k]
        return Run(self.row[n], self.row["step"], unpack(self.row[fence]))


def _kept_part(r: Fields) -> Part:
    return Part(r["i"], r["provider_id"], r, at=r["at"])


def _local_part(r: Row) -> Part:
    return Part(r["i"], r["provider_id"], r, local=tuple(unpack(r[k]) for k in ("rt_ok", "fb_ok", "rt_all")))


@dataclass(slots=True)
class Reads:
    """The slices still to read, each once: (part index, run, first, end)."""

    wanted: dict[tuple[int, int, int, int], Sequence[int]] = field(default_factory=dict)

    def want(self, part: int, run: int, first: int, end: int) -> tuple[int, int, int, int]:
        key = (part, run, first, end)
        self.wanted.setdefault(key, ())
        return key


async def read(conn: Conn, los: Sequence[Any], his: Sequence[Any], ask: Any) -> list[Row] | None:
    """The rows of the answer, or None when no bucket nor hour is kept (the caller then runs the records-only
    statement)."""
    n = len(los)
    weeks = [(a, a + WEEK) for a in range(n - WEEK + 1)]  # every run of seven buckets: a kept week if one matches
    spans_lo, spans_hi = [*los, *(los[a] for a, _b in weeks)], [*his, *(his[b - 1] for _a, b in weeks)]
    kept = await conn.fetch(KEPT_SQL, spans_lo, spans_hi, ask.provider_id, n, ask.slow_ms)
    rest = sorted(set(range(1, n + 1)) - {r["i"] for r in kept})
    hours, open_spans = await _hours(conn, [(i, los[i - 1], his[i - 1]) for i in rest], ask)
    if not any(r["i"] <= n for r in kept) and not hours:
        return None
    days = [_kept_part(r) for r in kept if r["i"] <= n and r["provider_id"] is not None]
    days += hours
    if open_spans:
        lo, hi = [s[1] for s in open_spans], [s[2] for s in open_spans]
        found = await conn.fetch(RECORDS_SQL, lo, hi, ask.provider_id, min(lo), max(hi))
        days += [_local_part({**dict(r), "i": open_spans[r["i"] - 1][0]}) for r in found]
    chosen, covered = _weeks(weeks, {r["i"] - n - 1 for r in kept if r["i"] > n})
    runs = [p for p in days if p.b not in covered]
    weekly = [r for r in kept if r["i"] - n - 1 in chosen and r["provider_id"] is not None]
    runs += [_kept_part(r) for r in weekly]
    # A span's row over all its providers (ALL) gives the summary's quantiles from one run per span, when no
    # provider filter narrows the summary to one provider's rows.
    parts = [p for p in days if p.raw != ALL]
    ranked = [p for p in runs if p.raw != ALL]
    alls = [p for p in runs if p.raw == ALL] if ask.provider_id is None else ranked
    return await _answer(conn, parts, ranked, alls, ask.limit, ask.slow_ms)


Span = tuple[int, datetime, datetime]  # (1-based bucket, lo, hi)


def _hourly(lo: datetime, hi: datetime) -> bool:
    """Whether a bucket is whole UTC hours (the filler keeps hours of such days only)."""
    return lo.timestamp() % 3600 == 0 and hi.timestamp() % 3600 == 0 and hi - lo <= DAY_HOURS * HOUR


async def _hours(conn: Conn, rest: list[Span], ask: Any) -> tuple[list[Part], list[Span]]:
    """The buckets not kept whole: the parts of their current kept hours, and the spans left to the records (a
    bucket that is not whole UTC hours whole; another's runs of hours that are not kept, each joined into one)."""
    hours = [
        (b, lo + k * HOUR, lo + (k + 1) * HOUR)
        for b, lo, hi in rest
        if _hourly(lo, hi)
        for k in range((hi - lo) // HOUR)
    ]
    starts, ends = [h[1] for h in hours], [h[2] for h in hours]
    fetched = await conn.fetch(KEPT_SQL, starts, ends, ask.provider_id, len(hours), ask.slow_ms) if hours else []
    kept = [dict(r) for r in fetched]
    have = {r["i"] - 1 for r in kept}
    parts = [_kept_part({**r, "i": hours[r["i"] - 1][0]}) for r in kept if r["provider_id"] is not None]
    spans = [s for s in rest if not _hourly(s[1], s[2])]
    for k, (b, lo, hi) in enumerate(hours):
        if k in have:
            continue
        if spans and spans[-1][0] == b and spans[-1][2] == lo:
            spans[-1] = (b, spans[-1][1], hi)
        else:
            spans.append((b, lo, hi))
    return parts, spans


def _weeks(weeks: list[tuple[int, int]], current: set[int]) -> tuple[set[int], set[int]]:
    """The kept weeks used (those that overlap no other: KEPT_SQL sends their fences and those of the buckets outside
    them), and the 1-based buckets they cover."""
    chosen = {w for w in current if not any(v != w and abs(weeks[v][0] - weeks[w][0]) < WEEK for v in current)}
    return chosen, {b for w in chosen for b in range(weeks[w][0] + 1, weeks[w][1] + 1)}


async def _answer(
    conn: Conn, parts: list[Part], ranked: list[Part], alls: list[Part], limit: int, slow_ms: int
) -> list[Row]:
    """`parts`: the buckets' rows (sums, slow counts); `ranked` / `alls`: the runs of the providers' / the
    summary's quantiles (weeks where kept, else the buckets')."""
    by_pid: dict[str, list[int]] = {}
    for i, p in enumerate(parts):
        by_pid.setdefault(p.pid, []).append(i)
    n_of = {pid: sum(parts[i].row["n"] for i in idx) for pid, idx in by_pid.items()}
    top = sorted(by_pid, key=lambda pid: (-n_of[pid], pid.encode()))[:limit]
    every, index = list(parts), {id(p): i for i, p in enumerate(parts)}  # reads name a part by its index here

    def ix(ps: Iterable[Part]) -> list[int]:
        for p in ps:
            if id(p) not in index:
                index[id(p)] = len(every)
                every.append(p)
        return [index[id(p)] for p in ps]

    reads = Reads()
    summary: Row = {"kind": 3, "pid": None, "b": None}
    groups: list[tuple[Row, list[int]]] = [(summary, list(range(len(parts))))]
    groups += [({"kind": 1, "pid": pid, "b": None}, by_pid[pid]) for pid in top]
    of_pid: dict[str, list[Part]] = {}
    for p in ranked:
        of_pid.setdefault(p.pid, []).append(p)
    quantiles = [(summary, ix(alls))] + [(g, ix(of_pid.get(g["pid"], []))) for g, _idx in groups[1:]]
    windows = [(g, run, _windows(every, idx, run, reads)) for g, idx in quantiles for run in (RT_OK, FB_OK)]
    pending = [(i, *_slow(p, i, slow_ms, reads)) for i, p in enumerate(parts)]
    await _read_slices(conn, every, reads)
    for i, count, key in pending:
        parts[i].slow = count + (len(reads.wanted[key]) - bisect_left(reads.wanted[key], slow_ms) if key else 0)
    for g, run, ws in windows:
        g["p_rt" if run == RT_OK else "p_fb"] = _quantiles(ws, reads)
    buckets: dict[tuple[str, int], list[int]] = {}
    for pid in top:
        for i in by_pid[pid]:
            buckets.setdefault((pid, parts[i].b), []).append(i)
    groups += [({"kind": 0, "pid": pid, "b": b, "p_rt": None, "p_fb": None}, idx) for (pid, b), idx in buckets.items()]
    rows = [{**g, **_sums(parts[i] for i in idx)} for g, idx in groups]
    await _names(conn, rows, [[parts[i] for i in idx] for _g, idx in groups])
    return rows


def _windows(parts: list[Part], idx: list[int], run: int, reads: Reads) -> list[tuple[int, Window, list[Any]]]:
    """Per fraction: (the union's size, its window, the slice keys of the window's slices in order)."""
    runs = [parts[i].run(run) for i in idx]
    total = sum(r.n for r in runs)
    if not total:
        return []
    out = []
    for w in narrowed(runs, [cont_ranks(f, total) for f in FRACTIONS], COARSE):
        out.append((total, w, [reads.want(idx[s[0]], run, s[1], s[2]) for s in w.slices]))
    return out


def _slow(p: Part, i: int, slow_ms: int, reads: Reads) -> tuple[int, tuple[int, int, int, int] | None]:
    if slow_ms == KEPT_SLOW_MS:  # kept (and counted by the records statement) per row
        return p.row["slow_n"], None
    count, open_slice = at_least(p.run(RT_ALL), slow_ms)
    return count, (reads.want(i, RT_ALL, open_slice[1], open_slice[2]) if open_slice else None)


def _quantiles(ws: list[tuple[int, Window, list[Any]]], reads: Reads) -> list[float] | None:
    if not ws:
        return None
    out = []
    for f, (total, w, keys) in zip(FRACTIONS, ws, strict=True):
        read: dict[Slice, Sequence[int]] = {s: reads.wanted[k] for s, k in zip(w.slices, keys, strict=True)}
        out.append(cont(f, total, values_at(w, read)))
    return out


async def _read_slices(conn: Conn, parts: list[Part], reads: Reads) -> None:
    remote = []
    for key in reads.wanted:
        i, run, first, end = key
        p = parts[i]
        if p.local:
            reads.wanted[key] = p.local[run][first:end]
        else:
            remote.append(key)
    if not remote:
        return
    args = (
        _literal(f'"({b},{o})"' for b, o in (parts[k[0]].at for k in remote)),
        _literal(str(k[1]) for k in remote),
        _literal(str(k[2]) for k in remote),
        _literal(str(k[3] - k[2]) for k in remote),
    )
    for r in await conn.fetch(SLICES_SQL, *args):
        reads.wanted[remote[r["i"] - 1]] = unpack(r["v"])


def _literal(items: Iterable[str]) -> str:
    """An array's text form: hundreds of slices sent as four texts cost less to encode than as four arrays, which
    the driver checks element by element."""
    return "{" + ",".join(items) + "}"


def _sums(parts: Iterable[Part]) -> Row:
    members = list(parts)
    if len(members) == 1:  # most groups: a provider's bucket is one kept row
        return _one(members[0])
    rows = [p.row for p in members]
    out: Row = {c: sum(r[c] for r in rows) for c in COUNTS}
    for c in NULLABLE:  # summed in order from the first value, as SQL's sum (None over no value)
        values = [r[c] for r in rows if r[c] is not None]
        out[c] = sum(values[1:], values[0]) if values else None
    out["out_tok"] = sum((r["out_tok"] for r in rows), Decimal(0))
    out["slow"] = sum(p.slow for p in members)
    return out


def _one(p: Part) -> Row:
    """`_sums` of one part: its own figures (`out_tok` added to 0 as the sum does, in the decimal context)."""
    r = p.row
    out: Row = {c: r[c] for c in COUNTS}
    for c in NULLABLE:
        out[c] = r[c]
    out["out_tok"] = Decimal(0) + r["out_tok"]
    out["slow"] = p.slow
    return out


async def _names(conn: Conn, rows: list[Row], members: list[list[Part]]) -> None:
    """Each row's `provider`: the largest shown name of its parts, compared by PostgreSQL when they differ."""
    ask: tuple[list[int], list[str]] = ([], [])
    for g, (row, ps) in enumerate(zip(rows, members, strict=True)):
        names = {p.row["shown"] for p in ps}
        row["provider"] = next(iter(names)) if len(names) == 1 else None
        if len(names) > 1 and row["kind"] != 3:  # the summary's name is not shown
            ask[0].extend([g] * len(names))
            ask[1].extend(names)
    if ask[0]:
        for r in await conn.fetch(MAX_NAME_SQL, *ask):
            rows[r["g"]]["provider"] = r["x"]
