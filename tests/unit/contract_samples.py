"""Hypothesis strategies for valid wire events, and the docs/contract.md §5.1 mutations to refuse."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import strategies as st

from usagestream.contract import MAX_ENTITY_ID, MAX_INT32, MAX_NAME, MAX_SEQ

# Field specs: name -> type tag. Tags: key (non-empty id), id (an id or a name that forms keys: no control
# character), name (a display name), text (free text), count, int32, money, bool,
# stamp, object, any, or a tuple of allowed strings (an enum).
# *_NULLABLE lists the fields that may be null or absent.
USAGE_ENVELOPE = {
    "v": "v",
    "kind": "kind",
    "event_id": "id",
    "usage_id": "key",
    "seq": "seq",
    "emitted_at": "stamp",
    "usage": "object",
}
USAGE_RECORD: dict[str, Any] = {
    "id": "key",
    "request_id": "id",
    "user_id": "id",
    "api_key_id": "id",
    "provider_name": "name",
    "provider_id": "id",
    "provider_endpoint_id": "id",
    "provider_api_key_id": "id",
    "model": "id",
    "target_model": "id",
    "api_format": "id",
    "endpoint_api_format": "id",
    "has_format_conversion": "bool",
    "request_type": "id",
    "is_stream": "bool",
    "status": ("pending", "streaming", "completed", "failed", "cancelled"),
    "status_code": "int32",
    "error_message": "text",
    **dict.fromkeys(
        (
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "total_tokens",
            "response_time_ms",
            "first_byte_time_ms",
        ),
        "count",
    ),
    **dict.fromkeys(
        (
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
            "rate_multiplier",
            "input_price_per_1m",
            "output_price_per_1m",
            "cache_creation_price_per_1m",
            "cache_read_price_per_1m",
            "price_per_request",
        ),
        "money",
    ),
    "created_at": "stamp",
    "finalized_at": "stamp",
    **dict.fromkeys(
        (
            "request_headers",
            "provider_request_headers",
            "response_headers",
            "client_response_headers",
            "request_metadata",
        ),
        "object",
    ),
    "request_body": "any",
    "response_body": "any",
}
USAGE_NULLABLE = frozenset(
    {
        "user_id",
        "api_key_id",
        "provider_id",
        "provider_endpoint_id",
        "provider_api_key_id",
        "target_model",
        "api_format",
        "endpoint_api_format",
        "has_format_conversion",
        "request_type",
        "status_code",
        "error_message",
        "rate_multiplier",
        "input_price_per_1m",
        "output_price_per_1m",
        "cache_creation_price_per_1m",
        "cache_read_price_per_1m",
        "price_per_request",
        "response_time_ms",
        "first_byte_time_ms",
        "finalized_at",
        "request_headers",
        "provider_request_headers",
        "response_headers",
        "client_response_headers",
        "request_body",
        "response_body",
        "request_metadata",
    }
)
CANDIDATE_ENVELOPE = {
    "v": "v",
    "kind": "kind",
    "event_id": "id",
    "candidate_id": "key",
    "usage_id": "key",
    "request_id": "id",
    "seq": "seq",
    "emitted_at": "stamp",
    "candidate": "object",
}
CANDIDATE_RECORD: dict[str, Any] = {
    "candidate_index": "count",
    "retry_index": "count",
    "user_id": "id",
    "api_key_id": "id",
    "provider_id": "id",
    "endpoint_id": "id",
    "key_id": "id",
    "status": ("available", "skipped", "pending", "streaming", "success", "failed", "cancelled"),
    "skip_reason": "text",
    "error_type": "text",
    "error_message": "text",
    "is_cached": "bool",
    "status_code": "int32",
    "latency_ms": "count",
    "extra_data": "object",
    "created_at": "stamp",
    "started_at": "stamp",
    "finished_at": "stamp",
}
CANDIDATE_NULLABLE = frozenset(
    {
        "user_id",
        "api_key_id",
        "provider_id",
        "endpoint_id",
        "key_id",
        "skip_reason",
        "error_type",
        "error_message",
        "status_code",
        "latency_ms",
        "extra_data",
        "started_at",
        "finished_at",
    }
)
ENTITY_ENVELOPE = {
    "v": "v",
    "kind": "kind",
    "entity": "entity",
    "id": "entity_id",
    "seq": "seq",
    "emitted_at": "stamp",
    "deleted": "bool",
    "data": "object",
}
ENTITY_DATA: dict[str, dict[str, Any]] = {
    "user": {
        "username": "name",
        "email": "name",
        "role": ("admin", "user"),
        "is_active": "bool",
        "is_deleted": "bool",
        "quota_usd": "money",
        "used_usd": "money",
    },
    "api_key": {"user_id": "id", "name": "name", "display": "name"},
    "provider": {"name": "name", "billing_type": "name"},
    "provider_endpoint": {"provider_id": "id", "api_format": "id"},
    "provider_api_key": {"provider_id": "id", "name": "name"},
    "model_pricing": {"provider_id": "id", "model": "id", "tiered_pricing": "tiers"},
    "global_model_pricing": {"model": "id", "tiered_pricing": "tiers"},
    "management_token": {
        "token_sha256": "hex64",
        "user_id": "id",
        "is_active": "bool",
        "expires_at": "stamp",
        "allowed_ips": "ips",
    },
}
ENTITY_DATA_NULLABLE = frozenset({"email", "quota_usd", "name@api_key", "expires_at", "allowed_ips"})

_ENCODER = msgspec.json.Encoder(decimal_format="number")
# U+001F (the user_model key's separator), a line feed at the end (Python's `$` would let it through), DEL and a
# C1 control.
CONTROL_CHARACTERS = ("\x1f", "\n", "\x7f", "\x85")


def encode(value: object) -> bytes:
    """JSON with every Decimal written as the exact number it holds."""
    return _ENCODER.encode(value)


@dataclass
class Sample:
    """A valid event: its key, its JSON value, and the datetime each timestamp text stands for."""

    kind: str
    key: bytes
    event: dict[str, Any]
    stamps: dict[str, datetime] = field(default_factory=dict)

    @property
    def raw(self) -> bytes:
        return encode(self.event)

    @property
    def record_field(self) -> str:
        return {"usage": "usage", "candidate": "candidate", "entity": "data"}[self.kind]


def nullable(kind: str, entity: str, name: str) -> bool:
    if kind == "usage":
        return name in USAGE_NULLABLE
    if kind == "candidate":
        return name in CANDIDATE_NULLABLE
    return name in ENTITY_DATA_NULLABLE or f"{name}@{entity}" in ENTITY_DATA_NULLABLE


# --- values -----------------------------------------------------------------------------------------------

_chars = st.characters(
    exclude_categories=("Cs",), exclude_characters="\x00"
)  # U+0000 is replaced by U+FFFD on purpose (docs/contract-notes.md)
names = st.integers(0, 19).flatmap(  # one name in twenty is the longest allowed (in code points)
    lambda n: st.text(_chars, min_size=MAX_NAME, max_size=MAX_NAME) if n == 0 else st.text(_chars, max_size=24)
)
_id_chars = st.characters(exclude_categories=("Cs", "Cc"))  # no control character in ids (docs/contract-notes.md)
ids = st.integers(0, 19).flatmap(
    lambda n: st.text(_id_chars, min_size=MAX_NAME, max_size=MAX_NAME) if n == 0 else st.text(_id_chars, max_size=24)
)
keys = st.text(_id_chars, min_size=1, max_size=40)
counts = st.one_of(st.integers(0, 100_000), st.integers(0, MAX_INT32), st.just(MAX_INT32))
int32s = st.integers(-MAX_INT32 - 1, MAX_INT32)
seqs = st.one_of(st.integers(1, 1000), st.integers(1, MAX_SEQ), st.just(MAX_SEQ))


# Strategies are built once, at import: built inside a draw, hypothesis would revalidate them every time.
_special_money = st.sampled_from(
    ["0", "0.0", "0.1000000000000000055511151231257827", "1e-30", "999999999999999.999999", "3.75"]
)
_whole = st.one_of(st.just("0"), st.integers(1, 10**12).map(str))
_frac = st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=40).map(lambda s: "." + s))
_exp = st.one_of(
    st.just(""),
    st.builds(lambda e, n: f"{e}-{n}", st.sampled_from("eE"), st.integers(0, 30)),
    st.builds(lambda e, s, n: f"{e}{s}{n}", st.sampled_from("eE"), st.sampled_from(["", "+"]), st.integers(0, 2)),
)
_digits = st.text("0123456789", min_size=3, max_size=3)


@st.composite
def money_texts(draw: st.DrawFn) -> str:
    """A JSON number text 0 <= x < 1e15: integer part, optional fraction (<= 40 digits), optional exponent."""
    if draw(st.integers(0, 5)) == 0:
        return draw(_special_money)
    return draw(_whole) + draw(_frac) + draw(_exp)


money = money_texts().map(Decimal)


_datetimes = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31, 23, 59, 59, 999999))
_separators = st.sampled_from(["T", "T", "t"])


@st.composite
def stamps(draw: st.DrawFn) -> tuple[str, datetime]:
    """An RFC 3339 text with an offset, and the aware datetime it stands for (fraction truncated)."""
    dt = draw(_datetimes)
    digits = draw(st.integers(0, 9))
    micro = f"{dt.microsecond:06d}"
    if digits <= 6:
        frac, expected_micro = micro[:digits], int(micro[:digits].ljust(6, "0"))
    else:
        frac, expected_micro = micro + draw(_digits)[: digits - 6], dt.microsecond
    minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    if minutes == 0 and draw(st.booleans()):
        offset = draw(st.sampled_from(["Z", "z"]))
    else:
        sign = "-" if minutes < 0 or (minutes == 0 and draw(st.booleans())) else "+"
        offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    sep = draw(_separators)
    date = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"  # not %Y: glibc writes year 2 as "2"
    text = f"{date}{sep}{dt:%H:%M:%S}" + (f".{frac}" if frac else "") + offset
    expected = dt.replace(microsecond=expected_micro, tzinfo=timezone(timedelta(minutes=minutes)))
    return text, expected


# In free JSON a number written without a fraction or exponent is an int, as it must be: keep such texts out of
# the decimal leaves so the expected value is the one the parser gives.
_json_decimals = money.filter(lambda d: any(c in str(d) for c in ".eE"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _json_decimals | st.text(_chars, max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(_chars, max_size=8), inner, max_size=3),
    max_leaves=8,
)
objects = st.dictionaries(st.text(_chars, max_size=12), json_values, max_size=4)
extras = st.dictionaries(st.text(_chars, max_size=8).map(lambda s: "x_" + s), json_values, max_size=2)


def _value(draw: st.DrawFn, tag: Any, sample: Sample) -> object:
    if isinstance(tag, tuple):
        return draw(st.sampled_from(tag))
    if tag == "stamp":
        text, expected = draw(stamps())
        sample.stamps[text] = expected
        return text
    return draw(_STRATEGIES[tag])


_STRATEGIES = {
    "key": keys,
    "id": ids,
    "name": names,
    "text": st.text(_chars, max_size=300),
    "count": counts,
    "int32": int32s,
    "money": money,
    "bool": st.booleans(),
    "object": objects,
    "any": json_values,
    "tiers": st.builds(lambda t, x: {"tiers": t, **x}, st.lists(objects, max_size=3), extras),
    "hex64": st.text("0123456789abcdefABCDEF", min_size=64, max_size=64),
    "ips": st.lists(st.text(_chars, max_size=15), max_size=3),
}


_presence = st.sampled_from(["absent", "null", "value", "value"])


def _record(draw: st.DrawFn, spec: dict[str, Any], sample: Sample, entity: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, tag in spec.items():
        if nullable(sample.kind, entity, name):
            choice = draw(_presence)
            if choice == "absent":
                continue
            if choice == "null":
                out[name] = None
                continue
        out[name] = _value(draw, tag, sample)
    out.update(draw(extras))
    return out


@st.composite
def usage_samples(draw: st.DrawFn) -> Sample:
    sample = Sample("usage", b"", {})
    record = _record(draw, USAGE_RECORD, sample)
    sample.key = record["id"].encode()
    sample.event = {
        "v": 1,
        "kind": "usage",
        "event_id": draw(ids),
        "usage_id": record["id"],
        "seq": draw(seqs),
        "emitted_at": _value(draw, "stamp", sample),
        "usage": record,
        **draw(extras),
    }
    return sample


@st.composite
def candidate_samples(draw: st.DrawFn) -> Sample:
    sample = Sample("candidate", b"", {})
    usage_id = draw(keys)
    sample.key = usage_id.encode()
    sample.event = {
        "v": 1,
        "kind": "candidate",
        "event_id": draw(ids),
        "candidate_id": draw(keys),
        "usage_id": usage_id,
        "request_id": draw(ids),
        "seq": draw(seqs),
        "emitted_at": _value(draw, "stamp", sample),
        "candidate": _record(draw, CANDIDATE_RECORD, sample),
        **draw(extras),
    }
    return sample


@st.composite
def entity_samples(draw: st.DrawFn, deleted: bool | None = None) -> Sample:
    sample = Sample("entity", b"", {})
    entity = draw(st.sampled_from(sorted(ENTITY_DATA)))
    data = _record(draw, ENTITY_DATA[entity], sample, entity)
    if entity == "model_pricing":
        ident = f"{data['provider_id']}:{data['model']}"
    elif entity == "global_model_pricing":
        ident = data["model"]
    else:
        ident = draw(st.text(_id_chars, min_size=1, max_size=MAX_ENTITY_ID // 8))
    if not ident:  # a global_model_pricing model may be empty; the id may not
        data["model"] = ident = "m"
    is_deleted = draw(st.booleans()) if deleted is None else deleted
    event = {
        "v": 1,
        "kind": "entity",
        "entity": entity,
        "id": ident,
        "seq": draw(seqs),
        "emitted_at": _value(draw, "stamp", sample),
        "deleted": is_deleted,
        "data": data,
        **draw(extras),
    }
    if is_deleted:  # a deletion's data is ignored: absent, null, empty, partial or whole
        choice = draw(st.sampled_from(["absent", "null", "empty", "partial", "value"]))
        if choice == "absent":
            del event["data"]
        elif choice == "null":
            event["data"] = None
        elif choice == "empty":
            event["data"] = {}
        elif choice == "partial":
            event["data"] = {k: v for k, v in data.items() if draw(st.booleans())}
    sample.key = f"{entity}:{ident}".encode()
    sample.event = event
    return sample


any_samples = st.one_of(usage_samples(), candidate_samples(), entity_samples())

# --- mutations (docs/contract.md §5.1) --------------------------------------------------------------------


@dataclass
class Bad:
    """One invalid message: what changed (`field`, which the reason names); can a JSON Schema see it?"""

    mutation: str
    field: str
    key: bytes | None
    raw: bytes | None
    schema_can_tell: bool = True


def _specs(sample: Sample) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(envelope spec, record spec, entity) of a sample; the record sits under sample.record_field."""
    if sample.kind == "usage":
        return USAGE_ENVELOPE, USAGE_RECORD, ""
    if sample.kind == "candidate":
        return CANDIDATE_ENVELOPE, CANDIDATE_RECORD, ""
    entity = sample.event["entity"]
    return ENTITY_ENVELOPE, ENTITY_DATA[entity], entity


