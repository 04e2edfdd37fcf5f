"""The wire contract (docs/contract.md §1 to §5): Kafka bytes -> frozen event types, or InvalidEvent.

Money is decoded as the decimal it is written as (msgspec's float_hook=Decimal), never through a binary float.
A field whose table type says "or null" may also be absent (it is then null); every other field is required.
Where the contract is silent (bounds, lengths, U+0000, nesting), docs/contract-notes.md says what we decided;
docs/contract.schema.json states the same rules for gateway authors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, TypeVar, get_args, get_type_hints

import msgspec
from msgspec import Meta, Struct

from usagestream import fields as registry
from usagestream.errors import InvalidEvent
from usagestream.fields import ACTIVE_STATUSES as ACTIVE_STATUSES
from usagestream.fields import EXECUTED_STATUSES as EXECUTED_STATUSES
from usagestream.fields import MAX_ENTITY_ID as MAX_ENTITY_ID
from usagestream.fields import MAX_INT32 as MAX_INT32
from usagestream.fields import MAX_MONEY as MAX_MONEY
from usagestream.fields import MAX_MONEY_SCALE as MAX_MONEY_SCALE
from usagestream.fields import MAX_NAME as MAX_NAME
from usagestream.fields import MAX_SEQ as MAX_SEQ
from usagestream.fields import CandidateStatus, UsageStatus

# Re-exported: the statuses and bounds are defined with the record's fields (usagestream/fields.py).
USAGE_STATUSES = frozenset(UsageStatus)
CANDIDATE_STATUSES = frozenset(CandidateStatus)
EntityKind = Literal[
    "user",
    "api_key",
    "provider",
    "provider_endpoint",
    "provider_api_key",
    "model_pricing",
    "global_model_pricing",
    "management_token",
]
ENTITY_KINDS = frozenset(get_args(EntityKind))

MAX_MONEY_INT = 10**15
_SMALL = 1024
_SMALL_DECIMALS = tuple(Decimal(i) for i in range(_SMALL))  # integral costs are mostly 0: no new Decimal each
MIN_YEAR, MAX_YEAR = (
    2,
    9998,
)  # a day of slack on each side, so zone conversion and day arithmetic cannot overflow

# RFC 3339 date-time with a mandatory offset. Leap seconds (:60) are excluded: Python's datetime has none.
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_NAIVE = re.compile(TIMESTAMP_PATTERN.replace(r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$", "$"))
# The shape nearly every gateway writes (upper-case T and Z, offset hours 00-23): a match needs only
# fromisoformat's range checks to be exactly what the full pattern accepts (tests/unit/test_contract.py).
_PLAIN_STAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_STAMPS: dict[str, datetime] = {}  # recently parsed stamps (datetimes are immutable, so sharing one is safe)
_STAMP_CACHE_SIZE = 8192
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")
# Ids and the names that form keys (models, formats) hold no control character (Unicode category Cc): the
# `user_model` aggregate key joins a user id and a model with U+001F, and a user id holding U+001F could read
# another user's rows (docs/contract-notes.md "Control characters"); docs/contract.schema.json says the same.
CONTROL_PATTERN = r"[\u0000-\u001f\u007f-\u009f]"
_CONTROL = re.compile(CONTROL_PATTERN)
_NO_CONTROL = "must not contain a control character (U+0000 to U+001F, U+007F to U+009F)"
_ZERO = Decimal(0)


class _IdMark:
    """Marks a field of a wire shape as an id or a name that forms keys: _check_ids refuses control characters
    in it. (A msgspec `pattern` would say it too, but with one regex call per field instead of one scan.)"""


_ID = _IdMark()
_Name = Annotated[str, Meta(max_length=MAX_NAME)]  # a display name: shown, never part of a key
_Id = Annotated[str, Meta(max_length=MAX_NAME), _ID]
_Key = Annotated[str, Meta(min_length=1, max_length=MAX_NAME), _ID]
_EntityId = Annotated[str, Meta(min_length=1, max_length=MAX_ENTITY_ID), _ID]
_Count = Annotated[int, Meta(ge=0, le=MAX_INT32)]
_Int32 = Annotated[int, Meta(ge=-MAX_INT32 - 1, le=MAX_INT32)]
_Seq = Annotated[int, Meta(ge=1, le=MAX_SEQ)]
_Hex64 = Annotated[str, Meta(pattern="^[0-9a-fA-F]{64}$", max_length=64)]  # max_length: `$` allows a final newline
_Object = dict[str, Any]
_Money = Any  # checked by _money: msgspec would also accept a JSON string for Decimal, which we reject
_Stamp = Any  # checked by _stamp, for a clearer reason than a regex mismatch


@dataclass(frozen=True)  # no slots: _assemble fills __dict__ in one step (see there)
class UsageSnapshot:
    """One request's whole record after a change (docs/contract.md §2)."""

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


