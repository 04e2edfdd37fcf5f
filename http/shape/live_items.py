"""The `/active` item (docs/reference-api.md §3.5) built from a live-set item or a PostgreSQL row.

The same shape serves the websocket feed's snapshots and upserts (docs/contract.md §7.2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from usagestream.formats import format_conversion
from usagestream.http.shape.newer_fields import CACHE_SPLIT, CLIENT, STREAM_FLAGS, UPDATED, unknown
from usagestream.tokens import effective_input_tokens

Item = dict[str, Any]
_TOKENS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def decimal_or_none(value: object) -> Decimal | None:
    """Money as an exact Decimal (live items hold decimal strings, rows hold Decimal); None stays None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def conversion(raw: Mapping[str, Any]) -> bool | None:
    """The item's has_format_conversion by the rule the records use too (usagestream/formats.py)."""
    stored, client, endpoint = (raw.get(k) for k in ("has_format_conversion", "api_format", "endpoint_api_format"))
    return format_conversion(
        stored if isinstance(stored, bool) else None,
        client if isinstance(client, str) else None,
        endpoint if isinstance(endpoint, str) else None,
    )


def shape(
    raw: Mapping[str, Any], *, admin: bool, key_names: Mapping[str, str], flags: Mapping[str, bool] | None = None
) -> Item:
    """One `/active` item. Admin items add `provider` and the upstream key's name (`api_key_name`, and as today's
    Aether names it, `provider_key_name`). `flags`: the request's attempt flags; None when not looked up (the
    feed's upserts), which leaves `has_fallback` null."""
    cost = decimal_or_none(raw.get("total_cost_usd"))
    item: Item = {"id": raw.get("id"), "status": raw.get("status")}
    for name in _TOKENS:
        item[name] = raw.get(name) or 0
    item["cost"] = cost if cost else 0
    item["actual_cost"] = decimal_or_none(raw.get("actual_total_cost_usd"))
    item["rate_multiplier"] = decimal_or_none(raw.get("rate_multiplier"))
    item["response_time_ms"] = raw.get("response_time_ms")
    item["first_byte_time_ms"] = raw.get("first_byte_time_ms")
    for name in ("api_format", "endpoint_api_format"):
        if raw.get(name):
            item[name] = raw[name]
    item["has_format_conversion"] = conversion(raw)  # null when unknown
    item.update(newer(raw, item, flags))
    if admin:
        key_id = raw.get("provider_api_key_id")
        item["provider"] = raw.get("provider_name")
        item["api_key_name"] = key_names.get(key_id) if isinstance(key_id, str) else None
        item["provider_key_name"] = item["api_key_name"]
    return item


def newer(raw: Mapping[str, Any], item: Item, flags: Mapping[str, bool] | None) -> Item:
    """The fields today's Aether adds to an active item: computed from the record where it carries them, null
    where it does not (docs/reference-api.md §9.3)."""
    fmt, endpoint = item.get("api_format"), item.get("endpoint_api_format")
    effective = effective_input_tokens(fmt, endpoint, item["input_tokens"], item["cache_read_input_tokens"])
    return {
        "effective_input_tokens": effective,
        **unknown(CACHE_SPLIT, UPDATED),
        "status_code": raw.get("status_code"),
        "error_message": raw.get("error_message"),
        "is_stream": raw.get("is_stream"),
        **unknown(STREAM_FLAGS, CLIENT),
        "has_fallback": flags.get("has_fallback", False) if flags is not None else None,
    }


def key_ids(raws: Iterable[Mapping[str, Any]]) -> list[str]:
    """The distinct upstream key ids the admin items need names for."""
    found = {r.get("provider_api_key_id") for r in raws}
    return sorted(k for k in found if isinstance(k, str) and k)


def visible(raw: Mapping[str, Any], user_id: str | None) -> bool:
    """Whether a caller scoped to `user_id` (None = admin, everything) may see this request."""
    return user_id is None or raw.get("user_id") == user_id
