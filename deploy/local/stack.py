"""The local pipeline as one unit: Kafka and ClickHouse, their schema and topics, then the
services, in the topology of ``TELEMETRY_LOCAL_TOPOLOGY`` (``deploy.local.topology``). Used by
``telemetry-local`` and by the integration-test fixtures.

Guarantees: every process this object starts gets a pid file in ``DATA_DIR/run`` and a log in
``DATA_DIR/logs``; ``stop`` stops them in reverse start order (SIGTERM, then SIGKILL after the
component's stop timeout) and removes their pid files; every wait has a deadline.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from deploy.local import pidfiles
from deploy.local.clickhouse import ClickHouseServer
from deploy.local.component import Component, Started
from deploy.local.environment import child_environ
from deploy.local.errors import LaunchError
from deploy.local.event_loops import run_coroutine
from deploy.local.kafka import KafkaServer, java_path
from deploy.local.kafka_jars import ensure_jars
from deploy.local.ports import PortUse, require_free
from deploy.local.processes import spawn, stop_child, wait_until
from deploy.local.services import SERVICES, Service, ServiceSpec, instances, is_installed
from deploy.local.topology import (
    METRICS_PORT_STRIDE,
    effective_settings,
    is_cluster,
    kafka_nodes,
    server_ports,
    shards,
)
from telemetry_core.clickhouse.migrate import apply_migrations
from telemetry_core.kafka_admin import ensure_topics
from telemetry_core.settings import Settings

TOPICS_TIMEOUT_S = 60.0
RACE_RETRY_DELAY_S = 1.0
START_MARK = "==== telemetry-local: starting "


def is_cluster_node(name: str) -> bool:
    """A node of the local Kafka cluster (``kafka-1`` ...), stopped together with the others."""
    return name.startswith("kafka-")


def lost_port_race(log_path: Path) -> bool:
    """Whether the last start logged in ``log_path`` failed because a port was taken."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return False
    return "already in use" in text[text.rfind(START_MARK):].lower()


def installed_services() -> list[ServiceSpec]:
    return [spec for spec in SERVICES if is_installed(spec.script)]


def service_ports(settings: Settings, specs: Sequence[ServiceSpec]) -> list[PortUse]:
    """One port per service process (processes sharing a port count it once)."""
    uses = []
    for spec in specs:
        ports = dict.fromkeys(port for _, port in instances(settings, spec))
        uses += [PortUse(spec.name, port, spec.port_setting) for port in ports]
    return uses