class UsageEvent(Struct, frozen=True):
    """A UsageEvent envelope: `usage` is the whole record as of `seq`.

    A frozen msgspec struct, not a frozen dataclass: its __init__ runs in C, where a frozen dataclass sets each
    field through object.__setattr__ (one envelope per message, on the worker's hot path)."""

    event_id: str
    usage_id: str
    seq: int
    emitted_at: datetime
    usage: UsageSnapshot


@dataclass(frozen=True)  # no slots: see _assemble
class CandidateSnapshot:
    """One provider attempt slot after a change (docs/contract.md §3)."""

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


class CandidateEvent(Struct, frozen=True):
    """A CandidateEvent envelope: `candidate` is the whole attempt slot as of `seq` (a frozen struct, as UsageEvent)."""

    event_id: str
    candidate_id: str
    usage_id: str
    request_id: str
    seq: int
    emitted_at: datetime
    candidate: CandidateSnapshot


@dataclass(frozen=True, slots=True)
class EntityEvent:
    """An entity upsert or deletion (docs/contract.md §4).

    A Kafka tombstone (null value) becomes `deleted=True` with `seq=None`: it deletes whatever seq is stored.
    `data` holds the entity's known fields only, validated; it is None for every deletion (`deleted: true` with
    any `data` object, empty, partial or null, or a tombstone): a deletion carries nothing to validate or keep.
    """

    entity: str
    id: str
    seq: int | None
    emitted_at: datetime | None
    deleted: bool
    data: Mapping[str, Any] | None


Event = UsageEvent | CandidateEvent | EntityEvent

# --- wire shapes: msgspec checks types, presence and bounds in C; money and timestamps are checked below ---


def _statuses(enum: type[StrEnum]) -> Any:
    """The Literal type of an enum's values: msgspec checks it in C and keeps the plain string."""
    return Literal[tuple(member.value for member in enum)]


# The msgspec type of each wire type of usagestream/fields.py (money, timestamps: see _Money and _Stamp).
_WIRE_TYPES: dict[str, Any] = {
    "key": _Key,
    "id": _Id,
    "name": _Name,
    "text": str,
    "bool": bool,
    "count": _Count,
    "int32": _Int32,
    "money": _Money,
    "stamp": _Stamp,
    "status": _statuses(UsageStatus),
    "object": _Object,
    "any": Any,
}
_CandidateStatus = _statuses(CandidateStatus)


def _wire_field(field: registry.Field) -> tuple[str, Any] | tuple[str, Any, None]:
    kind = _WIRE_TYPES[field.wire]
    if not field.nullable:
        return (field.name, kind)
    return (field.name, kind if kind is Any else kind | None, None)  # null or absent


# The usage record's wire shape, built once from the field registry (the same struct a class statement makes).
# The type checker cannot see a struct built at run time: to it the shape is Any (UsageSnapshot is its typed form).
if TYPE_CHECKING:
    _UsageWire: TypeAlias = Any
else:
    _UsageWire = msgspec.defstruct(
        "_UsageWire", [_wire_field(field) for field in registry.USAGE_FIELDS], kw_only=True, module=__name__
    )


class _UsageEnvelope(Struct):
    v: int
    kind: str
    event_id: _Id
    usage_id: _Key
    seq: _Seq
    emitted_at: _Stamp
    usage: _UsageWire


class _CandidateWire(Struct, kw_only=True):
    candidate_index: _Count
    retry_index: _Count
    user_id: _Id | None = None
    api_key_id: _Id | None = None
    provider_id: _Id | None = None
    endpoint_id: _Id | None = None
    key_id: _Id | None = None
    status: _CandidateStatus  # type: ignore[valid-type]  # a Literal built at run time
    skip_reason: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    is_cached: bool
    status_code: _Int32 | None = None
    latency_ms: _Count | None = None
    extra_data: _Object | None = None
    created_at: _Stamp
    started_at: _Stamp = None
    finished_at: _Stamp = None


