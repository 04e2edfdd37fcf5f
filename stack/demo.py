"""`usagestream demo`: the stack, a worker, the API and a load generator at a moderate rate, until Ctrl-C.

It prints the URLs and an admin management token to try the API with, and on Ctrl-C (or SIGTERM, or after
`--duration` seconds) stops every process it started, then the services that its own `stack up` started (services
that were running before stay up, so `scripts/test` works after the demo as before it).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from usagestream.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=200.0, help="loadgen events per second (default 200)")
    parser.add_argument("--days", type=float, default=7.0, help="first backfill this many days of history")
    parser.add_argument("--history-requests", type=int, default=5000, help="requests in the backfill")
    parser.add_argument(
        "--duration",
        type=_positive,
        default=None,
        help="stop by itself this many seconds after it is ready (default: run until Ctrl-C)",
    )


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    exe = str(Path(sys.executable).parent / "usagestream")
    with open(log, "ab") as out:
        return subprocess.Popen([exe, *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def _token_works(base: str, token: str, procs: list[subprocess.Popen[bytes]], timeout_s: float) -> bool:
    """Wait until the API answers with the token: the backfill publishes the admin user and token as entity
    events, which the worker applies moments after starting, so a token printed at once could still be refused."""
    url = f"{base}/api/admin/usage/stats"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310 (http://)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and all(p.poll() is None for p in procs[:2]):
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (our own http:// URL)
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass  # not listening yet, or 401 until the worker has applied the token
        time.sleep(0.5)
    return False


def cli(settings: Settings, args: argparse.Namespace) -> int:
    exe = str(Path(sys.executable).parent / "usagestream")
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    if not settings.jwt_secret:
        env["USAGESTREAM_JWT_SECRET"] = secrets.token_urlsafe(32)
    token = "ae_demo_" + secrets.token_hex(16)
    logs = Path(settings.state_dir).expanduser().resolve() / "demo"
    logs.mkdir(parents=True, exist_ok=True)
    owner = f"demo-{os.getpid()}"  # `stack down --owner` then stops only what this demo started
    if subprocess.run([exe, "stack", "up", "--owner", owner], env=env).returncode != 0:
        return 1
    procs: dict[str, subprocess.Popen[bytes]] = {}
    # One seed for the backfill and the live load: the live requests come from the population (users, keys,
    # providers, pricing) the backfill published, so nothing shows as a deleted user or an unknown provider.
    seed = str(int(time.time()))
    outcome = "interrupted"
    signal.signal(signal.SIGTERM, _terminated)
    try:
        subprocess.run(
            [
                exe,
                "loadgen",
                "--rate",
                "0",
                "--requests",
                str(args.history_requests),
                "--days",
                str(args.days),
                "--admin-token",
                token,
                "--seed",
                seed,
            ],
            env=env,
            check=False,
        )
        procs["worker"] = _spawn(["worker"], env, logs / "worker.log")
        procs["api"] = _spawn(["api"], env, logs / "api.log")
        procs["loadgen"] = _spawn(
            ["loadgen", "--rate", str(args.rate), "--no-entities", "--seed", seed], env, logs / "loadgen.log"
        )
        base = f"http://{settings.http_host}:{settings.http_port}"
        if not _token_works(base, token, list(procs.values()), timeout_s=60):
            print("demo: the API does not accept the token yet; see the logs", file=sys.stderr)
        print(_banner(settings, base, token, logs, args.duration), flush=True)
        outcome = _run_until_done(procs, logs, args.duration)
    except KeyboardInterrupt as exc:
        outcome = "terminated" if isinstance(exc, _Terminated) else "interrupted"
    finally:
        _stop(procs)
        subprocess.run([exe, "stack", "down", "--owner", owner], env=env, check=False)
    return _report(outcome, procs)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that the same clean-up runs as for Ctrl-C."""


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated


def _banner(settings: Settings, base: str, token: str, logs: Path, duration: float | None) -> str:
    stop = f"Stops by itself after {duration:g} s; Ctrl-C" if duration else "Ctrl-C"
    return f"""
usagestream demo is running (logs in {logs}).
  dashboard     : {base}/  (open it in a browser and paste the admin token below)
  dashboard API : {base}/api/admin/usage/stats
  live feed     : ws://{settings.http_host}:{settings.http_port}/api/admin/usage/active/ws?access_token={token}
  OpenAPI       : {base}/api/openapi.json
  admin token   : {token}
  try           : curl -H 'Authorization: Bearer {token}' '{base}/api/admin/usage/aggregation/stats?group_by=model'
{stop} stops everything."""


def _run_until_done(procs: dict[str, subprocess.Popen[bytes]], logs: Path, duration: float | None) -> str:
    """'duration' when --duration has passed, else the name of the first process that exited (a crash)."""
    deadline = time.monotonic() + duration if duration else None
    while deadline is None or time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(
                    f"demo: the {name} exited with code {proc.returncode}; see its log {logs / (name + '.log')}",
                    file=sys.stderr,
                )
                return name
        time.sleep(1)
    return "duration"


def _stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


def _report(outcome: str, procs: dict[str, subprocess.Popen[bytes]]) -> int:
    """What the demo stopped, and an exit code as a shell gives it: 0 after --duration, 128 + the signal's number
    after Ctrl-C (130) or SIGTERM (143), 1 after a crash (already reported by name and log)."""
    stopped = ", ".join(procs) or "nothing yet"
    if outcome == "duration":
        print(f"demo: --duration reached; stopped {stopped} and the services this demo started")
        return 0
    if outcome in ("interrupted", "terminated"):
        print(f"demo: {outcome}; stopped {stopped} and the services this demo started")
        return 128 + (signal.SIGINT if outcome == "interrupted" else signal.SIGTERM)
    return 1
