"""usagestream.publisher: the asyncio client a Python gateway embeds to publish contract events (no faust)."""
