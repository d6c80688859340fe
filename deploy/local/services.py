"""The pipeline's own services as components of the local stack.

Each is started only if its code is installed (the entry point's module can be found), as
``python -m deploy.local.entry <console script>``, with the launcher's settings in its
environment. A service is ready when its HTTP endpoint answers 200 (the ingest's ``/readyz``).

In the cluster topology a service may run as several processes (``deploy.local.topology``):
the workers' replicas each get their own metrics port (``+10`` per replica), the ingest
processes share one port with ``SO_REUSEPORT``; such a process is ready only once it listens
on that port itself (checked in ``/proc``) and the port answers 200 on every one of
``SHARED_READY_CHECKS`` new connections (any of which the kernel may hand to this process).
"""

from __future__ import annotations

import importlib.util
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from deploy.local import pidfiles
from deploy.local.ports import listens
from deploy.local.topology import METRICS_PORT_STRIDE, ingest_processes, worker_replicas
from telemetry_core.settings import PREFIX, Settings


@dataclass(frozen=True)
class ServiceSpec:
    """What the launcher knows about one service."""

    name: str
    script: str
    port_field: str
    health_path: str
    scaling: str = "one"  # "replicas": own port each (+10); "shared": one port (SO_REUSEPORT); "one"

    @property
    def port_setting(self) -> str:
        return PREFIX + self.port_field.upper()


# Start order: downstream first, so nothing is produced before its consumer runs.
SERVICES = (
    ServiceSpec("sink", "telemetry-sink", "sink_metrics_port", "/metrics", "replicas"),
    ServiceSpec("flagger", "telemetry-flagger", "flagger_metrics_port", "/metrics", "replicas"),
    ServiceSpec("query", "telemetry-query", "query_port", "/healthz"),
    # /readyz: Kafka answers and the reference data is loaded (/healthz only says "alive"; with
    # a shared port the kernel hands a listening process connections before it can serve them).
    ServiceSpec("ingest", "telemetry-ingest", "ingest_port", "/readyz", "shared"),
)


def process_count(settings: Settings, spec: ServiceSpec) -> int:
    """How many processes of ``spec`` the topology runs."""
    if spec.scaling == "replicas":
        return worker_replicas(settings)
    return ingest_processes(settings) if spec.scaling == "shared" else 1


def instances(settings: Settings, spec: ServiceSpec) -> list[tuple[str, int]]:
    """(process name, port) of every process of ``spec``: ``flagger`` alone, or ``flagger-1``,
    ``flagger-2`` ... in the cluster topology."""
    count, port = process_count(settings, spec), int(getattr(settings, spec.port_field))
    if count == 1:
        return [(spec.name, port)]
    stride = METRICS_PORT_STRIDE if spec.scaling == "replicas" else 0
    return [(f"{spec.name}-{i + 1}", port + stride * i) for i in range(count)]

_HOST_FIELDS = {"ingest_port": "ingest_host", "query_port": "query_host"}
_ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}


def script_module(script: str) -> str | None:
    """The module of a console script's entry point, or None if no such script is declared."""
    found = entry_points(group="console_scripts", name=script)
    return next(iter(found)).module if found else None


def is_installed(script: str) -> bool:
    """Whether ``script`` is declared and its module exists (other teams add them over time)."""
    module = script_module(script)
    if module is None:
        return False
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def service_url(settings: Settings, spec: ServiceSpec) -> str:
    """Where the service answers; a wildcard bind address is reached through 127.0.0.1."""
    host_field = _HOST_FIELDS.get(spec.port_field)
    host = str(getattr(settings, host_field)) if host_field else "127.0.0.1"
    if host in _ANY_ADDRESS:
        host = "127.0.0.1"
    return f"http://{host}:{getattr(settings, spec.port_field)}"


SHARED_READY_CHECKS = 24


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status) == 200
    except (OSError, urllib.error.URLError):
        return False


class Service:
    """One service process."""

    ready_timeout_s = 90.0
    stop_timeout_s = 20.0

    def __init__(
        self, spec: ServiceSpec, settings: Settings, log_path: Path, environ: Mapping[str, str],
        *, name: str | None = None, port: int | None = None,
    ) -> None:
        self.spec = spec
        self.name = name or spec.name
        self.log_path = log_path
        self._port = int(getattr(settings, spec.port_field)) if port is None else port
        self.url = service_url(settings, spec).rsplit(":", 1)[0] + f":{self._port}"
        self._environ = {**environ, spec.port_setting: str(self._port)}
        self._shared = process_count(settings, spec) > 1 and spec.scaling == "shared"
        self._run_dir = settings.data_dir / "run"

    @property
    def ports(self) -> list[int]:
        return [self._port]

    def prepare(self) -> None:
        """Nothing to prepare: a service sets itself up from its settings."""

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "deploy.local.entry", self.spec.script]

    def env(self) -> Mapping[str, str] | None:
        return self._environ

    def cwd(self) -> Path | None:
        return None

    def is_ready(self) -> bool:
        if self._shared:  # another process on the shared port may be the one answering
            record = pidfiles.read(pidfiles.pid_path(self._run_dir, self.name))
            if record is None or not listens(record.pid, self._port):
                return False
            # The kernel picks a listener per connection (a hash of its addresses), and each
            # check is a new connection: SHARED_READY_CHECKS answers of 200 in a row leave a
            # chance of 2**-SHARED_READY_CHECKS that this process has not answered one of them.
            return all(http_ok(self.url + self.spec.health_path) for _ in range(SHARED_READY_CHECKS))
        return http_ok(self.url + self.spec.health_path)
