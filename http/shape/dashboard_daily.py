"""The JSON body of `/api/dashboard/daily-stats`, shaped as today's Aether answers it: one item per local day
with its model breakdown, the model summary, the period and, for an admin, the provider summary
(docs/reference-api.md §11.2), from the sums of materializer/read/dashboard.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from usagestream.http.shape import dashboard_text as txt
from usagestream.http.shape.dashboard import seconds, tokens
from usagestream.materializer.read.dashboard import DailySums

Row = dict[str, Any]


def _amounts(r: Row) -> Row:
    return {"requests": r["n_all"], "tokens": tokens(r), "cost": txt.money4(r["cost"])}


def _by_cost(items: list[Row], name: str) -> list[Row]:
    """Most cost first, ties by name (bytewise)."""
    return sorted(items, key=lambda x: (-x["cost"], x[name].encode()))


def _day(when: date, total: Row | None, models: dict[str, Row], providers: dict[str, Row] | None) -> Row:
    r = total or {"n_all": 0, "in_tok": 0, "out_tok": 0, "cc_tok": 0, "cr_tok": 0, "cost": 0, "rt_sum": 0, "rt_n": 0}
    item = {"date": when.isoformat(), **_amounts(r), "avg_response_time": seconds(r), "unique_models": len(models)}
    item["model_breakdown"] = _by_cost([{"model": m, **_amounts(v)} for m, v in models.items()], "model")
    if providers is not None:
        item["unique_providers"] = len(providers)
    return item


def _summed(days: Sequence[dict[str, Row]]) -> dict[str, Row]:
    out: dict[str, Row] = {}
    for day in days:
        for key, r in day.items():
            acc = out.setdefault(key, dict.fromkeys(r, 0) | {"i": 0, "key": key})
            for c, v in r.items():
                if c not in ("i", "key"):
                    acc[c] += v
    return out


def _model_summary(models: dict[str, Row]) -> list[Row]:
    items = []
    for m, r in models.items():
        n = r["n_all"]
        per_cost = txt.money4(Decimal(r["cost"]) / n) if n else txt.money4(0)
        per_tokens = round(tokens(r) / n, 4) if n else 0.0
        items.append({"model": m, **_amounts(r), "avg_response_time": seconds(r)})
        items[-1] |= {"cost_per_request": per_cost, "tokens_per_request": per_tokens}
    return _by_cost(items, "model")


def daily_body(days: Sequence[date], sums: DailySums, admin: bool) -> Row:
    """One item per local day of `days` (zeros where nothing happened), the model summary over them and, for
    an admin, the provider summary (providers named by their entity, else by id)."""
    items = [
        _day(d, sums.totals.get(i), sums.models.get(i, {}), sums.providers.get(i, {}) if admin else None)
        for i, d in enumerate(days)
    ]
    body: Row = {
        "daily_stats": items,
        "model_summary": _model_summary(_summed(list(sums.models.values()))),
        "period": {"start_date": days[0].isoformat(), "end_date": days[-1].isoformat(), "days": len(days)},
    }
    if admin:
        providers = _summed(list(sums.providers.values()))
        named = [{"provider": sums.provider_names.get(k, k), **_amounts(r)} for k, r in providers.items()]
        body["provider_summary"] = _by_cost(named, "provider")
    return body
