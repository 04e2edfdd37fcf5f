"""The JSON shape of a time series answer (docs/api.md "Time series"): buckets as ISO instants in the zone's
offset, money exact, response time averaged in seconds as /stats rounds it."""

from __future__ import annotations

from typing import Any

from usagestream.materializer.pg_reads_timeseries import SeriesAnswer, SeriesQuery, Sums


def series_body(answer: SeriesAnswer, q: SeriesQuery) -> dict[str, Any]:
    stamps = [(b.start.astimezone(q.tz).isoformat(), b.partial) for b in answer.buckets]
    return {
        "granularity": q.granularity,
        "timezone": q.tz.key,
        "start_date": answer.start.astimezone(q.tz).isoformat(),
        "end_date": answer.end.astimezone(q.tz).isoformat(),
        "series": [
            {
                "key": s.key,
                "label": s.label,
                "points": [point(b, partial, p) for (b, partial), p in zip(stamps, s.points, strict=True)],
            }
            for s in answer.series
        ],
    }


def point(bucket: str, partial: bool, s: Sums) -> dict[str, Any]:
    rt_n = s["rt_n"]
    return {
        "bucket": bucket,
        "requests": s["n_all"],
        "input_tokens": s["in_tok"],
        "output_tokens": s["out_tok"],
        "cache_creation_tokens": s["cc_tok"],
        "cache_read_tokens": s["cr_tok"],
        "total_tokens": s["tot_tok"],
        "cost": s["cost"],
        "actual_cost": s["actual_cost"],
        "errors": s["n_error"],
        # /stats: round(mean / 1000, 2) seconds; null where no request of the bucket has a response time.
        "avg_response_time": round(int(s["rt_sum"]) / int(rt_n) / 1000, 2) if rt_n else None,
        "partial": partial,
    }
