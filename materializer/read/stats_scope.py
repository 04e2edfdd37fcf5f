"""Which aggregate rows answer a filtered question of the `/api/admin/stats/*` family, and the sums over them.

A filter of `user_id`, `model` or `provider_name` (resolved to the live providers of that name) is answered from the
one `usage_agg` dimension that holds it (user, model, provider, user_model for a user and a model, provider_model
for a provider and a model, or per model of a provider), summed over the range's plan (`read.stats.plan_for`:
months, days, hours, quarters and exact edges). A combination no dimension holds (a provider with a user or API
keys; a model with API keys) is recounted from the records of the range, through the index of its most selective
column; docs/read-model.md "The stats family" lists which is which.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from usagestream.materializer.pg_counters import DIM_KEY_SQL
from usagestream.materializer.pg_pool import Conn
from usagestream.materializer.read.sql import Args, Statement, cast_sum, usage_union
from usagestream.materializer.read.stats import plan_for, records_plan
from usagestream.ranges import Plan

Row = dict[str, Any]
SEP = "\x1f"  # user_model keys: user_id U+001F model (neither part may hold it: the parser refuses controls)
PROVIDER_IDS_SQL = "SELECT id FROM entities WHERE entity = 'provider' AND NOT deleted AND data ->> 'name' = $1"


@dataclass(frozen=True, slots=True)
class Filters:
    """Validated filters; `providers` is None without a provider filter, else the ids of that name (maybe none)."""

    user_id: str | None = None
    model: str | None = None
    providers: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Scope:
    """Where the rows come from: a dimension (rows whose key passes `key_where`, edges passing `record_where`),
    or, `records_only`, the range's records passing `record_where`, keyed by the dimension's record key."""

    dim: str
    key_where: str
    record_where: str
    records_only: bool = False
    shown: Callable[[str], str] = str  # the dimension's key -> the id the answer shows
    keys: str | None = None  # keyed scopes: the placeholder of their keys (a text[] parameter)


async def resolve(conn: Conn, user_id: str | None, model: str | None, provider_name: str | None) -> Filters:
    """The filters, with `provider_name` as the ids of the live providers so named (current name)."""
    providers = None
    if provider_name is not None:
        rows = await conn.fetch(PROVIDER_IDS_SQL, provider_name)
        providers = tuple(sorted(r["id"] for r in rows))
    return Filters(user_id, model, providers)


def record_filter(f: Filters, args: Args) -> str:
    """The filters over usage_records' columns."""
    conds = ["TRUE"]
    if f.user_id is not None:
        conds.append(f"user_id = {args.add(f.user_id)}")
    if f.model is not None:
        conds.append(f"model = {args.add(f.model)}")
    if f.providers is not None:
        conds.append(f"provider_id = ANY({args.add(list(f.providers))}::text[])")
    return " AND ".join(conds)


def keyed(dim: str, keys: Sequence[str], args: Args, shown: Callable[[str], str] = str) -> Scope:
    ph = args.add(list(keys))
    return Scope(dim, f"key = ANY({ph}::text[])", f"{DIM_KEY_SQL[dim]} = ANY({ph}::text[])", shown=shown, keys=ph)


def records(dim: str, f: Filters, args: Args) -> Scope:
    return Scope(dim, "FALSE", record_filter(f, args), records_only=True)


def _one(key: str) -> str:
    return ""


def total_scope(f: Filters, args: Args) -> Scope:
    """Every request passing the filters, as one key ("": the keys of several providers of one name add up)."""
    if f.providers is not None:
        if f.user_id is None and f.model is None:
            return keyed("provider", f.providers, args, _one)
        if f.user_id is None and f.model is not None:
            return keyed("provider_model", [p + SEP + f.model for p in f.providers], args, _one)
        return records("all", f, args)
    if f.user_id is not None and f.model is not None:
        return keyed("user_model", [f.user_id + SEP + f.model], args)
    if f.user_id is not None:
        return keyed("user", [f.user_id], args)
    if f.model is not None:
        return keyed("model", [f.model], args)
    return keyed("all", [""], args)


def _user_part(key: str) -> str:
    return key.split(SEP, 1)[0]


