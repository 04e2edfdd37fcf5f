"""The pool's TLS choice: off only where it protects nothing (loopback, Unix socket) and the DSN is silent."""

from __future__ import annotations

import pytest

from usagestream.materializer.pg_pool import loopback_without_sslmode


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
