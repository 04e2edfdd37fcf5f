"""One frozen Settings object, built from USAGESTREAM_* environment variables once, at the process edge."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from usagestream.errors import ConfigError

_SECRET_FIELDS = frozenset({"jwt_secret", "postgres_dsn", "postgres_read_dsn", "redis_url", "metrics_token"})
_NON_EMPTY = (
    "kafka_bootstrap",
    "consumer_group",
    "postgres_dsn",
    "redis_url",
    "http_host",
    "topic_usage",
    "topic_candidates",
    "topic_entities",
    "topic_dlq",
    "state_dir",
    "worker_metrics_host",
)
_QUERY_SECRET = re.compile(r"((?:^|[?&;\s])(?:password|passwd|pwd|sslpassword)=)[^&;\s]*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob a usagestream process reads. Field `x` comes from `USAGESTREAM_X`."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    consumer_group: str = "usagestream"
    postgres_dsn: str = "postgresql://127.0.0.1:5432/usagestream"
    # Where the API and `usagestream export` read from: a streaming replica of postgres_dsn's server (the API never
    # writes). Empty: the primary. The worker, migrations, verify and retention always use postgres_dsn.
    postgres_read_dsn: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "usagestream:"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # A request's line and headers must arrive within this many seconds of the connection opening (or of its first
    # byte on a kept-alive connection), or the connection is closed (slow-header clients; http/edge/protocol.py).
    http_header_timeout_s: float = 10.0
    # An idle kept-alive connection is closed after this many seconds (longer than a proxy's upstream idle timeout).
    http_keepalive_timeout_s: float = 75.0
    jwt_secret: str = ""
    timezone: str = "UTC"
    admin_default_days: int = 30
    active_timeout_s: int = 600
    topic_usage: str = "gateway.usage.v1"
    topic_candidates: str = "gateway.candidates.v1"
    topic_entities: str = "gateway.entities.v1"
    topic_dlq: str = "usagestream.dlq.v1"
    partitions: int = 6
    batch_size: int = 10000  # upper bound of a gathered batch (see docs/design.md "Gathering")
    batch_within_s: float = 0.2
    sweep_interval_s: float = 2.0
    state_dir: str = ".usagestream"
    log_format: str = "text"
    log_level: str = "INFO"
    # /metrics: with a token, scrapers must send `Authorization: Bearer <token>`; without one, only loopback peers.
    metrics_token: str = ""
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 9464  # 0: the worker serves no /metrics
    # The API's websocket feeds: how often every open feed's credential is checked again against the entities
    # (a revoked, deactivated or demoted one is closed with 1008 within about this long; http/feed/guard.py).
    feed_recheck_s: float = 2.0
    # Redis connections the API process holds at most (the feed's subscription holds one of them); a command
    # waits for a free one rather than opening another.
    api_redis_max_connections: int = 16
    # The time series' closed chunks kept in the API process (materializer/read/series_cache.py), at most about
    # this many MiB of their points and counts (the least recently used go first; 0 keeps none).
    series_cache_mb: int = 64

    # Retention (0 = keep forever): request bodies/headers cleared, records dropped after this many days.
    # Aggregates are kept forever either way (materializer/ops/retention.py, docs/design.md "Retention").
    retention_bodies_days: int = 0
    retention_records_days: int = 0
    # How often each worker runs a retention pass (also creating the coming months' partitions); 0 = never (run
    # `usagestream retention` from cron instead). Passes never overlap: a worker skips one another is running.
    retention_interval_s: float = 3600.0
    # The kept daily percentiles of `/api/admin/stats/performance/percentiles` (materializer/write/day_times_fill.py)
    # and the kept provider days of `/performance/providers` (provider_days_fill.py, a round of its own after it):
    # each worker tries a filler round this often (0 = never; one round at a time across workers), recomputing at
    # most `day_times_fill_batch` missing or out-of-date closed days of the last `day_times_fill_days` days (in
    # USAGESTREAM_TIMEZONE); while days are left, the next round follows after a second.
    day_times_fill_interval_s: float = 60.0
    day_times_fill_days: int = 400
    day_times_fill_batch: int = 8

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"USAGESTREAM_TIMEZONE={self.timezone!r} is not an IANA time zone") from exc
        for name in ("http_port", "partitions", "batch_size", "active_timeout_s"):
            if getattr(self, name) < 1:
                raise ConfigError(f"USAGESTREAM_{name.upper()} must be >= 1")
        if self.http_port > 65535:
            raise ConfigError("USAGESTREAM_HTTP_PORT must be <= 65535")
        if not 0 <= self.worker_metrics_port <= 65535:
            raise ConfigError("USAGESTREAM_WORKER_METRICS_PORT must be 0 (off) or a port <= 65535")
        for name in ("batch_within_s", "sweep_interval_s", "http_header_timeout_s", "http_keepalive_timeout_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"USAGESTREAM_{name.upper()} must be a finite number > 0")
        for name in _NON_EMPTY:
            if not getattr(self, name).strip():
                raise ConfigError(f"USAGESTREAM_{name.upper()} must not be empty")
        if self.admin_default_days < 0:
            raise ConfigError("USAGESTREAM_ADMIN_DEFAULT_DAYS must be >= 0")
        self._check_retention()
        self._check_feed()
        if self.log_format not in ("text", "json"):
            raise ConfigError("USAGESTREAM_LOG_FORMAT must be 'text' or 'json'")

    def _check_feed(self) -> None:
        if not math.isfinite(self.feed_recheck_s) or self.feed_recheck_s <= 0:
            raise ConfigError("USAGESTREAM_FEED_RECHECK_S must be a finite number > 0")
        if self.api_redis_max_connections < 2:
            raise ConfigError("USAGESTREAM_API_REDIS_MAX_CONNECTIONS must be >= 2 (the feed's subscription holds one)")
        if not 0 <= self.series_cache_mb <= 1 << 20:
            raise ConfigError("USAGESTREAM_SERIES_CACHE_MB must be between 0 (keep no chunk) and 1048576")

    def _check_retention(self) -> None:
        for name in ("retention_bodies_days", "retention_records_days"):
            if not 0 <= getattr(self, name) <= 100_000:
                raise ConfigError(f"USAGESTREAM_{name.upper()} must be between 0 (keep forever) and 100000")
        if not math.isfinite(self.retention_interval_s) or self.retention_interval_s < 0:
            raise ConfigError("USAGESTREAM_RETENTION_INTERVAL_S must be a finite number >= 0 (0: the worker runs none)")
        if not math.isfinite(self.day_times_fill_interval_s) or self.day_times_fill_interval_s < 0:
            raise ConfigError("USAGESTREAM_DAY_TIMES_FILL_INTERVAL_S must be a finite number >= 0 (0: never)")
        if not 0 <= self.day_times_fill_days <= 100_000:
            raise ConfigError("USAGESTREAM_DAY_TIMES_FILL_DAYS must be between 0 and 100000")
        if not 1 <= self.day_times_fill_batch <= 10_000:
            raise ConfigError("USAGESTREAM_DAY_TIMES_FILL_BATCH must be between 1 and 10000")
        if 0 < self.retention_records_days * 86400 <= self.active_timeout_s:
            # A request's record must outlive its active phase, or its final snapshot would be refused.
            raise ConfigError("USAGESTREAM_RETENTION_RECORDS_DAYS must exceed USAGESTREAM_ACTIVE_TIMEOUT_S")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def asyncpg_dsn(self) -> str:
        """The DSN for asyncpg and libpq (SQLAlchemy's `+asyncpg` driver suffix removed)."""
        return self.postgres_dsn.replace("postgresql+asyncpg://", "postgresql://", 1)

    @property
    def asyncpg_read_dsn(self) -> str:
        """The DSN readers use: postgres_read_dsn if set, else the primary's."""
        return (self.postgres_read_dsn or self.postgres_dsn).replace("postgresql+asyncpg://", "postgresql://", 1)

    def key(self, *parts: str) -> str:
        """A Redis key under the configured prefix."""
        return self.redis_prefix + ":".join(parts)

    def redacted(self) -> dict[str, object]:
        """The settings as a dict safe to log: secrets and credentials are masked."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = _mask(value) if f.name in _SECRET_FIELDS else value
        return out

    def __repr__(self) -> str:
        return f"Settings({self.redacted()!r})"

    def to_env(self) -> dict[str, str]:
        """The USAGESTREAM_* variables that rebuild these settings in a child process."""
        return {"USAGESTREAM_" + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build from `USAGESTREAM_*` variables (then `overrides`); raise ConfigError on a malformed value."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get("USAGESTREAM_" + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _convert(f.name, raw, type(getattr(cls(), f.name)))
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def _convert(name: str, raw: str, kind: type) -> object:
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError as exc:
        raise ConfigError(f"USAGESTREAM_{name.upper()}={raw!r} is not a {kind.__name__}") from exc
    return raw


def _mask(value: object) -> str:
    text = str(value)
    if not text:
        return ""
    if "://" not in text:  # a bare secret, or a libpq key=value DSN: nothing in it is safe to show
        return "***"
    scheme, rest = text.split("://", 1)
    if "@" in rest:  # keep host and database, hide user:password (the last @ ends them; over-masking is safe)
        rest = "***@" + rest.rsplit("@", 1)[1]
    rest = _QUERY_SECRET.sub(lambda m: m.group(1) + "***", rest)  # ?password=... is a DSN form too
    return f"{scheme}://{rest}"
