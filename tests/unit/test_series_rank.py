"""The ranking kept beside a time series' chunks (usagestream/series_rank.py) orders the groups as the series'
statement does (`ORDER BY sum(n_all) DESC, key COLLATE "C"`, keys of no request left out, `LIMIT`), whatever parts
their counts come in; and the kept chunks stay within their byte budget (materializer/read/series_cache.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as hs

from usagestream.materializer.read.series_cache import Cache, Kept
from usagestream.series_rank import top

KEYS = hs.sampled_from(["", "a", "B", "b", "ab", "é", "z\x1fm", "日本", "\U0001f600"])
PARTS = hs.lists(hs.dictionaries(KEYS, hs.integers(0, 5)), max_size=6)


def _statement_order(parts: list[dict[str, int]], limit: int) -> tuple[str, ...]:
    """What PostgreSQL's ORDER BY does: sums, then the keys' UTF-8 bytes (C collation)."""
    total: dict[str, int] = {}
    for part in parts:
        for key, n in part.items():
            total[key] = total.get(key, 0) + n
    ranked = sorted((k for k, n in total.items() if n > 0), key=lambda k: (-total[k], k.encode()))
    return tuple(ranked[:limit])


@given(parts=PARTS, limit=hs.integers(1, 10))
def test_the_parts_rank_as_the_whole_range(parts: list[dict[str, int]], limit: int) -> None:
    assert top(parts, limit) == _statement_order(parts, limit)


def test_ties_go_bytewise_and_keys_of_no_request_are_left_out() -> None:
    assert top([{"b": 1, "a": 1}, {"B": 1, "z": 0}], 10) == ("B", "a", "b")
    assert top([{"b": 2, "a": 1, "B": 1}, {"a": 1}], 10) == ("a", "b", "B")
    assert top([{"b": 2, "a": 2}], 1) == ("a",)


def test_the_kept_chunks_stay_within_their_budget() -> None:
    cache = Cache(1000)
    for n in range(5):
        cache.put(n, Kept(n, (("k", (b"x" * 300,), True),), {"k": 1}))
    assert [n for n in range(5) if cache.get(n, n) is not None] == [3, 4]  # the least recently used went first
    assert cache.get(4, 5) is None  # another revision: not served
    cache.resize(500)
    assert [n for n in range(5) if cache.get(n, n) is not None] == [4]
    cache.resize(0)
    assert cache.get(4, 4) is None
