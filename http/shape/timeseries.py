"""The JSON shape of a time series answer (docs/api.md "Time series"): buckets as ISO instants in the zone's
offset, money exact, response time averaged in seconds as /stats rounds it."""

from __future__ import annotations

from typing import Any

from usagestream.materializer.read.timeseries import COUNTERS, ZERO, Counts, SeriesAnswer, SeriesQuery
from usagestream.slices import map_sliced

# Positions of the counters in a bucket's Counts.
N_ALL, N_ERROR, IN_TOK, OUT_TOK, TOT_TOK, CC_TOK, CR_TOK, COST, ACTUAL, RT_SUM, RT_N = range(len(COUNTERS))
assert COUNTERS[RT_N] == "rt_n" and COUNTERS[COST] == "cost"


async def series_body(answer: SeriesAnswer, q: SeriesQuery) -> dict[str, Any]:
    """Up to 100,000 points: shaped in slices of the event loop (usagestream/slices.py)."""
    stamps = await map_sliced(lambda b: (b.start.astimezone(q.tz).isoformat(), b.partial), answer.buckets)
    empty = [point(b, partial, ZERO) for b, partial in stamps]  # one shared dict per empty bucket

    def shaped(at: tuple[int, Counts]) -> dict[str, Any]:
        i, c = at
        return empty[i] if c is ZERO else point(*stamps[i], c)

    series = []
    for s in answer.series:
        assert len(s.points) == len(stamps), "every series has a point per bucket"
        points = await map_sliced(shaped, list(enumerate(s.points)))
        series.append({"key": s.key, "label": s.label, "points": points})
    return {
        "granularity": q.granularity,
        "timezone": q.tz.key,
        "start_date": answer.start.astimezone(q.tz).isoformat(),
        "end_date": answer.end.astimezone(q.tz).isoformat(),
        "series": series,
    }


def point(bucket: str, partial: bool, c: Counts) -> dict[str, Any]:
    rt_n = c[RT_N]
    return {
        "bucket": bucket,
        "requests": c[N_ALL],
        "input_tokens": c[IN_TOK],
        "output_tokens": c[OUT_TOK],
        "cache_creation_tokens": c[CC_TOK],
        "cache_read_tokens": c[CR_TOK],
        "total_tokens": c[TOT_TOK],
        "cost": c[COST],
        "actual_cost": c[ACTUAL],
        "errors": c[N_ERROR],
        # /stats: round(mean / 1000, 2) seconds; null where no request of the bucket has a response time.
        "avg_response_time": round(int(c[RT_SUM]) / int(rt_n) / 1000, 2) if rt_n else None,
        "partial": partial,
    }
