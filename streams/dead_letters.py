"""The dead-letter topic: each rejected message is written with the reason (CONTRACT.md section 5)."""

from __future__ import annotations

import json

import faust

from usagestream.settings import Settings
from usagestream.streams.pipeline import RawMessage

MAX_VALUE = 64 * 1024


def dead_letter_record(msg: RawMessage, reason: str) -> dict[str, object]:
    """The DLQ value: the raw key and value as text (value cut to 64 KiB), where it came from, and why."""
    value = None if msg.value is None else msg.value[:MAX_VALUE].decode("utf-8", errors="replace")
    key = None if msg.key is None else msg.key.decode("utf-8", errors="replace")
    return {
        "reason": reason,
        "topic": msg.topic,
        "partition": msg.partition,
        "offset": msg.offset,
        "key": key,
        "value": value,
    }


class DeadLetters:
    """Sends dead letters through the worker's own faust producer and waits until Kafka has them."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.topic = app.topic(settings.topic_dlq, key_type=bytes, value_type=bytes)

    async def send(self, msg: RawMessage, reason: str) -> None:
        body = json.dumps(dead_letter_record(msg, reason), ensure_ascii=False).encode("utf-8")
        fut = await self.topic.send(key=msg.key, value=body, key_serializer="raw", value_serializer="raw")
        await fut
