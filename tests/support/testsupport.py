"""Helpers every test folder shares (unit, integration, e2e, browser): free loopback ports, stopping a child
process, counting the event loop's turns beside a piece of work. Imported as `testsupport` (tests/conftest.py
puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
import random
import signal
import socket
import subprocess
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


def _ephemeral_low(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> int:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A TCP port free on loopback right now, below the kernel's ephemeral range: a port the kernel picks (bind to
    0) is one it also gives to outgoing connections, so another client could take it before a slow server (a JVM
    starting Kafka) binds it; a clean-clone CI run lost a test's Kafka port that way."""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(10_000, low if low > 11_000 else 30_000)
        if port_is_free(port):
            return port
    with socket.socket() as s:  # a crowded range: whatever the kernel gives
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_pair() -> int:
    """A port p such that p and p + 1 are both free (Kafka's broker and controller listeners)."""
    for _ in range(50):
        port = free_port()
        if port + 1 < _ephemeral_low() and port_is_free(port + 1):
            return port
    raise RuntimeError("no free port pair")


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Send `sig` and wait; kill it if it is still running after `timeout` seconds."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def ticks_during(work: Awaitable[T]) -> tuple[T, int]:
    """Run `work` beside a task that counts how often the loop lets it run (work handing the loop back lets it)."""
    ticks = 0
    done = False

    async def tick() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    ticks = 0
    result = await work
    done = True
    await ticker
    return result, ticks
