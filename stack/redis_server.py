"""The local Redis: `redis-server` on loopback without persistence, and a PING without a client library."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from usagestream.stack import procs
from usagestream.stack.procs import StackError


def answers(host: str, port: int) -> bool:
    """True if a Redis server replies +PONG on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start(folder: Path, host: str, port: int) -> int:
    """Start redis-server detached, nothing on disk (the worker rebuilds Redis from PostgreSQL); its pid."""
    server = shutil.which("redis-server")
    if server is None:
        raise StackError("`redis-server` is not installed: apt-get install redis-server")
    folder.mkdir(parents=True, exist_ok=True)
    argv = [
        server,
        "--bind",
        host,
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(folder),
        "--daemonize",
        "no",
        "--logfile",
        "",
    ]
    return procs.spawn(argv, log_path(folder), cwd=folder)


def log_path(folder: Path) -> Path:
    return folder / "redis.log"
