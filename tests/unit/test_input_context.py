"""The total input context a cache hit rate divides by, as today's Aether computes it per record."""

from __future__ import annotations

import pytest

from usagestream.tokens import total_input_context


@pytest.mark.parametrize(
    ("fmt", "endpoint", "inp", "creation", "read", "expected"),
    [
        # Aether's own cases (crates/aether-billing/src/token_normalization.rs)
        ("openai:chat", None, 120, 10, 15, 120),
        ("gemini:generate_content", None, 120, 10, 15, 120),
        ("claude:messages", None, 60, 15, 5, 80),
        (None, None, 20, 10, 5, 35),
        (None, None, 20, 0, 5, 25),
        # OpenAI and Gemini: max(input, cache read); creation never counts
        ("openai:chat", None, 10, 7, 30, 30),
        ("google:x", None, 0, 7, 30, 30),
        (" OpenAI :responses", None, 50, 0, 20, 50),
        # the endpoint's format first; an empty one does not count
        ("claude:chat", "openai:chat", 100, 5, 40, 100),
        ("openai:chat", "claude:chat", 100, 5, 40, 145),
        ("openai:chat", "", 100, 5, 40, 100),
        ("anthropic:messages", None, 1, 2, 3, 6),
        ("mystery", None, 1, 2, 3, 6),
        # negative counts count as 0
        ("claude:chat", None, -5, -1, 4, 4),
        ("openai:chat", None, -5, 3, -4, 0),
    ],
)
def test_total_input_context_is_aethers(
    fmt: str | None, endpoint: str | None, inp: int, creation: int, read: int, expected: int
) -> None:
    assert total_input_context(fmt, endpoint, inp, creation, read) == expected
