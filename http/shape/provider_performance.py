"""The body of `/api/admin/stats/performance/providers` in Aether's shape, from the rows of
materializer/read/provider_performance.py. Pure. Averages and rates to 2 places, percentiles truncated, as Aether.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Body = dict[str, Any]
MIN_SAMPLES = 10  # fewer samples: no percentile (Aether's MIN_PERCENTILE_SAMPLES)


def _avg(total: int | None, n: int) -> float | None:
    return None if not n or total is None else round(total / n, 2)


def _rate(ok: int, n: int) -> float:
    return round(ok / n * 100, 2) if n else 0.0


def _tps(tokens: int | None, ms: int | None) -> float | None:
    return None if not ms or tokens is None else round(tokens * 1000 / ms, 2)


def _quantiles(values: Sequence[float] | None, n: int) -> tuple[int | None, int | None]:
    if values is None or n < MIN_SAMPLES:
        return None, None
    return int(values[0]), int(values[1])


def _common(r: Body) -> Body:
    return {
        "avg_output_tps": _tps(r["tps_tok"], r["tps_ms"]),
        "avg_first_byte_time_ms": _avg(r["fb_sum"], r["fb_n"]),
        "avg_response_time_ms": _avg(r["rt_sum"], r["rt_n"]),
        "slow_request_count": r["slow"],
    }


def _detail(r: Body) -> Body:
    p90_rt, p99_rt = _quantiles(r["p_rt"], r["rt_n"])
    p90_fb, p99_fb = _quantiles(r["p_fb"], r["fb_n"])
    return {
        **_common(r),
        "p90_response_time_ms": p90_rt,
        "p99_response_time_ms": p99_rt,
        "p90_first_byte_time_ms": p90_fb,
        "p99_first_byte_time_ms": p99_fb,
        "tps_sample_count": r["tps_n"],
        "response_time_sample_count": r["rt_n"],
        "first_byte_sample_count": r["fb_n"],
    }


EMPTY: Body = {k: None for k in ("tps_tok", "tps_ms", "fb_sum", "rt_sum", "p_rt", "p_fb")} | {
    k: 0 for k in ("n", "ok_n", "slow", "fb_n", "rt_n", "tps_n", "out_tok")
}


def body(rows: Sequence[Body], label: Callable[[int], str]) -> Body:
    """`label(b)`: the name of bucket `b` (1-based)."""
    summary = next((r for r in rows if r["kind"] == 3), EMPTY)
    providers = sorted((r for r in rows if r["kind"] == 1), key=lambda r: (-r["n"], r["pid"]))
    timeline = sorted((r for r in rows if r["kind"] == 0), key=lambda r: (r["b"], r["pid"]))
    return {
        "summary": {
            "request_count": summary["n"],
            "success_rate": _rate(summary["ok_n"], summary["n"]),
            **_detail(summary),
        },
        "providers": [
            {
                "provider_id": r["pid"],
                "provider": r["provider"],
                "request_count": r["n"],
                "success_count": r["ok_n"],
                "error_count": r["n"] - r["ok_n"],
                "success_rate": _rate(r["ok_n"], r["n"]),
                "output_tokens": r["out_tok"],
                **_detail(r),
            }
            for r in providers
        ],
        "timeline": [
            {
                "date": label(r["b"]),
                "provider_id": r["pid"],
                "provider": r["provider"],
                "request_count": r["n"],
                "output_tokens": r["out_tok"],
                **_common(r),
                "success_rate": _rate(r["ok_n"], r["n"]),
            }
            for r in timeline
        ],
        "usage_counter": None,
    }
