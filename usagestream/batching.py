"""Batch logic of the worker, free of I/O: collapse a batch to the newest snapshot per id.

A batch of a few thousand events holds several snapshots of most requests (pending, streaming, completed) and
of their candidates; only the highest `seq` per id can change PostgreSQL, so the rest never reach it. The
aggregate deltas of the survivors are summed in memory by usagestream.stats.Deltas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def collapse(items: Iterable[T], ident: Callable[[T], str], seq: Callable[[T], int]) -> tuple[list[T], int]:
    """The item with the highest seq per id, in first-seen order of the ids, and how many items were dropped.

    On a tie of seq (a redelivered duplicate) the first one is kept: both carry the same snapshot.
    """
    best: dict[str, T] = {}
    best_seq: dict[str, int] = {}
    n = 0
    for item in items:
        n += 1
        key = ident(item)
        s = seq(item)
        cur = best_seq.get(key)
        if cur is None or s > cur:
            best[key] = item
            best_seq[key] = s
    return list(best.values()), n - len(best)
