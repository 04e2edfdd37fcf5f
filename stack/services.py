"""The three local services behind one interface: does it answer, start it, stop it, where is its log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from usagestream.settings import Settings
from usagestream.stack import kafka_server, postgres_cluster, postgres_standby, procs, redis_server
from usagestream.stack.kafka_server import KafkaLayout
from usagestream.stack.postgres_cluster import Target
from usagestream.stack.procs import StackError
from usagestream.stack.state import StateDir

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class Service(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...

    def answers(self) -> bool: ...
    def start(self, state: StateDir, timeout: float) -> None: ...
    def running(self, info: dict[str, Any]) -> bool: ...
    def stop(self, info: dict[str, Any]) -> None: ...
    def log(self) -> Path | None: ...


def _start_process(svc: ProcessService, state: StateDir, pid: int, timeout: float) -> None:
    """Record the new process at once (so `down` can stop it), then wait until it answers or dies."""
    info: dict[str, Any] = {"pid": pid, "ticks": procs.start_ticks(pid), "port": svc.port}
    state.record(svc.name, info)
    if procs.wait_until(lambda: svc.answers() or not procs.is_ours(info), timeout, pid) and svc.answers():
        return
    died = not procs.is_ours(info)
    if not died:
        svc.stop(info)
    state.record(svc.name, None)
    why = "exited" if died else f"did not answer on {svc.host}:{svc.port} within {timeout:.0f}s"
    raise StackError(f"{svc.name} {why}; end of {svc.log()}:\n{procs.tail(svc.log() or Path())}")


class ProcessService:
    """A service run as our own child process, stopped by pid."""

    name = "process"
    host = "127.0.0.1"
    port = 0

    def answers(self) -> bool:
        return procs.port_open(self.host, self.port)

    def running(self, info: dict[str, Any]) -> bool:
        return procs.is_ours(info)

    def stop(self, info: dict[str, Any]) -> None:
        if procs.is_ours(info):
            procs.stop(int(info["pid"]), int(info["ticks"]), timeout=60.0)

    def log(self) -> Path | None:
        return None


@dataclass
class KafkaService(ProcessService):
    layout: KafkaLayout
    name: str = "kafka"

    def __post_init__(self) -> None:
        self.host, self.port = self.layout.host, self.layout.port

    def start(self, state: StateDir, timeout: float) -> None:
        _require_loopback(self)
        kafka_server.ensure_jars(self.layout.home)
        kafka_server.write_config(self.layout)
        kafka_server.format_storage(self.layout)
        _start_process(self, state, kafka_server.start(self.layout), timeout)

    def log(self) -> Path:
        return self.layout.log


@dataclass
class RedisService(ProcessService):
    folder: Path
    host: str
    port: int
    name: str = "redis"

    def answers(self) -> bool:
        return redis_server.answers(self.host, self.port)

    def start(self, state: StateDir, timeout: float) -> None:
        _require_loopback(self)
        _start_process(self, state, redis_server.start(self.folder, self.host, self.port), timeout)

    def log(self) -> Path:
        return redis_server.log_path(self.folder)


@dataclass
class PostgresService:
    """Debian's PostgreSQL cluster for the DSN's port, started with pg_ctlcluster if it is down."""

    target: Target
    name: str = "postgres"

    @property
    def host(self) -> str:
        return self.target.host

    @property
    def port(self) -> int:
        return self.target.port

    def answers(self) -> bool:
        return procs.port_open(self.host, self.port)

    def start(self, state: StateDir, timeout: float) -> None:
        _require_loopback(self)
        cluster = postgres_cluster.find(self.port)
        if cluster is None:
            raise StackError(
                f"no PostgreSQL cluster for port {self.port} in pg_lsclusters: "
                "apt-get install postgresql, or point USAGESTREAM_POSTGRES_DSN at a server"
            )
        postgres_cluster.start(cluster)
        state.record(self.name, {"cluster": cluster.label, "port": self.port})
        if not procs.wait_until(self.answers, timeout):
            why = f"did not answer within {timeout:.0f}s; see {cluster.log}"
            raise StackError(f"PostgreSQL {cluster.label} {why}")

    def running(self, info: dict[str, Any]) -> bool:
        cluster = postgres_cluster.find(self.port)
        return cluster is not None and cluster.online and cluster.label == info.get("cluster")

    def stop(self, info: dict[str, Any]) -> None:
        cluster = postgres_cluster.find(self.port)
        if cluster is not None and cluster.online and cluster.label == info.get("cluster"):
            postgres_cluster.stop(cluster)

    def log(self) -> Path | None:
        cluster = postgres_cluster.find(self.port)
        return Path(cluster.log) if cluster is not None and cluster.log else None


@dataclass
class StandbyService:
    """A streaming replica of the primary's cluster for USAGESTREAM_POSTGRES_READ_DSN (stack/postgres_standby.py),
    rebuilt from the primary whenever it is started."""

    primary: Target
    target: Target
    name: str = "postgres-standby"

    @property
    def host(self) -> str:
        return self.target.host

    @property
    def port(self) -> int:
        return self.target.port

    def answers(self) -> bool:
        return procs.port_open(self.host, self.port)

    def _standby(self) -> postgres_standby.Standby:
        cluster = postgres_cluster.find(self.primary.port)
        if cluster is None:
            raise StackError(f"no PostgreSQL cluster for the primary's port {self.primary.port} to copy")
        return postgres_standby.Standby(cluster, self.port)

    def start(self, state: StateDir, timeout: float) -> None:
        _require_loopback(self)
        standby = self._standby()
        standby.create()
        state.record(self.name, {"port": self.port, "data": str(standby.data)})
        standby.start(timeout)

    def running(self, info: dict[str, Any]) -> bool:
        return info.get("port") == self.port and self._standby().running()

    def stop(self, info: dict[str, Any]) -> None:
        if info.get("port") == self.port:
            self._standby().remove()

    def log(self) -> Path | None:
        return self._standby().log


def _require_loopback(svc: Service) -> None:
    if svc.host not in LOOPBACK:
        raise StackError(
            f"{svc.name} at {svc.host}:{svc.port} does not answer, and only loopback services can be started here"
        )


def build(settings: Settings, state: StateDir, kafka_home: Path, controller_port: int | None) -> list[Service]:
    """The services named by the settings, in start order."""
    host, port = _host_port(settings.kafka_bootstrap.split(",")[0], 9092)
    layout = KafkaLayout(kafka_home, state.service("kafka"), host, port, controller_port or port + 1)
    redis = urlsplit(settings.redis_url)
    primary = Target.from_dsn(settings.asyncpg_dsn)
    services: list[Service] = [PostgresService(primary)]
    replica = Target.from_dsn(settings.asyncpg_read_dsn)
    recorded = state.started().get(StandbyService.name)
    if recorded is not None and not settings.postgres_read_dsn:
        # started by an `up` with the setting, stopped by a `down` without it: still stop what was started
        replica = Target("127.0.0.1", int(recorded["port"]), primary.role, primary.database)
    if (replica.host, replica.port) != (primary.host, primary.port):
        services.append(StandbyService(primary, replica))
    return [
        *services,
        RedisService(state.service("redis"), redis.hostname or "127.0.0.1", redis.port or 6379),
        KafkaService(layout),
    ]


def _host_port(address: str, default_port: int) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    if not host:
        return port or "127.0.0.1", default_port
    return host.strip("[]"), int(port)
