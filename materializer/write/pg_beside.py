"""Client-side work done while one connection's statements run in PostgreSQL (on another core).

A batch's apply used to alternate: the worker folded the batch's contributions while PostgreSQL waited for the next
statement, then PostgreSQL upserted the records while the worker waited. The fold needs the stored rows (read
before) but no result of the record writes, so it runs while they execute: a task sends the statements in their
order, and the work hands the event loop back between its pieces, so that the task sends its next statement as
soon as the previous one returned (docs/design.md "Aggregate deltas").
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any

# Changed snapshots folded between two hand-backs of the event loop (a piece is well under a millisecond).
FOLD_CHUNK = 250


async def beside(statements: Coroutine[Any, Any, None], work: Iterator[None]) -> None:
    """Run `statements` and `work` together; return once both are done.

    `work` sends no statement (asyncpg runs one at a time per connection) and yields between pieces. If either
    fails, its error is raised once both have stopped, so the transaction is never left with a statement in
    flight."""
    task = asyncio.ensure_future(statements)
    try:
        await asyncio.sleep(0)  # the task sends its first statement before the work takes the thread
        for _ in work:
            await asyncio.sleep(0)
    except BaseException:
        await asyncio.gather(task, return_exceptions=True)
        raise
    await task
