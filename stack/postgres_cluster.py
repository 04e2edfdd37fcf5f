"""The local PostgreSQL: Debian's cluster (pg_lsclusters, pg_ctlcluster), a login role and the database."""

from __future__ import annotations

import getpass
import shutil
import subprocess
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from usagestream.stack.procs import StackError


@dataclass(frozen=True, slots=True)
class Cluster:
    """One row of `pg_lsclusters`."""

    version: str
    name: str
    port: int
    online: bool
    log: str

    @property
    def label(self) -> str:
        return f"{self.version}/{self.name}"


@dataclass(frozen=True, slots=True)
class Target:
    """Host, port, role and database named by USAGESTREAM_POSTGRES_DSN (role defaults to the OS user)."""

    host: str
    port: int
    role: str
    database: str

    @classmethod
    def from_dsn(cls, dsn: str) -> Target:
        url = urlsplit(dsn)
        return cls(
            host=url.hostname or "127.0.0.1",
            port=url.port or 5432,
            role=unquote(url.username or "") or getpass.getuser(),
            database=unquote(url.path.lstrip("/")) or "usagestream",
        )


def parse_clusters(text: str) -> list[Cluster]:
    """Rows of `pg_lsclusters --no-header`: Ver Cluster Port Status Owner Data-directory Log-file."""
    clusters = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) >= 6 and cols[2].isdigit():
            log = cols[6] if len(cols) > 6 else ""
            clusters.append(Cluster(cols[0], cols[1], int(cols[2]), cols[3].startswith("online"), log))
    return clusters


def find(port: int) -> Cluster | None:
    """The Debian cluster configured for `port`, or None (no postgresql-common, or no such cluster)."""
    if shutil.which("pg_lsclusters") is None:
        return None
    done = _run(["pg_lsclusters", "--no-header"])
    return next((c for c in parse_clusters(done) if c.port == port), None)


def start(cluster: Cluster) -> None:
    _run(["pg_ctlcluster", cluster.version, cluster.name, "start"])


def stop(cluster: Cluster) -> None:
    _run(["pg_ctlcluster", cluster.version, cluster.name, "stop"])


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(f"`{' '.join(argv)}` failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout
