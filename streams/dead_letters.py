"""The dead-letter topic: each rejected message is written with the reason (docs/contract.md §5.2)."""

from __future__ import annotations

import faust

from usagestream.settings import Settings
from usagestream.streams.kafka_io import Record, dead_letter_record


class DeadLetters:
    """Sends dead letters through the worker's own faust producer and waits until Kafka has them."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.topic = app.topic(settings.topic_dlq, key_type=bytes, value_type=bytes)

    async def send(self, msg: Record, reason: str) -> None:
        body = dead_letter_record(reason, msg)
        fut = await self.topic.send(key=msg.key, value=body, key_serializer="raw", value_serializer="raw")
        await fut
