"""The live feed's shared frames are exactly what aiohttp's own writer sends for the same text."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp._websocket.writer import WebSocketWriter
from aiohttp.http_websocket import WSMsgType

from usagestream.http.feed.frames import text_frame


class Capture:
    """Just enough of a transport for WebSocketWriter: collects what it writes."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False


class Protocol:
    _paused = False


def aiohttp_frame(text: str) -> bytes:
    capture = Capture()
    writer = WebSocketWriter(Protocol(), capture)  # type: ignore[arg-type]  # a server's writer: unmasked
    asyncio.run(writer.send_frame(text.encode(), WSMsgType.TEXT))
    return bytes(capture.data)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_same_bytes_as_aiohttp_at_every_length_boundary(size: int) -> None:
    text = ("é" + "x" * size)[:size] if size else ""  # multi-byte text: the length is in bytes
    assert text_frame(text) == aiohttp_frame(text)


def test_header_fields() -> None:
    frame: Any = text_frame('{"type":"remove"}')
    assert frame[0] == 0x81  # FIN, text, no RSV1 (uncompressed)
    assert frame[1] == len('{"type":"remove"}')  # no mask bit
    assert frame[2:] == b'{"type":"remove"}'
