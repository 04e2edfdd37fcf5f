"""`usagestream stack up | down | status`: the local Kafka, PostgreSQL and Redis, without Docker.

`up` starts only what does not answer yet and records what it started in the state folder; `down` stops
exactly that; services that were already running are never touched. With `--owner NAME`, `up` also records who
started each service and `down --owner NAME` stops only those: a command that needs the stack for a while (the
demo, `scripts/test`) stops what it started and nothing that was running before it.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from usagestream.errors import StoreUnavailable
from usagestream.materializer.ops import migrate
from usagestream.settings import Settings
from usagestream.stack import kafka_server, postgres_access, services
from usagestream.stack.postgres_cluster import Target
from usagestream.stack.procs import StackError
from usagestream.stack.services import Service
from usagestream.stack.state import StateDir
from usagestream.streams import kafka_topics


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument(
        "--kafka-home",
        type=Path,
        default=None,
        help="Kafka jar cache (default: $USAGESTREAM_KAFKA_HOME, else ~/.cache/usagestream)",
    )
    parser.add_argument(
        "--kafka-controller-port", type=int, default=None, help="KRaft controller port (default: the broker port + 1)"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each service")
    parser.add_argument(
        "--owner", default=None, help="up: record this name as the starter of what it starts; down: stop only those"
    )


def cli(settings: Settings, args: argparse.Namespace) -> int:
    state = StateDir.at(settings.state_dir)
    home = args.kafka_home or kafka_server.default_home()
    stack = services.build(settings, state, home, args.kafka_controller_port)
    if args.action == "status":
        return status(stack, state)
    with state.locked():
        if args.action == "up":
            up(settings, stack, state, args.timeout, args.owner)
            status(stack, state)
        else:
            down(stack, state, args.owner)
    return 0


def up(
    settings: Settings, stack: list[Service], state: StateDir, timeout: float, owner: str | None = None
) -> list[str]:
    """Start what is missing, then the database, its schema and the topics. Returns the services it started."""
    started = [svc.name for svc in stack if _up_one(svc, state, timeout, owner)]
    if asyncio.run(postgres_access.ensure_database(Target.from_dsn(settings.asyncpg_dsn))):
        print(f"postgres: created database {Target.from_dsn(settings.asyncpg_dsn).database!r}")
    migrate.upgrade(settings)
    print("postgres: schema at the newest migration")
    asyncio.run(_topics(settings, timeout))
    print(
        f"kafka: topics ready ({settings.topic_usage}, {settings.topic_candidates}, "
        f"{settings.topic_entities}, {settings.topic_dlq})"
    )
    return started


def _up_one(svc: Service, state: StateDir, timeout: float, owner: str | None) -> bool:
    """Start `svc` unless it answers already; True if this call started it."""
    info = state.started().get(svc.name)
    if info is not None and svc.running(info):
        print(f"{svc.name}: already running on {svc.host}:{svc.port} (started by usagestream{_by(info)})")
        return False
    if info is not None:
        state.record(svc.name, None)  # it died or was stopped behind our back: the record is stale
    if svc.answers():
        where = f"{svc.host}:{svc.port}"
        print(f"{svc.name}: already running on {where} (not started by usagestream; left alone)")
        return False
    print(f"{svc.name}: starting on {svc.host}:{svc.port} ...", flush=True)
    svc.start(state, timeout)
    if owner is not None:
        state.record(svc.name, {**state.started()[svc.name], "owner": owner})
    print(f"{svc.name}: started; log {svc.log()}")
    return True


def _by(info: dict[str, object]) -> str:
    return f" for {info['owner']}" if info.get("owner") else ""


async def _topics(settings: Settings, timeout: float) -> None:
    try:
        await kafka_topics.wait_for_broker(settings, timeout)
    except StoreUnavailable as exc:
        raise StackError(str(exc)) from exc
    await kafka_topics.ensure_topics(settings)


def down(stack: list[Service], state: StateDir, owner: str | None = None) -> list[str]:
    """Stop, in reverse start order, exactly the services `up` started (for `owner`, if given); leave every
    other one alone. Returns the services it stopped."""
    started, stopped = state.started(), []
    for svc in reversed(stack):
        info = started.get(svc.name)
        if info is None:
            print(f"{svc.name}: not started by usagestream; left alone")
            continue
        if owner is not None and info.get("owner") != owner:
            print(f"{svc.name}: not started by {owner}; left alone")
            continue
        svc.stop(info)
        state.record(svc.name, None)
        stopped.append(svc.name)
        print(f"{svc.name}: stopped")
    return stopped


def status(stack: list[Service], state: StateDir) -> int:
    """One line per service; exit code 1 if any of them does not answer."""
    started = state.started()
    all_up = True
    print(f"state folder: {state.root}")
    for svc in stack:
        info = started.get(svc.name)
        ours = info is not None and svc.running(info)
        answers = svc.answers()
        all_up = all_up and answers
        owner = f"started by usagestream{_pid(info)}" if ours else "not started by usagestream"
        where = f"{svc.host}:{svc.port}"
        log = svc.log() if ours or svc.name == "postgres" else None  # the cluster log is Debian's, not ours
        suffix = f"; log {log}" if log else ""
        print(f"{svc.name:16} {'up' if answers else 'down':5} {where:16} {owner}{suffix}")
    return 0 if all_up else 1


def _pid(info: dict[str, object] | None) -> str:
    return f", pid {info['pid']}" if info and "pid" in info else ""
