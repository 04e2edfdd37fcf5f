"""materializer/write/pg_beside.py: the work runs while the statements are in flight, the statements keep their
order, and an error of either side is raised only once both have stopped (no statement left running in the
batch's transaction)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from usagestream.materializer.write.pg_beside import beside


class Statements:
    """Stands for one connection's statements: each takes two turns of the event loop (a round trip)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.log: list[str] = []
        self.running = False
        self.fail_at = fail_at

    async def run(self, n: int) -> None:
        for i in range(n):
            self.running = True
            self.log.append(f"start {i}")
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            self.running = False
            self.log.append(f"end {i}")
            if i == self.fail_at:
                raise RuntimeError("refused")


def work(statements: Statements, pieces: int, seen: list[bool], fail_at: int | None = None) -> Iterator[None]:
    for i in range(pieces):
        seen.append(statements.running)
        if i == fail_at:
            raise ValueError("fold failed")
        yield


async def test_the_work_runs_while_the_statements_are_in_flight() -> None:
    st, seen = Statements(), []
    await beside(st.run(3), work(st, 4, seen))
    assert seen[0] is True  # the first statement went out before the work took the thread
    assert st.log == ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]


async def test_a_failing_work_waits_for_the_statements_then_raises() -> None:
    st, seen = Statements(), []
    with pytest.raises(ValueError, match="fold failed"):
        await beside(st.run(3), work(st, 5, seen, fail_at=1))
    assert st.log[-1] == "end 2" and not st.running


async def test_a_failing_statement_is_raised_after_the_work() -> None:
    st, seen = Statements(fail_at=0), []
    with pytest.raises(RuntimeError, match="refused"):
        await beside(st.run(3), work(st, 6, seen))
    assert len(seen) == 6 and st.log == ["start 0", "end 0"]


async def test_both_failing_raise_the_work_s_error_and_retrieve_the_other() -> None:
    st, seen = Statements(fail_at=0), []
    with pytest.raises(ValueError, match="fold failed"):
        await beside(st.run(2), work(st, 6, seen, fail_at=4))
