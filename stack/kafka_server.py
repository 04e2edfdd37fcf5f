"""The local Apache Kafka: jars resolved with Maven into a cache, one KRaft broker+controller on the JVM."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from usagestream.stack import procs
from usagestream.stack.procs import StackError

KAFKA_VERSION = "4.4.0"
HEAP = ["-Xms256m", "-Xmx768m"]  # the issue caps the broker at 1 GiB; 768 MiB leaves room for metaspace
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class KafkaLayout:
    """Where one broker keeps its config, data and logs (under the state folder) and its jars (a cache)."""

    home: Path
    folder: Path
    host: str
    port: int
    controller_port: int

    @property
    def libs(self) -> Path:
        return self.home / "libs"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def config(self) -> Path:
        return self.folder / "server.properties"

    @property
    def log(self) -> Path:
        return self.folder / "logs" / "server.log"

    @property
    def stdout(self) -> Path:
        return self.folder / "logs" / "stdout.log"


def default_home() -> Path:
    """USAGESTREAM_KAFKA_HOME, else ~/.cache/usagestream/kafka-<version>."""
    env = os.environ.get("USAGESTREAM_KAFKA_HOME")
    return Path(env) if env else Path.home() / ".cache" / "usagestream" / f"kafka-{KAFKA_VERSION}"


def ensure_jars(home: Path) -> None:
    """Copy Kafka and its runtime dependencies from Maven Central into home/libs, once.

    Maven writes into libs.partial which is renamed at the end, so an interrupted download is retried whole.
    """
    libs = home / "libs"
    if libs.is_dir():
        return
    mvn = _tool("mvn", "install Maven (apt-get install maven)")
    home.mkdir(parents=True, exist_ok=True)
    partial = home / "libs.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copy(HERE / "kafka-pom.xml", home / "pom.xml")
    print(f"kafka: resolving Kafka {KAFKA_VERSION} with Maven into {libs} (first run only)", flush=True)
    done = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(home / "pom.xml"),
            "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies",
            f"-DoutputDirectory={partial}",
            "-DincludeScope=runtime",
            f"-Dkafka.version={KAFKA_VERSION}",
        ],
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        output = done.stdout[-3000:] + done.stderr[-2000:]
        raise StackError(f"Maven could not resolve Kafka {KAFKA_VERSION}:\n{output}")
    partial.rename(libs)


def write_config(k: KafkaLayout) -> None:
    """server.properties for one node: replication factor 1 everywhere, topics only created on purpose."""
    k.data.mkdir(parents=True, exist_ok=True)
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{k.host}:{k.controller_port}",
        "listeners": f"PLAINTEXT://{k.host}:{k.port},CONTROLLER://{k.host}:{k.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{k.host}:{k.port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(k.data),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "6",  # the default 50 partitions slow the first consumer group down
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",  # topics come from `usagestream topics`, with their policies
    }
    k.config.write_text("".join(f"{key}={value}\n" for key, value in props.items()))


def format_storage(k: KafkaLayout) -> None:
    """Format the KRaft log folder once; the cluster id is kept beside it."""
    if (k.data / "meta.properties").exists():
        return
    id_file = k.folder / "cluster-id"
    if not id_file.exists():
        id_file.write_text(_cluster_id() + "\n")
    done = subprocess.run(
        [*_java(k), "kafka.tools.StorageTool", "format", "-t", id_file.read_text().strip(), "-c", str(k.config)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise StackError(f"kafka storage format failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def start(k: KafkaLayout) -> int:
    """Start the broker detached; its pid."""
    k.log.parent.mkdir(parents=True, exist_ok=True)
    argv = [*_java(k, *HEAP), "kafka.Kafka", str(k.config)]
    return procs.spawn(argv, k.stdout, cwd=k.folder)


def _java(k: KafkaLayout, *jvm: str) -> list[str]:
    java = _tool("java", "install a JRE >= 17 (apt-get install default-jre-headless)")
    return [
        java,
        *jvm,
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={HERE / 'kafka-log4j2.properties'}",
        f"-Dkafka.logs.dir={k.log.parent}",
        "-cp",
        f"{k.libs}/*",
    ]


def _cluster_id() -> str:
    """A random Kafka Uuid in its base64url form; like Kafka's own, never starting with '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"`{name}` is not on PATH: {hint}")
    return path
