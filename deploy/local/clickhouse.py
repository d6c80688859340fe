"""The local ClickHouse as a component of the stack: a ``deploy.local.clickhouse_server``
process on the port of ``TELEMETRY_CLICKHOUSE_URL``, with its data in ``DATA_DIR/clickhouse``."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from deploy.local.ports import LOCAL_HOST, clickhouse_http_port
from telemetry_core.settings import Settings


class ClickHouseServer:
    """Ready once the server process wrote its ``ready`` file (it checks that it owns the port)
    and ``/ping`` answers ``Ok.``."""

    name = "clickhouse"
    ready_timeout_s = 60.0
    stop_timeout_s = 20.0

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.port = clickhouse_http_port(settings)
        self.root = (settings.data_dir / "clickhouse").resolve()
        self.log_path = log_path
        self.url = f"http://{LOCAL_HOST}:{self.port}"

    @property
    def ports(self) -> list[int]:
        return [self.port]

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "ready").unlink(missing_ok=True)

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "deploy.local.clickhouse_server", "--root", str(self.root),
                "--http-port", str(self.port), "--ready-timeout", str(self.ready_timeout_s)]

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
