"""The local pipeline as one unit: Kafka and ClickHouse, their schema and topics, then the
services. Used by ``telemetry-local`` and by the integration-test fixtures.

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
from deploy.local.ports import PortUse, require_free, server_ports
from deploy.local.processes import spawn, stop_child, wait_until
from deploy.local.services import SERVICES, Service, ServiceSpec, is_installed
from telemetry_core.clickhouse.migrate import apply_migrations
from telemetry_core.kafka_admin import ensure_topics
from telemetry_core.settings import Settings

TOPICS_TIMEOUT_S = 60.0


def installed_services() -> list[ServiceSpec]:
    return [spec for spec in SERVICES if is_installed(spec.script)]


def service_ports(settings: Settings, specs: Sequence[ServiceSpec]) -> list[PortUse]:
    return [PortUse(spec.name, int(getattr(settings, spec.port_field)), spec.port_setting) for spec in specs]


class Stack:
    """Starts and stops the local processes of one ``DATA_DIR``.

    ``tied=True`` (run, tests): children get SIGTERM if this process dies. ``tied=False``
    (``up``): children outlive it and are stopped later through their pid files.
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
        self.settings = settings
        self.run_dir = settings.data_dir / "run"
        self.logs_dir = settings.data_dir / "logs"
        self.libs_dir = libs_dir
        self.tied = tied
        self.environ = child_environ(settings, os.environ if environ is None else environ)
        self.out = out
        self.kafka_heap = kafka_heap
        self.started: list[Started] = []

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def start_servers(self, *, kafka: bool = True, clickhouse: bool = True) -> None:
        """Start Kafka and/or ClickHouse and wait until they answer."""
        require_free(server_ports(self.settings, kafka=kafka, clickhouse=clickhouse))
        servers: list[Component] = []
        if clickhouse:  # first: it starts while Kafka's storage is being formatted
            servers.append(ClickHouseServer(self.settings, self.log_path("clickhouse")))
        if kafka:
            java_path()
            libs = ensure_jars(self.libs_dir)
            servers.append(KafkaServer(self.settings, libs, self.log_path("kafka"), heap=self.kafka_heap))
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
        services = [Service(spec, self.settings, self.log_path(spec.name), self.environ) for spec in specs]
        self._launch(services)

    def _launch(self, components: Sequence[Component]) -> None:
        if not components:
            return
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        for component in components:
            with open(component.log_path, "a", encoding="utf-8") as log:
                log.write(f"==== telemetry-local: starting {component.name} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            component.prepare()
            argv = component.argv()
            process = spawn(argv, component.log_path, env=component.env(), cwd=component.cwd(), tied=self.tied)
            self.started.append(Started(component, process))
            pidfiles.write(self.run_dir, pidfiles.record_for(component.name, process.pid, argv, component.ports))
        for started in self.started[-len(components):]:
            component = started.component
            wait_until(component.name, component.is_ready, component.ready_timeout_s,
                       process=started.process, log_path=component.log_path, interval=0.1)
            took = time.monotonic() - started.started_at
            self.out(f"{component.name} ready in {took:.1f} s (pid {started.process.pid}, port {component.ports[0]})")

    def first_exited(self) -> Started | None:
        """A started process that has exited on its own, if any."""
        return next((s for s in self.started if s.process.poll() is not None), None)

    def stop(self) -> None:
        """Stop everything started, newest first; idempotent."""
        while self.started:
            started = self.started.pop()
            began = time.monotonic()
            code = stop_child(started.process, started.component.stop_timeout_s)
            pidfiles.remove(self.run_dir, started.component.name)
            # 143 is how a JVM reports a SIGTERM it handled (Kafka's normal shutdown)
            note = "" if code in (0, 143, -signal.SIGTERM) else f" (exit code {code})"
            self.out(f"stopped {started.component.name} in {time.monotonic() - began:.1f} s{note}")
