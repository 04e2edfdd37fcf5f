"""The records a gateway publishes (docs/contract.md §2.3 and §3.2) as typed structs, and their value checks.

Money is held as `Decimal` from the first byte; timestamps are timezone-aware. The encoder in `events.py`
writes both exactly: a `Decimal` as the JSON number text it is, a datetime as RFC 3339 with its offset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from usagestream import fields
from usagestream.fields import CandidateStatus, UsageStatus

ZERO = Decimal(0)
Money = Decimal | int | str | float

USAGE_STATUSES = tuple(status.value for status in UsageStatus)
TERMINAL_STATUSES = fields.TERMINAL_STATUSES
CANDIDATE_STATUSES = tuple(status.value for status in CandidateStatus)


class UsageRecord(msgspec.Struct, kw_only=True, frozen=True):
    """One request's whole record (docs/contract.md §2.3); every event carries all of it."""

    id: str
    request_id: str
    model: str
    created_at: datetime
    user_id: str | None = None
    api_key_id: str | None = None
    provider_name: str = "pending"
    provider_id: str | None = None
    provider_endpoint_id: str | None = None
    provider_api_key_id: str | None = None
    target_model: str | None = None
    api_format: str | None = None
    endpoint_api_format: str | None = None
    has_format_conversion: bool | None = None
    request_type: str | None = None
    is_stream: bool = False
    status: str = "pending"
    status_code: int | None = None
    error_message: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    total_tokens: int = 0
    input_cost_usd: Decimal = ZERO
    output_cost_usd: Decimal = ZERO
    cache_creation_cost_usd: Decimal = ZERO
    cache_read_cost_usd: Decimal = ZERO
    request_cost_usd: Decimal = ZERO
    total_cost_usd: Decimal = ZERO
    actual_input_cost_usd: Decimal = ZERO
    actual_output_cost_usd: Decimal = ZERO
    actual_cache_creation_cost_usd: Decimal = ZERO
    actual_cache_read_cost_usd: Decimal = ZERO
    actual_request_cost_usd: Decimal = ZERO
    actual_total_cost_usd: Decimal = ZERO
    rate_multiplier: Decimal | None = None
    input_price_per_1m: Decimal | None = None
    output_price_per_1m: Decimal | None = None
    cache_creation_price_per_1m: Decimal | None = None
    cache_read_price_per_1m: Decimal | None = None
    price_per_request: Decimal | None = None
    response_time_ms: int | None = None
    first_byte_time_ms: int | None = None
    finalized_at: datetime | None = None
    request_headers: dict[str, Any] | None = None
    provider_request_headers: dict[str, Any] | None = None
    response_headers: dict[str, Any] | None = None
    client_response_headers: dict[str, Any] | None = None
    request_body: Any = None
    response_body: Any = None
    request_metadata: dict[str, Any] | None = None


class CandidateRecord(msgspec.Struct, kw_only=True, frozen=True):
    """One provider attempt slot (docs/contract.md §3.2); every event carries all of it."""

    candidate_index: int
    retry_index: int = 0
    user_id: str | None = None
    api_key_id: str | None = None
    provider_id: str | None = None
    endpoint_id: str | None = None
    key_id: str | None = None
    status: str = "available"
    skip_reason: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    is_cached: bool = False
    status_code: int | None = None
    latency_ms: int | None = None
    extra_data: dict[str, Any] | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


COST_PARTS = ("input", "output", "cache_creation", "cache_read", "request")
LIST_COSTS = tuple(f"{part}_cost_usd" for part in COST_PARTS)
ACTUAL_COSTS = tuple(f"actual_{part}_cost_usd" for part in COST_PARTS)
MONEY_FIELDS = frozenset(fields.MONEY_FIELDS)
# How each field is checked: by its wire type (usagestream/fields.py; the candidate's are stated here).
USAGE_CHECKS = {f.name: f.wire for f in fields.USAGE_FIELDS}
CANDIDATE_CHECKS = {
    "candidate_index": "count",
    "retry_index": "count",
    "latency_ms": "count",
    "created_at": "stamp",
    "started_at": "stamp",
    "finished_at": "stamp",
}
Converter = Callable[[Any], Any]


def money(value: Money) -> Decimal:
    """An amount in USD as an exact, finite, non-negative Decimal.

    A float is read through its shortest repr (what `json.dumps` would write), so 0.1 stays 0.1; pass a
    Decimal or a str when the gateway has one.
    """
    if type(value) is Decimal and value.is_finite() and value > 0:
        return value  # the common case, kept fast: the load generator converts ~20 amounts per request
    if isinstance(value, bool):
        raise ValueError("money must be a number, not a boolean")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else value)
    except (InvalidOperation, TypeError):
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"money must be finite and >= 0, got {value!r}")
    return amount if amount else ZERO  # one spelling of zero, not 0E-7


def utc(value: datetime) -> datetime:
    """A timezone-aware datetime in UTC; a naive one is refused (the contract needs an offset)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamp without a timezone: {value!r}")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def count(name: str, value: int) -> int:
    """A token count or a duration in ms: an int >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return value


def _converter(name: str, wire: str | None, nullable: bool) -> Converter | None:
    """How a field's value is checked and brought to its wire form; None: kept as given."""
    if wire == "money":
        check: Converter = money
    elif wire == "stamp":
        check = utc
    elif wire == "count":
        return (lambda v: None if v is None else count(name, v)) if nullable else (lambda v: count(name, v))
    else:
        return None
    return (lambda v: None if v is None else check(v)) if nullable else check


def converters(
    struct: type[msgspec.Struct], checks: Mapping[str, str], statuses: tuple[str, ...]
) -> dict[str, Converter | None]:
    """Field name -> converter for every field of a record struct (`checks`: field name -> wire type;
    `statuses`: the allowed status values)."""
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    table = {f.name: _converter(f.name, checks.get(f.name), _nullable(f.type)) for f in info.fields}
    table["status"] = lambda v: _one_of(v, statuses)
    return table


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"status must be one of {allowed}, got {value!r}")
    return value


def _nullable(kind: msgspec.inspect.Type) -> bool:
    if isinstance(kind, msgspec.inspect.UnionType):
        return any(isinstance(t, msgspec.inspect.NoneType) for t in kind.types)
    return isinstance(kind, (msgspec.inspect.NoneType, msgspec.inspect.AnyType))


def check_declared(struct: type[msgspec.Struct], described: tuple[fields.Field, ...]) -> None:
    """RuntimeError unless the declared record struct has the described fields (in any order: required ones come
    first), each nullable exactly when described so. (UsageRecord is declared for the type checker and its
    defaults; usagestream/fields.py is the source.)"""
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    declared = {f.name: _nullable(f.type) for f in info.fields}
    wanted = {f.name: f.nullable or f.wire == "any" for f in described}
    if declared != wanted:
        raise RuntimeError(f"publisher {struct.__name__} must have usagestream/fields.py's fields and nullability")


check_declared(UsageRecord, fields.USAGE_FIELDS)
USAGE_CONVERTERS = converters(UsageRecord, USAGE_CHECKS, USAGE_STATUSES)
CANDIDATE_CONVERTERS = converters(CandidateRecord, CANDIDATE_CHECKS, CANDIDATE_STATUSES)
