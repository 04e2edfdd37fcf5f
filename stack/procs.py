"""Process and socket helpers for the launcher: detached start, pid identity, graceful stop, port waits."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from usagestream.errors import UsagestreamError


class StackError(UsagestreamError):
    """A local service could not be prepared, started or stopped: read the log file the message names."""


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat); None if gone or a zombie.

    Stored next to the pid, it tells our process apart from an unrelated one that reused the pid later.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name in parentheses may contain spaces
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_ours(info: Mapping[str, object]) -> bool:
    """True while the process recorded in `info` (pid + ticks) still runs."""
    pid, ticks = info.get("pid"), info.get("ticks")
    return isinstance(pid, int) and ticks is not None and start_ticks(pid) == ticks


def spawn(argv: Sequence[str], log: Path, cwd: Path, env: dict[str, str] | None = None) -> int:
    """Start `argv` in its own session (it outlives the launcher), output appended to `log`; its pid."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    # The launcher exits while the child runs on; say so, or Popen.__del__ warns about a live child.
    proc.returncode = 0
    return proc.pid


def stop(pid: int, ticks: int, timeout: float = 30.0) -> None:
    """SIGTERM the process, wait for it to exit, SIGKILL after `timeout` seconds."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if start_ticks(pid) != ticks:
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if wait_until(lambda: start_ticks(pid) != ticks, wait, pid):
            return
    raise StackError(f"process {pid} survived SIGKILL")


def wait_until(check: Callable[[], bool], timeout: float, pid: int | None = None) -> bool:
    """Poll `check` until it holds or `timeout` passes; reap `pid` if it is our own child."""
    deadline = time.monotonic() + timeout
    while True:
        if pid is not None:
            _reap(pid)
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: init reaps it


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, to put in an error message."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])
