"""Every query parameter's parsing, defaults, bounds and error (usagestream.http.params), without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from multidict import MultiDict

from usagestream.http import params
from usagestream.http.errors import ApiError

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def query(**values: str | list[str]) -> MultiDict[str]:
    out: MultiDict[str] = MultiDict()
    for key, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            out.add(key, item)
    return out


def fails(status: int, func: object, *args: object) -> ApiError:
    with pytest.raises(ApiError) as caught:
        func(*args)  # type: ignore[operator]
    assert caught.value.status == status
    return caught.value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-02-03T16:00:00Z", datetime(2026, 2, 3, 16, tzinfo=UTC)),
        ("2026-02-03T16:00:00+08:00", datetime(2026, 2, 3, 8, tzinfo=UTC)),
        ("2026-02-03T16:00:00.250000-01:30", datetime(2026, 2, 3, 17, 30, 0, 250000, tzinfo=UTC)),
        ("2026-02-03T16:00:00", datetime(2026, 2, 3, 16, tzinfo=UTC)),  # naive = UTC
        ("2026-02-03", datetime(2026, 2, 3, tzinfo=UTC)),
        (" 2026-02-03T16:00Z ", datetime(2026, 2, 3, 16, tzinfo=UTC)),
        ("0001-01-01T00:00:00+05:00", params.EARLIEST),  # would overflow: clamped
        ("0001-01-01T00:00:00Z", params.EARLIEST),
        ("9999-12-31T23:59:59-05:00", params.LATEST),
    ],
)
def test_datetimes(raw: str, expected: datetime) -> None:
    assert params.opt_datetime(query(start_date=raw), "start_date") == expected


@pytest.mark.parametrize("raw", ["", "yesterday", "2026-13-01", "2026-02-30T00:00:00Z", "1700000000", "\x00"])
def test_bad_datetimes(raw: str) -> None:
    error = fails(422, params.opt_datetime, query(end_date=raw), "end_date")
    assert error.kind == "validation_error" and "end_date" in error.message


def test_repeated_parameter_uses_last_value() -> None:
    assert params.integer(query(limit=["5", "7"]), "limit", 20, 1, 100) == 7


def test_admin_default_range() -> None:
    assert params.admin_range(query(), 30, NOW) == (NOW - timedelta(days=30), NOW)
    assert params.admin_range(query(), 0, NOW) == (None, None)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert params.admin_range(query(start_date="2026-01-01T00:00:00Z"), 30, NOW) == (start, None)
    assert params.admin_range(query(end_date="2026-01-01T00:00:00Z"), 30, NOW) == (None, start)
    assert params.date_range(query()) == (None, None)  # the user view has no implicit range


@pytest.mark.parametrize(
    ("name", "default", "lo", "hi"),
    [
        ("limit", 20, 1, 100),  # aggregation
        ("limit", 100, 1, 500),  # records
        ("limit", 100, 1, 200),  # user records
        ("offset", 0, 0, 2000),  # user records
        ("hours", 168, 1, 720),  # ttl / hit analysis
        ("hours", 24, 1, 720),  # interval timeline
        ("limit", 10000, 100, 50000),  # admin interval timeline
        ("limit", 5000, 100, 20000),  # user interval timeline
    ],
)
def test_integer_bounds(name: str, default: int, lo: int, hi: int) -> None:
    assert params.integer(query(), name, default, lo, hi) == default
    assert params.integer(query(**{name: str(lo)}), name, default, lo, hi) == lo
    assert params.integer(query(**{name: str(hi)}), name, default, lo, hi) == hi
    assert params.integer(query(**{name: f"+{hi}"}), name, default, lo, hi) == hi
    assert (
        "greater than or equal to"
        in fails(422, params.integer, query(**{name: str(lo - 1)}), name, default, lo, hi).message
    )
    assert (
        "less than or equal to"
        in fails(422, params.integer, query(**{name: str(hi + 1)}), name, default, lo, hi).message
    )


def test_records_offset_unbounded_above() -> None:
    assert params.integer(query(offset="999999999"), "offset", 0, 0) == 999999999
    fails(422, params.integer, query(offset="-1"), "offset", 0, 0)


@pytest.mark.parametrize("raw", ["", "1.5", "1e3", "ten", "0x10", "+-5", "١٢", "9" * 40, " ", "5 5", "\x00"])
def test_bad_integers(raw: str) -> None:
    error = fails(422, params.integer, query(limit=raw), "limit", 20, 1, 100)
    assert error.message == "Query parameter 'limit': Input should be a valid integer"


@pytest.mark.parametrize("raw", ["true", "True", "1", "yes", "on", "t", "Y"])
def test_true(raw: str) -> None:
    assert params.boolean(query(include_user_info=raw), "include_user_info", False) is True


@pytest.mark.parametrize("raw", ["false", "FALSE", "0", "no", "off", "f", "n"])
def test_false(raw: str) -> None:
    assert params.boolean(query(include_user_info=raw), "include_user_info", True) is False


@pytest.mark.parametrize("raw", ["", "2", "maybe", "truth"])
def test_bad_booleans(raw: str) -> None:
    fails(422, params.boolean, query(include_user_info=raw), "include_user_info", False)
    assert params.boolean(query(), "include_user_info", False) is False


def test_group_by() -> None:
    for value in ("model", "user", "provider", "api_format"):
        assert params.group_by(query(group_by=value)) == value
    error = fails(400, params.group_by, query(group_by="Model"))
    assert error.kind == "http_error"
    assert error.message == "Invalid group_by value: Model. Must be one of: model, user, provider, api_format"
    assert fails(422, params.group_by, query()).kind == "validation_error"
    fails(422, params.group_by, query(group_by="a\x00"))


def test_record_status() -> None:
    for value in params.RECORD_STATUSES:
        assert params.record_status(query(status=value)) == value
    assert params.record_status(query()) is None
    for bad in ("", "unknown", "COMPLETED", "cancel"):
        assert fails(422, params.record_status, query(status=bad)).kind == "validation_error"


def test_ids() -> None:
    assert params.ids(query()) is None
    assert params.ids(query(ids="")) == []
    assert params.ids(query(ids=" , ,")) == []
    assert params.ids(query(ids=" a, b ,a,,c ")) == ["a", "b", "c"]
    fails(422, params.ids, query(ids="a,\x00"))


def test_text() -> None:
    assert params.text(query(), "search") is None
    assert params.text(query(search=""), "search") == ""
    assert params.text(query(search=" gpt 4o "), "search") == " gpt 4o "
    fails(422, params.text, query(search="a\x00b"), "search")


def test_path_id() -> None:
    assert params.path_id({"usage_id": "abc"}, "usage_id") == "abc"
    assert params.path_id({"usage_id": "a\x00"}, "usage_id") is None
    assert params.path_id({}, "usage_id") is None
