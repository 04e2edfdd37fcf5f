"""The JSON body of `/api/dashboard/stats`, shaped as today's Aether answers it (field names, card texts,
roundings), from the sums of materializer/read/dashboard.py; the daily stats: http/shape/dashboard_daily.py.

Tokens here are input + output + cache creation + cache read (Aether's dashboard and our heatmap count them so);
money is rounded to 4 places from the exact sums. What each field means and where it differs from Aether:
docs/reference-api.md §11.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from usagestream.http.shape import dashboard_text as txt
from usagestream.materializer.read.dashboard import StatsSums

Row = dict[str, Any]


def tokens(r: Row) -> int:
    return int(r["in_tok"] + r["out_tok"] + r["cc_tok"] + r["cr_tok"])


def seconds(r: Row) -> float:
    """The mean response time in seconds to 4 places, over the requests that have one (0.0 over none)."""
    return round(r["rt_sum"] / r["rt_n"] / 1000, 4) if r["rt_n"] else 0.0


def savings(r: Row) -> Decimal:
    """List cost minus actual cost (Aether's early `cost_savings`; negative when the actual cost is higher)."""
    return Decimal(r["cost"] or 0) - Decimal(r["actual_cost"] or 0)


# --- /api/dashboard/stats ---------------------------------------------------------------------------------
def stats_body(s: StatsSums) -> Row:
    """The admin's body when the sums hold the admin's extras, else the user's."""
    return _admin(s) if s.users is not None else _user(s)


def _today(r: Row, admin: bool) -> Row:
    out = {"requests": r["n_all"], "tokens": tokens(r), "cost": txt.money4(r["cost"])}
    if admin:
        out["actual_cost"] = txt.money4(r["actual_cost"])
    return out | {"cache_creation_tokens": r["cc_tok"], "cache_read_tokens": r["cr_tok"]}


def _cache(r: Row) -> Row:
    return {
        "cache_creation_tokens": r["cc_tok"],
        "cache_read_tokens": r["cr_tok"],
        "cache_creation_cost": txt.money4(r["cc_cost"]),
        "cache_read_cost": txt.money4(r["cr_cost"]),
        "cache_hit_rate": txt.percent(r["cr_tok"], r["in_tok"] + r["cr_tok"], 1),
        "total_cache_tokens": r["cc_tok"] + r["cr_tok"],
    }


def _common(s: StatsSums, admin: bool) -> Row:
    return {
        "today": _today(s.today, admin),
        "api_keys": {"total": s.keys, "active": s.keys},  # the contract carries no key status: live = active
        "cache_stats": _cache(s.period),
        "token_breakdown": {
            "input": s.period["in_tok"],
            "output": s.period["out_tok"],
            "cache_creation": s.period["cc_tok"],
            "cache_read": s.period["cr_tok"],
        },
    }


def _card(name: str, value: str, sub: str, icon: str) -> Row:
    return {"name": name, "value": value, "subValue": sub, "icon": icon}


def _admin_cards(s: StatsSums) -> list[Row]:
    t, m = s.today, s.minute or {}
    total, active = s.users or (0, 0)
    ok = txt.percent(t["n_all"] - t["n_error"], t["n_all"], 10)
    parts = (txt.compact(t[c]) for c in ("in_tok", "out_tok", "cc_tok", "cr_tok"))
    return [
        _card(
            "今日请求 / 费用",
            f"{txt.grouped(t['n_all'])} / {txt.usd(t['cost'])}",
            f"成功率 {txt.percent_text(ok)} / 节省 {txt.usd(max(savings(t), Decimal(0)))}",  # Aether: at least 0
            "Activity",
        ),
        _card("今日 Token", txt.compact(tokens(t)), "输入 {} / 输出 {} · 写缓存 {} / 读缓存 {}".format(*parts), "Zap"),
        _card(
            "全站 RPM / TPM",
            f"{txt.grouped(m.get('n_all', 0))} / {txt.compact(tokens(m) if m else 0)}",
            "最近 60 秒",
            "Activity",
        ),
        _card(
            "在线 / 启用用户",
            f"{txt.grouped(s.online or 0)} / {txt.grouped(active)}",
            f"最近 5 分钟 / 总用户 {txt.grouped(total)}",
            "Users",
        ),
    ]


def _admin(s: StatsSums) -> Row:
    p = s.period
    total, active = s.users or (0, 0)
    return (
        {"stats": _admin_cards(s)}
        | _common(s, True)
        | {
            "tokens": {"month": tokens(p)},
            "system_health": {
                "avg_response_time": seconds(p),
                "error_rate": txt.percent(p["n_error"], p["n_all"], 4),
                "error_requests": p["n_error"],
                "fallback_count": 0,  # not counted (docs/reference-api.md §11.1); today's Aether answers 0 as well
                "total_requests": p["n_all"],
            },
            "cost_stats": {
                "total_cost": txt.money4(p["cost"]),
                "total_actual_cost": txt.money4(p["actual_cost"]),
                "cost_savings": txt.money4(savings(p)),
            },
            "users": {"total": total, "active": active, "online": s.online or 0},
        }
    )


def quota_card(user: Row | None) -> Row:
    """Aether's early quota card (`quota_usd` None: unlimited), from the user entity's quota and spending."""
    quota, used = (user or {}).get("quota_usd"), (user or {}).get("used_usd")
    if user is not None and quota is None:
        value = "无限制"
    elif quota is not None and quota > 0:
        value = f"${Decimal(quota).quantize(Decimal(1))}"
    else:
        value = "$0"
    return _card("配额使用", value, f"已用 {txt.usd(used)}", "DollarSign")


def _user(s: StatsSums) -> Row:
    p, t = s.period, s.today
    cards = [
        _card("API 密钥", txt.grouped(s.keys), f"活跃 {txt.grouped(s.keys)}", "Activity"),
        _card("本月请求", txt.grouped(p["n_all"]), f"今日 {txt.grouped(t['n_all'])}", "Users"),
        quota_card(s.user),
        _card(
            "本月 Token",
            txt.grouped(tokens(p)),
            f"输入 {txt.grouped(p['in_tok'])} / 输出 {txt.grouped(p['out_tok'])}",
            "Zap",
        ),
    ]
    return {"stats": cards} | _common(s, False) | {"monthly_cost": txt.money4(p["cost"])}
