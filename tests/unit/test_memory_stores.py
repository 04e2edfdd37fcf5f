"""The ports' contract (store_contract.py) run against the in-memory fakes (store_fakes.py); the same cases run
against PostgreSQL and Redis in tests/integration/test_store_contract.py."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest
from store_contract import AggRows, LiveContract, ViewsContract
from store_fakes import MemoryLive, MemoryViews

from usagestream.settings import Settings


class MemoryViewsHarness:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = MemoryViews(settings)

    async def aggregates(self) -> AggRows:
        return self.store.aggregates()

    async def attempts(self) -> AggRows:
        return self.store.attempts()

    async def stored_seqs(self) -> dict[str, int]:
        return {usage_id: seq for usage_id, (seq, _p, _rec) in self.store.records.items()}

    async def entities(self) -> dict[tuple[str, str], tuple[int, bool, Mapping[str, Any] | None]]:
        return dict(self.store.entities)

    async def dead_letters(self) -> dict[str, tuple[int, str]]:
        return dict(self.store.dead_letters)

    async def set_records_cutoff(self, when: datetime) -> None:
        self.store.records_cutoff = when


class MemoryLiveHarness:
    def __init__(self) -> None:
        self.store = MemoryLive()
        self._seen = 0

    async def items(self) -> dict[str, dict[str, Any]]:
        return dict(self.store.items)

    async def published(self) -> list[dict[str, Any]]:
        new = self.store.published[self._seen :]
        self._seen = len(self.store.published)
        return new

    async def wipe(self) -> None:
        self.store.wipe()


class TestMemoryViews(ViewsContract):
    @pytest.fixture
    def views(self) -> MemoryViewsHarness:
        return MemoryViewsHarness(Settings.from_env({}))


class TestMemoryViewsInAnotherZone(ViewsContract):
    """Day and month buckets follow the configured zone: the fake must bucket as the real views do."""

    @pytest.fixture
    def views(self) -> MemoryViewsHarness:
        return MemoryViewsHarness(Settings.from_env({"USAGESTREAM_TIMEZONE": "Asia/Shanghai"}))


class TestMemoryLive(LiveContract):
    @pytest.fixture
    def live(self) -> MemoryLiveHarness:
        return MemoryLiveHarness()
