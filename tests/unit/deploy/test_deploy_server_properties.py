from __future__ import annotations

import base64
from pathlib import Path

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
