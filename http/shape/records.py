"""Shapes of the records, detail and active items, built from a stored row and the entities it names.

Pure functions (no I/O): money stays Decimal, timestamps become ISO strings in UTC. The rows come from
materializer/read/records.py (which selects ACTIVE_COLUMNS for the active items); http/shape/reads.py applies
these shapes to the store's answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from usagestream import fields
from usagestream.formats import format_conversion
from usagestream.http.shape.newer_fields import (
    CACHE_SPLIT,
    CLIENT,
    DETAIL_BODIES,
    DETAIL_RECORDS,
    STREAM_FLAGS,
    unknown,
)
from usagestream.materializer.read.entities import Entities, as_json
from usagestream.materializer.read.records import ACTIVE_COLUMNS
from usagestream.materializer.read.sql import iso
from usagestream.tokens import effective_input_tokens

DELETED_USER = "已删除用户"


class Row(Protocol):
    """A row read by column name: an asyncpg Record (which is no Mapping: it iterates its values), or a dict."""

    def __getitem__(self, key: str, /) -> Any: ...


Item = dict[str, Any]


def api_key_obj(key_id: str | None, keys: Mapping[str, Mapping[str, Any]]) -> Item | None:
    data = keys.get(key_id) if key_id else None
    if data is None:
        return None
    return {"id": key_id, "name": data.get("name"), "display": data.get("display")}


def _formats(r: Row, ents: Entities) -> tuple[str | None, str | None]:
    endpoint = ents["provider_endpoint"].get(r["provider_endpoint_id"] or "", {}).get("api_format")
    return r["api_format"] or endpoint, r["endpoint_api_format"] or endpoint


PRICES = fields.PRICES_PER_1M
TOKENS = fields.TOKENS


def record_item(r: Row, ents: Entities, flags: Mapping[str, bool] | None) -> Item:
    """One /records item (docs/reference-api.md §3.4)."""
    user = ents["user"].get(r["user_id"] or "")
    provider = ents["provider"].get(r["provider_id"] or "")
    upstream_key = ents["provider_api_key"].get(r["provider_api_key_id"] or "")
    api_format, endpoint_format = _formats(r, ents)
    flags = flags or {}
    return {
        "id": r["id"],
        "user_id": r["user_id"] if user else None,
        "user_email": user.get("email") if user else DELETED_USER,
        "username": user.get("username") if user else DELETED_USER,
        "api_key": api_key_obj(r["api_key_id"], ents["api_key"]),
        "provider": provider["name"] if provider else r["provider_name"],
        "model": r["model"],
        "target_model": r["target_model"],
        **{k: r[k] for k in TOKENS},
        "cost": r["total_cost_usd"],
        "actual_cost": r["actual_total_cost_usd"],
        "rate_multiplier": r["rate_multiplier"] if r["rate_multiplier"] is not None else Decimal("1.0"),
        "response_time_ms": r["response_time_ms"],
        "first_byte_time_ms": r["first_byte_time_ms"],
        "created_at": iso(r["created_at"]),
        "is_stream": r["is_stream"],
        **{k: r[k] for k in PRICES},
        "status_code": r["status_code"],
        "error_message": r["error_message"],
        "status": r["status"],
        "has_fallback": flags.get("has_fallback", False),
        "has_retry": flags.get("has_retry", False),
        "has_rectified": flags.get("has_rectified", False),
        "api_format": api_format,
        "endpoint_api_format": endpoint_format,
        "has_format_conversion": format_conversion(r["has_format_conversion"], api_format, endpoint_format),
        "api_key_name": upstream_key.get("name") if upstream_key else None,
        "request_metadata": as_json(r["request_metadata"]),
        **newer_tokens(r, api_format, endpoint_format),
        **unknown(STREAM_FLAGS),
        "provider_key_name": upstream_key.get("name") if upstream_key else None,
        "model_version": None,  # today's Aether writes null too
    }


def newer_tokens(r: Row, api_format: str | None, endpoint_format: str | None) -> Item:
    """Today's Aether's token fields of a records or detail item: the effective input (usagestream/tokens.py),
    and the cache-creation split the contract does not carry (null)."""
    effective = effective_input_tokens(api_format, endpoint_format, r["input_tokens"], r["cache_read_input_tokens"])
    return {"effective_input_tokens": effective, **unknown(CACHE_SPLIT)}


def user_record_item(r: Row, ents: Entities, flags: Mapping[str, bool] | None = None) -> Item:
    """One record of /api/users/me/usage (no provider, user or upstream-key fields, no actual cost)."""
    api_format, endpoint_format = _formats(r, ents)
    # The user shape's flag is always a boolean (docs/reference-api.md §3.10): unknown reads as false.
    conversion = format_conversion(r["has_format_conversion"], api_format, endpoint_format)
    return {
        "id": r["id"],
        "model": r["model"],
        "target_model": None,
        "api_format": api_format,
        "endpoint_api_format": endpoint_format,
        "has_format_conversion": bool(conversion),
        "input_tokens": r["input_tokens"],
        "output_tokens": r["output_tokens"],
        "total_tokens": r["total_tokens"],
        "cost": r["total_cost_usd"],
        "response_time_ms": r["response_time_ms"],
        "first_byte_time_ms": r["first_byte_time_ms"],
        "is_stream": r["is_stream"],
        "status": r["status"],
        "created_at": iso(r["created_at"]),
        "cache_creation_input_tokens": r["cache_creation_input_tokens"],
        "cache_read_input_tokens": r["cache_read_input_tokens"],
        "status_code": r["status_code"],
        "error_message": r["error_message"],
        **{k: r[k] for k in PRICES},
        "api_key": api_key_obj(r["api_key_id"], ents["api_key"]),
        **newer_tokens(r, api_format, endpoint_format),
        **unknown(STREAM_FLAGS, CLIENT),
        "has_fallback": (flags or {}).get("has_fallback", False),
    }


def active_item(r: Row, key_names: Mapping[str, str]) -> Item:
    """The raw fields an /active item is built from (the HTTP layer applies the reference's key rules)."""
    item = {k: r[k] for k in ACTIVE_COLUMNS if k != "created_at"}  # provider_api_key_id: HTTP resolves names
    item["created_at"] = iso(r["created_at"])
    item["api_key_name"] = key_names.get(r["provider_api_key_id"] or "")
    return item


def tiered_pricing(r: Row, pricing: Mapping[str, Any] | None, source: str | None) -> Item | None:
    """The detail's tier indicator (docs/reference-api.md §4.5); ctx = input + cache creation + cache read."""
    tiers = (pricing or {}).get("tiers") or []
    if not tiers:
        return None
    ctx = r["input_tokens"] + r["cache_creation_input_tokens"] + r["cache_read_input_tokens"]
    index = next((i for i, t in enumerate(tiers) if t.get("up_to") is None or ctx <= t["up_to"]), len(tiers) - 1)
    return {
        "total_input_context": ctx,
        "tier_index": index,
        "tier_count": len(tiers),
        "current_tier": tiers[index],
        "tiers": tiers,
        "source": source,
    }


def pricing_of(r: Row, ents: Entities) -> tuple[Mapping[str, Any] | None, str | None]:
    """model_pricing `<provider_id>:<model>`, else global_model_pricing `<model>`; none without provider."""
    if r["provider_id"] is None:
        return None, None
    own = ents["model_pricing"].get(f"{r['provider_id']}:{r['model']}")
    if own is not None and own.get("tiered_pricing") is not None:
        return own["tiered_pricing"], "provider"
    glob = ents["global_model_pricing"].get(r["model"])
    if glob is not None and glob.get("tiered_pricing") is not None:
        return glob["tiered_pricing"], "global"
    return None, None


def video_billing(request_type: str | None, metadata: Any) -> Item | None:
    """Video/image/audio billing facts from request_metadata (billing_snapshot, then dimensions)."""
    if request_type not in {"video", "image", "audio"} or not isinstance(metadata, dict) or not metadata:
        return None
    out: Item = {"task_type": request_type}
    snap, dims = metadata.get("billing_snapshot"), metadata.get("dimensions")
    if isinstance(snap, dict) and snap:
        out.update({k: snap.get(k) for k in ("rule_name", "expression", "status", "cost")})
        used = snap.get("dimensions_used")
        if isinstance(used, dict) and used:
            for src, dst in _VIDEO_DIMS:
                if src in used:
                    out[dst] = used[src]
    if isinstance(dims, dict) and dims:
        for src, dst in _VIDEO_DIMS[:2]:
            if dst not in out and src in dims:
                out[dst] = dims[src]
    if not (out.get("duration_seconds") or out.get("resolution") or out.get("video_cost") or out.get("cost")):
        return None
    return out


_VIDEO_DIMS = (
    ("duration_seconds", "duration_seconds"),
    ("video_resolution_key", "resolution"),
    ("video_price_per_second", "video_price_per_second"),
    ("video_cost", "video_cost"),
)

DETAIL_JSON = (
    "request_headers",
    "request_body",
    "provider_request_headers",
    "response_headers",
    "client_response_headers",
    "response_body",
)


def detail_item(r: Row, ents: Entities, include_bodies: bool = True) -> Item:
    """The /{usage_id} body (docs/reference-api.md §3.6): raw provider_name, no actual cost; the early nested
    `tokens` and `cost` and, beside them, the flat fields today's Aether builds its drawer on (`today_detail`).
    `include_bodies` false writes the bodies as null (their `has_*_body` flags still tell whether they exist)."""
    user = ents["user"].get(r["user_id"] or "")
    key = ents["api_key"].get(r["api_key_id"] or "")
    metadata = as_json(r["request_metadata"])
    pricing, source = pricing_of(r, ents)
    return {
        "id": r["id"],
        "request_id": r["request_id"],
        "user": {
            "id": r["user_id"] if user else None,
            "username": user.get("username") if user else "Unknown",
            "email": user.get("email") if user else None,
        },
        "api_key": {
            "id": r["api_key_id"] if key else None,
            "name": key.get("name") if key else None,
            "display": key.get("display") if key else None,
        },
        "provider": r["provider_name"],
        "api_format": r["api_format"],
        "model": r["model"],
        "target_model": r["target_model"],
        "tokens": {"input": r["input_tokens"], "output": r["output_tokens"], "total": r["total_tokens"]},
        "cost": {"input": r["input_cost_usd"], "output": r["output_cost_usd"], "total": r["total_cost_usd"]},
        "cache_creation_input_tokens": r["cache_creation_input_tokens"],
        "cache_read_input_tokens": r["cache_read_input_tokens"],
        "cache_creation_cost": r["cache_creation_cost_usd"],
        "cache_read_cost": r["cache_read_cost_usd"],
        "request_cost": r["request_cost_usd"],
        **{k: r[k] for k in PRICES},
        "price_per_request": r["price_per_request"],
        "request_type": r["request_type"],
        "is_stream": r["is_stream"],
        "status_code": r["status_code"],
        "error_message": r["error_message"],
        "response_time_ms": r["response_time_ms"],
        "first_byte_time_ms": r["first_byte_time_ms"],
        "created_at": iso(r["created_at"]),
        **{k: as_json(r[k]) for k in DETAIL_JSON},
        "metadata": metadata,
        "tiered_pricing": tiered_pricing(r, pricing, source),
        "video_billing": video_billing(r["request_type"], metadata),
        **today_detail(r, ents, include_bodies),
    }


def today_detail(r: Row, ents: Entities, include_bodies: bool) -> Item:
    """What today's Aether adds to the detail (the records item's flat fields, the body flags), null where the
    contract carries nothing (docs/reference-api.md §9.3); without bodies if not `include_bodies`."""
    api_format, endpoint_format = _formats(r, ents)
    has = {"request_body": r["request_body"] is not None, "response_body": r["response_body"] is not None}
    out: Item = {
        "status": r["status"],
        "input_tokens": r["input_tokens"],
        "output_tokens": r["output_tokens"],
        "endpoint_api_format": endpoint_format,
        **newer_tokens(r, api_format, endpoint_format),
        **unknown(STREAM_FLAGS, DETAIL_BODIES, DETAIL_RECORDS),
        "has_request_body": has["request_body"],
        "has_provider_request_body": False,
        "has_response_body": has["response_body"],
        "has_client_response_body": False,
    }
    if not include_bodies:
        out.update(dict.fromkeys(("request_body", "response_body")))
    return out
