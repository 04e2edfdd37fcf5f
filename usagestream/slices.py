"""Work over many items in bounded slices, handing the event loop back between slices.

One event loop serves every request of the API and its /health: formatting or encoding tens of thousands of
items in one go (an interval timeline, a page of records) would hold it for tens of milliseconds and stall
every other request meanwhile. A slice is small enough to take about a millisecond.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

SLICE = 1000  # items of a cheap shape (a timeline point) per slice; pass a smaller size for costlier ones


async def map_sliced(fn: Callable[[T], R], items: Sequence[T], size: int = SLICE) -> list[R]:
    """`[fn(x) for x in items]`, yielding to the event loop after every `size` items."""
    out: list[R] = []
    for i in range(0, len(items), size):
        if i:
            await asyncio.sleep(0)
        out.extend(map(fn, items[i : i + size]))
    return out
