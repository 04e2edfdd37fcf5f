"""usagestream: exact, event-driven usage statistics for LLM API gateways (the pure core lives here)."""

__version__ = "0.1.0"
