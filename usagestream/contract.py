"""The wire contract (CONTRACT.md sections 1 to 5): raw Kafka bytes -> frozen event types, or InvalidEvent(reason).

Money is decoded as the decimal it is written as (msgspec's float_hook=Decimal), never through a binary float.
A field whose table type says "or null" may also be absent (it is then null); every other field is required.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from usagestream.errors import InvalidEvent

USAGE_STATUSES = frozenset({"pending", "streaming", "completed", "failed", "cancelled"})
ACTIVE_STATUSES = frozenset({"pending", "streaming"})
CANDIDATE_STATUSES = frozenset({"available", "skipped", "pending", "streaming", "success", "failed", "cancelled"})
EXECUTED_STATUSES = frozenset({"success", "failed"})
ENTITY_KINDS = frozenset(
    {
        "user",
        "api_key",
        "provider",
        "provider_endpoint",
        "provider_api_key",
        "model_pricing",
        "global_model_pricing",
        "management_token",
    }
)

_decoder = msgspec.json.Decoder(float_hook=Decimal)
_Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class UsageSnapshot:
    """One request's whole record after a change (CONTRACT.md section 2)."""

    id: str
    request_id: str
    user_id: str | None
    api_key_id: str | None
    provider_name: str
    provider_id: str | None
    provider_endpoint_id: str | None
    provider_api_key_id: str | None
    model: str
    target_model: str | None
    api_format: str | None
    endpoint_api_format: str | None
    has_format_conversion: bool | None
    request_type: str | None
    is_stream: bool
    status: str
    status_code: int | None
    error_message: str | None
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    total_tokens: int
    input_cost_usd: Decimal
    output_cost_usd: Decimal
    cache_creation_cost_usd: Decimal
    cache_read_cost_usd: Decimal
    request_cost_usd: Decimal
    total_cost_usd: Decimal
    actual_input_cost_usd: Decimal
    actual_output_cost_usd: Decimal
    actual_cache_creation_cost_usd: Decimal
    actual_cache_read_cost_usd: Decimal
    actual_request_cost_usd: Decimal
    actual_total_cost_usd: Decimal
    rate_multiplier: Decimal | None
    input_price_per_1m: Decimal | None
    output_price_per_1m: Decimal | None
    cache_creation_price_per_1m: Decimal | None
    cache_read_price_per_1m: Decimal | None
    price_per_request: Decimal | None
    response_time_ms: int | None
    first_byte_time_ms: int | None
    created_at: datetime
    finalized_at: datetime | None
    request_headers: Mapping[str, Any] | None
    provider_request_headers: Mapping[str, Any] | None
    response_headers: Mapping[str, Any] | None
    client_response_headers: Mapping[str, Any] | None
    request_body: Any
    response_body: Any
    request_metadata: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class UsageEvent:
    event_id: str
    usage_id: str
    seq: int
    emitted_at: datetime
    usage: UsageSnapshot