class _CandidateEnvelope(Struct):
    v: int
    kind: str
    event_id: _Id
    candidate_id: _Key
    usage_id: _Key
    request_id: _Id
    seq: _Seq
    emitted_at: _Stamp
    candidate: _CandidateWire


class _EntityEnvelope(Struct):
    v: int
    kind: str
    entity: EntityKind
    id: _EntityId
    seq: _Seq
    emitted_at: _Stamp
    deleted: bool
    data: _Object | None = None


class _UserData(Struct, kw_only=True):
    username: _Name
    email: _Name | None = None
    role: Literal["admin", "user"]
    is_active: bool
    is_deleted: bool
    quota_usd: _Money = None
    used_usd: _Money


class _ApiKeyData(Struct, kw_only=True):
    user_id: _Id
    name: _Name | None = None
    display: _Name


class _ProviderData(Struct):
    name: _Name
    billing_type: _Name


class _EndpointData(Struct):
    provider_id: _Id
    api_format: _Id


class _ProviderKeyData(Struct):
    provider_id: _Id
    name: _Name


class _Tiers(Struct):
    tiers: list[_Object]


class _ModelPricingData(Struct):
    provider_id: _Id
    model: _Id
    tiered_pricing: _Object


class _GlobalPricingData(Struct):
    model: _Id
    tiered_pricing: _Object


class _TokenData(Struct, kw_only=True):
    token_sha256: _Hex64
    user_id: _Id
    is_active: bool
    expires_at: _Stamp = None
    allowed_ips: list[_Name] | None = None


def _marks(hint: Any) -> tuple[Any, ...]:
    """The Annotated metadata of a field's type hint, also inside `X | None`."""
    return tuple(m for h in (hint, *get_args(hint)) for m in getattr(h, "__metadata__", ()))


def _id_fields(shape: type[Struct]) -> tuple[str, ...]:
    hints = get_type_hints(shape, include_extras=True)
    return tuple(name for name in shape.__struct_fields__ if _ID in _marks(hints[name]))


_IDS: dict[type[Struct], tuple[tuple[str, ...], Callable[[Struct], Any]]] = {
    shape: (names, attrgetter(*names))
    for shape in (
        _UsageWire,
        _UsageEnvelope,
        _CandidateWire,
        _CandidateEnvelope,
        _ApiKeyData,
        _EndpointData,
        _ProviderKeyData,
        _ModelPricingData,
        _GlobalPricingData,
        _TokenData,
    )
    for names in [_id_fields(shape)]
}


def _may_hold_control(raw: bytes) -> bool:
    """False when no string of this JSON text can hold a control character, so _check_ids may be skipped.

    A decoded string gets one only from a raw byte below 0x20 (invalid JSON: the decoder refuses it), a raw
    DEL (0x7F), a raw U+0080 to U+009F (UTF-8 0xC2 0x80 to 0xC2 0x9F; the decoder refuses other spellings of
    it as invalid UTF-8), or an escape (a backslash). Three byte scans in C are far cheaper per message than
    str.isprintable over its ids, which looks every character up in the Unicode tables."""
    return b"\\" in raw or b"\x7f" in raw or b"\xc2" in raw


def _check_ids(wire: Struct, path: str) -> None:
    """InvalidEvent if an id field of `wire` (see _IdMark) holds a control character; one scan in the usual case."""
    entry = _IDS.get(type(wire))
    if entry is None:
        return  # a shape without ids (user or provider data: names only)
    names, values = entry
    found = values(wire)
    joined = "".join(filter(None, found)) if len(names) > 1 else found or ""
    if joined.isprintable() or _CONTROL.search(joined) is None:  # isprintable: a fast "no Cc" for most ids
        return
    bad = next(name for name in names if _CONTROL.search(getattr(wire, name) or ""))
    raise InvalidEvent(f"{_join(path, bad)} {_NO_CONTROL}")


_USAGE_MONEY = registry.MONEY
_USAGE_OPT_MONEY = registry.OPTIONAL_MONEY
_USAGE_MONEY_FIELDS = registry.MONEY_FIELDS

