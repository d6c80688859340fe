"""The local ClickHouse as a component of the stack: a ``deploy.local.clickhouse_server``
process on the port of ``TELEMETRY_CLICKHOUSE_URL``, with its data in ``DATA_DIR/clickhouse``;
or, in the cluster topology, one process per shard (``clickhouse-1``, ``clickhouse-2``, data in
``DATA_DIR/clickhouse-<n>``), each also on its native TCP port and knowing every shard of the
cluster (see ``deploy.local.topology``)."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from deploy.local.ports import LOCAL_HOST
from deploy.local.topology import Shard


class ClickHouseServer:
    """Ready once the server process wrote its ``ready`` file (it checks that it owns the port)
    and ``/ping`` answers ``Ok.``."""

    ready_timeout_s = 60.0
    stop_timeout_s = 20.0

    def __init__(
        self, data_dir: Path, shard: Shard, log_path: Path, *, cluster: str | None = None,
        shards: list[Shard] | None = None,
    ) -> None:
        self.shard = shard
        self.cluster = cluster
        self.shards = shards or []
        self.name = f"clickhouse-{shard.index + 1}" if cluster else "clickhouse"
        self.port = shard.http_port
        self.root = (data_dir / self.name).resolve()
        self.log_path = log_path
        self.url = f"http://{LOCAL_HOST}:{self.port}"

    @property
    def ports(self) -> list[int]:
        return [self.port, self.shard.tcp_port] if self.cluster else [self.port]

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "ready").unlink(missing_ok=True)

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "deploy.local.clickhouse_server", "--root", str(self.root),
                "--http-port", str(self.port), "--ready-timeout", str(self.ready_timeout_s)]
        if self.cluster:
            argv += ["--tcp-port", str(self.shard.tcp_port), "--cluster", self.cluster]
            for shard in self.shards:
                argv += ["--shard", f"{LOCAL_HOST}:{shard.tcp_port}"]
        return argv

    def env(self) -> Mapping[str, str] | None:
        return None

    def cwd(self) -> Path | None:
        return self.root

    def is_ready(self) -> bool:
        if not (self.root / "ready").exists():
            return False
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=2.0) as response:
                return bytes(response.read()).strip() == b"Ok."
        except (OSError, urllib.error.URLError):
            return False
