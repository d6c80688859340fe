"""Local Kafka nodes (KRaft, broker and controller in one JVM each) for local runs and tests.

One node (``single``): layout under ``DATA_DIR/kafka``: ``server.properties`` (rewritten at
every start from the settings) and ``logs/`` (the partitions; formatted once, kept across
restarts). The broker listens on 127.0.0.1 only, on the port of ``TELEMETRY_KAFKA_BOOTSTRAP``,
and its controller on ``TELEMETRY_KAFKA_CONTROLLER_PORT``.

Three nodes (``cluster``, ports in ``deploy.local.topology``): ``DATA_DIR/kafka-1`` ... each,
a static quorum of the three controllers, and ``DATA_DIR/kafka-cluster-id`` (the id all three
are formatted with). Replication factor 3 and ``min.insync.replicas=2`` for every topic, the
internal ones included: one node may be down and every acks=all write still succeeds.
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
from deploy.local.ports import LOCAL_HOST
from deploy.local.processes import tail
from deploy.local.topology import KafkaNode

FORMAT_TIMEOUT_S = 120
# A cluster node killed without notice is fenced (its partitions get new leaders) after this
# long without a heartbeat (Kafka's default is 9 s); see CLUSTER_PUBLISH_TIMEOUT_S in topology.
CLUSTER_SESSION_TIMEOUT_MS = 2000
CLUSTER_HEARTBEAT_MS = 500


def render_server_properties(
    broker_port: int, controller_port: int, log_dirs: Path, *, node_id: int = 1, voters: list[KafkaNode] | None = None
) -> str:
    """The node's configuration, in both roles. Alone (``voters`` None): replication factor 1
    for the internal topics. In a cluster (``voters``: every node): a static quorum of their
    controllers, replication factor 3 and min ISR 2. Few ``__consumer_offsets`` partitions
    either way, so the first consumer group is ready quickly."""
    host = LOCAL_HOST
    if voters:
        quorum = "controller.quorum.voters=" + ",".join(f"{v.node_id}@{host}:{v.controller_port}" for v in voters)
    else:
        quorum = f"controller.quorum.bootstrap.servers={host}:{controller_port}"
    replication, isr = (str(min(3, len(voters))), "2") if voters else ("1", "1")
    lines = [
        "process.roles=broker,controller",
        f"node.id={node_id}",
        quorum,
        f"listeners=PLAINTEXT://{host}:{broker_port},CONTROLLER://{host}:{controller_port}",
        f"advertised.listeners=PLAINTEXT://{host}:{broker_port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={log_dirs}",
        "num.partitions=1",
        f"offsets.topic.replication.factor={replication}",
        "offsets.topic.num.partitions=4",
        f"transaction.state.log.replication.factor={replication}",
        f"transaction.state.log.min.isr={isr}",
        "transaction.state.log.num.partitions=4",
        f"share.coordinator.state.topic.replication.factor={replication}",
        f"share.coordinator.state.topic.min.isr={isr}",
        "group.initial.rebalance.delay.ms=0",
    ]
    if voters:
        lines += [
            f"default.replication.factor={replication}",
            f"min.insync.replicas={isr}",
            "unclean.leader.election.enable=false",
            f"broker.session.timeout.ms={CLUSTER_SESSION_TIMEOUT_MS}",
            f"broker.heartbeat.interval.ms={CLUSTER_HEARTBEAT_MS}",
        ]
    return "\n".join(lines) + "\n"


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, never starting with
    ``-`` (``kafka-storage format -t -abc...`` reads it as an option and fails, 1 start in 64;
    Kafka's own ``Uuid.randomUuid`` skips those ids too)."""
    while True:
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not found.startswith("-"):
            return found


def log4j_config() -> Path:
    return pom_path().parent / "log4j2.properties"


def java_path() -> str:
    java = shutil.which("java")
    if java is None:
        raise LaunchError("java not found on PATH; Kafka needs a Java 17+ runtime "
                          "(e.g. apt-get install openjdk-17-jre-headless)")
    return java


class KafkaServer:
    """One node's process: ``prepare`` writes the config and formats the storage once.

    ``voters`` (every node of a cluster, this one among them) makes it a cluster node, named
    ``kafka-<node id>``; without it, it is the single node ``kafka``.
    """

    ready_timeout_s = 90.0
    stop_timeout_s = 30.0

    def __init__(
        self, data_dir: Path, node: KafkaNode, libs_dir: Path, log_path: Path, heap: str = "1g",
        voters: list[KafkaNode] | None = None,
    ) -> None:
        self.node = node
        self.voters = voters
        self.name = f"kafka-{node.node_id}" if voters else "kafka"
        self.port = node.port
        self.controller_port = node.controller_port
        self.root = (data_dir / self.name).resolve()
        self.cluster_id_path = (data_dir / "kafka-cluster-id").resolve()
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
        self.properties.write_text(render_server_properties(
            self.port, self.controller_port, self.log_dirs, node_id=self.node.node_id, voters=self.voters))
        if (self.log_dirs / "meta.properties").exists():
            return
        # a static quorum: every node is formatted with one cluster id
        quorum = ["-t", self._shared_cluster_id()] if self.voters else ["--standalone", "-t", new_cluster_id()]
        argv = self._java("kafka.tools.StorageTool", "format", *quorum, "-c", str(self.properties))
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

    def _shared_cluster_id(self) -> str:
        if not self.cluster_id_path.exists():
            self.cluster_id_path.write_text(new_cluster_id() + "\n")
        return self.cluster_id_path.read_text().strip()

    def is_ready(self) -> bool:
        """The broker accepts connections and answers a metadata request."""
        with socket.socket() as sock:
            sock.settimeout(1.0)
            if sock.connect_ex((LOCAL_HOST, self.port)) != 0:
                return False
        node = self.node.node_id if self.voters else None
        try:
            return run_coroutine(lambda: answers_metadata(self.bootstrap, node), timeout=10.0)
        except TimeoutError:
            return False


async def answers_metadata(bootstrap: str, node_id: int | None = None) -> bool:
    """True if a broker at ``bootstrap`` lists its topics (and, given ``node_id``, that node is
    among the cluster's registered brokers, so topics with replication factor 3 can be made)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        await admin.list_topics()
        if node_id is not None:
            cluster = await admin.describe_cluster()
            return any(int(broker["node_id"]) == node_id for broker in cluster["brokers"])
        return True
    except (KafkaError, OSError):
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