class Stack:
    """Starts and stops the local processes of one ``DATA_DIR``.

    ``tied=True`` (run, tests): children get SIGTERM if this process dies. ``tied=False``
    (``up``): children outlive it and are stopped later through their pid files.
    ``settings`` become the topology's effective settings (``self.settings``).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        libs_dir: Path | None = None,
        tied: bool = True,
        environ: Mapping[str, str] | None = None,
        out: Callable[[str], None] = print,
        kafka_heap: str = "1g",
    ) -> None:
        settings = self.settings = effective_settings(settings)
        self.run_dir = settings.data_dir / "run"
        self.logs_dir = settings.data_dir / "logs"
        self.libs_dir = libs_dir
        self.tied = tied
        self.environ = child_environ(settings, os.environ if environ is None else environ)
        self.out = out
        self.kafka_heap = kafka_heap
        self.started: list[Started] = []
        self._stopped: dict[str, Component] = {}

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def start_servers(self, *, kafka: bool = True, clickhouse: bool = True) -> None:
        """Start Kafka and/or ClickHouse and wait until they answer."""
        require_free(server_ports(self.settings, kafka=kafka, clickhouse=clickhouse))
        servers: list[Component] = []
        data_dir, cluster = self.settings.data_dir, is_cluster(self.settings)
        if clickhouse:  # first: it starts while Kafka's storage is being formatted
            all_shards = shards(self.settings)
            for shard in all_shards:
                name = f"clickhouse-{shard.index + 1}" if cluster else "clickhouse"
                servers.append(ClickHouseServer(data_dir, shard, self.log_path(name), shards=all_shards,
                                                cluster=self.settings.clickhouse_cluster if cluster else None))
        if kafka:
            java_path()
            libs = ensure_jars(self.libs_dir)
            nodes = kafka_nodes(self.settings)
            for node in nodes:
                name = f"kafka-{node.node_id}" if cluster else "kafka"
                servers.append(KafkaServer(data_dir, node, libs, self.log_path(name), heap=self.kafka_heap,
                                           voters=nodes if cluster else None))
        self._launch(servers)

    def prepare_data(self) -> tuple[list[str], list[str]]:
        """Apply the ClickHouse migrations and create the topics; return (migrations applied,
        topics created)."""
        try:
            applied = apply_migrations(self.settings)
        except Exception as exc:
            raise LaunchError(f"applying the ClickHouse migrations failed: {exc}") from exc
        try:
            created = run_coroutine(lambda: ensure_topics(self.settings), TOPICS_TIMEOUT_S)
        except Exception as exc:
            raise LaunchError(f"creating the Kafka topics failed: {exc}") from exc
        return applied, created

    def start_services(self, specs: Sequence[ServiceSpec]) -> None:
        """Start the given services and wait until each answers on its port."""
        require_free(service_ports(self.settings, specs))
        services = [
            Service(spec, self.settings, self.log_path(name), self.environ, name=name, port=port)
            for spec in specs
            for name, port in instances(self.settings, spec)
        ]
        self._launch(services)

    def add_replica(self, service: str, number: int) -> str:
        """Start replica ``number`` (1-based) of a worker beyond the topology's own, e.g. a
        third flagger mid-stream; returns its name. Its metrics port follows the same rule."""
        spec = next(s for s in SERVICES if s.name == service and s.scaling == "replicas")
        name, port = f"{service}-{number}", int(getattr(self.settings, spec.port_field)) + METRICS_PORT_STRIDE * (
            number - 1)
        require_free([PortUse(name, port, spec.port_setting)])
        self._launch([Service(spec, self.settings, self.log_path(name), self.environ, name=name, port=port)])
        return name

    def find(self, name: str) -> Started:
        """The started process named ``name`` (``kafka-2``, ``sink-1`` ...)."""
        found = next((s for s in self.started if s.component.name == name), None)
        if found is None:
            raise LaunchError(f"{name} was not started by this launcher")
        return found

    def kill(self, name: str) -> None:
        """SIGKILL ``name`` (a crash, for fault tests) and forget it; its data stays."""
        started = self.find(name)
        started.process.kill()
        started.process.wait(30)
        self.started.remove(started)
        self._stopped[name] = started.component
        pidfiles.remove(self.run_dir, name)

    def relaunch(self, *names: str) -> None:
        """Start components again that ``kill`` or ``stop_one`` ended (together), and wait
        until each is ready."""
        missing = [name for name in names if name not in self._stopped]
        if missing:
            raise LaunchError(f"{', '.join(missing)} is not a stopped component of this launcher")
        self._launch([self._stopped.pop(name) for name in names])

    def stop_one(self, name: str) -> None:
        """SIGTERM ``name`` (then SIGKILL after its stop timeout) and forget it."""
        started = self.find(name)
        stop_child(started.process, started.component.stop_timeout_s)
        self.started.remove(started)
        self._stopped[name] = started.component
        pidfiles.remove(self.run_dir, name)

    def _launch(self, components: Sequence[Component]) -> None:
        if not components:
            return
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        launched = [self._spawn(component) for component in components]
        for started in launched:
            component = started.component
            try:
                self._wait_ready(started)
            except LaunchError:
                if started.process.poll() is None or not lost_port_race(component.log_path):
                    raise
                # Our ports are in the kernel's ephemeral range: an outgoing connection of a
                # sibling (a Kafka node dialling a controller) can hold one for a moment.
                self.out(f"{component.name} found a port taken while starting; starting it once more")
                self.started.remove(started)
                time.sleep(RACE_RETRY_DELAY_S)
                started = self._spawn(component)
                self._wait_ready(started)

    def _spawn(self, component: Component) -> Started:
        with open(component.log_path, "a", encoding="utf-8") as log:
            log.write(f"{START_MARK}{component.name} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        component.prepare()
        argv = component.argv()
        process = spawn(argv, component.log_path, env=component.env(), cwd=component.cwd(), tied=self.tied)
        started = Started(component, process)
        self.started.append(started)
        pidfiles.write(self.run_dir, pidfiles.record_for(component.name, process.pid, argv, component.ports))
        return started

    def _wait_ready(self, started: Started) -> None:
        component = started.component
        wait_until(component.name, component.is_ready, component.ready_timeout_s,
                   process=started.process, log_path=component.log_path, interval=0.1)
        took = time.monotonic() - started.started_at
        self.out(f"{component.name} ready in {took:.1f} s (pid {started.process.pid}, port {component.ports[0]})")

    def first_exited(self) -> Started | None:
        """A started process that has exited on its own, if any."""
        return next((s for s in self.started if s.process.poll() is not None), None)

    def stop(self) -> None:
        """Stop everything started, newest first; idempotent. Nodes of a Kafka cluster get
        SIGTERM together: the last one alone would wait for a quorum that has already left."""
        while self.started:
            started = self.started.pop()
            if is_cluster_node(started.component.name):
                for other in self.started:
                    if is_cluster_node(other.component.name) and other.process.poll() is None:
                        other.process.send_signal(signal.SIGTERM)
            began = time.monotonic()
            code = stop_child(started.process, started.component.stop_timeout_s)
            pidfiles.remove(self.run_dir, started.component.name)
            # 143 is how a JVM reports a SIGTERM it handled (Kafka's normal shutdown)
            note = "" if code in (0, 143, -signal.SIGTERM) else f" (exit code {code})"
            self.out(f"stopped {started.component.name} in {time.monotonic() - began:.1f} s{note}")
