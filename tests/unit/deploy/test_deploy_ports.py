from __future__ import annotations

import socket

import pytest

from deploy.local.errors import LaunchError
from deploy.local.ports import (
    PortUse,
    clickhouse_http_port,
    free_ports,
    is_loopback,
    kafka_port,
    port_is_free,
    require_free,
    split_host_port,
)
from deploy.local.topology import server_ports
from telemetry_core.settings import Settings


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "kafka", "0.0.0.0", "example.com", ""])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_split_host_port() -> None:
    assert split_host_port("127.0.0.1:9092", "X") == ("127.0.0.1", 9092)
    assert split_host_port("[::1]:19092", "X") == ("::1", 19092)


@pytest.mark.parametrize("text", ["127.0.0.1", ":9092", "host:", "host:abc", "host:0", "host:70000"])
def test_split_host_port_refuses_bad_values_naming_the_setting(text: str) -> None:
    with pytest.raises(LaunchError, match="TELEMETRY_KAFKA_BOOTSTRAP"):
        split_host_port(text, "TELEMETRY_KAFKA_BOOTSTRAP")


def test_kafka_port_from_bootstrap() -> None:
    assert kafka_port(Settings()) == 9092
    assert kafka_port(Settings(kafka_bootstrap="localhost:19092")) == 19092


@pytest.mark.parametrize(("bootstrap", "message"), [
    ("10.1.1.1:9092", "not this machine"),
    ("127.0.0.1:9092,127.0.0.1:9094", "one local broker"),
])
def test_kafka_port_refuses_what_cannot_be_launched_here(bootstrap: str, message: str) -> None:
    with pytest.raises(LaunchError, match=message):
        kafka_port(Settings(kafka_bootstrap=bootstrap))


def test_clickhouse_port_from_url() -> None:
    assert clickhouse_http_port(Settings()) == 8123
    assert clickhouse_http_port(Settings(clickhouse_url="http://127.0.0.1")) == 8123
    assert clickhouse_http_port(Settings(clickhouse_url="http://localhost:18123/")) == 18123


@pytest.mark.parametrize("url", ["https://127.0.0.1:8443", "http://clickhouse.internal:8123", "127.0.0.1:8123"])
def test_clickhouse_port_refuses_what_cannot_be_launched_here(url: str) -> None:
    with pytest.raises(LaunchError, match="TELEMETRY_CLICKHOUSE_URL"):
        clickhouse_http_port(Settings(clickhouse_url=url))


def test_server_ports_name_their_settings() -> None:
    uses = server_ports(Settings(kafka_controller_port=19093))
    assert [(u.port, u.setting) for u in uses] == [
        (9092, "TELEMETRY_KAFKA_BOOTSTRAP"),
        (19093, "TELEMETRY_KAFKA_CONTROLLER_PORT"),
        (8123, "TELEMETRY_CLICKHOUSE_URL"),
    ]
    assert [u.component for u in server_ports(Settings(), kafka=False)] == ["clickhouse"]


def test_port_in_use_is_reported_with_its_setting() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not port_is_free(port)
        with pytest.raises(LaunchError, match=f"port {port} \\(query\\) is already in use.*TELEMETRY_QUERY_PORT"):
            require_free([PortUse("query", port, "TELEMETRY_QUERY_PORT")])
    assert port_is_free(port)


def test_a_port_given_twice_is_refused() -> None:
    (port,) = free_ports(1)
    with pytest.raises(LaunchError, match="given twice: TELEMETRY_A and TELEMETRY_B"):
        require_free([PortUse("a", port, "TELEMETRY_A"), PortUse("b", port, "TELEMETRY_B")])


def test_free_ports_are_distinct_and_free() -> None:
    ports = free_ports(7)
    assert len(set(ports)) == 7
    assert all(port_is_free(p) for p in ports)
