"""Both services fuzzed with schemathesis against the OpenAPI document each serves.

``python -m ingest_api`` and ``python -m query_api`` run as deployed, on the session's real
Kafka and ClickHouse, with one API key (send and read) for a tenant of their own. The
schemathesis CLI then sends generated requests, valid and invalid (its coverage and fuzzing
phases), a bounded number per operation with a fixed seed, and checks every answer: no 5xx,
no status code and no content type that the document does not declare. The run is bounded
(``MAX_EXAMPLES`` per operation) so the whole module takes well under two minutes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from deploy.local.ports import free_ports
from telemetry_core.admin.topic_io import write_records
from telemetry_core.reference import ApiKey, Product, Tenant, encode_entity, hash_key
from telemetry_core.settings import Settings

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance"
MAX_EXAMPLES = 25
SEED = 9
TENANT = f"fuzz-{uuid.uuid4().hex[:8]}"
SECRET = f"fuzz-key-{uuid.uuid4()}"


def _environment(settings: Settings, data_dir: Path, ingest_port: int, query_port: int) -> dict[str, str]:
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
    }


@pytest.fixture(scope="module")
def services(pipeline_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Base URLs of a running ingest and query service, both ready."""
    data_dir = tmp_path_factory.mktemp("fuzzing")
    key = ApiKey("fuzz", TENANT, hash_key(SECRET), frozenset({"telemetry:send", "telemetry:read"}))
    entities = [Tenant(TENANT), key, Product(TENANT, "1", "App", frozenset({"1.0"}))]
    asyncio.run(write_records(pipeline_settings, [encode_entity(e) for e in entities]))
    ingest_port, query_port = free_ports(2)
    environment = _environment(pipeline_settings, data_dir, ingest_port, query_port)
    urls = {"ingest": f"http://127.0.0.1:{ingest_port}", "query": f"http://127.0.0.1:{query_port}"}
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", f"{name}_api"],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=(data_dir / f"{name}.log").open("wb"),
        )
        for name in urls
    }
    try:
        asyncio.run(_wait_ready(urls, processes))
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


async def _wait_ready(urls: dict[str, str], processes: dict[str, subprocess.Popen[bytes]]) -> None:
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


@pytest.mark.parametrize("service", ["ingest", "query"])
def test_no_server_error_and_nothing_undocumented(services: dict[str, str], service: str, tmp_path: Path) -> None:
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{services[service]}/api/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--no-shrink",
        "--request-timeout",
        "10",
        "--header",
        f"Authorization: Bearer {SECRET}",
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=150, check=False)
    summary = run.stdout[-6000:]
    problems = f"schemathesis found problems in the {service} service:\n{summary}\n{run.stderr[-2000:]}"
    assert run.returncode == 0, problems
    print(summary[-1500:])
    assert "Tested:" in run.stdout, summary

