"""Bounded slices of CPU work on the event loop: the same results, with the loop handed back between slices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from testsupport import ticks_during

from usagestream.http.jsonio import _encoder, encode_sliced
from usagestream.slices import SLICE, map_sliced


async def test_map_sliced_is_map_and_yields_between_slices() -> None:
    items = list(range(10_500))
    got, ticks = await ticks_during(map_sliced(lambda x: x * 3, items, 1000))
    assert got == [x * 3 for x in items]
    assert ticks >= 10  # 11 slices: the loop ran other tasks between each pair


async def test_a_long_list_is_encoded_in_slices() -> None:
    value = {"points": [{"x": i, "y": Decimal("1.10")} for i in range(5 * SLICE + 7)], "total": 1}
    got, ticks = await ticks_during(encode_sliced(value))
    assert got == _encoder.encode(value)
    assert ticks >= 5


leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(0, 10**9).map(lambda s: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=s)),
)
values = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(), inner, max_size=5),
        st.lists(inner, min_size=4, max_size=12),
    ),
    max_leaves=60,
)


@settings(max_examples=200, deadline=None)
@given(value=values)
async def test_sliced_encoding_is_byte_for_byte_the_same(value: Any) -> None:
    assert await encode_sliced(value, size=3) == _encoder.encode(value)  # small slices: many joins


async def test_a_small_answer_is_one_encode_call(monkeypatch: Any) -> None:
    """A page of records (objects holding objects) is encoded in one call, not member by member; a long list
    still in slices."""
    calls: list[int] = []
    real = _encoder.encode

    class Counting:
        def encode(self, v: Any) -> bytes:
            calls.append(1)
            return real(v)

    monkeypatch.setattr("usagestream.http.jsonio._encoder", Counting())
    record = {"id": "r", "api_key": {"id": "k", "name": None}, "request_metadata": {"a": [1, 2]}, "cost": Decimal(1)}
    page = {"records": [dict(record, id=str(i)) for i in range(20)], "total": 20, "limit": 20}
    assert await encode_sliced(page) == real(page)
    assert len(calls) == 1
    calls.clear()
    points = {"points": [{"x": i, "y": i} for i in range(5 * SLICE)], "total": 1}
    assert await encode_sliced(points) == real(points)
    assert len(calls) > 3
