"""A single-node Kafka (KRaft, broker and controller in one JVM) for local runs and tests.

Layout under ``DATA_DIR/kafka``: ``server.properties`` (rewritten at every start from the
settings) and ``logs/`` (the partitions; formatted once, kept across restarts). The broker
listens on 127.0.0.1 only, on the port of ``TELEMETRY_KAFKA_BOOTSTRAP``, and its controller on
``TELEMETRY_KAFKA_CONTROLLER_PORT``.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import socket
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from deploy.local.errors import LaunchError
from deploy.local.event_loops import run_coroutine
from deploy.local.kafka_jars import pom_path
from deploy.local.ports import LOCAL_HOST, kafka_port
from deploy.local.processes import tail
from telemetry_core.settings import Settings

FORMAT_TIMEOUT_S = 120


def render_server_properties(broker_port: int, controller_port: int, log_dirs: Path) -> str:
    """The broker's configuration: one node in both roles, replication factor 1 for the
    internal topics, and few ``__consumer_offsets`` partitions so the first consumer group
    is ready quickly."""
    host = LOCAL_HOST
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.bootstrap.servers={host}:{controller_port}",
        f"listeners=PLAINTEXT://{host}:{broker_port},CONTROLLER://{host}:{controller_port}",
        f"advertised.listeners=PLAINTEXT://{host}:{broker_port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={log_dirs}",
        "num.partitions=1",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=4",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=4",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
    ]
    return "\n".join(lines) + "\n"


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def log4j_config() -> Path:
    return pom_path().parent / "log4j2.properties"


def java_path() -> str:
    java = shutil.which("java")
    if java is None:
        raise LaunchError("java not found on PATH; Kafka needs a Java 17+ runtime "
                          "(e.g. apt-get install openjdk-17-jre-headless)")
    return java


class KafkaServer:
    """The broker process: ``prepare`` writes the config and formats the storage once."""

    name = "kafka"
    ready_timeout_s = 60.0
    stop_timeout_s = 30.0

    def __init__(self, settings: Settings, libs_dir: Path, log_path: Path, heap: str = "1g") -> None:
        self.port = kafka_port(settings)
        self.controller_port = settings.kafka_controller_port
        self.root = (settings.data_dir / "kafka").resolve()
        self.libs_dir = libs_dir
        self.log_path = log_path
        self.heap = heap
        self.bootstrap = f"{LOCAL_HOST}:{self.port}"

    @property
    def ports(self) -> list[int]:
        return [self.port, self.controller_port]

    @property
    def properties(self) -> Path:
        return self.root / "server.properties"

    @property
    def log_dirs(self) -> Path:
        return self.root / "logs"

    def _java(self, main_class: str, *args: str, heap: str | None = None) -> list[str]:
        memory = [f"-Xmx{heap}"] if heap else []
        return [java_path(), *memory, f"-Dlog4j2.configurationFile={log4j_config()}",
                "-cp", str(self.libs_dir / "*"), main_class, *args]

    def argv(self) -> list[str]:
        return self._java("kafka.Kafka", str(self.properties), heap=self.heap)

    def env(self) -> Mapping[str, str] | None:
        return None

    def cwd(self) -> Path | None:
        return self.root

    def prepare(self) -> None:
        """Write ``server.properties``; format the storage unless ``meta.properties`` exists."""
        self.log_dirs.mkdir(parents=True, exist_ok=True)
        self.properties.write_text(render_server_properties(self.port, self.controller_port, self.log_dirs))
        if (self.log_dirs / "meta.properties").exists():
            return
        argv = self._java("kafka.tools.StorageTool", "format", "--standalone",
                          "-t", new_cluster_id(), "-c", str(self.properties))
        argv.insert(1, "-XX:TieredStopAtLevel=1")  # a one-second tool: skip the optimising compiler
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            try:
                result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        cwd=self.root, timeout=FORMAT_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired:
                raise LaunchError(f"formatting the Kafka storage took over {FORMAT_TIMEOUT_S} s; "
                                  f"see {self.log_path}") from None
        if result.returncode != 0:
            raise LaunchError(f"formatting the Kafka storage in {self.log_dirs} failed; see {self.log_path}",
                              tail(self.log_path))

    def is_ready(self) -> bool:
        """The broker accepts connections and answers a metadata request."""
        with socket.socket() as sock:
            sock.settimeout(1.0)
            if sock.connect_ex((LOCAL_HOST, self.port)) != 0:
                return False
        try:
            return run_coroutine(lambda: answers_metadata(self.bootstrap), timeout=10.0)
        except TimeoutError:
            return False


async def answers_metadata(bootstrap: str) -> bool:
    """True if a broker at ``bootstrap`` lists its topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
