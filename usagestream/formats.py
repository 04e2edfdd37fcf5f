"""Whether a request's API format was converted: the one answer that records, /active and the feed all give.

The reference infers a null `has_format_conversion` three ways: admin records compare the upper-cased formats
(docs/reference-api.md §3.4), /active and the user's records ask Aether's `can_passthrough_endpoint` for two
`family:kind` signatures (docs/reference-api.md §3.5, §3.10). For `claude:cli` -> `claude:chat` the first says
true and the others false, so the same request read differently on each page. usagestream applies one rule
everywhere (docs/contract-notes.md, "has_format_conversion"); each surface only renders "unknown" (None) in its
own shape.
"""

from __future__ import annotations

# Aether's endpoint data formats (its data_format_id): two signatures with the same one pass through unconverted.
DATA_FORMATS = {
    "claude:chat": "claude",
    "claude:cli": "claude",
    "openai:chat": "openai_chat",
    "openai:cli": "openai_responses",
    "openai:compact": "openai_responses",
    "openai:video": "openai_video",
    "gemini:chat": "gemini",
    "gemini:cli": "gemini",
    "gemini:video": "gemini_video",
}


def signature(value: str) -> str | None:
    """The canonical `family:kind` signature (trimmed, lower case), or None for anything else (`CLAUDE`)."""
    text = value.strip().lower()
    family, sep, kind = text.partition(":")
    return text if sep and family and kind and ":" not in kind else None


def can_passthrough(client: str, endpoint: str) -> bool:
    """Aether's can_passthrough_endpoint: the same signature, or two signatures of one data format."""
    a, b = signature(client), signature(endpoint)
    if a is not None and a == b:
        return True
    fa, fb = DATA_FORMATS.get(a or ""), DATA_FORMATS.get(b or "")
    return fa is not None and fa == fb


def format_conversion(stored: bool | None, client: str | None, endpoint: str | None) -> bool | None:
    """The gateway's flag if it sent one; else inferred from the two formats; None when one is unknown.

    Two `family:kind` signatures: a conversion happened unless the endpoint can pass the client's format
    through (same data format, Aether's own definition). Any other pair (a legacy upper-case value such as
    `CLAUDE` on either side): the formats differ ignoring case, the only rule the reference has for them.
    """
    if stored is not None:
        return stored
    if not client or not endpoint:
        return None
    if signature(client) is not None and signature(endpoint) is not None:
        return not can_passthrough(client, endpoint)
    return client.upper() != endpoint.upper()