def _model_part(key: str) -> str:
    return key.split(SEP, 1)[1]


def group_scope(group: str, f: Filters, args: Args, owned_keys: Sequence[str] | None = None) -> Scope:
    """Per key of `group` (user, model or api_key) over the requests passing the filters; `owned_keys`: the
    API keys of `f.user_id` (for group api_key)."""
    if f.providers is not None:
        if group == "model" and f.user_id is None:
            return _provider_models(f.providers, f.model, args)
        return records(group, f, args)
    if group == "user":
        return _by_user(f, args)
    if group == "model":
        return _by_model(f, args)
    if f.model is not None:
        return records("api_key", f, args)
    if f.user_id is not None:
        return keyed("api_key", owned_keys or [], args)
    return Scope("api_key", "TRUE", "TRUE")


def _by_user(f: Filters, args: Args) -> Scope:
    if f.user_id is not None and f.model is not None:
        return keyed("user_model", [f.user_id + SEP + f.model], args, _user_part)
    if f.model is not None:
        # One parameter for both filters: a plan without edges (or without runs) leaves one of them out, and a
        # parameter no part of the statement mentions has no type (PostgreSQL refuses the statement).
        tail = args.add(SEP + f.model)
        return Scope(
            "user_model", f"right(key, char_length({tail})) = {tail}", f"model = substr({tail}, 2)", shown=_user_part
        )
    if f.user_id is not None:
        return keyed("user", [f.user_id], args)
    return Scope("user", "TRUE", "TRUE")


def _provider_models(providers: Sequence[str], model: str | None, args: Args) -> Scope:
    """Per model over the requests of `providers` (and of `model`, if given), from the provider_model dimension."""
    if model is not None:
        return keyed("provider_model", [p + SEP + model for p in providers], args, _model_part)
    ph = args.add(list(providers))  # one parameter for both filters, as in _by_user
    return Scope(
        "provider_model",
        f"split_part(key, chr(31), 1) = ANY({ph}::text[])",
        f"provider_id = ANY({ph}::text[])",
        shown=_model_part,
    )


def _by_model(f: Filters, args: Args) -> Scope:
    if f.user_id is not None and f.model is not None:
        return keyed("user_model", [f.user_id + SEP + f.model], args, _model_part)
    if f.user_id is not None:
        prefix = args.add(f.user_id + SEP)  # one parameter for both filters, as in _by_user
        return Scope("user_model", f"starts_with(key, {prefix})", f"user_id = left({prefix}, -1)", shown=_model_part)
    if f.model is not None:
        return keyed("model", [f.model], args)
    return Scope("model", "TRUE", "TRUE")


def sums_sql(plan: Plan, scope: Scope, counters: Sequence[str], args: Args) -> Statement:
    """The statement of `sums` over a plan that is not empty; `args` holds the scope's parameters (the scope was
    built with it), the plan's are added after them."""
    union = usage_union(plan, scope.dim, counters, args, scope.key_where, scope.record_where)
    cols = ", ".join(f"{cast_sum(c)} AS {c}" for c in counters)
    return args.statement(f'SELECT key COLLATE "C" AS key, {cols} FROM ({union}) s GROUP BY 1')


async def sums(
    conn: Conn,
    scope: Scope,
    counters: Sequence[str],
    span: tuple[datetime, datetime],
    tz_name: str,
    args: Args,
) -> dict[str, Row]:
    """`counters` summed per shown key over `[start, end]` (inclusive) in the scope (`args`: its parameters)."""
    start, end = span
    if scope.records_only:
        plan = await records_plan(conn, start, end)
    else:
        plan = await plan_for(conn, "usage_records", start, end, tz_name)
    if plan.empty:
        return {}
    sql, values = sums_sql(plan, scope, counters, args)
    out: dict[str, Row] = {}
    for r in await conn.fetch(sql, *values):
        if r["key"].count(SEP) < 2:  # two: a row of an id that held U+001F, stored before the parser refused it
            shown = scope.shown(r["key"])
            found = out.get(shown)  # several providers of one name: their rows of one shown key add up
            out[shown] = dict(r) if found is None else {c: found[c] + r[c] for c in counters}
    return out
