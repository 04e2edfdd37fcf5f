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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain

Slice = tuple[int, int, int]  # (run index, first rank, end rank): the values of ranks [first, end) of a run


@dataclass(frozen=True, slots=True)
class Run:
    n: int  # values in the run
    step: int  # fence step (1: the fence is the run itself)
    fence: Sequence[int]  # the values of ranks 0, step, 2 step, ... (ceil(n / step) of them)
    ceiling: int | None = None  # a value known to be >= every value of the run, if any

    @property
    def gap(self) -> int:
        """How many values the fence leaves open above its last value (0 when the ceiling is unknown)."""
        return 0 if self.ceiling is None else self.n - (len(self.fence) - 1) * self.step - 1

    def below(self, v: int) -> tuple[int, int]:
        """Bounds (inclusive) of the number of the run's values < v."""
        if self.ceiling is not None and v > self.ceiling:
            return self.n, self.n
        j = bisect_left(self.fence, v)
        lo = 0 if j == 0 else (j - 1) * self.step + 1
        hi = self.n if j == len(self.fence) else j * self.step
        return lo, hi


@dataclass(frozen=True, slots=True)
class Window:
    """Where ranks `ranks` of the union lie: in the merged `slices`, after `before` values below all of them."""

    ranks: tuple[int, ...]
    slices: tuple[Slice, ...]
    before: int


class _Bounds:
    """Bounds of how many values of the union of runs lie below v, in a few bisections: runs of one fence step s
    add s values below v per fence value below v, less what their last fence overstates (the run's end) for the
    upper bound, and less s - 1 per run whose first value is below v for the lower bound."""

    def __init__(self, runs: Sequence[Run]) -> None:
        self.groups = []
        for step in sorted({r.step for r in runs if r.n}):
            of = [r for r in runs if r.n and r.step == step]
            values = sorted(chain.from_iterable(r.fence for r in of))
            firsts = sorted(r.fence[0] for r in of)
            lasts = sorted((r.fence[-1], len(r.fence) * step - r.n) for r in of)
            over = [0, *accumulate(x for _v, x in lasts)]
            tops = sorted((r.ceiling, r.gap) for r in of if r.ceiling is not None)
            gaps = [0, *accumulate(x for _v, x in tops)]
            self.groups.append((step, values, firsts, [v for v, _x in lasts], over, [v for v, _x in tops], gaps))

    def most(self, v: int) -> int:
        total = 0
        for step, values, _firsts, lasts, over, _tops, _gaps in self.groups:  # a loop: called a few hundred times
            total += step * bisect_left(values, v) - over[bisect_left(lasts, v)]
        return total

    def least(self, v: int) -> int:
        """Runs whose ceiling is below v have all their values below it: their open gap counts too."""
        total = 0
        for step, values, firsts, _lasts, _over, tops, gaps in self.groups:
            total += step * bisect_left(values, v) - (step - 1) * bisect_left(firsts, v) + gaps[bisect_left(tops, v)]
        return total


def windows(runs: Sequence[Run], wanted: Sequence[tuple[int, ...]]) -> list[Window]:
    """Per tuple of `wanted` (0-based ranks, ascending, < the union's size): the slices that hold those values."""
    bounds = _Bounds(runs)
    groups = [g[1] for g in bounds.groups]  # sorted fence values: the candidates (repeats do no harm)
    cands = groups[0] if len(groups) == 1 else sorted(chain.from_iterable(groups))
    out = []
    for ranks in wanted:
        # v_lo: the largest candidate with at most `first` values below it for sure (then rank `first` is >=
        # v_lo); v_hi: the smallest with more than `last` below it for sure (then rank `last` is < v_hi).
        first, last = ranks[0], ranks[-1]
        lo_i = _last_true(len(cands), lambda i: bounds.most(cands[i]) <= first)  # noqa: B023 (called right here)
        hi_i = _first_true(len(cands), lambda i: bounds.least(cands[i]) > last)  # noqa: B023
        starts = [r.below(cands[lo_i])[0] if lo_i >= 0 else 0 for r in runs]
        ends = [r.below(cands[hi_i])[1] if hi_i < len(cands) else r.n for r in runs]
        slices = tuple((i, s, e) for i, (s, e) in enumerate(zip(starts, ends, strict=True)) if e > s)
        out.append(Window(tuple(ranks), slices, sum(starts)))
    return out


def _last_true(n: int, pred: Callable[[int], bool]) -> int:
    """The largest i in [0, n) with pred(i) (pred true then false), or -1."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


def _first_true(n: int, pred: Callable[[int], bool]) -> int:
    """The smallest i in [0, n) with pred(i) (pred false then true), or n."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def narrowed(runs: Sequence[Run], wanted: Sequence[tuple[int, ...]], coarse: int) -> list[Window]:
    """`windows`, in two passes: first through every value of rank a multiple of `coarse` (or so) of each run, then,
    per tuple of ranks, through the whole fences of the band of each run that the first pass leaves. The same
    values are found; the planner handles the few fence values near the wanted ranks instead of all of them."""
    out = []
    for ranks, w in zip(wanted, windows([_coarse(r, coarse) for r in runs], wanted), strict=True):
        bands = [(i, _aligned(runs[i], s), e) for i, s, e in w.slices]
        base = w.before - sum(s - a for (_i, s, _e), (_j, a, _f) in zip(w.slices, bands, strict=True))
        subs = [_band(runs[i], a, e) for i, a, e in bands]
        (fine,) = windows(subs, [tuple(k - base for k in ranks)])
        slices = tuple((bands[j][0], bands[j][1] + s, bands[j][1] + e) for j, s, e in fine.slices)
        out.append(Window(tuple(ranks), slices, base + fine.before))
    return out


def _coarse(run: Run, coarse: int) -> Run:
    """The run seen through every k-th fence value (a fence of step k * step: the same values, coarser bounds)."""
    k = max(1, coarse // run.step)
    return run if k == 1 else Run(run.n, run.step * k, run.fence[::k], run.ceiling)


def _aligned(run: Run, first: int) -> int:
    """The fence rank at or below `first`: where a band that holds rank `first` may begin with a fence value."""
    return first // run.step * run.step


def _band(run: Run, first: int, end: int) -> Run:
    """Ranks [first, end) of the run as a run of its own (`first` a fence rank; `end` one too, or the run's end):
    its fence is the run's fence over those ranks, its ceiling the value of rank `end`."""
    j, k = first // run.step, -(-end // run.step)
    return Run(end - first, run.step, run.fence[j:k], run.fence[k] if k < len(run.fence) else run.ceiling)


def values_at(w: Window, read: dict[Slice, Sequence[int]]) -> list[int]:
    """The union's values of `w.ranks`, given the values of each of `w.slices`."""
    merged = sorted(chain.from_iterable(read[s] for s in w.slices))  # Timsort merges the sorted runs in C
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
