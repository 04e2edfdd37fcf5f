"""The pool's TLS choice: off only where it protects nothing (loopback, Unix socket) and the DSN is silent; and
`fetch_one`, the typed fetchrow of one-row statements."""

from __future__ import annotations

from typing import Any

import pytest

from usagestream.materializer.pg_pool import fetch_one, loopback_without_sslmode


@pytest.mark.parametrize(
    ("dsn", "off"),
    [
        ("postgresql://u:p@127.0.0.1:5432/db", True),
        ("postgresql://u@localhost/db", True),
        ("postgresql://u@[::1]:5432/db", True),
        ("postgresql:///db?host=/var/run/postgresql", True),
        ("postgresql://u@db.example.com/db", False),
        ("postgresql://u@10.0.0.5/db", False),
        ("postgresql://u@127.0.0.1/db?sslmode=require", False),
        ("postgresql://u@localhost/db?sslmode=disable", False),  # said explicitly: asyncpg follows the DSN
    ],
)
def test_tls_is_left_to_asyncpg_unless_loopback_and_unspecified(dsn: str, off: bool) -> None:
    assert loopback_without_sslmode(dsn) is off


class _Conn:
    """Answers fetchrow with a fixed row and keeps what it was asked."""

    def __init__(self, row: Any) -> None:
        self.row = row
        self.asked: list[tuple[str, tuple[Any, ...]]] = []

    async def fetchrow(self, query: str, *args: Any) -> Any:
        self.asked.append((query, args))
        return self.row


async def test_fetch_one_returns_the_row_fetchrow_returned() -> None:
    conn = _Conn({"n": 1})
    assert await fetch_one(conn, "SELECT count(*) AS n FROM t WHERE k = $1", "a") == {"n": 1}  # type: ignore[arg-type]
    assert conn.asked == [("SELECT count(*) AS n FROM t WHERE k = $1", ("a",))]


async def test_fetch_one_raises_instead_of_returning_none() -> None:
    with pytest.raises(RuntimeError, match="no row from a statement that always returns one: SELECT 1 WHERE false"):
        await fetch_one(_Conn(None), "SELECT 1 WHERE false")  # type: ignore[arg-type]