def _fields(sample: Sample) -> Iterator[tuple[str | None, str, Any, bool]]:
    """(parent, name, tag, nullable) for every field of the sample's envelope and record that is present."""
    envelope, record, entity = _specs(sample)
    for name, tag in envelope.items():
        if name in sample.event:
            yield None, name, tag, name == "data" and bool(sample.event.get("deleted"))
    body = sample.event.get(sample.record_field)
    if isinstance(body, dict) and not (sample.kind == "entity" and sample.event["deleted"]):
        for name, tag in record.items():
            if name in body:
                yield sample.record_field, name, tag, nullable(sample.kind, entity, name)


def _with(sample: Sample, parent: str | None, name: str, value: object, *, remove: bool = False) -> bytes:
    event = copy.deepcopy(sample.event)
    target = event if parent is None else event[parent]
    if remove:
        del target[name]
    else:
        target[name] = value
    return encode(event)


_WRONG_TYPES: dict[str, list[object]] = {
    # string for int, bool for number, number for string, array for object, and their kin
    "count": ["5", True, [1]],
    "int32": ["200", False],
    "seq": ["3", True],
    "v": ["1", True],
    "money": [True, "0.5", [Decimal("0.5")], {"usd": 1}],
    "key": [5, True, ["a"]],
    "name": [5, False, {"a": 1}],
    "id": [5, False, {"a": 1}],
    "entity_id": [5],
    "text": [5, ["x"]],
    "bool": [1, "true"],
    "stamp": [1700000000, True],
    "object": [[], "x", 1],
    "kind": [1, None],
    "entity": [1, None],
    "hex64": [5],
    "ips": ["10.0.0.1", {"a": 1}],
    "tiers": [[], "x"],
}


