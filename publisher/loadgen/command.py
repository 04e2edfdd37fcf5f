"""`usagestream loadgen`: realistic gateway traffic into Kafka at a target rate, or as fast as possible.

Wire it as `"loadgen": ("usagestream.publisher.loadgen.command", "cli", ...)` in usagestream/cli.py COMMANDS.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta

from usagestream.errors import ConfigError
from usagestream.publisher.kafka_publisher import Publisher
from usagestream.publisher.loadgen.traffic import EVENTS_PER_REQUEST, Traffic, TrafficConfig
from usagestream.settings import Settings

_CHUNK = 256  # messages between two pacing / progress checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--rate", type=float, default=1000.0, help="events per second (default 1000); 0 = as fast as possible")
    add("--requests", type=int, help="stop after this many requests (default: run until --duration or Ctrl-C)")
    add("--duration", type=float, help="stop starting requests after this many seconds")
    add("--days", type=float, default=0.0, help="spread created_at over this many past days (a backfill)")
    add("--start", type=_timestamp, help="simulated start time, RFC 3339 (default: now minus --days)")
    add("--seed", type=int, default=1, help="same seed and --start: same bytes (default 1)")
    add("--users", type=int, default=200, help="size of the user population (default 200)")
    add(
        "--dup-ratio",
        type=float,
        default=0.01,
        help="extra copies of earlier events, per event (default 0.01)",
    )
    add("--reorder-ratio", type=float, default=0.01, help="share of requests sent out of order (default 0.01)")
    add("--no-entities", action="store_true", help="skip the population's entity events")
    add("--admin-token", help="also publish an admin user with this management token (demo only)")
    add("--buffer", type=int, default=200_000, help="publisher buffer, in events (default 200000)")


def _timestamp(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("--start needs a UTC offset, e.g. 2026-01-01T00:00:00Z")
    return value


def config_from(args: argparse.Namespace, now: datetime) -> TrafficConfig:
    """The simulation the arguments ask for: where simulated time starts and how far apart requests are."""
    start = args.start or now - timedelta(days=args.days)
    if args.days > 0:
        total = args.requests or (args.rate * args.duration / EVENTS_PER_REQUEST if args.rate and args.duration else 0)
        if total <= 0:
            raise ConfigError("--days needs --requests (or --rate and --duration) to spread them over the window")
        gap = args.days * 86_400 / total
    else:
        gap = EVENTS_PER_REQUEST / args.rate if args.rate > 0 else 0.001
    return TrafficConfig(
        seed=args.seed,
        start=start,
        gap_s=gap,
        users=args.users,
        dup_ratio=args.dup_ratio,
        reorder_ratio=args.reorder_ratio,
        entities=not args.no_entities,
        admin_token=args.admin_token,
    )


def cli(settings: Settings, args: argparse.Namespace) -> int:
    config = config_from(args, datetime.now(UTC).replace(microsecond=0))
    return asyncio.run(_run(settings, config, args))


async def _run(settings: Settings, config: TrafficConfig, args: argparse.Namespace) -> int:
    publisher = Publisher(settings=settings, buffer_size=args.buffer, max_batch_bytes=900 * 1024)
    await publisher.start(wait_s=30)
    traffic = Traffic(config)
    progress = _Progress(traffic, publisher)
    try:
        await _pump(traffic, publisher, progress, args)
    finally:
        await publisher.close(timeout_s=60)
        progress.report(final=True)
    return 0 if publisher.failed == 0 and publisher.dropped == 0 else 1


async def _pump(traffic: Traffic, publisher: Publisher, progress: _Progress, args: argparse.Namespace) -> None:
    began = time.monotonic()
    deadline = began + args.duration if args.duration else None
    n = 0
    for n, message in enumerate(traffic.messages(args.requests), start=1):
        await publisher.put(message)
        if n % _CHUNK:
            continue
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            traffic.stop()
            deadline = None
        ahead = began + n / args.rate - now if args.rate > 0 and not traffic.stopped else 0.0
        await asyncio.sleep(max(ahead, 0.0))  # also lets the sender task run when there is no pacing
        progress.tick(n, now)
    progress.count = n


class _Progress:
    """One status line on stderr, at most once a second: events, achieved rate, publisher counters."""

    def __init__(self, traffic: Traffic, publisher: Publisher) -> None:
        self.traffic, self.publisher = traffic, publisher
        self.count = 0
        self.began = self._last = time.monotonic()
        self._last_count = 0
        self._tty = sys.stderr.isatty()

    def tick(self, count: int, now: float) -> None:
        self.count = count
        if now - self._last >= 1.0:
            self.report(rate=(count - self._last_count) / (now - self._last))
            self._last, self._last_count = now, count

    def report(self, rate: float | None = None, final: bool = False) -> None:
        elapsed = max(time.monotonic() - self.began, 1e-9)
        t, p = self.traffic, self.publisher
        now_rate = rate if rate is not None else self.count / elapsed
        line = (
            f"loadgen: {self.count:,} events, {t.requests_started:,} requests, "
            f"{now_rate:,.0f} ev/s (avg {self.count / elapsed:,.0f}) | "
            f"sent {p.sent:,} dropped {p.dropped:,} failed {p.failed:,} | simulated {t.now:%Y-%m-%d %H:%M:%S}"
        )
        if final:
            line += f" | {t.duplicates:,} duplicates, {t.reordered:,} reordered, {elapsed:.1f} s"
        end = "\n" if final or not self._tty else ""
        print(("\r" if self._tty else "") + line, end=end, file=sys.stderr, flush=True)
