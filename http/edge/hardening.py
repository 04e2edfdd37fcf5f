"""The headers every response carries, set in one place: aiohttp's `on_response_prepare` signal, which also sees
websocket handshakes and the responses a handler prepares itself (a middleware would not), and the protocol's
own error answers (http/edge/protocol.py).

- `Cache-Control: no-store` unless the handler chose a policy (the dashboard's files revalidate with an ETag):
  answers carry usage, costs and user names, which no shared or browser cache should keep.
- `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`, and a
  `Content-Security-Policy` that allows nothing unless the handler set its own (the dashboard does).
- `Server: usagestream`: no Python or aiohttp version for a scanner to match.

What stays for a TLS-terminating proxy in front: `Strict-Transport-Security` (docs/security.md).
"""

from __future__ import annotations

from collections.abc import MutableMapping

from aiohttp import web

SERVER = "usagestream"
_DEFAULTS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}


def harden(headers: MutableMapping[str, str]) -> None:
    """Add the hardening headers a response does not set itself; replace the Server header."""
    headers["Server"] = SERVER
    for name, value in _DEFAULTS.items():
        headers.setdefault(name, value)


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    harden(response.headers)
