"""Real Kafka and ClickHouse for the integration tests: one set per test session.

Where each server comes from, per server, first match wins:

1. the environment: ``TEST_KAFKA_BOOTSTRAP`` (host:port) and ``TEST_CLICKHOUSE_URL``
   (http://host:port, with optional ``TEST_CLICKHOUSE_USER``/``TEST_CLICKHOUSE_PASSWORD``);
   deliberately not ``TELEMETRY_*``, so a developer's service settings never point tests at
   their data;
2. testcontainers, when a Docker engine answers within two seconds;
3. the local launchers of ``make run`` (``deploy.local``), on ports the kernel reports free,
   with all state in this session's pytest tmp folder: parallel sessions and a running
   ``make run`` never meet.

The session gets its own ClickHouse database (``telemetry_test_<random>``), migrated once,
and the pipeline's topics. If a server cannot be started the session fails with the reason;
nothing is skipped. Servers are stopped at the end of the session, also after Ctrl-C.

Fixtures: ``pipeline_settings`` (the session's Settings; service ports are free ports too),
``kafka_bootstrap``, ``clickhouse_client`` (clickhouse-connect, on the session's database,
closed after the test) and ``fresh_settings`` (a copy of the settings whose database is new,
migrated, and dropped after the test).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from deploy.local.errors import LaunchError
from deploy.local.event_loops import run_coroutine
from deploy.local.ports import free_ports
from deploy.local.stack import Stack
from telemetry_core.clickhouse.connection import connect
from telemetry_core.clickhouse.migrate import apply_migrations
from telemetry_core.kafka_admin import ensure_topics
from telemetry_core.settings import Settings

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration is an integration test (``-m "not integration"``
    deselects them all)."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


def docker_reachable(timeout: float = 2.0) -> bool:
    """Whether a Docker engine answers a ping (the CLI alone is not enough)."""
    try:
        import docker  # type: ignore[import-untyped]
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # any failure to reach the engine means: no Docker here
        return False


def kafka_container(stack: contextlib.ExitStack) -> str:
    from testcontainers.community.kafka import KafkaContainer

    container = stack.enter_context(KafkaContainer().with_kraft())
    return str(container.get_bootstrap_server())


def clickhouse_container(stack: contextlib.ExitStack) -> tuple[str, str, str]:
    from testcontainers.community.clickhouse import ClickHouseContainer

    container = stack.enter_context(ClickHouseContainer("clickhouse/clickhouse-server:26.9"))
    url = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(8123)}"
    return url, str(container.username), str(container.password)


def with_local_ports(settings: Settings, data_dir: Path, *, kafka: bool, clickhouse: bool) -> Settings:
    """``settings`` with free ports for the services and for the servers launched here, and
    its state in ``data_dir``."""
    kafka_port, controller, clickhouse_port, ingest, query, flagger, sink = free_ports(7)
    changes: dict[str, object] = {
        "data_dir": data_dir, "ingest_port": ingest, "query_port": query,
        "flagger_metrics_port": flagger, "sink_metrics_port": sink,
    }
    if kafka:
        changes |= {"kafka_bootstrap": f"127.0.0.1:{kafka_port}", "kafka_controller_port": controller}
    if clickhouse:
        changes |= {"clickhouse_url": f"http://127.0.0.1:{clickhouse_port}"}
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


def named_or_container(stack: contextlib.ExitStack, settings: Settings) -> tuple[Settings, bool, bool]:
    """Point ``settings`` at servers named in the environment or started in Docker; return
    it with whether Kafka and ClickHouse still need launching here."""
    kafka_named, clickhouse_named = os.environ.get("TEST_KAFKA_BOOTSTRAP"), os.environ.get("TEST_CLICKHOUSE_URL")
    use_docker = not (kafka_named and clickhouse_named) and docker_reachable()
    launch_kafka = launch_clickhouse = False
    if kafka_named:
        settings = dataclasses.replace(settings, kafka_bootstrap=kafka_named)
    elif use_docker:
        settings = dataclasses.replace(settings, kafka_bootstrap=kafka_container(stack))
    else:
        launch_kafka = True
    if clickhouse_named:
        settings = dataclasses.replace(
            settings, clickhouse_url=clickhouse_named,
            clickhouse_user=os.environ.get("TEST_CLICKHOUSE_USER", "default"),
            clickhouse_password=os.environ.get("TEST_CLICKHOUSE_PASSWORD", ""),
        )
    elif use_docker:
        url, user, password = clickhouse_container(stack)
        settings = dataclasses.replace(settings, clickhouse_url=url, clickhouse_user=user,
                                       clickhouse_password=password)
    else:
        launch_clickhouse = True
    return settings, launch_kafka, launch_clickhouse


def launch_local(
    stack: contextlib.ExitStack, settings: Settings, tmp: Path, *, kafka: bool, clickhouse: bool
) -> Settings:
    """Start the servers not found elsewhere. A port picked as free can be taken by another
    process before the server binds it, so a failed start is retried once on other ports."""
    for attempt in (1, 2):
        settings = with_local_ports(settings, tmp / f"attempt{attempt}", kafka=kafka, clickhouse=clickhouse)
        if not (kafka or clickhouse):
            return settings
        launcher = Stack(settings, tied=True, kafka_heap="512m", out=lambda line: print(f"[pipeline] {line}"))
        stack.callback(launcher.stop)
        try:
            launcher.start_servers(kafka=kafka, clickhouse=clickhouse)
            return settings
        except LaunchError as exc:
            launcher.stop()
            if attempt == 2:
                raise
            print(f"[pipeline] retrying on other ports: {exc}")
    raise AssertionError("unreachable")


@contextlib.contextmanager
def running_pipeline(tmp: Path) -> Iterator[Settings]:
    """Find or start Kafka and ClickHouse, migrate and create the topics; stop on exit."""
    with contextlib.ExitStack() as stack:
        settings = Settings(data_dir=tmp, clickhouse_database=f"telemetry_test_{uuid.uuid4().hex[:8]}")
        settings, launch_kafka, launch_clickhouse = named_or_container(stack, settings)
        settings = launch_local(stack, settings, tmp, kafka=launch_kafka, clickhouse=launch_clickhouse)
        apply_migrations(settings)
        stack.callback(drop_database, settings)
        run_coroutine(lambda: ensure_topics(settings), timeout=60.0)
        yield settings


def drop_database(settings: Settings) -> None:
    client = connect(settings, with_database=False)
    try:
        client.command(f"DROP DATABASE IF EXISTS {settings.clickhouse_database} SYNC")
    finally:
        client.close()


@pytest.fixture(scope="session")
def pipeline_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at this session's running Kafka and ClickHouse."""
    with running_pipeline(tmp_path_factory.mktemp("pipeline")) as settings:
        yield settings


@pytest.fixture(scope="session")
def kafka_bootstrap(pipeline_settings: Settings) -> str:
    return pipeline_settings.kafka_bootstrap


@pytest.fixture
def clickhouse_client(pipeline_settings: Settings) -> Iterator[Client]:
    """A clickhouse-connect client on the session's database, closed after the test."""
    client = connect(pipeline_settings)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def fresh_settings(pipeline_settings: Settings) -> Iterator[Settings]:
    """The session's settings with a database of its own: migrated before, dropped after."""
    settings = dataclasses.replace(pipeline_settings, clickhouse_database=f"t_{uuid.uuid4().hex[:12]}")
    apply_migrations(settings)
    try:
        yield settings
    finally:
        drop_database(settings)
