"""The last step of a time series statement: each series' points as JSON text, written by PostgreSQL.

An answer has up to 100,000 points. Built as Python objects (a tuple per row, a dict per point, Decimal money, then
JSON encoding) it cost tens of milliseconds of the event loop per answer; PostgreSQL writes the same text in C in
the statement that sums the rows, and the API only joins a few strings (docs/read-model.md "Time series").

The input is the statement's CTE list (`head`), the sums per bucket index and group (`grouped`: i, key, COUNTERS)
and of the scope (`totals`: i, COUNTERS). The output rows are (key, points text, counts) in the answer's order: the
groups by requests over the range (then key bytewise), then `__other__` (totals minus the groups; `counts` false
when it counts nothing in these buckets, and the answer then leaves it out), or one row of key NULL when
ungrouped; the points text comes as its UTF-8 bytes (bytea). A point's text is what http/shape/timeseries.py
documents. The statement may cover only some of a
series' buckets (read.series_halves: the two halves of a long series, read side by side): its text is then
that part of each series' points, and `__other__` is shown if any part counts something.
"""

from __future__ import annotations

from usagestream.materializer.read.sql import Args

OTHER = "__other__"
# The counters of a point, in the order of its fields after `bucket` (docs/api.md "Time series").
FIELDS = (
    ("requests", "n_all"),
    ("input_tokens", "in_tok"),
    ("output_tokens", "out_tok"),
    ("cache_creation_tokens", "cc_tok"),
    ("cache_read_tokens", "cr_tok"),
    ("total_tokens", "tot_tok"),
    ("cost", "cost"),
    ("actual_cost", "actual_cost"),
    ("errors", "n_error"),
)
SUMMED = (*(c for _, c in FIELDS), "rt_sum", "rt_n")


def _cents(alias: str) -> str:
    """The mean response time in hundredths of a second, rounded half up from the exact mean (integers only)."""
    return f"CASE WHEN {alias}.rt_n > 0 THEN ({alias}.rt_sum * 100 + {alias}.rt_n * 500) / ({alias}.rt_n * 1000) END"


def _seconds(cents: str) -> str:
    """`cents` as the shortest decimal of the float cents / 100 (Python's repr: 3.0, 1.2, 0.05), or null."""
    return (
        f"CASE WHEN {cents} IS NULL THEN 'null' WHEN {cents} % 100 = 0 THEN ({cents} / 100) || '.0'"
        f" WHEN {cents} % 10 = 0 THEN ({cents} / 100) || '.' || ({cents} % 100 / 10)"
        f" ELSE ({cents} / 100) || '.' || lpad(({cents} % 100)::text, 2, '0') END"
    )


def _point(c: str) -> str:
    """One point's JSON text from the bucket `b` (its text before the first counter and after the last) and the
    sums `c`: one concat() call, or (no row: an empty bucket) the zeros' constant text between the two."""
    parts = ["b.head", f"{c}.n_all"]
    for name, col in FIELDS[1:]:
        parts += [f"""',"{name}":'""", f"{c}.{col}"]
    parts += ["""',"avg_response_time":'""", _seconds(f"{c}.cents"), "b.tail"]
    zeros = "".join(f',"{name}":0' for name, _ in FIELDS[1:])
    empty = f"""b.head || '0{zeros},"avg_response_time":null' || b.tail"""
    return f"CASE WHEN {c}.i IS NULL THEN {empty} ELSE concat({', '.join(parts)}) END"


def _bytes(text: str) -> str:
    """`text` as its UTF-8 bytes (bytea): the API joins them into the response as they arrive, without decoding
    megabytes of text into str and encoding them back."""
    return f"convert_to({text}, 'UTF8')"


def _with_cents(select: str) -> str:
    return f"SELECT *, {_cents('z')} AS cents FROM ({select}) z"


def statement(
    head: str,
    grouped: str | None,
    totals: str,
    stamps: list[str],
    partial: list[bool],
    args: Args,
    order: str | None = None,
    segs: list[int] | None = None,
) -> str:
    """The whole statement: `head` (a WITH list), then the points of every series as (key, points) rows.
    `order`: a row source of `head` giving each group's place `(key, ord)` (else ranked here from `grouped`).
    `segs`: a segment number per bucket (read.series_cache): then the rows are (key, seg, points, counts), one per
    series and segment, each segment's points apart, in the series' order and then the segments'."""
    heads = [f'{{"bucket":"{stamp}","requests":' for stamp in stamps]
    seg_in, seg_col, seg_out, by_seg = "", "", "", ""
    if segs is not None:
        seg_in, seg_col, seg_out = f", {args.add(segs)}::int4[]", ", x.seg", ", seg"
        by_seg = ", b.seg"
    buckets = (
        f"b AS (SELECT x.i - 1 AS i, x.head{seg_col}, CASE WHEN x.partial THEN ',\"partial\":true}}'"
        f" ELSE ',\"partial\":false}}' END AS tail FROM unnest({args.add(heads)}::text[],"
        f" {args.add(partial)}::bool[]{seg_in}) WITH ORDINALITY AS x(head, partial{seg_out}, i))"
    )
    point = _point("c")
    agg = f"string_agg({point}, ',' ORDER BY b.i)"
    if grouped is None:
        if segs is None:
            return (
                f"{head}, s0 AS ({_with_cents(totals)}), {buckets} SELECT NULL::text AS key,"
                f" {_bytes(agg)} AS points, TRUE AS counts FROM b LEFT JOIN s0 c ON c.i = b.i"
            )
        return (
            f"{head}, s0 AS ({_with_cents(totals)}), {buckets} SELECT NULL::text AS key, b.seg,"
            f" {_bytes(agg)} AS points, TRUE AS counts FROM b LEFT JOIN s0 c ON c.i = b.i GROUP BY b.seg"
            " ORDER BY b.seg"
        )
    listed = ", ".join(f"sum({c})::{'numeric' if c in ('cost', 'actual_cost') else 'bigint'} AS {c}" for c in SUMMED)
    rest = ", ".join(f"s.{c} - COALESCE(x.{c}, 0) AS {c}" for c in SUMMED)
    nonzero = " OR ".join(f"c.{col} <> 0" for col in SUMMED)
    other = f"SELECT s.i, {rest} FROM s0 s LEFT JOIN (SELECT i, {listed} FROM g GROUP BY i) x ON x.i = s.i"
    ranked = f"r AS (SELECT key, ord FROM {order})"
    if order is None:
        ranked = 'r AS (SELECT key, row_number() OVER (ORDER BY sum(n_all) DESC, key COLLATE "C") AS ord FROM g'
        ranked += " GROUP BY key)"
    seg_sel, seg_order, other_by = ("", "", "") if segs is None else (" seg,", ", seg", " GROUP BY b.seg")
    return (
        f"{head}, g AS ({_with_cents(grouped)}), s0 AS ({totals}), {buckets}, o AS ({_with_cents(other)}), {ranked}"
        f" SELECT key,{seg_sel} {_bytes('points')} AS points, counts FROM (SELECT r.key, r.ord{by_seg}, {agg} AS"
        f" points, TRUE AS counts FROM r CROSS JOIN b LEFT JOIN g c ON c.i = b.i AND c.key = r.key GROUP BY r.key,"
        f" r.ord{by_seg} UNION ALL SELECT '{OTHER}', NULL{by_seg}, {agg}, COALESCE(bool_or({nonzero}),"
        f" FALSE) FROM b LEFT JOIN o c ON c.i = b.i{other_by}) s ORDER BY ord NULLS LAST{seg_order}"
    )