@dataclass(frozen=True, slots=True)
class CandidateSnapshot:
    """One provider attempt slot after a change (CONTRACT.md section 3)."""

    candidate_index: int
    retry_index: int
    user_id: str | None
    api_key_id: str | None
    provider_id: str | None
    endpoint_id: str | None
    key_id: str | None
    status: str
    skip_reason: str | None
    error_type: str | None
    error_message: str | None
    is_cached: bool
    status_code: int | None
    latency_ms: int | None
    extra_data: Mapping[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class CandidateEvent:
    event_id: str
    candidate_id: str
    usage_id: str
    request_id: str
    seq: int
    emitted_at: datetime
    candidate: CandidateSnapshot


@dataclass(frozen=True, slots=True)
class EntityEvent:
    """An entity upsert or deletion (CONTRACT.md section 4).

    A Kafka tombstone (null value) becomes `deleted=True` with `seq=None`: it deletes whatever seq is stored.
    """

    entity: str
    id: str
    seq: int | None
    emitted_at: datetime | None
    deleted: bool
    data: Mapping[str, Any] | None


Event = UsageEvent | CandidateEvent | EntityEvent

# --- field readers: each returns the validated value or raises InvalidEvent naming the field ---------------


def _missing(obj: _Json, name: str, where: str) -> InvalidEvent:
    return InvalidEvent(f"missing required field {where}{name}")


def _str(obj: _Json, name: str, where: str) -> str:
    if name not in obj:
        raise _missing(obj, name, where)
    value = obj[name]
    if not isinstance(value, str):
        raise InvalidEvent(f"{where}{name} must be a string, got {_kind(value)}")
    return value


def _opt_str(obj: _Json, name: str, where: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"{where}{name} must be a string or null, got {_kind(value)}")
    return value


def _bool(obj: _Json, name: str, where: str) -> bool:
    if name not in obj:
        raise _missing(obj, name, where)
    value = obj[name]
    if not isinstance(value, bool):
        raise InvalidEvent(f"{where}{name} must be a boolean, got {_kind(value)}")
    return value


def _opt_bool(obj: _Json, name: str, where: str) -> bool | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidEvent(f"{where}{name} must be a boolean or null, got {_kind(value)}")
    return value


def _int(obj: _Json, name: str, where: str, minimum: int | None = 0) -> int:
    if name not in obj:
        raise _missing(obj, name, where)
    return _check_int(obj[name], name, where, minimum, nullable=False)


def _opt_int(obj: _Json, name: str, where: str, minimum: int | None = 0) -> int | None:
    value = obj.get(name)
    if value is None:
        return None
    return _check_int(value, name, where, minimum, nullable=True)


def _check_int(value: object, name: str, where: str, minimum: int | None, nullable: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        suffix = " or null" if nullable else ""
        raise InvalidEvent(f"{where}{name} must be an integer{suffix}, got {_kind(value)}")
    if minimum is not None and value < minimum:
        raise InvalidEvent(f"{where}{name} must be >= {minimum}, got {value}")
    return value


def _money(obj: _Json, name: str, where: str) -> Decimal:
    if name not in obj:
        raise _missing(obj, name, where)
    return _check_money(obj[name], name, where, nullable=False)


def _opt_money(obj: _Json, name: str, where: str) -> Decimal | None:
    value = obj.get(name)
    if value is None:
        return None
    return _check_money(value, name, where, nullable=True)


def _check_money(value: object, name: str, where: str, nullable: bool) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        suffix = " or null" if nullable else ""
        raise InvalidEvent(f"{where}{name} must be a JSON number{suffix}, got {_kind(value)}")
    money = Decimal(value)
    if not money.is_finite():
        raise InvalidEvent(f"{where}{name} must be a finite number")
    if money < 0:
        raise InvalidEvent(f"{where}{name} must be >= 0, got {money}")
    return money


def _ts(obj: _Json, name: str, where: str) -> datetime:
    if name not in obj:
        raise _missing(obj, name, where)
    return _check_ts(obj[name], name, where)


def _opt_ts(obj: _Json, name: str, where: str) -> datetime | None:
    value = obj.get(name)
    if value is None:
        return None
    return _check_ts(value, name, where)


def _check_ts(value: object, name: str, where: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidEvent(f"{where}{name} must be an RFC 3339 timestamp string, got {_kind(value)}")
    if "T" not in value and "t" not in value and " " not in value:
        raise InvalidEvent(f"{where}{name} must be an RFC 3339 timestamp with a time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEvent(f"{where}{name} is not an RFC 3339 timestamp: {value[:64]!r}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidEvent(f"{where}{name} has no UTC offset: {value[:64]!r}")
    return parsed


def _opt_obj(obj: _Json, name: str, where: str) -> dict[str, Any] | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidEvent(f"{where}{name} must be an object or null, got {_kind(value)}")
    return value


def _obj(obj: _Json, name: str, where: str) -> dict[str, Any]:
    if name not in obj:
        raise _missing(obj, name, where)
    value = obj[name]
    if not isinstance(value, dict):
        raise InvalidEvent(f"{where}{name} must be an object, got {_kind(value)}")
    return value


def _enum(obj: _Json, name: str, where: str, allowed: frozenset[str]) -> str:
    value = _str(obj, name, where)
    if value not in allowed:
        raise InvalidEvent(f"{where}{name} must be one of {sorted(allowed)}, got {value[:64]!r}")
    return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# --- envelopes ---------------------------------------------------------------------------------------------


def decode_object(raw: bytes | None) -> dict[str, Any]:
    """Bytes -> a JSON object, with exact decimals; InvalidEvent for anything else."""
    if raw is None:
        raise InvalidEvent("value is null (a tombstone) on a topic that has none")
    try:
        value = _decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidEvent(f"not a JSON object, got {_kind(value)}")
    return value


def _envelope(obj: _Json, kind: str) -> None:
    version = obj.get("v")
    if "v" not in obj:
        raise InvalidEvent("missing required field v")
    if isinstance(version, bool) or version != 1:
        raise InvalidEvent(f"unsupported contract version v={version!r} (this worker reads v=1)")
    found = _str(obj, "kind", "")
    if found != kind:
        raise InvalidEvent(f"kind must be {kind!r} on this topic, got {found[:64]!r}")


def _key_text(key: bytes | None) -> str:
    if key is None:
        raise InvalidEvent("message has no key")
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEvent("message key is not UTF-8") from None


def parse_usage(key: bytes | None, raw: bytes | None) -> UsageEvent:
    """Parse one message of the usage topic."""
    obj = decode_object(raw)
    _envelope(obj, "usage")
    usage_id = _str(obj, "usage_id", "")
    if _key_text(key) != usage_id:
        raise InvalidEvent("usage_id disagrees with the message key")
    body = _obj(obj, "usage", "")
    snapshot = _usage_snapshot(body)
    if snapshot.id != usage_id:
        raise InvalidEvent("usage.id disagrees with usage_id")
    return UsageEvent(
        event_id=_str(obj, "event_id", ""),
        usage_id=usage_id,
        seq=_int(obj, "seq", "", minimum=1),
        emitted_at=_ts(obj, "emitted_at", ""),
        usage=snapshot,
    )


_USAGE_MONEY = (
    "input_cost_usd",
    "output_cost_usd",
    "cache_creation_cost_usd",
    "cache_read_cost_usd",
    "request_cost_usd",
    "total_cost_usd",
    "actual_input_cost_usd",
    "actual_output_cost_usd",
    "actual_cache_creation_cost_usd",
    "actual_cache_read_cost_usd",
    "actual_request_cost_usd",
    "actual_total_cost_usd",
)
_USAGE_OPT_MONEY = (
    "rate_multiplier",
    "input_price_per_1m",
    "output_price_per_1m",
    "cache_creation_price_per_1m",
    "cache_read_price_per_1m",
    "price_per_request",
)
_USAGE_TOKENS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "total_tokens",
)
_USAGE_OPT_STR = (
    "user_id",
    "api_key_id",
    "provider_id",
    "provider_endpoint_id",
    "provider_api_key_id",
    "target_model",
    "api_format",
    "endpoint_api_format",
    "request_type",
    "error_message",
)
_USAGE_OPT_OBJ = ("request_headers", "provider_request_headers", "response_headers", "client_response_headers")


def _usage_snapshot(u: _Json) -> UsageSnapshot:
    w = "usage."
    values: dict[str, Any] = {
        "id": _str(u, "id", w),
        "request_id": _str(u, "request_id", w),
        "provider_name": _str(u, "provider_name", w),
        "model": _str(u, "model", w),
        "status": _enum(u, "status", w, USAGE_STATUSES),
        "is_stream": _bool(u, "is_stream", w),
        "has_format_conversion": _opt_bool(u, "has_format_conversion", w),
        "status_code": _opt_int(u, "status_code", w, minimum=None),
        "response_time_ms": _opt_int(u, "response_time_ms", w),
        "first_byte_time_ms": _opt_int(u, "first_byte_time_ms", w),
        "created_at": _ts(u, "created_at", w),
        "finalized_at": _opt_ts(u, "finalized_at", w),
        "request_body": u.get("request_body"),
        "response_body": u.get("response_body"),
        "request_metadata": _opt_obj(u, "request_metadata", w),
    }
    for name in _USAGE_OPT_STR:
        values[name] = _opt_str(u, name, w)
    for name in _USAGE_TOKENS:
        values[name] = _int(u, name, w)
    for name in _USAGE_MONEY:
        values[name] = _money(u, name, w)
    for name in _USAGE_OPT_MONEY:
        values[name] = _opt_money(u, name, w)
    for name in _USAGE_OPT_OBJ:
        values[name] = _opt_obj(u, name, w)
    return UsageSnapshot(**values)


def parse_candidate(key: bytes | None, raw: bytes | None) -> CandidateEvent:
    """Parse one message of the candidates topic (keyed by usage_id)."""
    obj = decode_object(raw)
    _envelope(obj, "candidate")
    usage_id = _str(obj, "usage_id", "")
    if _key_text(key) != usage_id:
        raise InvalidEvent("usage_id disagrees with the message key")
    c = _obj(obj, "candidate", "")
    w = "candidate."
    snapshot = CandidateSnapshot(
        candidate_index=_int(c, "candidate_index", w),
        retry_index=_int(c, "retry_index", w),
        user_id=_opt_str(c, "user_id", w),
        api_key_id=_opt_str(c, "api_key_id", w),
        provider_id=_opt_str(c, "provider_id", w),
        endpoint_id=_opt_str(c, "endpoint_id", w),
        key_id=_opt_str(c, "key_id", w),
        status=_enum(c, "status", w, CANDIDATE_STATUSES),
        skip_reason=_opt_str(c, "skip_reason", w),
        error_type=_opt_str(c, "error_type", w),
        error_message=_opt_str(c, "error_message", w),
        is_cached=_bool(c, "is_cached", w),
        status_code=_opt_int(c, "status_code", w, minimum=None),
        latency_ms=_opt_int(c, "latency_ms", w),
        extra_data=_opt_obj(c, "extra_data", w),
        created_at=_ts(c, "created_at", w),
        started_at=_opt_ts(c, "started_at", w),
        finished_at=_opt_ts(c, "finished_at", w),
    )
    return CandidateEvent(
        event_id=_str(obj, "event_id", ""),
        candidate_id=_str(obj, "candidate_id", ""),
        usage_id=usage_id,
        request_id=_str(obj, "request_id", ""),
        seq=_int(obj, "seq", "", minimum=1),
        emitted_at=_ts(obj, "emitted_at", ""),
        candidate=snapshot,
    )


def parse_entity(key: bytes | None, raw: bytes | None) -> EntityEvent:
    """Parse one message of the entities topic; a null value is a tombstone for the key's entity."""
    key_text = _key_text(key)
    kind, sep, ident = key_text.partition(":")
    if not sep or kind not in ENTITY_KINDS or not ident:
        raise InvalidEvent(f"entity key must be '<entity>:<id>' with a known entity, got {key_text[:128]!r}")
    if raw is None:
        return EntityEvent(entity=kind, id=ident, seq=None, emitted_at=None, deleted=True, data=None)
    obj = decode_object(raw)
    _envelope(obj, "entity")
    entity = _enum(obj, "entity", "", ENTITY_KINDS)
    entity_id = _str(obj, "id", "")
    if entity != kind or entity_id != ident:
        raise InvalidEvent("entity or id disagrees with the message key")
    deleted = obj.get("deleted", False)
    if not isinstance(deleted, bool):
        raise InvalidEvent(f"deleted must be a boolean, got {_kind(deleted)}")
    data = None if deleted and obj.get("data") is None else _ENTITY_DATA[entity](_obj(obj, "data", ""), entity_id)
    return EntityEvent(
        entity=entity,
        id=entity_id,
        seq=_int(obj, "seq", "", minimum=1),
        emitted_at=_ts(obj, "emitted_at", ""),
        deleted=deleted,
        data=data,
    )


def _user(d: _Json, _id: str) -> dict[str, Any]:
    w = "data."
    role = _enum(d, "role", w, frozenset({"admin", "user"}))
    return {
        "username": _str(d, "username", w),
        "email": _opt_str(d, "email", w),
        "role": role,
        "is_active": _bool(d, "is_active", w),
        "is_deleted": _bool(d, "is_deleted", w),
        "quota_usd": _opt_money(d, "quota_usd", w),
        "used_usd": _money(d, "used_usd", w),
    }


def _api_key(d: _Json, _id: str) -> dict[str, Any]:
    w = "data."
    return {"user_id": _str(d, "user_id", w), "name": _opt_str(d, "name", w), "display": _str(d, "display", w)}


def _provider(d: _Json, _id: str) -> dict[str, Any]:
    w = "data."
    return {"name": _str(d, "name", w), "billing_type": _str(d, "billing_type", w)}


def _endpoint(d: _Json, _id: str) -> dict[str, Any]:
    w = "data."
    return {"provider_id": _str(d, "provider_id", w), "api_format": _str(d, "api_format", w)}


def _provider_key(d: _Json, _id: str) -> dict[str, Any]:
    w = "data."
    return {"provider_id": _str(d, "provider_id", w), "name": _str(d, "name", w)}


def _tiers(d: _Json) -> dict[str, Any]:
    pricing = _obj(d, "tiered_pricing", "data.")
    tiers = pricing.get("tiers")
    if not isinstance(tiers, list) or not all(isinstance(t, dict) for t in tiers):
        raise InvalidEvent("data.tiered_pricing.tiers must be an array of objects")
    return pricing


def _model_pricing(d: _Json, entity_id: str) -> dict[str, Any]:
    w = "data."
    provider_id, model = _str(d, "provider_id", w), _str(d, "model", w)
    if entity_id != f"{provider_id}:{model}":
        raise InvalidEvent("model_pricing id must be '<provider_id>:<model>'")
    return {"provider_id": provider_id, "model": model, "tiered_pricing": _tiers(d)}


def _global_pricing(d: _Json, entity_id: str) -> dict[str, Any]:
    model = _str(d, "model", "data.")
    if entity_id != model:
        raise InvalidEvent("global_model_pricing id must be the model name")
    return {"model": model, "tiered_pricing": _tiers(d)}


def _management_token(d: _Json, _id: str) -> dict[str, Any]:
    w = "data."
    digest = _str(d, "token_sha256", w)
    if len(digest) != 64 or any(ch not in "0123456789abcdefABCDEF" for ch in digest):
        raise InvalidEvent("data.token_sha256 must be 64 hex characters")
    ips = d.get("allowed_ips")
    if ips is not None and (not isinstance(ips, list) or not all(isinstance(ip, str) for ip in ips)):
        raise InvalidEvent("data.allowed_ips must be a list of strings or null")
    expires = _opt_ts(d, "expires_at", w)
    return {
        "token_sha256": digest.lower(),
        "user_id": _str(d, "user_id", w),
        "is_active": _bool(d, "is_active", w),
        "expires_at": expires.isoformat() if expires else None,
        "allowed_ips": ips,
    }


_ENTITY_DATA: dict[str, Callable[[_Json, str], dict[str, Any]]] = {
    "user": _user,
    "api_key": _api_key,
    "provider": _provider,
    "provider_endpoint": _endpoint,
    "provider_api_key": _provider_key,
    "model_pricing": _model_pricing,
    "global_model_pricing": _global_pricing,
    "management_token": _management_token,
}
