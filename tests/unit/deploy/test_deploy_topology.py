"""The cluster topology's ports and settings, derived from the user's settings."""

from __future__ import annotations

import pytest

from deploy.local.errors import LaunchError
from deploy.local.services import SERVICES, instances
from deploy.local.topology import KafkaNode, effective_settings, kafka_nodes, server_ports, shards
from telemetry_core.settings import Settings, SettingsError

CLUSTER = Settings(local_topology="cluster", kafka_bootstrap="127.0.0.1:38000", kafka_controller_port=38001,
                   clickhouse_url="http://127.0.0.1:38010", flagger_metrics_port=38030, sink_metrics_port=38031)


def test_single_is_one_of_each() -> None:
    assert kafka_nodes(Settings()) == [KafkaNode(1, 9092, 9093)]
    assert [s.http_port for s in shards(Settings())] == [8123]
    assert effective_settings(Settings()) == Settings()
    assert all(len(instances(Settings(), spec)) == 1 for spec in SERVICES)


def test_cluster_ports_interleave_from_the_given_ones() -> None:
    assert kafka_nodes(CLUSTER) == [KafkaNode(1, 38000, 38001), KafkaNode(2, 38002, 38003), KafkaNode(3, 38004, 38005)]
    assert [(s.http_port, s.tcp_port) for s in shards(CLUSTER)] == [(38010, 38011), (38012, 38013)]
    ports = [use.port for use in server_ports(CLUSTER)]
    assert len(ports) == len(set(ports)) == 10


def test_cluster_settings_name_every_broker_and_shard_and_are_idempotent() -> None:
    effective = effective_settings(CLUSTER)
    assert effective.kafka_bootstrap == "127.0.0.1:38000,127.0.0.1:38002,127.0.0.1:38004"
    assert effective.topic_replication == 3
    assert effective.clickhouse_cluster == "telemetry"
    assert effective.shard_urls == ["http://127.0.0.1:38010", "http://127.0.0.1:38012"]
    assert effective.ingest_reuse_port is True
    assert effective.ingest_processes == 2  # each ingest process admits half of a key's rate limit
    assert effective_settings(effective) == effective


def test_workers_get_two_replicas_with_their_own_ports_and_ingest_shares_its_port() -> None:
    by_name = {spec.name: instances(CLUSTER, spec) for spec in SERVICES}
    assert by_name["flagger"] == [("flagger-1", 38030), ("flagger-2", 38040)]
    assert by_name["sink"] == [("sink-1", 38031), ("sink-2", 38041)]
    assert by_name["ingest"] == [("ingest-1", 8080), ("ingest-2", 8080)]
    assert by_name["query"] == [("query", 8081)]


def test_a_remote_broker_cannot_be_launched() -> None:
    with pytest.raises(LaunchError, match="TELEMETRY_KAFKA_BOOTSTRAP"):
        kafka_nodes(Settings(local_topology="cluster", kafka_bootstrap="kafka.internal:9092"))


def test_unknown_topology_is_refused() -> None:
    with pytest.raises(SettingsError, match="TELEMETRY_LOCAL_TOPOLOGY"):
        Settings.from_env({"TELEMETRY_LOCAL_TOPOLOGY": "mesh"})
