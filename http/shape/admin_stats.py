"""The JSON bodies of `/api/admin/stats/*` in Aether's shapes (docs/reference-api.md §10), from what the read
modules return. Pure. Money is exact (Decimal, as summed; Aether rounds floats to 6 places); averages and
percentages are rounded as Aether rounds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from usagestream.day_ranges import DayRange
from usagestream.materializer.read.leaderboards import Entry
from usagestream.materializer.read.stats_series import Counts
from usagestream.stats_math import change_percent, dense_ranks, forecast, least_squares, ranked
from usagestream.timeseries import Bucket

Body = dict[str, Any]
N_ALL, N_ERROR, IN_TOK, OUT_TOK, TOT_TOK, CC_TOK, CR_TOK, COST, ACTUAL, RT_SUM, RT_N = range(11)


def avg_ms(total: int, n: int) -> float:
    """The mean response time over the requests that have one, 2 places (0.0 over none)."""
    return round(total / n, 2) if n else 0.0


# --- leaderboards ------------------------------------------------------------------------------------------
def leaderboard_body(entries: Sequence[Entry], metric: str, desc: bool, offset: int, limit: int, r: DayRange) -> Body:
    """Sorted by the metric, ties by id; dense ranks over the whole list, then the page."""
    order = ranked(entries, lambda e: getattr(e, metric), lambda e: e.id, desc)
    ranks = dense_ranks([getattr(e, metric) for e in order])
    items = [
        {
            "rank": rank,
            "id": e.id,
            "name": e.name,
            "value": getattr(e, metric),
            "requests": e.requests,
            "tokens": e.tokens,
            "cost": e.cost,
        }
        for e, rank in list(zip(order, ranks, strict=True))[offset : offset + limit]
    ]
    return {**empty_leaderboard(metric, r), "items": items, "total": len(order)}


def empty_leaderboard(metric: str, r: DayRange) -> Body:
    return {
        "items": [],
        "total": 0,
        "metric": metric,
        "start_date": r.first.isoformat(),
        "end_date": r.last.isoformat(),
    }


# --- time series -------------------------------------------------------------------------------------------
def label(b: Bucket, granularity: str, r: DayRange) -> str:
    """Aether's bucket names: the local date (a week: its first day inside the range; a month: its 1st); an
    hour: the local wall-clock hour written with `+00:00`, as Aether writes it."""
    local = b.start.astimezone(r.tz)
    if granularity == "hour":
        return f"{local:%Y-%m-%dT%H}:00:00+00:00"
    if granularity == "week":
        return max(local.date(), r.first).isoformat()
    if granularity == "month":
        return local.date().replace(day=1).isoformat()
    return local.date().isoformat()


def point(name: str, c: Counts, with_avg: bool) -> Body:
    out: Body = {
        "date": name,
        "total_requests": c[N_ALL],
        "input_tokens": c[IN_TOK],
        "output_tokens": c[OUT_TOK],
        "cache_creation_tokens": c[CC_TOK],
        "cache_read_tokens": c[CR_TOK],
        "total_cost": c[COST] or Decimal(0),
    }
    if with_avg:
        out["avg_response_time_ms"] = avg_ms(int(c[RT_SUM]), int(c[RT_N]))
    return out


def series_body(points: Sequence[tuple[Bucket, Counts]], granularity: str, r: DayRange) -> list[Body]:
    return [point(label(b, granularity, r), c, granularity != "hour") for b, c in points]


# --- cost forecast -----------------------------------------------------------------------------------------
def forecast_body(points: Sequence[tuple[Bucket, Counts]], r: DayRange, days: int) -> Body:
    """The daily cost history, the least-squares line through it (x = day index) and `days` days on it."""
    costs = [Decimal(c[COST] or 0) for _, c in points]
    line = least_squares(costs)
    history = [{"date": label(b, "day", r), "total_cost": cost} for (b, _), cost in zip(points, costs, strict=True)]
    return {
        "history": history,
        "forecast": [{"date": d.isoformat(), "total_cost": v} for d, v in forecast(line, len(costs), r.last, days)],
        "slope": round(line.slope, 6),
        "intercept": round(line.intercept, 6),
        "start_date": r.first.isoformat(),
        "end_date": r.last.isoformat(),
    }


# --- comparison --------------------------------------------------------------------------------------------
def _totals(row: Body) -> Body:
    return {
        "total_requests": row["n_all"],
        "total_tokens": row["tot_tok"],
        "total_cost": row["cost"] or Decimal(0),
        "actual_total_cost": row["actual_cost"] or Decimal(0),
        "avg_response_time_ms": avg_ms(row["rt_sum"], row["rt_n"]),
        "error_requests": row["n_error"],
    }


def comparison_body(current: Body, previous: Body, cur: DayRange, prev: DayRange) -> Body:
    a, b = _totals(current), _totals(previous)
    return {
        "current": a,
        "comparison": b,
        "change_percent": {k: change_percent(a[k], b[k]) for k in a},
        "current_start": cur.first.isoformat(),
        "current_end": cur.last.isoformat(),
        "comparison_start": prev.first.isoformat(),
        "comparison_end": prev.last.isoformat(),
    }


# --- cost savings ------------------------------------------------------------------------------------------
FULL_PRICE_FACTOR = 10  # a cache read at a tenth of the input price (Aether's fallback: docs/reference-api.md §10.5)


def savings_body(row: Body) -> Body:
    read_cost = row["cr_cost"] or Decimal(0)
    full = read_cost * FULL_PRICE_FACTOR
    return {
        "cache_read_tokens": row["cr_tok"],
        "cache_read_cost": read_cost,
        "cache_creation_cost": row["cc_cost"] or Decimal(0),
        "estimated_full_cost": full,
        "cache_savings": full - read_cost,
    }


# --- percentiles -------------------------------------------------------------------------------------------
def _quantiles(values: Sequence[float] | None, n: int, min_samples: int) -> list[int | None]:
    if values is None or n < min_samples:
        return [None, None, None]
    return [int(v) for v in values]  # truncated, as Aether truncates


def percentiles_body(rows: Sequence[Body], r: DayRange, min_samples: int) -> list[Body]:
    out = []
    for i, row in enumerate(rows):
        rt = _quantiles(row["rt"], row["n_rt"], min_samples)
        fb = _quantiles(row["fb"], row["n_fb"], min_samples)
        out.append(
            {
                "date": date.fromordinal(r.first.toordinal() + i).isoformat(),
                "p50_response_time_ms": rt[0],
                "p90_response_time_ms": rt[1],
                "p99_response_time_ms": rt[2],
                "p50_first_byte_time_ms": fb[0],
                "p90_first_byte_time_ms": fb[1],
                "p99_first_byte_time_ms": fb[2],
            }
        )
    return out


# --- what the contract cannot fill -------------------------------------------------------------------------
ERROR_DISTRIBUTION: Body = {"distribution": [], "trend": []}
QUOTA_USAGE: Body = {"providers": [], "data_source_available": False}
