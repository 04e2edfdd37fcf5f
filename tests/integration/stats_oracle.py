"""The plain-Python truth of `/api/admin/stats/*` over the seeded records (test_pg_reads_seed.World), written from
Aether's definitions (docs/reference-api.md §10), never with the project's aggregation code."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from test_pg_reads_seed import World

Row = dict[str, Any]
D0 = Decimal(0)


def midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(), tzinfo=tz).astimezone(UTC)


def in_days(w: World, first: date, last: date, tz: ZoneInfo) -> list[Row]:
    lo, hi = midnight(first, tz), midnight(last + timedelta(days=1), tz)
    return [u for u in w.usage if lo <= u["created_at"] < hi]


def provider_ids(w: World, name: str) -> set[str]:
    return {p for p, n in w.providers.items() if n == name}


def passes(u: Row, w: World, user_id: str | None, model: str | None, provider: str | None) -> bool:
    return (
        (user_id is None or u["user_id"] == user_id)
        and (model is None or u["model"] == model)
        and (provider is None or u["provider_id"] in provider_ids(w, provider))
    )


def fr(u: Row) -> bool:
    """Finished and reached a provider: what the leaderboards count."""
    return u["status"] not in ("pending", "streaming") and u["provider_name"] not in ("unknown", "pending")


def bucket_sums(rows: list[Row]) -> Row:
    rts = [u["response_time_ms"] for u in rows if u["response_time_ms"] is not None]
    return {
        "total_requests": len(rows),
        "input_tokens": sum(u["input_tokens"] for u in rows),
        "output_tokens": sum(u["output_tokens"] for u in rows),
        "cache_creation_tokens": sum(u["cache_creation_input_tokens"] for u in rows),
        "cache_read_tokens": sum(u["cache_read_input_tokens"] for u in rows),
        "total_cost": sum((u["total_cost_usd"] for u in rows), D0),
        "avg_response_time_ms": as_json_float(round(sum(rts) / len(rts), 2) if rts else 0.0),
    }


def as_json_float(value: float) -> Decimal:
    """A float as the tests read the answer's numbers back (parse_float=Decimal)."""
    return Decimal(repr(value))


def local_label(u: Row, granularity: str, tz: ZoneInfo, first: date) -> str:
    local = u["created_at"].astimezone(tz)
    if granularity == "hour":
        return local.strftime("%Y-%m-%dT%H:00:00+00:00")
    if granularity == "week":
        return max(local.date() - timedelta(days=local.weekday()), first).isoformat()
    if granularity == "month":
        return local.date().replace(day=1).isoformat()
    return local.date().isoformat()


def series(rows: list[Row], granularity: str, tz: ZoneInfo, first: date) -> dict[str, Row]:
    by: dict[str, list[Row]] = defaultdict(list)
    for u in rows:
        by[local_label(u, granularity, tz, first)].append(u)
    return {k: bucket_sums(v) for k, v in by.items()}


def dense(values: list[Any]) -> list[int]:
    distinct = sorted(set(values), reverse=True)
    return [distinct.index(v) + 1 for v in values]


def leader_sums(rows: list[Row], key: str) -> dict[str, Row]:
    out: dict[str, Row] = {}
    for u in rows:
        if not fr(u) or u[key] is None:
            continue
        e = out.setdefault(u[key], {"requests": 0, "tokens": 0, "cost": D0})
        e["requests"] += 1
        e["tokens"] += u["total_tokens"]
        e["cost"] += u["total_cost_usd"]
    return out


def least_squares(values: list[Decimal]) -> tuple[float, float]:
    """By the normal equations over fractions (x = 0, 1, ...)."""
    n = len(values)
    xs = [Fraction(i) for i in range(n)]
    ys = [Fraction(v) for v in values]
    mx, my = sum(xs) / n, sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return float(slope), float(my - slope * mx)


def percentile(values: list[int], p: float) -> int:
    """PostgreSQL's percentile_cont, truncated (written out: sort, interpolate between the closest ranks)."""
    s = sorted(values)
    pos = p * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return int(s[lo] + (s[hi] - s[lo]) * (pos - lo))


# --- performance/providers (Aether's summarize_usage_provider_performance, written out) ----------------------
RESERVED = {"unknown", "unknow", "pending"}


def provider_of(u: Row) -> tuple[str, str] | None:
    pid = (u["provider_id"] or "").strip()
    name = u["provider_name"].strip()
    if not pid or pid.lower() in RESERVED or name.lower() in RESERVED:
        return None
    return pid, name or pid


def _success(u: Row) -> bool:
    return u["status"] in ("completed", "success", "ok", "billed", "settled") and (
        u["status_code"] is None or u["status_code"] < 400
    )


def _tps_ms(u: Row) -> int | None:
    rt, fb = u["response_time_ms"], u["first_byte_time_ms"]
    if not rt:
        return None
    meta = u["request_metadata"] if isinstance(u["request_metadata"], dict) else {}
    streamed = meta["upstream_is_stream"] if isinstance(meta.get("upstream_is_stream"), bool) else u["is_stream"]
    if not streamed:
        return rt
    return None if fb is None or fb >= rt else rt - fb


def _p(values: list[int]) -> tuple[int | None, int | None]:
    return (percentile(values, 0.9), percentile(values, 0.99)) if len(values) >= 10 else (None, None)


def perf_bucket(rows: list[Row], slow: int) -> Row:
    ok = [u for u in rows if _success(u)]
    rts = [u["response_time_ms"] for u in ok if u["response_time_ms"] is not None]
    fbs = [u["first_byte_time_ms"] for u in ok if u["first_byte_time_ms"] is not None]
    tps = [(u["output_tokens"], _tps_ms(u)) for u in ok if u["response_time_ms"] is not None]
    tps = [(t, ms) for t, ms in tps if ms is not None and t > 0]
    tps_ms = sum(ms for _, ms in tps)
    return {
        "n": len(rows),
        "ok": len(ok),
        "out": sum(u["output_tokens"] for u in rows),
        "slow": sum(u["response_time_ms"] is not None and u["response_time_ms"] >= slow for u in rows),
        "avg_output_tps": round(sum(t for t, _ in tps) * 1000 / tps_ms, 2) if tps_ms else None,
        "avg_first_byte_time_ms": round(sum(fbs) / len(fbs), 2) if fbs else None,
        "avg_response_time_ms": round(sum(rts) / len(rts), 2) if rts else None,
        "p_rt": _p(rts),
        "p_fb": _p(fbs),
        "tps_n": len(tps),
        "rt_n": len(rts),
        "fb_n": len(fbs),
    }
