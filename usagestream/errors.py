"""The one exception hierarchy of usagestream: bad data is kept apart from infrastructure failure."""


class UsagestreamError(Exception):
    """Root of every error usagestream raises on purpose."""


class ConfigError(UsagestreamError):
    """A USAGESTREAM_* setting is missing or malformed: fix the environment and restart the process."""


class InvalidEvent(UsagestreamError):
    """A message breaks the wire contract (docs/contract.md §5).

    It goes to the dead-letter topic with `reason`; nothing else changes. The gateway that sent it should be fixed.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StoreUnavailable(UsagestreamError):
    """PostgreSQL, Redis or Kafka did not answer. The worker retries with backoff; never dead-letter for this."""
