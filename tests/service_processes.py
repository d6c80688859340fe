"""``python -m ingest_api`` and ``python -m query_api`` run as deployed, for integration tests
that need the real processes (fuzzing, key rotation): their environment from the session's
settings, start-up until both answer ``/readyz``, and a clean stop (exit code 0 after SIGTERM)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

from deploy.local.ports import free_ports
from telemetry_core.settings import Settings


def service_environment(settings: Settings, data_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without its ``TELEMETRY_*``, then the session's Kafka and
    ClickHouse, ``data_dir``, two free ports and ``extra`` (``TELEMETRY_...`` names)."""
    ingest_port, query_port = free_ports(2)
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("TELEMETRY_")}
    return {
        **inherited,
        "TELEMETRY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "TELEMETRY_CLICKHOUSE_URL": settings.clickhouse_url,
        "TELEMETRY_CLICKHOUSE_USER": settings.clickhouse_user,
        "TELEMETRY_CLICKHOUSE_PASSWORD": settings.clickhouse_password,
        "TELEMETRY_CLICKHOUSE_DATABASE": settings.clickhouse_database,
        "TELEMETRY_INGEST_PORT": str(ingest_port),
        "TELEMETRY_QUERY_PORT": str(query_port),
        "TELEMETRY_DATA_DIR": str(data_dir),
        "TELEMETRY_LOG_LEVEL": "WARNING",
        **extra,
    }


@contextmanager
def running_services(environment: dict[str, str], log_dir: Path) -> Iterator[dict[str, str]]:
    """Both services started with ``environment``; yields their base URLs once both are ready,
    and asserts that each stops cleanly afterwards (stderr in ``log_dir/<name>.log``)."""
    urls = {
        "ingest": f"http://127.0.0.1:{environment['TELEMETRY_INGEST_PORT']}",
        "query": f"http://127.0.0.1:{environment['TELEMETRY_QUERY_PORT']}",
    }
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", f"{name}_api"],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=(log_dir / f"{name}.log").open("wb"),
        )
        for name in urls
    }
    try:
        asyncio.run(wait_ready(urls, processes))
        yield urls
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in processes.items():
            try:
                assert process.wait(timeout=30) == 0, f"{name} did not stop cleanly"
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()


async def wait_ready(urls: dict[str, str], processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """Until each service (name -> base URL) answers 200 on ``/readyz``; fails if one exits or 60 s pass."""
    async with aiohttp.ClientSession() as session:
        for name, url in urls.items():
            for _ in range(300):
                assert processes[name].poll() is None, f"{name} exited during start-up"
                try:
                    async with session.get(url + "/readyz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"{name} not ready within 60 s")
