"""Websocket text frames built once and written as the same bytes to every client of the live feed.

A server's frames are never masked (RFC 6455 5.1) and the feed never negotiates permessage-deflate, so one
change's frame is byte-for-byte the same for every client of an audience: encoding it once instead of once per
client (what `WebSocketResponse.send_str` does) is most of what makes the fan-out cheap.
"""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81  # FIN bit + opcode 1 (text), RSV bits clear (uncompressed)


def text_frame(text: str) -> bytes:
    """One complete, unmasked, uncompressed text frame carrying `text`."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", _FIN_TEXT, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, size)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, size)
    return header + payload
