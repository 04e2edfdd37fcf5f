"""A local streaming replica of the Debian PostgreSQL cluster, for `USAGESTREAM_POSTGRES_READ_DSN` on loopback.

Made with `pg_basebackup -R` (a copy of the primary plus the settings that make it follow the primary's WAL) and
run by `pg_ctl` as the `postgres` OS user, in a folder of its own under the postgres user's home (a data folder
must belong to the server's OS user, who cannot write into the project's state folder). It is rebuilt from the
primary at every start: a standby is disposable, and a stale one (its primary re-initialised) could never resume.

Debian keeps a cluster's postgresql.conf and pg_hba.conf outside its data folder, so the copy gets its own: the
port, loopback only, hot standby, and the primary's pg_hba.conf rules (the same roles may log in the same way).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from usagestream.stack import postgres_access
from usagestream.stack.postgres_cluster import Cluster
from usagestream.stack.procs import StackError

HOME = Path("/var/lib/postgresql")
SOCKETS = "/var/run/postgresql"


@dataclass(frozen=True, slots=True)
class Standby:
    """A replica of `primary` (a Debian cluster) answering on 127.0.0.1:`port`."""

    primary: Cluster
    port: int

    @property
    def folder(self) -> Path:
        return HOME / f"usagestream-standby-{self.port}"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "postgresql.log"

    def _bin(self, name: str) -> str:
        return str(Path("/usr/lib/postgresql") / self.primary.version / "bin" / name)

    def create(self) -> None:
        """Copy the primary (fast checkpoint, WAL streamed alongside) into a fresh data folder."""
        self.remove()
        hba = _as_postgres_out(
            ["psql", "-X", "-At", "-p", str(self.primary.port), "-d", "postgres", "-c", "SHOW hba_file"]
        )
        _as_postgres(["mkdir", "-p", str(self.folder)])
        _as_postgres(
            [self._bin("pg_basebackup"), "-h", SOCKETS, "-p", str(self.primary.port), "-D", str(self.data)]
            + ["-R", "-X", "stream", "-c", "fast", "--no-password"]
        )
        _as_postgres(["cp", hba.strip(), str(self.data / "pg_hba.conf")])
        conf = "\n".join(
            [
                f"port = {self.port}",
                "listen_addresses = '127.0.0.1'",
                f"unix_socket_directories = '{SOCKETS}'",
                "hot_standby = on",
                # A long API read is not cancelled because the primary vacuumed rows it still sees.
                "hot_standby_feedback = on",
                "ssl = off",
                "shared_buffers = 128MB",
                "",
            ]
        )
        _as_postgres(["tee", str(self.data / "postgresql.conf")], stdin=conf)

    def start(self, timeout: float) -> None:
        argv = [self._bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(timeout)), "start"]
        try:
            _as_postgres(argv)
        except StackError as exc:
            raise StackError(f"{exc}; see {self.log}") from exc

    def running(self) -> bool:
        if not self.data.exists():
            return False
        done = subprocess.run(
            [*postgres_access.as_postgres(), self._bin("pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def stop(self) -> None:
        if self.running():
            _as_postgres([self._bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def remove(self) -> None:
        """Stop it if it runs, and delete its folder."""
        self.stop()
        if self.folder.exists():
            shutil.rmtree(self.folder)


def _as_postgres(argv: list[str], stdin: str | None = None) -> None:
    _as_postgres_out(argv, stdin)


def _as_postgres_out(argv: list[str], stdin: str | None = None) -> str:
    full = [*postgres_access.as_postgres(), *argv]
    done = subprocess.run(full, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(f"`{' '.join(argv)}` as postgres failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout
