"""Which local ports the launchers use, read from the settings, and whether they are free.

Local servers listen on 127.0.0.1 only, so every address they are given must be a loopback
address; anything else is a configuration for an external server and is refused here.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from deploy.local.errors import LaunchError
from telemetry_core.settings import PREFIX, Settings

LOCAL_HOST = "127.0.0.1"


@dataclass(frozen=True)
class PortUse:
    """One port a local component will listen on, and the setting that chose it."""

    component: str
    port: int
    setting: str


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any address in 127.0.0.0/8 or ``::1``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_host_port(text: str, setting: str) -> tuple[str, int]:
    """``host:port`` (IPv6 hosts in brackets) -> (host, port); a missing or bad port is an error
    naming ``setting``."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise LaunchError(f"{setting} must be host:port, got {text!r}")
    return host.strip("[]"), int(port_text)


def kafka_port(settings: Settings) -> int:
    """The broker port of the local Kafka: the single loopback ``host:port`` in
    ``TELEMETRY_KAFKA_BOOTSTRAP``."""
    setting = f"{PREFIX}KAFKA_BOOTSTRAP"
    servers = [s for s in settings.kafka_bootstrap.split(",") if s.strip()]
    if len(servers) != 1:
        raise LaunchError(f"{setting} must name one local broker to launch Kafka, got {settings.kafka_bootstrap!r}")
    host, port = split_host_port(servers[0], setting)
    if not is_loopback(host):
        raise LaunchError(f"{setting} points at {host}, not this machine; unset it to launch a local Kafka")
    return port


def clickhouse_http_port(settings: Settings) -> int:
    """The HTTP port of the local ClickHouse, from a loopback ``http://`` ``TELEMETRY_CLICKHOUSE_URL``."""
    setting = f"{PREFIX}CLICKHOUSE_URL"
    url = urlsplit(settings.clickhouse_url)
    if url.scheme != "http" or not url.hostname:
        raise LaunchError(f"{setting} must be http://127.0.0.1:PORT for a local ClickHouse, got {url.geturl()!r}")
    if not is_loopback(url.hostname):
        raise LaunchError(f"{setting} points at {url.hostname}, not this machine; unset it for a local ClickHouse")
    try:
        port = url.port
    except ValueError:
        raise LaunchError(f"{setting} has an invalid port: {settings.clickhouse_url!r}") from None
    return port or 8123


def port_is_free(port: int, host: str = LOCAL_HOST) -> bool:
    """Whether a server could bind ``host:port`` now. ``SO_REUSEADDR`` mirrors what servers set,
    so a port held only by connections in TIME_WAIT counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free(uses: list[PortUse]) -> None:
    """Raise naming the first port in use (or given twice) and the setting to change."""
    seen: dict[int, PortUse] = {}
    for use in uses:
        if use.port in seen:
            first = seen[use.port]
            raise LaunchError(f"port {use.port} is given twice: {first.setting} and {use.setting}")
        seen[use.port] = use
        if not port_is_free(use.port):
            raise LaunchError(
                f"port {use.port} ({use.component}) is already in use; stop whatever listens there "
                f"or set {use.setting} to another port"
            )


def listens(pid: int, port: int, proc: Path = Path("/proc")) -> bool:
    """Whether process ``pid`` holds a TCP socket listening on ``port`` (IPv4 or IPv6), from
    ``/proc/net/tcp*`` and the process's open file descriptors."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    if not inodes:
        return False
    try:
        links = [os.readlink(fd) for fd in (proc / str(pid) / "fd").iterdir()]
    except OSError:
        return False
    return any(link.startswith("socket:[") and link[8:-1] in inodes for link in links)


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports the kernel reports free now (all held open until all are chosen).
    Another process may still take one before it is used; the launchers fail loudly if so."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOCAL_HOST, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports
