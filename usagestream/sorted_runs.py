"""Exact order statistics over sorted runs of integers that are known by their fences until a slice is read: the
k-th value of their union, PostgreSQL's `percentile_cont` of it, and how many values lie at or above a threshold.

A run is a sorted sequence of `n` values stored elsewhere (materializer/pg_provider_days.py); its fence holds the
values at ranks 0, step, 2 step, ... A fence bounds how many of the run's values lie below any `v` within one step;
the planner picks, from the fences only, a value window that surely holds the wanted ranks of the union and the
slice of each run that may meet it; the slices are then read and merged (docs/reference-api.md §10.8). Pure.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from heapq import merge
from itertools import chain

Slice = tuple[int, int, int]  # (run index, first rank, end rank): the values of ranks [first, end) of a run


@dataclass(frozen=True, slots=True)
class Run:
    n: int  # values in the run
    step: int  # fence step (1: the fence is the run itself)
    fence: Sequence[int]  # the values of ranks 0, step, 2 step, ... (ceil(n / step) of them)

    def below(self, v: float) -> tuple[int, int]:
        """Bounds (inclusive) of the number of the run's values < v."""
        j = bisect_left(self.fence, v)  # type: ignore[arg-type]
        lo = 0 if j == 0 else (j - 1) * self.step + 1
        hi = self.n if j == len(self.fence) else j * self.step
        return lo, hi


@dataclass(frozen=True, slots=True)
class Window:
    """Where ranks `ranks` of the union lie: in the merged `slices`, after `before` values below all of them."""

    ranks: tuple[int, ...]
    slices: tuple[Slice, ...]
    before: int


def window(runs: Sequence[Run], ranks: tuple[int, ...]) -> Window:
    """The slices that hold the union's values of `ranks` (0-based, ascending, < the union's size)."""
    first, last = ranks[0], ranks[-1]
    cands = sorted(set(chain.from_iterable(r.fence for r in runs)))
    # v_lo: the largest candidate with at most `first` values below it for sure (then rank `first` is >= v_lo);
    # v_hi: the smallest with more than `last` below it for sure (then rank `last` is < v_hi).
    lo_i = _last_true(len(cands), lambda i: sum(r.below(cands[i])[1] for r in runs) <= first)
    hi_i = _first_true(len(cands), lambda i: sum(r.below(cands[i])[0] for r in runs) > last)
    starts = [r.below(cands[lo_i])[0] if lo_i >= 0 else 0 for r in runs]
    ends = [r.below(cands[hi_i])[1] if hi_i < len(cands) else r.n for r in runs]
    slices = tuple((i, s, e) for i, (s, e) in enumerate(zip(starts, ends, strict=True)) if e > s)
    return Window(ranks, slices, sum(starts))


def _last_true(n: int, pred: object) -> int:
    """The largest i in [0, n) with pred(i) (pred true then false), or -1."""
    lo, hi = 0, n  # pred true below lo, false from hi
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):  # type: ignore[operator]
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


def _first_true(n: int, pred: object) -> int:
    """The smallest i in [0, n) with pred(i) (pred false then true), or n."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):  # type: ignore[operator]
            hi = mid
        else:
            lo = mid + 1
    return lo


def values_at(w: Window, read: dict[Slice, Sequence[int]]) -> list[int]:
    """The union's values of `w.ranks`, given the values of each of `w.slices`."""
    merged = list(merge(*(read[s] for s in w.slices)))
    return [merged[k - w.before] for k in w.ranks]


def cont_ranks(fraction: float, n: int) -> tuple[int, ...]:
    """The 0-based ranks `percentile_cont(fraction)` reads among `n` values (n > 0)."""
    pos = fraction * (n - 1)
    first, second = math.floor(pos), math.ceil(pos)
    return (first,) if second == first else (first, second)


def cont(fraction: float, n: int, values: Sequence[int]) -> float:
    """PostgreSQL's percentile_cont (orderedsetaggs.c): the value of rank floor(f (n - 1)), interpolated towards
    the next one by the fraction's remainder, in float8 and in PostgreSQL's order of operations."""
    pos = fraction * (n - 1)
    lo = float(values[0])
    if len(values) == 1:
        return lo
    return lo + (pos - math.floor(pos)) * (float(values[1]) - lo)


def at_least(run: Run, threshold: int) -> tuple[int, Slice | None]:
    """How many values of the run are >= threshold: (exact count, None), or (count of the values of ranks from
    the slice's end on, the slice to read) when the fence leaves it open."""
    lo, hi = run.below(threshold)
    return (run.n - lo, None) if lo == hi else (run.n - hi, (0, lo, hi))


def unpack(raw: bytes) -> array[int]:
    """Big-endian int4 values (PostgreSQL's int4send) as an array."""
    out = array("i")
    out.frombytes(raw)
    if out.itemsize != 4:  # pragma: no cover - every platform we run on has a 4-byte C int
        raise ValueError("array('i') is not 4 bytes wide here")
    if array("i", [1]).tobytes()[0] == 1:  # a little-endian machine: swap to native order
        out.byteswap()
    return out
