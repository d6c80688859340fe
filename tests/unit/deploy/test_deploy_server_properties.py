from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from deploy.local import kafka
from deploy.local.kafka import new_cluster_id, render_server_properties


def parse(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")]
    return {key: value for key, value in pairs}


def test_one_node_in_both_roles_on_loopback() -> None:
    props = parse(render_server_properties(19092, 19093, Path("/data/kafka/logs")))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["log.dirs"] == "/data/kafka/logs"


def test_internal_topics_fit_a_single_broker() -> None:
    props = parse(render_server_properties(9092, 9093, Path("/x")))
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr", "share.coordinator.state.topic.replication.factor",
                "share.coordinator.state.topic.min.isr"):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert "auto.create.topics.enable" not in props


def test_cluster_id_is_16_random_bytes_in_url_safe_base64() -> None:
    first, second = new_cluster_id(), new_cluster_id()
    assert first != second
    assert len(first) == 22 and "=" not in first
    assert len(base64.urlsafe_b64decode(first + "==")) == 16


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """``kafka-storage format -t <id>`` would read such an id as an option."""
    dash_first = uuid.UUID(bytes=base64.urlsafe_b64decode("-" + "A" * 21 + "=="))
    ids = iter([dash_first, uuid.UUID(int=1)])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(ids))
    assert new_cluster_id() == base64.urlsafe_b64encode(uuid.UUID(int=1).bytes).decode().rstrip("=")


def test_a_cluster_node_has_a_static_quorum_and_replicates_everything_three_times() -> None:
    from deploy.local.topology import KafkaNode

    voters = [KafkaNode(1, 9092, 9093), KafkaNode(2, 9094, 9095), KafkaNode(3, 9096, 9097)]
    props = parse(render_server_properties(9094, 9095, Path("/x"), node_id=2, voters=voters))
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    assert "controller.quorum.bootstrap.servers" not in props
    assert props["default.replication.factor"] == props["offsets.topic.replication.factor"] == "3"
    assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"
    assert props["unclean.leader.election.enable"] == "false"


def test_a_shard_config_lists_every_shard_of_its_cluster() -> None:
    from deploy.local.clickhouse_server import render_config

    xml = render_config(8123, 8124, "telemetry", ["127.0.0.1:8124", "127.0.0.1:8126"])
    assert "<tcp_port>8124</tcp_port>" in xml and "<remote_servers>" in xml and "<telemetry>" in xml
    assert xml.count("<shard>") == 2 and "<port>8126</port>" in xml
    assert "tcp_port" not in render_config(8123, None, None, [])
