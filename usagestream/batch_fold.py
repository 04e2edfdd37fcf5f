"""A batch's newest snapshot per id and what those snapshots add to the aggregates, folded while the batch waits.

The worker gathers the next batch while the one before it is in the stores (streams/batch_consumer.py). What of
a batch's work does not depend on the stored rows can be done then, off the apply's path: the collapse to the
newest snapshot per usage id and per candidate id (as each fetch arrives), and the fold of each kept snapshot's
contribution as if its request were new (`fold_some`, when the gatherer has nothing else to do: the batch is
full, or no message came). A snapshot folded and then superseded by a later fetch is retracted when the newer one
is folded, so folding early costs CPU but never exactness. Once the apply has read the stored rows it only
retracts: a stored older state's contribution, and the snapshot's own where the store already has that seq or a
newer one (stale). Addition is exact (usagestream.stats.Deltas), so folding first and retracting after equals
folding (old, new) pairs digit for digit (tests/unit/test_batch_fold.py). docs/design.md, "Gathering".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from usagestream.contract import CandidateEvent, UsageEvent
from usagestream.stats import CandidateFacts, Deltas, UsageFacts

UsageItem = tuple[int, UsageEvent]  # (source partition, event)
CandidateItem = tuple[int, CandidateEvent]
Item = TypeVar("Item", UsageItem, CandidateItem)


@dataclass
class Dropped:
    """Snapshots a collapse dropped: copies of the kept seq (`same`), and older seqs (`older`)."""

    same: int = 0
    older: int = 0


@dataclass
class Newest(Generic[Item]):
    """The newest item per id, in first-seen order of the ids (the first one wins a tie of seq: a redelivered
    duplicate carries the same snapshot); which of them the fold holds, and the ids whose fold is behind."""

    items: dict[str, Item] = field(default_factory=dict)
    folded: dict[str, Item] = field(default_factory=dict)  # id -> the item whose contribution the deltas hold
    behind: dict[str, None] = field(default_factory=dict)  # ids whose newest item is not the folded one (ordered)

    def offer(self, ident: str, item: Item, dropped: Dropped | None = None) -> None:
        """Keep `item` if it is the first or a newer snapshot of `ident` (`dropped` counts the one that loses)."""
        cur = self.items.get(ident)
        if cur is None:
            self.items[ident] = item
            self.behind[ident] = None
            return
        seq, kept_seq = item[1].seq, cur[1].seq
        if dropped is not None:
            if seq == kept_seq:
                dropped.same += 1
            else:
                dropped.older += 1
        if seq > kept_seq:
            self.items[ident] = item  # the id keeps its place in the order
            self.behind[ident] = None


@dataclass
class Kept:
    """The newest usage and candidate snapshot per id of a batch, and `deltas`: what the folded ones add."""

    tz: ZoneInfo
    usage: Newest[UsageItem] = field(default_factory=Newest)
    candidates: Newest[CandidateItem] = field(default_factory=Newest)
    deltas: Deltas = field(init=False)

    def __post_init__(self) -> None:
        self.deltas = Deltas(self.tz)

    def add_usage(self, items: Iterable[UsageItem]) -> None:
        offer = self.usage.offer
        for item in items:
            offer(item[1].usage_id, item)

    def add_candidates(self, items: Iterable[CandidateItem]) -> None:
        offer = self.candidates.offer
        for item in items:
            offer(item[1].candidate_id, item)

    def absorb(self, later: Kept) -> tuple[Dropped, Dropped]:
        """Add a later fetch's snapshots (`later` is consumed and must have folded nothing), as if they had been
        added here; returns what this dropped of usage and of candidates (a snapshot counts as a copy when it
        has the seq kept at that moment, even if a later fetch supersedes that seq too)."""
        if later.usage.folded or later.candidates.folded:
            raise ValueError("a later part must be absorbed before any of it is folded")
        usage, candidates = Dropped(), Dropped()
        for usage_id, item in later.usage.items.items():
            self.usage.offer(usage_id, item, usage)
        for candidate_id, citem in later.candidates.items.items():
            self.candidates.offer(candidate_id, citem, candidates)
        return usage, candidates

    def fold_some(self, limit: int) -> bool:
        """Fold up to `limit` ids whose newest snapshot the deltas do not hold yet; True while some remain."""
        usage, candidates, deltas = self.usage, self.candidates, self.deltas
        n_usage = min(limit, len(usage.behind))
        for _ in range(n_usage):
            usage_id, _none = usage.behind.popitem()  # any order: the sums are exact
            item, was = usage.items[usage_id], usage.folded.get(usage_id)
            deltas.apply_usage(UsageFacts.of(was[1].usage) if was else None, UsageFacts.of(item[1].usage))
            usage.folded[usage_id] = item
        for _ in range(min(limit - n_usage, len(candidates.behind))):
            cid, _none = candidates.behind.popitem()
            citem, cwas = candidates.items[cid], candidates.folded.get(cid)
            old = CandidateFacts.of(cwas[1].candidate) if cwas else None
            deltas.apply_candidate(old, CandidateFacts.of(citem[1].candidate))
            candidates.folded[cid] = citem
        return bool(usage.behind or candidates.behind)

    def folded_deltas(self) -> Deltas:
        """The deltas once every newest snapshot is folded (what the stores' apply starts from)."""
        self.fold_some(len(self.usage.behind) + len(self.candidates.behind))
        return self.deltas


def fold(tz: ZoneInfo, usage: Iterable[UsageItem], candidates: Iterable[CandidateItem]) -> Kept:
    """The events kept newest per id, every one folded."""
    kept = Kept(tz)
    kept.add_usage(usage)
    kept.add_candidates(candidates)
    kept.folded_deltas()
    return kept
