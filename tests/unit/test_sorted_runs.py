"""usagestream/sorted_runs.py: the ranks of a union of sorted runs read through fences and slices are the ranks of
the sorted union, percentile_cont is PostgreSQL's (checked against PostgreSQL in
tests/integration/test_pg_provider_days.py), the slow count is a plain count, and packed int4 round-trips."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as hs

from usagestream.sorted_runs import Run, at_least, cont, cont_ranks, narrowed, unpack, values_at, windows

RUNS = hs.lists(hs.lists(hs.integers(0, 60), max_size=90).map(sorted), min_size=1, max_size=8)


def _run(values: list[int], step: int) -> Run:
    return Run(len(values), step, values[::step])


@given(runs=RUNS, step=hs.integers(1, 9), fraction=hs.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]))
def test_the_ranks_read_through_fences_are_the_ranks_of_the_sorted_union(
    runs: list[list[int]], step: int, fraction: float
) -> None:
    union = sorted(v for r in runs for v in r)
    if not union:
        return
    ranks = cont_ranks(fraction, len(union))
    (w,) = windows([_run(r, step) for r in runs], [ranks])
    read = {s: runs[s[0]][s[1] : s[2]] for s in w.slices}
    assert values_at(w, read) == [union[k] for k in ranks]
    assert sum(s[2] - s[1] for s in w.slices) <= len(union)


@given(runs=RUNS, step=hs.integers(1, 4), k=hs.integers(1, 6), ceiling=hs.booleans())
def test_the_two_pass_planner_finds_the_ranks_of_the_sorted_union(
    runs: list[list[int]], step: int, k: int, ceiling: bool
) -> None:
    """Its first pass sees every (k step)-th value, its second the fences of the band left: the same values."""
    union = sorted(v for r in runs for v in r)
    if not union:
        return
    fenced = [Run(len(r), step, r[::step], max(r, default=0) if ceiling else None) for r in runs]
    wanted = [cont_ranks(f, len(union)) for f in (0.0, 0.5, 0.9, 0.99, 1.0)]
    for ranks, w in zip(wanted, narrowed(fenced, wanted, step * k), strict=True):
        read = {s: runs[s[0]][s[1] : s[2]] for s in w.slices}
        assert values_at(w, read) == [union[r] for r in ranks]
        assert all(0 <= s[1] < s[2] <= len(runs[s[0]]) for s in w.slices)


@given(values=hs.lists(hs.integers(0, 60), max_size=90).map(sorted), step=hs.integers(1, 9), t=hs.integers(-1, 61))
def test_the_count_at_or_above_a_threshold_is_exact(values: list[int], step: int, t: int) -> None:
    count, open_slice = at_least(_run(values, step), t)
    if open_slice is not None:
        count += sum(1 for v in values[open_slice[1] : open_slice[2]] if v >= t)
    assert count == sum(1 for v in values if v >= t)


def test_percentile_cont_interpolates_between_the_two_ranks() -> None:
    assert cont_ranks(0.9, 11) == (9,) and cont(0.9, 11, [90]) == 90.0
    assert cont_ranks(0.99, 3) == (1, 2)
    assert cont(0.5, 4, [10, 20]) == 15.0


@given(values=hs.lists(hs.integers(-(2**31), 2**31 - 1), max_size=50))
def test_packed_big_endian_int4_round_trips(values: list[int]) -> None:
    assert list(unpack(b"".join(struct.pack(">i", v) for v in values))) == values
