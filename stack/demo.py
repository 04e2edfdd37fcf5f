"""`usagestream demo`: the stack, a worker, the API and a load generator at a moderate rate, until Ctrl-C.

It prints the URLs and an admin management token to try the API with, and on Ctrl-C (or SIGTERM) stops every
process it started, then the services that `stack up` started.
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
    if subprocess.run([exe, "stack", "up"], env=env).returncode != 0:
        return 1
    procs: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([exe, "loadgen", "--rate", "0", "--requests", str(args.history_requests), "--days",
                        str(args.days), "--admin-token", token, "--seed", str(int(time.time()))],
                       env=env, check=False)  # fmt: skip
        procs.append(_spawn(["worker"], env, logs / "worker.log"))
        procs.append(_spawn(["api"], env, logs / "api.log"))
        procs.append(_spawn(["loadgen", "--rate", str(args.rate), "--no-entities", "--seed", "2"], env,
                            logs / "loadgen.log"))  # fmt: skip
        base = f"http://{settings.http_host}:{settings.http_port}"
        if not _token_works(base, token, procs, timeout_s=60):
            print("demo: the API does not accept the token yet; see the logs", file=sys.stderr)
        print(f"""
usagestream demo is running (logs in {logs}).
  dashboard     : {base}/  (open it in a browser and paste the admin token below)
  dashboard API : {base}/api/admin/usage/stats
  live feed     : ws://{settings.http_host}:{settings.http_port}/api/admin/usage/active/ws?access_token={token}
  OpenAPI       : {base}/api/openapi.json
  admin token   : {token}
  try           : curl -H 'Authorization: Bearer {token}' '{base}/api/admin/usage/aggregation/stats?group_by=model'
Ctrl-C stops everything.""")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(p.poll() is None for p in procs[:2]):
            time.sleep(1)
        print("demo: a process exited; see the logs", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run([exe, "stack", "down"], env=env, check=False)
