"""usagestream.publisher: the asyncio client a Python gateway embeds to publish contract events (no faust)."""

from usagestream.publisher.events import Message, entity_tombstone, model_pricing_id
from usagestream.publisher.kafka_publisher import Publisher, Topics
from usagestream.publisher.recorder import UsageRecorder
from usagestream.publisher.records import CandidateRecord, UsageRecord
from usagestream.publisher.tracker import RequestTracker, UnknownRequest

__all__ = [
    "CandidateRecord",
    "Message",
    "Publisher",
    "RequestTracker",
    "Topics",
    "UnknownRequest",
    "UsageRecord",
    "UsageRecorder",
    "entity_tombstone",
    "model_pricing_id",
]
