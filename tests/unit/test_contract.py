"""Property tests of the contract parser: valid events round-trip exactly; section 5 mutations are refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Context, Decimal, Inexact, localcontext
from fractions import Fraction
from typing import Any

import pytest
from contract_samples import (
    CANDIDATE_RECORD,
    ENTITY_DATA,
    USAGE_RECORD,
    Sample,
    candidate_samples,
    encode,
    entity_samples,
    money_texts,
    mutations,
    usage_samples,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from usagestream.contract import (
    MAX_MONEY_SCALE,
    CandidateEvent,
    EntityEvent,
    UsageEvent,
    parse_candidate,
    parse_entity,
    parse_usage,
)
from usagestream.errors import InvalidEvent

PARSERS: dict[str, Callable[[bytes | None, bytes | None], Any]] = {
    "usage": parse_usage,
    "candidate": parse_candidate,
    "entity": parse_entity,
}
SAMPLES = {"usage": usage_samples(), "candidate": candidate_samples(), "entity": entity_samples()}
ROUND_TRIP = settings(max_examples=100, deadline=None)
MUTATING = settings(max_examples=15, deadline=None)


def _want(sample: Sample, tag: object, value: object) -> object:
    return sample.stamps[value] if tag == "stamp" and isinstance(value, str) else value


def _assert_record(sample: Sample, parsed: object, record: dict[str, Any], spec: dict[str, Any]) -> None:
    for name, tag in spec.items():
        got, want = getattr(parsed, name), _want(sample, tag, record.get(name))
        assert got == want, name
        assert type(got) is type(want), name
        if isinstance(want, Decimal):  # the very digits and exponent written, not just an equal value
            assert got.as_tuple() == want.as_tuple(), name


@ROUND_TRIP
@given(usage_samples())
def test_valid_usage_parses_and_round_trips(sample: Sample) -> None:
    event = parse_usage(sample.key, sample.raw)
    assert isinstance(event, UsageEvent)
    e = sample.event
    assert (event.event_id, event.usage_id, event.seq) == (e["event_id"], e["usage_id"], e["seq"])
    assert event.emitted_at == sample.stamps[e["emitted_at"]]
    assert event.emitted_at.utcoffset() == sample.stamps[e["emitted_at"]].utcoffset()
    _assert_record(sample, event.usage, e["usage"], USAGE_RECORD)


@ROUND_TRIP
@given(candidate_samples())
def test_valid_candidate_parses_and_round_trips(sample: Sample) -> None:
    event = parse_candidate(sample.key, sample.raw)
    assert isinstance(event, CandidateEvent)
    e = sample.event
    assert (event.event_id, event.candidate_id, event.usage_id, event.request_id, event.seq) == (
        e["event_id"],
        e["candidate_id"],
        e["usage_id"],
        e["request_id"],
        e["seq"],
    )
    assert event.emitted_at == sample.stamps[e["emitted_at"]]
    _assert_record(sample, event.candidate, e["candidate"], CANDIDATE_RECORD)


@ROUND_TRIP
@given(entity_samples())
def test_valid_entity_parses_and_round_trips(sample: Sample) -> None:
    event = parse_entity(sample.key, sample.raw)
    assert isinstance(event, EntityEvent)
    e = sample.event
    assert (event.entity, event.id, event.seq, event.deleted) == (
        e["entity"],
        e["id"],
        e["seq"],
        e["deleted"],
    )
    assert event.emitted_at == sample.stamps[e["emitted_at"]]
    data = e.get("data")
    if data is None or e["deleted"]:  # a deletion keeps no data
        assert event.data is None
        return
    assert event.data is not None
    for name, tag in ENTITY_DATA[e["entity"]].items():
        want = _want(sample, tag, data.get(name))
        if name == "token_sha256":
            want = str(want).lower()
        if name == "expires_at" and want is not None:
            want = want.isoformat()  # type: ignore[attr-defined]
        assert event.data[name] == want, name
    assert not any(name.startswith("x_") for name in event.data), "unknown fields are dropped"


@pytest.mark.parametrize("kind", ["usage", "candidate", "entity"])
def test_a_tombstone_is_a_deletion_only_on_the_entity_topic(kind: str) -> None:
    if kind == "entity":
        event = parse_entity(b"model_pricing:p1:claude", None)
        assert (event.entity, event.id, event.deleted, event.seq, event.data) == (
            "model_pricing",
            "p1:claude",
            True,
            None,
            None,
        )
    else:
        with pytest.raises(InvalidEvent, match="null"):
            PARSERS[kind](b"u1", None)


@pytest.mark.parametrize("kind", ["usage", "candidate", "entity"])
def test_every_section_5_mutation_is_rejected_with_a_reason(kind: str) -> None:
    @MUTATING
    @given(SAMPLES[kind])
    def check(sample: Sample) -> None:
        for bad in mutations(sample):
            with pytest.raises(InvalidEvent) as caught:
                PARSERS[kind](bad.key, bad.raw)
            reason = caught.value.reason
            assert reason and reason == str(caught.value), bad.mutation
            assert bad.field in reason, f"{bad.mutation}: {reason!r} does not name {bad.field!r}"

    check()


SECTION_5 = {
    "invalid JSON: truncated",
    "not an object",
    "other v",
    "required field removed",
    "wrong type str for count",
    "wrong type bool for money",
    "wrong type int for name",
    "wrong type list for object",
    "negative count",
    "negative cost",
    "timestamp without offset",
    "seq < 1",
    "id disagrees with the key",
    "missing key",
}


@settings(max_examples=20, deadline=None)
@given(usage_samples())
def test_the_mutations_cover_every_rule_of_section_5(sample: Sample) -> None:
    assert SECTION_5 <= {bad.mutation for bad in mutations(sample)}


@settings(max_examples=100, deadline=None)
@given(st.lists(money_texts(), min_size=12, max_size=12))
def test_money_sums_exactly_as_written(texts: list[str]) -> None:
    record = {name: Decimal(text) for name, text in zip(_MONEY_FIELDS, texts, strict=True)}
    raw = _usage_raw(record)
    for name, text in zip(_MONEY_FIELDS, texts, strict=True):  # write the texts verbatim, exponents and all
        raw = raw.replace(f'"{name}":{record[name]}'.encode(), f'"{name}":{text}'.encode(), 1)
    usage = parse_usage(b"u1", raw).usage
    parsed = [getattr(usage, name) for name in _MONEY_FIELDS]
    assert parsed == [Decimal(text) for text in texts]
    with localcontext(Context(prec=MAX_MONEY_SCALE + 20, traps=[Inexact])):
        assert sum(parsed, Decimal(0)) == sum((Decimal(text) for text in texts), Decimal(0))
    assert sum(map(Fraction, parsed)) == sum(Fraction(text) for text in texts)


_MONEY_FIELDS = [name for name, tag in USAGE_RECORD.items() if tag == "money"][:12]


def _usage_raw(overrides: dict[str, Any], **envelope: Any) -> bytes:
    usage: dict[str, Any] = {
        "id": "u1",
        "request_id": "r1",
        "provider_name": "anthropic",
        "model": "claude",
        "is_stream": False,
        "status": "completed",
        "input_tokens": 1,
        "output_tokens": 2,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "total_tokens": 3,
        "created_at": "2026-11-28T01:02:03.456Z",
        **{name: Decimal("0.1") for name in _MONEY_FIELDS},
    }
    usage.update(overrides)
    event = {
        "v": 1,
        "kind": "usage",
        "event_id": "e1",
        "usage_id": "u1",
        "seq": 1,
        "emitted_at": "2026-11-28T01:02:04Z",
        "usage": usage,
        **envelope,
    }
    return encode(event)


def test_one_tenth_plus_two_tenths_is_three_tenths() -> None:
    usage = parse_usage(b"u1", _usage_raw({"input_cost_usd": Decimal("0.1"), "output_cost_usd": Decimal("0.2")})).usage
    assert usage.input_cost_usd + usage.output_cost_usd == Decimal("0.3")


def _reject(raw: bytes, *words: str, key: bytes = b"u1") -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_usage(key, raw)
    for word in words:
        assert word in caught.value.reason


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"model": "m" * 256}, ("usage.model", "255")),
        ({"input_tokens": 2**31}, ("usage.input_tokens",)),
        ({"status_code": 2**31}, ("usage.status_code",)),
        ({"total_cost_usd": Decimal("1E+15") + 1}, ("usage.total_cost_usd", "1e15")),
        ({"total_cost_usd": Decimal(f"1E-{MAX_MONEY_SCALE + 1}")}, ("usage.total_cost_usd", "digits")),
        ({"created_at": "2026-11-28T23:59:60Z"}, ("usage.created_at",)),
        ({"created_at": "2026-02-30T01:02:03Z"}, ("usage.created_at",)),
        ({"created_at": "0001-12-31T23:00:00+01:00"}, ("usage.created_at", "years")),
        ({"created_at": "9999-01-01T00:00:00Z"}, ("usage.created_at", "years")),
        ({"created_at": "2026-11-28T01:02:03+0100"}, ("usage.created_at",)),
        ({"created_at": "2026-11-28T01:02:03Z\n"}, ("usage.created_at",)),
        ({"status": "done"}, ("usage.status",)),
        ({"id": ""}, ("usage.id",)),
    ],
)
def test_bounds_where_the_contract_is_silent(overrides: dict[str, Any], words: tuple[str, ...]) -> None:
    _reject(_usage_raw(overrides), *words)


def test_integers_must_be_written_as_integers() -> None:
    _reject(_usage_raw({}).replace(b'"v":1', b'"v":1.0'), "version")
    _reject(_usage_raw({}).replace(b'"input_tokens":1', b'"input_tokens":1.0'), "usage.input_tokens")


def test_nan_and_infinity_are_not_json() -> None:
    for word in (b"NaN", b"Infinity", b"-Infinity"):
        _reject(_usage_raw({}).replace(b'"total_cost_usd":0.1', b'"total_cost_usd":' + word), "JSON")


def test_negative_zero_money_is_zero() -> None:
    raw = _usage_raw({}).replace(b'"total_cost_usd":0.1', b'"total_cost_usd":-0.0')
    cost = parse_usage(b"u1", raw).usage.total_cost_usd
    assert cost == 0 and not cost.is_signed()


def test_lower_case_t_and_z_are_rfc_3339() -> None:
    usage = parse_usage(b"u1", _usage_raw({"created_at": "2026-11-28t01:02:03.5z"})).usage
    assert usage.created_at == datetime(2026, 11, 28, 1, 2, 3, 500000, tzinfo=UTC)


def test_nul_is_replaced_because_postgresql_cannot_store_it() -> None:
    raw = _usage_raw({"error_message": "a\x00b", "request_body": {"k\x00": ["\x00"]}, "model": "\\u0000"})
    assert b"\\u0000" in raw
    usage = parse_usage(b"u1", raw).usage
    assert usage.error_message == "a\ufffdb"
    assert usage.request_body == {"k\ufffd": ["\ufffd"]}
    assert usage.model == "\\u0000", "an escaped backslash followed by u0000 is text, not a NUL"


def test_deep_nesting_is_refused_not_crashing() -> None:
    raw = _usage_raw({}).replace(b'"input_tokens":1', b'"x_deep":' + b"[" * 5000 + b"]" * 5000 + b',"input_tokens":1')
    _reject(raw, "nested")


def test_unknown_fields_are_ignored_everywhere() -> None:
    raw = _usage_raw({"x_new": {"a": [1, 2.5]}, "user_id": None}, x_future=True, trace={"id": 1})
    assert parse_usage(b"u1", raw).usage.user_id is None


def test_json_must_be_utf8_and_one_object() -> None:
    _reject(b"\xef\xbb\xbf" + _usage_raw({}), "JSON")
    _reject(_usage_raw({}) + _usage_raw({}), "JSON")
    _reject(json.dumps([1]).encode(), "object")


def _entity(entity: str, ident: str, data: dict[str, Any] | None, deleted: bool, drop_data: bool = False) -> bytes:
    event: dict[str, Any] = {"v": 1, "kind": "entity", "entity": entity, "id": ident, "seq": 7}
    event.update(emitted_at="2026-11-28T01:02:03Z", deleted=deleted, data=data)
    if drop_data:
        del event["data"]
    return encode(event)


def test_entity_deletion_with_or_without_data() -> None:
    user = {
        "username": "ann",
        "role": "user",
        "is_active": True,
        "is_deleted": True,
        "used_usd": Decimal("1.5"),
    }
    assert parse_entity(b"user:1", _entity("user", "1", None, True, drop_data=True)).data is None
    assert parse_entity(b"user:1", _entity("user", "1", None, True)).deleted
    deleted = parse_entity(b"user:1", _entity("user", "1", user, True))
    assert deleted.deleted and deleted.data is None
    with pytest.raises(InvalidEvent, match="data"):
        parse_entity(b"user:1", _entity("user", "1", None, False))
    with pytest.raises(InvalidEvent, match="data.username"):
        parse_entity(b"user:1", _entity("user", "1", {}, False))  # an upsert still needs every field


PARTIAL_DATA: dict[str, list[dict[str, Any] | None]] = {
    "user": [{}, {"role": "root"}, {"username": "ann", "is_active": "no"}, None],
    "api_key": [{}, {"user_id": 5}, {"display": "sk-...1"}, None],
    "provider": [{}, {"name": ["x"]}, {"billing_type": "monthly"}, None],
    "management_token": [{}, {"token_sha256": "not hex"}, {"user_id": "u1", "is_active": False}, None],
    "model_pricing": [{}, {"provider_id": "other", "model": "m"}, None],
}


@pytest.mark.parametrize(("entity", "data"), [(k, d) for k, values in PARTIAL_DATA.items() for d in values], ids=repr)
def test_a_deletion_is_accepted_whatever_its_data_holds(entity: str, data: dict[str, Any] | None) -> None:
    ident = "p1:m" if entity == "model_pricing" else "x1"
    event = parse_entity(f"{entity}:{ident}".encode(), _entity(entity, ident, data, True))
    assert (event.entity, event.id, event.seq, event.deleted, event.data) == (entity, ident, 7, True, None)
    if data:  # the same data in an upsert is refused: only the deletion ignores it
        with pytest.raises(InvalidEvent, match="data"):
            parse_entity(f"{entity}:{ident}".encode(), _entity(entity, ident, data, False))
    with pytest.raises(InvalidEvent, match="data"):  # not an object: refused, deletion or not
        parse_entity(f"{entity}:{ident}".encode(), _entity(entity, ident, [], True))  # type: ignore[arg-type]


def test_entity_keys() -> None:
    provider = {"name": "Anthropic", "billing_type": "pay_as_you_go"}
    assert parse_entity(b"provider:p:1", _entity("provider", "p:1", provider, False)).id == "p:1"
    for key in (b"provider", b"provider:", b"team:p1", b":p1", None, b""):
        with pytest.raises(InvalidEvent, match="key"):
            parse_entity(key, _entity("provider", "p1", provider, False))
    with pytest.raises(InvalidEvent, match="data.token_sha256"):
        token = {"token_sha256": "ab" * 31 + "a\n", "user_id": "u", "is_active": True}
        parse_entity(b"management_token:t", _entity("management_token", "t", token, False))


_STAMP_ALPHABET = "0123456789-:T.Zz+ t"


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.timezones()).map(
            lambda d: d.isoformat()
        ),
        st.text(_STAMP_ALPHABET, min_size=18, max_size=34),
        st.from_regex(
            r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})\Z"
        ),
    )
)
def test_the_stamp_fast_path_accepts_exactly_what_the_full_rules_accept(text: str) -> None:
    """The cached / plain-shape path of _stamp must give the same datetime, or the same refusal, as the full
    pattern check it short-cuts (the full path is run on its own by clearing the cache and the fast regex)."""
    from usagestream import contract

    def full(value: str) -> datetime | str:
        saved = contract._PLAIN_STAMP
        contract._PLAIN_STAMP = _NEVER
        contract._STAMPS.clear()
        try:
            return contract._stamp(value, "x")  # type: ignore[return-value]
        except InvalidEvent as exc:
            return f"refused: {exc.reason}"
        finally:
            contract._PLAIN_STAMP = saved

    def fast(value: str) -> datetime | str:
        try:
            return contract._stamp(value, "x")  # type: ignore[return-value]
        except InvalidEvent as exc:
            return f"refused: {exc.reason}"

    expected = full(text)
    contract._STAMPS.clear()
    first, cached = fast(text), fast(text)  # the second call may be served by the cache
    assert first == expected and cached == expected
    if isinstance(expected, datetime):
        assert first.utcoffset() == expected.utcoffset()  # type: ignore[union-attr]


class _Never:
    @staticmethod
    def fullmatch(_value: str) -> None:
        return None


_NEVER = _Never()
