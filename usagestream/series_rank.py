"""The top groups of a time series from request counts per part of its range, ranked as its statement ranks them.

A series' groups are its keys by requests over the whole range, then by key bytewise (`ORDER BY sum(n_all) DESC,
key COLLATE "C"`), keys that count no request left out, the first `limit` kept (materializer/read/timeseries.py).
Requests add up over any exact cover of the range, so the same order follows from counts per part: the kept chunks'
counts (materializer/read/series_cache.py) and those of the parts read fresh (docs/read-model.md "Time series").
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping


def add(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """The requests of each key over all the parts."""
    total: dict[str, int] = {}
    for counts in parts:
        for key, n in counts.items():
            total[key] = total.get(key, 0) + n
    return total


def top(parts: Iterable[Mapping[str, int]], limit: int) -> tuple[str, ...]:
    """The first `limit` keys counting some request, by requests then key: PostgreSQL text is UTF-8 and `C`
    compares its bytes, whose order is the order of code points, which Python compares strings by."""
    total = add(parts)
    return tuple(heapq.nsmallest(limit, (k for k, n in total.items() if n > 0), key=lambda k: (-total[k], k)))
