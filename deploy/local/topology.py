"""What ``telemetry-local`` starts: one of each (``single``) or a small cluster (``cluster``).

``TELEMETRY_LOCAL_TOPOLOGY=cluster`` starts, all on 127.0.0.1:

- three Kafka nodes in KRaft combined mode (broker and controller each, a static quorum of
  three voters). Node *i* (0, 1, 2) listens on ``P + 2i`` and its controller on ``C + 2i``,
  where ``P`` is the port of ``TELEMETRY_KAFKA_BOOTSTRAP`` (or its three ports are the
  brokers, if it lists three) and ``C`` is ``TELEMETRY_KAFKA_CONTROLLER_PORT``. Topics and
  the internal topics get replication factor 3 and ``min.insync.replicas=2``;
- two ClickHouse (chdb) shards of the cluster ``TELEMETRY_CLICKHOUSE_CLUSTER`` (default
  ``telemetry``): shard *i* (0, 1) answers HTTP on ``H + 2i`` and the native protocol on
  ``H + 2i + 1``, where ``H`` is the port of ``TELEMETRY_CLICKHOUSE_URL``. Services talk to
  shard 0; ``Distributed`` tables reach shard 1 over its native port;
- two replicas of each worker (the second one's metrics port is the first one's + 10), two
  ingest processes sharing ``TELEMETRY_INGEST_PORT`` (``SO_REUSEPORT``) and one query service;
  the ingest's publish timeout is at least 15 s, so a request rides out a leader failover.

``effective_settings`` turns the user's settings into the ones every process of the cluster
gets (all brokers in the bootstrap, the shard URLs, ...); it is idempotent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from deploy.local.errors import LaunchError
from deploy.local.ports import LOCAL_HOST, PortUse, clickhouse_http_port, is_loopback, split_host_port
from telemetry_core.settings import PREFIX, Settings

KAFKA_NODES = 3
SHARDS = 2
WORKER_REPLICAS = 2
INGEST_PROCESSES = 2
METRICS_PORT_STRIDE = 10
CLUSTER_REPLICATION = 3
DEFAULT_CLUSTER_NAME = "telemetry"
# A request whose partition leader was just killed waits for the new leader: the broker session
# timeout (deploy.local.kafka) plus an election, several seconds on a loaded machine. The
# ingest's publish timeout must outlast that, or the failover answers 503 instead of 830.
CLUSTER_PUBLISH_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class KafkaNode:
    node_id: int
    port: int
    controller_port: int


@dataclass(frozen=True)
class Shard:
    index: int
    http_port: int
    tcp_port: int

    @property
    def url(self) -> str:
        return f"http://{LOCAL_HOST}:{self.http_port}"


def is_cluster(settings: Settings) -> bool:
    return settings.local_topology == "cluster"


def kafka_nodes(settings: Settings) -> list[KafkaNode]:
    """The local Kafka nodes: one, or three for the cluster topology."""
    setting = f"{PREFIX}KAFKA_BOOTSTRAP"
    servers = [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()]
    wanted = KAFKA_NODES if is_cluster(settings) else 1
    if len(servers) not in {1, wanted}:
        raise LaunchError(f"{setting} must name one local broker (or {wanted} for the cluster topology) "
                          f"to launch Kafka, got {settings.kafka_bootstrap!r}")
    ports = []
    for server in servers:
        host, port = split_host_port(server, setting)
        if not is_loopback(host):
            raise LaunchError(f"{setting} points at {host}, not this machine; unset it to launch a local Kafka")
        ports.append(port)
    if len(ports) < wanted:
        ports = [ports[0] + 2 * i for i in range(wanted)]
    controller = settings.kafka_controller_port
    return [KafkaNode(i + 1, port, controller + 2 * i) for i, port in enumerate(ports)]


def shards(settings: Settings) -> list[Shard]:
    """The local ClickHouse servers: one (no native port), or the shards of the cluster."""
    http = clickhouse_http_port(settings)
    if not is_cluster(settings):
        return [Shard(0, http, 0)]
    return [Shard(i, http + 2 * i, http + 2 * i + 1) for i in range(SHARDS)]


def worker_replicas(settings: Settings) -> int:
    return WORKER_REPLICAS if is_cluster(settings) else 1


def ingest_processes(settings: Settings) -> int:
    return INGEST_PROCESSES if is_cluster(settings) else 1


def effective_settings(settings: Settings) -> Settings:
    """The settings every process gets; unchanged for ``single``."""
    if not is_cluster(settings):
        return settings
    brokers = ",".join(f"{LOCAL_HOST}:{node.port}" for node in kafka_nodes(settings))
    return dataclasses.replace(
        settings,
        kafka_bootstrap=brokers,
        topic_replication=CLUSTER_REPLICATION,
        clickhouse_cluster=settings.clickhouse_cluster or DEFAULT_CLUSTER_NAME,
        clickhouse_shards=",".join(shard.url for shard in shards(settings)),
        ingest_reuse_port=True,
        ingest_processes=INGEST_PROCESSES,  # the per-key rate limits are a ceiling over both
        publish_timeout_s=max(settings.publish_timeout_s, CLUSTER_PUBLISH_TIMEOUT_S),
    )


def server_ports(settings: Settings, *, kafka: bool = True, clickhouse: bool = True) -> list[PortUse]:
    """The ports of the local Kafka node(s) and/or ClickHouse server(s), each with the setting
    that chose it."""
    uses = []
    if kafka:
        for node in kafka_nodes(settings):
            suffix = f" {node.node_id}" if is_cluster(settings) else ""
            uses.append(PortUse(f"kafka{suffix}", node.port, f"{PREFIX}KAFKA_BOOTSTRAP"))
            uses.append(PortUse(f"kafka controller{suffix}", node.controller_port, f"{PREFIX}KAFKA_CONTROLLER_PORT"))
    if clickhouse:
        for shard in shards(settings):
            suffix = f" {shard.index + 1}" if is_cluster(settings) else ""
            uses.append(PortUse(f"clickhouse{suffix}", shard.http_port, f"{PREFIX}CLICKHOUSE_URL"))
            if is_cluster(settings):
                uses.append(PortUse(f"clickhouse native{suffix}", shard.tcp_port, f"{PREFIX}CLICKHOUSE_URL"))
    return uses