def mutations(sample: Sample) -> Iterator[Bad]:
    """Every mutation that docs/contract.md §5.1 names, applied to every field it applies to."""
    key, raw = sample.key, sample.raw
    yield Bad("invalid JSON: truncated", "JSON", key, raw[:-1])
    yield Bad("invalid JSON: trailing garbage", "JSON", key, raw + b" x")
    yield Bad("invalid JSON: not UTF-8", "JSON", key, b'{"v": 1, "kind": "\xff"}')
    for value in ([], [sample.event], "text", 1, None, True):
        yield Bad("not an object", "object", key, encode(value))
    for version in (0, 2, -1, 100, "1", True, None, 1.5):
        yield Bad("other v", "version", key, _with(sample, None, "v", version))
    yield Bad("other kind", "kind", key, _with(sample, None, "kind", "bogus"))
    for parent, name, tag, is_nullable in _fields(sample):
        yield from _field_mutations(sample, parent, name, tag, is_nullable)
    yield from _key_mutations(sample)


def _field_mutations(sample: Sample, parent: str | None, name: str, tag: Any, is_nullable: bool) -> Iterator[Bad]:
    key = sample.key
    if not is_nullable:
        yield Bad("required field removed", name, key, _with(sample, parent, name, None, remove=True))
        if tag not in ("any",):
            yield Bad("required field null", name, key, _with(sample, parent, name, None))
    for wrong in _WRONG_TYPES.get(tag, []):
        yield Bad(f"wrong type {type(wrong).__name__} for {tag}", name, key, _with(sample, parent, name, wrong))
    if tag in ("id", "key", "entity_id"):
        yield from _control_mutations(sample, parent, name)
    if tag == "count":
        yield Bad("negative count", name, key, _with(sample, parent, name, -1))
        yield Bad("negative count", name, key, _with(sample, parent, name, -(2**40)))
    if tag == "money":
        yield Bad("negative cost", name, key, _with(sample, parent, name, Decimal("-0.000001")))
        yield Bad("negative cost", name, key, _with(sample, parent, name, -3))
    if tag == "stamp":
        value = sample.event[name] if parent is None else sample.event[parent][name]
        if isinstance(value, str):
            naive = value[:19]
            yield Bad("timestamp without offset", name, key, _with(sample, parent, name, naive))
            yield Bad("timestamp without offset", name, key, _with(sample, parent, name, naive + ".5"))
            yield Bad("timestamp not RFC 3339", name, key, _with(sample, parent, name, value[:10]))
            yield Bad("timestamp not RFC 3339", name, key, _with(sample, parent, name, naive.replace("T", " ")))
    if parent is None and name == "seq":
        for seq in (0, -1, -(2**70)):
            yield Bad("seq < 1", "seq", key, _with(sample, None, "seq", seq))