_W = TypeVar("_W")
_untyped = msgspec.json.Decoder(float_hook=Decimal)
_usage_decoder = msgspec.json.Decoder(_UsageEnvelope, float_hook=Decimal)
_candidate_decoder = msgspec.json.Decoder(_CandidateEnvelope, float_hook=Decimal)
_entity_decoder = msgspec.json.Decoder(_EntityEnvelope, float_hook=Decimal)

# --- decoding and reasons ---------------------------------------------------------------------------------


def decode_object(raw: bytes | None) -> dict[str, Any]:
    """Bytes -> a JSON object, with exact decimals; InvalidEvent for anything else."""
    if raw is None:
        raise InvalidEvent("value is null (a tombstone) on a topic that has none")
    try:
        value = _untyped.decode(_scrub(raw))
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidEvent("JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise InvalidEvent(f"not a JSON object, got {_kind(value)}")
    return value


def _scrub(raw: bytes) -> bytes:
    # PostgreSQL text and jsonb cannot hold U+0000; a prompt may contain it, and losing the whole usage record
    # (its cost) for that would be worse than storing U+FFFD in its place.
    if b"\\u0000" not in raw:
        return raw
    return _NUL_ESCAPE.sub(rb"\1\\ufffd", raw)


def _decode(decoder: msgspec.json.Decoder[_W], raw: bytes | None, kind: str) -> _W:
    if raw is None:
        raise InvalidEvent("value is null (a tombstone) on a topic that has none")
    try:
        wire = decoder.decode(_scrub(raw))
    except msgspec.ValidationError as exc:
        raise _explain(raw, kind, str(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidEvent("JSON nested too deeply") from None
    if wire.v != 1 or wire.kind != kind:  # type: ignore[attr-defined]
        raise _explain(raw, kind, "")
    return wire


def _explain(raw: bytes, kind: str, message: str) -> InvalidEvent:
    """The reason for a rejected message: the envelope's `v` and `kind` first, then msgspec's finding."""
    obj = decode_object(raw)  # raises the reason itself if the value is not a JSON object
    if "v" not in obj:
        return InvalidEvent("missing required field v")
    version = obj["v"]
    if type(version) is not int or version != 1:
        return InvalidEvent(f"unsupported contract version v={_short(version)} (this worker reads v=1)")
    if "kind" not in obj:
        return InvalidEvent("missing required field kind")
    found = obj["kind"]
    if found != kind:
        if not isinstance(found, str):
            return InvalidEvent(f"kind must be the string {kind!r}, got {_kind(found)}")
        return InvalidEvent(f"kind must be {kind!r} on this topic, got {found[:64]!r}")
    return InvalidEvent(_reason(message) if message else "message breaks the contract")


_MISSING = re.compile(r"Object missing required field `(?P<name>[^`]*)`(?: - at `\$\.?(?P<path>[^`]*)`)?$")
_AT = re.compile(r"^(?P<msg>.*) - at `\$\.?(?P<path>[^`]*)`$", re.DOTALL)


def _reason(message: str, prefix: str = "") -> str:
    """msgspec's 'Expected `int` >= 0 - at `$.usage.input_tokens`' -> 'usage.input_tokens: expected ...'."""
    missing = _MISSING.match(message)
    if missing:
        path = _join(prefix, missing["path"] or "")
        return f"missing required field {_join(path, missing['name'])}"
    at = _AT.match(message)
    if at:
        msg = at["msg"]
        return f"{_join(prefix, at['path'])}: {msg[:1].lower()}{msg[1:]}"
    return f"{prefix}: {message}" if prefix else message


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    if not path or path.startswith("["):
        return prefix + path
    return f"{prefix}.{path}"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 64 else text[:61] + "..."


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


def _key_text(key: bytes | None) -> str:
    if not key:
        raise InvalidEvent("message has no key")
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEvent("message key is not UTF-8") from None


# --- values msgspec cannot check for us -------------------------------------------------------------------


def _money(value: object, path: str, scale_floor: int, nullable: bool = False) -> Decimal | None:
    """A JSON number 0 <= x <= 10**15, as the exact Decimal written (`scale_floor`: see _scale_floor)."""
    kind = type(value)
    if kind is Decimal:
        if not _ZERO <= value <= MAX_MONEY:  # type: ignore[operator]
            raise InvalidEvent(f"{path} must be between 0 and 1e15, got {_short(value)}")
        exact: Decimal = value  # type: ignore[assignment]
        if exact.adjusted() < scale_floor and -int(exact.as_tuple().exponent) > MAX_MONEY_SCALE:
            raise InvalidEvent(f"{path} has more than {MAX_MONEY_SCALE} digits after the decimal point")
        return exact.copy_abs() if exact.is_signed() else exact  # -0.0 reads as 0
    if kind is int:
        if not 0 <= value <= MAX_MONEY:  # type: ignore[operator]
            raise InvalidEvent(f"{path} must be between 0 and 1e15, got {_short(value)}")
        return Decimal(value)  # type: ignore[arg-type]
    if value is None and nullable:
        return None
    expected = "a JSON number or null" if nullable else "a JSON number"
    raise InvalidEvent(f"{path} must be {expected}, got {_kind(value)}")


def _scale_floor(raw: bytes) -> int:
    # digits after the point = (coefficient digits - 1) - adjusted(), and a coefficient has at most len(raw)
    # digits: while adjusted() >= this floor the scale is within bounds, and the slow as_tuple() is skipped.
    return len(raw) - 1 - MAX_MONEY_SCALE


def _plain_stamp(value: str) -> datetime | None:
    """The hot path of _stamp (3 to 4 stamps per event): the common upper-case shape needs no more checks than
    fromisoformat's and the year range; remembered, since a request's snapshots share created_at. None: take
    the full path, which also words the reason of a refusal."""
    if _PLAIN_STAMP.fullmatch(value) is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        return None
    if len(_STAMPS) >= _STAMP_CACHE_SIZE:
        _STAMPS.clear()
    _STAMPS[value] = parsed
    return parsed


def _stamp(value: object, path: str, nullable: bool = False) -> datetime | None:
    """An RFC 3339 timestamp with an offset, as an aware datetime (digits past microseconds are dropped)."""
    if type(value) is str:
        known = _STAMPS.get(value) or _plain_stamp(value)
        if known is not None:
            return known
    if type(value) is not str:
        if value is None and nullable:
            return None
        expected = "an RFC 3339 timestamp string or null" if nullable else "an RFC 3339 timestamp string"
        raise InvalidEvent(f"{path} must be {expected}, got {_kind(value)}")
    if _TIMESTAMP.fullmatch(value) is None:  # fullmatch: Python's `$` would let a trailing newline through
        if _NAIVE.fullmatch(value) is not None:
            raise InvalidEvent(f"{path} has no UTC offset (add Z or +hh:mm): {value[:64]!r}")
        raise InvalidEvent(f"{path} is not an RFC 3339 timestamp with an offset: {value[:64]!r}")
    try:
        # Python 3.11 reads only the upper-case T and Z that RFC 3339 lets a writer put in lower case.
        parsed = datetime.fromisoformat(value if value[10] == "T" and value[-1] != "z" else value.upper())
    except ValueError as exc:
        raise InvalidEvent(f"{path} is not a valid date and time ({exc}): {value!r}") from None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise InvalidEvent(f"{path} must lie between the years {MIN_YEAR} and {MAX_YEAR}: {value!r}")
    return parsed


def _required_stamp(value: object, path: str) -> datetime:
    return _stamp(value, path)  # type: ignore[return-value]


# --- usage and candidates ---------------------------------------------------------------------------------


def _check_usage_money(values: dict[str, Any], floor: int) -> None:
    """Replace each money field of a usage snapshot by its exact Decimal, or raise the reason it is refused."""
    for name in _USAGE_MONEY_FIELDS:
        value = values[name]
        # The common cases inline (18 fields per event, on the hot path); _money decides everything else.
        kind = type(value)
        if kind is int:
            if 0 <= value <= MAX_MONEY_INT:
                values[name] = _SMALL_DECIMALS[value] if value < _SMALL else Decimal(value)
                continue
        elif kind is Decimal:
            # 0 <= value <= 1e15 for a finite Decimal (JSON has no NaN or infinity); -0 reads as 0.
            if floor <= value.adjusted() < 15 and (not value.is_signed() or not value):
                if value.is_signed():
                    values[name] = value.copy_abs()
                continue
        if value is not None or name not in _USAGE_OPT_MONEY:
            values[name] = _money(value, "usage." + name, floor, nullable=name in _USAGE_OPT_MONEY)


def parse_usage(key: bytes | None, raw: bytes | None) -> UsageEvent:
    """Parse one message of the usage topic (key: usage_id)."""
    env = _decode(_usage_decoder, raw, "usage")
    if _may_hold_control(raw):  # type: ignore[arg-type]  # _decode refused a tombstone
        _check_ids(env, "")
        _check_ids(env.usage, "usage")
    if _key_text(key) != env.usage_id:
        raise InvalidEvent("usage_id disagrees with the message key")
    wire = env.usage
    if wire.id != env.usage_id:
        raise InvalidEvent("usage.id disagrees with usage_id")
    floor = _scale_floor(raw)  # type: ignore[arg-type]
    values = msgspec.structs.asdict(wire)
    _check_usage_money(values, floor)
    values["created_at"] = _required_stamp(wire.created_at, "usage.created_at")
    values["finalized_at"] = _stamp(wire.finalized_at, "usage.finalized_at", nullable=True)
    return UsageEvent(
        event_id=env.event_id,
        usage_id=env.usage_id,
        seq=env.seq,
        emitted_at=_required_stamp(env.emitted_at, "emitted_at"),
        usage=_assemble(UsageSnapshot, values),
    )


def parse_candidate(key: bytes | None, raw: bytes | None) -> CandidateEvent:
    """Parse one message of the candidates topic (key: usage_id)."""
    env = _decode(_candidate_decoder, raw, "candidate")
    if _may_hold_control(raw):  # type: ignore[arg-type]  # _decode refused a tombstone
        _check_ids(env, "")
        _check_ids(env.candidate, "candidate")
    if _key_text(key) != env.usage_id:
        raise InvalidEvent("usage_id disagrees with the message key")
    values = msgspec.structs.asdict(env.candidate)
    values["created_at"] = _required_stamp(values["created_at"], "candidate.created_at")
    values["started_at"] = _stamp(values["started_at"], "candidate.started_at", nullable=True)
    values["finished_at"] = _stamp(values["finished_at"], "candidate.finished_at", nullable=True)
    return CandidateEvent(
        event_id=env.event_id,
        candidate_id=env.candidate_id,
        usage_id=env.usage_id,
        request_id=env.request_id,
        seq=env.seq,
        emitted_at=_required_stamp(env.emitted_at, "emitted_at"),
        candidate=_assemble(CandidateSnapshot, values),
    )


def _assemble(cls: type[_W], values: dict[str, Any]) -> _W:
    """An instance of a frozen snapshot class from exactly its fields, without running __init__.

    A frozen dataclass's __init__ sets each of its ~50 fields through object.__setattr__, a quarter of the
    parse time; filling the instance's __dict__ at once is ten times faster. The wire shapes have the same
    field names as the snapshot classes (checked at import), so nothing is missed.
    """
    instance = object.__new__(cls)
    instance.__dict__.update(values)
    return instance


for _snapshot, _wire in ((UsageSnapshot, _UsageWire), (CandidateSnapshot, _CandidateWire)):
    if [f.name for f in fields(_snapshot)] != list(_wire.__struct_fields__):
        raise RuntimeError(f"{_wire.__name__} and {_snapshot.__name__} must have the same fields, in order")


def check_declared(snapshot: type, described: tuple[registry.Field, ...]) -> None:
    """RuntimeError unless the declared snapshot class has the described fields, in order, each nullable exactly
    when described so. (The class is declared for the type checker; usagestream/fields.py is the source.)"""
    declared = fields(snapshot)
    if [d.name for d in declared] != [f.name for f in described]:
        raise RuntimeError(f"{snapshot.__name__} must have usagestream/fields.py's fields, in order")
    for attribute, field in zip(declared, described, strict=True):
        if field.wire != "any" and str(attribute.type).endswith(" | None") != field.nullable:
            raise RuntimeError(
                f"{snapshot.__name__}.{field.name} must be nullable exactly if usagestream/fields.py says so"
            )


check_declared(UsageSnapshot, registry.USAGE_FIELDS)

# --- entities ---------------------------------------------------------------------------------------------


def parse_entity(key: bytes | None, raw: bytes | None) -> EntityEvent:
    """Parse one message of the entities topic (key: `<entity>:<id>`); a null value is a tombstone."""
    key_text = _key_text(key)
    kind, sep, ident = key_text.partition(":")
    if not sep or kind not in ENTITY_KINDS or not ident or len(ident) > MAX_ENTITY_ID:
        raise InvalidEvent(f"entity key must be '<entity>:<id>' with a known entity, got {key_text[:128]!r}")
    if _CONTROL.search(ident):  # a tombstone's id is only in its key
        raise InvalidEvent(f"entity id in the message key {_NO_CONTROL}")
    if raw is None:
        return EntityEvent(entity=kind, id=ident, seq=None, emitted_at=None, deleted=True, data=None)
    env = _decode(_entity_decoder, raw, "entity")
    if env.entity != kind or env.id != ident:
        raise InvalidEvent(f"entity or id disagrees with the message key {key_text[:128]!r}")
    if env.deleted:  # a deletion removes the entity whatever `data` holds: neither validated nor kept
        data = None
    elif env.data is None:
        raise InvalidEvent("data must be an object unless deleted is true, got null")
    else:
        data = _ENTITY_DATA[env.entity](env.data, env.id, _scale_floor(raw))
    return EntityEvent(
        entity=env.entity,
        id=env.id,
        seq=env.seq,
        emitted_at=_required_stamp(env.emitted_at, "emitted_at"),
        deleted=env.deleted,
        data=data,
    )


def _convert(data: _Object, shape: type[_W]) -> _W:
    try:
        converted = msgspec.convert(data, shape)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(_reason(str(exc), "data")) from None
    _check_ids(converted, "data")  # type: ignore[arg-type]
    return converted


def _user(d: _Object, _id: str, floor: int) -> dict[str, Any]:
    u = _convert(d, _UserData)
    return {
        "username": u.username,
        "email": u.email,
        "role": u.role,
        "is_active": u.is_active,
        "is_deleted": u.is_deleted,
        "quota_usd": _money(u.quota_usd, "data.quota_usd", floor, nullable=True),
        "used_usd": _money(u.used_usd, "data.used_usd", floor),
    }


def _api_key(d: _Object, _id: str, _floor: int) -> dict[str, Any]:
    k = _convert(d, _ApiKeyData)
    return {"user_id": k.user_id, "name": k.name, "display": k.display}


def _provider(d: _Object, _id: str, _floor: int) -> dict[str, Any]:
    p = _convert(d, _ProviderData)
    return {"name": p.name, "billing_type": p.billing_type}


def _endpoint(d: _Object, _id: str, _floor: int) -> dict[str, Any]:
    e = _convert(d, _EndpointData)
    return {"provider_id": e.provider_id, "api_format": e.api_format}


def _provider_key(d: _Object, _id: str, _floor: int) -> dict[str, Any]:
    k = _convert(d, _ProviderKeyData)
    return {"provider_id": k.provider_id, "name": k.name}


def _tiers(pricing: _Object) -> _Object:
    try:
        msgspec.convert(pricing, _Tiers)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(_reason(str(exc), "data.tiered_pricing")) from None
    return pricing


def _model_pricing(d: _Object, entity_id: str, _floor: int) -> dict[str, Any]:
    p = _convert(d, _ModelPricingData)
    if entity_id != f"{p.provider_id}:{p.model}":
        raise InvalidEvent("model_pricing id must be '<data.provider_id>:<data.model>'")
    return {"provider_id": p.provider_id, "model": p.model, "tiered_pricing": _tiers(p.tiered_pricing)}


def _global_pricing(d: _Object, entity_id: str, _floor: int) -> dict[str, Any]:
    p = _convert(d, _GlobalPricingData)
    if entity_id != p.model:
        raise InvalidEvent("global_model_pricing id must equal data.model")
    return {"model": p.model, "tiered_pricing": _tiers(p.tiered_pricing)}


def _management_token(d: _Object, _id: str, _floor: int) -> dict[str, Any]:
    t = _convert(d, _TokenData)
    expires = _stamp(t.expires_at, "data.expires_at", nullable=True)
    return {
        "token_sha256": t.token_sha256.lower(),
        "user_id": t.user_id,
        "is_active": t.is_active,
        "expires_at": expires.isoformat() if expires else None,
        "allowed_ips": t.allowed_ips,
    }


_ENTITY_DATA: dict[str, Callable[[_Object, str, int], dict[str, Any]]] = {
    "user": _user,
    "api_key": _api_key,
    "provider": _provider,
    "provider_endpoint": _endpoint,
    "provider_api_key": _provider_key,
    "model_pricing": _model_pricing,
    "global_model_pricing": _global_pricing,
    "management_token": _management_token,
}
