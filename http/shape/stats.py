"""The JSON bodies of the range totals (/stats, /aggregation/stats, hit analysis, heatmap, the user summary):
field names, rounding and display defaults, shaped from the sums `ReadStore` reads (materializer/read/stats.py).

Rounding follows the reference (docs/reference-api.md): percentages to 2 places (int 0 over nothing), response
times in seconds to 2 places, costs of the hit analysis to 4; money otherwise exact as summed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from usagestream.materializer.read.stats import (
    HIT_COUNTERS,
    PROVIDER_COUNTERS,
    STATS_COUNTERS,
    USER_COUNTERS,
    window,
)

Row = dict[str, Any]


def pct(part: int, whole: int) -> float | int:
    """round(part / whole * 100, 2), or int 0 when whole is 0 (as the reference answers)."""
    return round(part / whole * 100, 2) if whole else 0


def mean(total: int, n: int) -> float:
    return total / n if n else 0.0


def money(value: Decimal | None) -> Decimal:
    return Decimal(0) if value is None else value


def round_to(value: float, places: int) -> float:
    """Aether's `round_to`: value x 10^places rounded half away from zero (Rust's f64::round, on the exact binary
    value: Decimal(float) is exact), divided back, in floating point as Aether computes it."""
    factor = 10.0**places
    return float(Decimal(value * factor).quantize(Decimal(1), ROUND_HALF_UP)) / factor


def cache_hit_rate(cache_read: int, context: int) -> float:
    """Aether's token cache hit rate (docs/reference-api.md §9.3): cache read / total input context x 100 in
    floating point, `round_to` 2 places; 0.0 over no context."""
    return round_to(float(cache_read) / float(context) * 100.0, 2) if context else 0.0


def token_fields(r: Row, p: str) -> Row:
    """Today's Aether's token breakdown of an item, from the counters of one subset (prefix `p`: fr, fin, r)."""
    return {
        "output_tokens": r[f"{p}_out"],
        "cache_creation_tokens": r[f"{p}_cc"],
        "cache_read_tokens": r[f"{p}_cr"],
        "effective_input_tokens": r[f"{p}_eff"],
        "total_input_context": r[f"{p}_ctx"],
        "cache_hit_rate": cache_hit_rate(r[f"{p}_cr"], r[f"{p}_ctx"]),
    }


# --- /stats -----------------------------------------------------------------------------------------------
def stats_body(r: Row | None) -> Row:
    r = r or dict.fromkeys(STATS_COUNTERS, 0)
    return {
        "total_requests": r["n_all"],
        "total_tokens": r["tot_tok"],
        "total_cost": money(r["cost"]),
        "total_actual_cost": money(r["actual_cost"]),
        "avg_response_time": round(mean(r["rt_sum"], r["rt_n"]) / 1000, 2),
        "error_count": r["n_error"],
        "error_rate": pct(r["n_error"], r["n_all"]),
        "cache_stats": {
            "cache_creation_tokens": r["cc_tok"],
            "cache_read_tokens": r["cr_tok"],
            "cache_creation_cost": money(r["cc_cost"]),
            "cache_read_cost": money(r["cr_cost"]),
        },
    }


# --- /aggregation/stats -----------------------------------------------------------------------------------
def model_item(r: Row) -> Row:
    return {
        "model": r["key"],
        "request_count": r["n_fr"],
        "total_tokens": r["fr_tot_tok"],
        "total_cost": r["fr_cost"],
        "actual_cost": r["fr_actual"],
        **token_fields(r, "fr"),
    }


def api_format_item(r: Row) -> Row:
    return {
        "api_format": r["key"] or "unknown",
        "request_count": r["n_fr"],
        "total_tokens": r["fr_tot_tok"],
        "total_cost": r["fr_cost"],
        "actual_cost": r["fr_actual"],
        "avg_response_time_ms": mean(r["fr_rt_sum"], r["fr_rt_n"]),
        **token_fields(r, "fr"),
    }


def user_item(r: Row) -> Row:
    return {
        "user_id": r["key"],
        "email": r["email"],
        "username": r["username"],
        "request_count": r["n_all"],
        "total_tokens": r["tot_tok"],
        "total_cost": r["cost"],
    }


def provider_item(a: Row, usage: Row | None, name: str | None) -> Row:
    return {
        "provider_id": a["provider_id"],
        "provider": name if name is not None else "Unknown",
        "request_count": a["attempts"],
        "total_tokens": usage["fin_tot_tok"] if usage else 0,
        "total_cost": money(usage["fin_cost"] if usage else None),
        "actual_cost": money(usage["fin_actual"] if usage else None),
        "avg_response_time_ms": mean(a["lat_sum"], a["lat_n"]),
        "success_rate": round(a["successes"] / a["attempts"] * 100, 2),
        "error_count": a["failures"],
        **token_fields(usage or dict.fromkeys(PROVIDER_COUNTERS, 0), "fin"),
    }


# --- hit analysis -----------------------------------------------------------------------------------------
def hit_body(hours: int, r: Row | None) -> Row:
    r = r or dict.fromkeys(HIT_COUNTERS, 0)
    total, hits, tin, cr = r["n_completed"], r["n_hit"], r["c_in"], r["c_cr"]
    cr_cost = money(r["c_cr_cost"])
    return {
        "analysis_period_hours": hours,
        "total_requests": total,
        "requests_with_cache_hit": hits,
        "request_cache_hit_rate": pct(hits, total),
        "total_input_tokens": tin,
        "total_cache_read_tokens": cr,
        "total_cache_creation_tokens": r["c_cc"],
        "token_cache_hit_rate": round(cr / (tin + cr) * 100, 2) if tin + cr else 0.0,
        "total_cache_read_cost_usd": round(cr_cost, 4),
        "total_cache_creation_cost_usd": round(money(r["c_cc_cost"]), 4),
        "estimated_savings_usd": round(cr_cost * 9, 4),
    }


# --- heatmap ----------------------------------------------------------------------------------------------
def heatmap_body(rows: Sequence[Mapping[str, Any]], tz: tzinfo, now: datetime, include_actual_cost: bool) -> Row:
    first, today, lo, hi = window(now, tz)
    acc: dict[date, list[Any]] = {}
    for r in rows:
        day = r["bucket"].astimezone(tz).date()
        cur = acc.setdefault(day, [0, 0, Decimal(0), Decimal(0)])
        cur[0] += r["n_all"]
        cur[1] += r["tokens"]
        cur[2] += r["cost"]
        cur[3] += r["actual_cost"]
    days = []
    for i in range(365):
        day = first + timedelta(days=i)
        n, tok, cost, actual = acc.get(day, [0, 0, Decimal(0), Decimal(0)])
        item: Row = {"date": day.isoformat(), "requests": n, "total_tokens": int(tok), "total_cost": cost}
        if include_actual_cost:
            item["actual_total_cost"] = actual
        days.append(item)
    return {
        "start_date": lo.isoformat(),
        "end_date": hi.isoformat(),
        "total_days": len(days),
        "active_days": sum(1 for d in days if d["requests"] > 0),  # today's Aether sends it
        "max_requests": max(d["requests"] for d in days),
        "days": days,
    }


# --- /api/users/me/usage summary --------------------------------------------------------------------------
def _model_summary(model: str, r: Row) -> Row:
    return {
        "model": model,
        "requests": r["n_reached"],
        "input_tokens": r["r_in"],
        "output_tokens": r["r_out"],
        "total_tokens": r["r_tot"],
        "total_cost_usd": money(r["r_cost"]),
        "cache_read_tokens": r["r_cr"],
        "cache_creation_tokens": r["r_cc"],
        "effective_input_tokens": r["r_eff"],
        "total_input_context": r["r_ctx"],
        "cache_hit_rate": cache_hit_rate(r["r_cr"], r["r_ctx"]),
    }


def _format_summary(api_format: str, r: Row) -> Row:
    return {
        "api_format": api_format,
        "request_count": r["n_fr"],
        "total_tokens": r["fr_tot_tok"],
        "total_cost_usd": money(r["fr_cost"]),
        "avg_response_time_ms": round_to(mean(r["fr_rt_sum"], r["fr_rt_n"]), 2),
        **token_fields(r, "fr"),
    }


def user_summary(totals: Row | None, by_model: dict[str, Row], user: Row | None, by_format: dict[str, Row]) -> Row:
    """The summary of /api/users/me/usage; `by_model`: model -> row (materializer/read/stats.py `models_of`);
    `by_format`: api_format -> row (`user_formats`), today's Aether's `summary_by_api_format`."""
    formats = [_format_summary(k, r) for k, r in by_format.items() if r["n_fr"] > 0]
    formats.sort(key=lambda f: (-f["request_count"], f["api_format"]))
    t = totals or dict.fromkeys(USER_COUNTERS, 0)
    models = [_model_summary(k, r) for k, r in by_model.items() if r["n_reached"] > 0]
    models.sort(key=lambda m: (-m["requests"], m["model"]))
    return {
        "total_requests": t["n_reached"],
        "total_input_tokens": t["r_in"],
        "total_output_tokens": t["r_out"],
        "total_tokens": t["r_tot"],
        "total_cost": money(t["r_cost"]),
        "avg_response_time": mean(t["s200_rt_sum"], t["n_s200"]) / 1000,
        "quota_usd": user["quota_usd"] if user else None,
        "used_usd": money(user["used_usd"] if user else None),
        "summary_by_model": models,
        "summary_by_api_format": formats,
    }


def pagination(total: int, limit: int, offset: int) -> Row:
    return {"total": total, "limit": limit, "offset": offset, "has_more": offset + limit < total}