def _control_mutations(sample: Sample, parent: str | None, name: str) -> Iterator[Bad]:
    value = sample.event[name] if parent is None else sample.event[parent][name]
    if not isinstance(value, str):
        return
    for control in CONTROL_CHARACTERS:
        mixed = value + control if control == "\n" else value[:1] + control + value[1:]
        yield Bad(f"control character {control!r} in an id", name, sample.key, _with(sample, parent, name, mixed))


def _key_mutations(sample: Sample) -> Iterator[Bad]:
    raw = sample.raw
    yield Bad("missing key", "key", None, raw, schema_can_tell=False)
    yield Bad("missing key", "key", b"", raw, schema_can_tell=False)
    if sample.kind in ("usage", "candidate"):
        other = sample.event["usage_id"] + "x"
        yield Bad("id disagrees with the key", "usage_id", other.encode(), raw, schema_can_tell=False)
    if sample.kind == "usage":
        bad = _with(sample, "usage", "id", sample.event["usage_id"] + "x")
        yield Bad("usage.id disagrees with usage_id", "usage.id", sample.key, bad, schema_can_tell=False)
    if sample.kind == "entity":
        entity, ident = sample.event["entity"], sample.event["id"]
        other_kind = "provider" if entity != "provider" else "user"
        yield Bad("id disagrees with the key", "key", f"{entity}:{ident}x".encode(), raw, schema_can_tell=False)
        yield Bad("entity disagrees with the key", "key", f"{other_kind}:{ident}".encode(), raw, False)
        yield Bad("key without id", "key", f"{entity}:".encode(), raw, schema_can_tell=False)
        yield Bad("key of unknown entity", "key", f"team:{ident}".encode(), raw, schema_can_tell=False)
        pricing = entity in ("model_pricing", "global_model_pricing") and not sample.event["deleted"]
        if pricing and isinstance(sample.event.get("data"), dict):
            event = copy.deepcopy(sample.event)
            event["id"] = ident + "x"
            rekeyed = f"{entity}:{ident}x".encode()
            yield Bad("pricing id disagrees with data", "id", rekeyed, encode(event), schema_can_tell=False)
