"""``python -m query_api`` as deployed: reference data from Kafka, rows from ClickHouse, clean stop."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from service_processes import service_environment, wait_ready

from deploy.local.ports import free_ports
from telemetry_core.admin.topic_io import write_records
from telemetry_core.reference import ApiKey, encode_entity, hash_key
from telemetry_core.settings import Settings


def _environment(settings: Settings, data_dir: Path) -> dict[str, str]:
    """The shared service environment, at INFO (the tests read the access log)."""
    return service_environment(settings, data_dir, TELEMETRY_LOG_LEVEL="INFO")


async def test_service_reads_keys_from_kafka_and_stops_cleanly(
    fresh_settings: Settings, write: Any, make_event: Any, tmp_path: Path
) -> None:
    tenant = f"svc-{uuid.uuid4().hex[:8]}"
    secret = f"secret-{tenant}"
    key = ApiKey(f"key-{tenant}", tenant, hash_key(secret), frozenset({"telemetry:read"}))
    await write_records(fresh_settings, [encode_entity(key)])
    write([make_event(1, tenant=tenant), make_event(2, tenant=tenant)])
    environment = _environment(fresh_settings, tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "query_api"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{environment['TELEMETRY_QUERY_PORT']}"
        await wait_ready({"query": url}, {"query": process})
        async with aiohttp.ClientSession() as session:
            params = {"data_type": "numeric-single-value", "data_group": "g1"}
            headers = {"Authorization": f"Bearer {secret}"}
            async with session.get(url + "/api/v1/get-telemetry-data", params=params, headers=headers) as response:
                body = await response.json()
            assert response.status == 200
            assert [r["id"] for r in body["response"]["data"]] == ["ev-00002", "ev-00001"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = process.stdout.read().decode() if process.stdout else ""
    assert secret not in output
    assert '"path":"/api/v1/get-telemetry-data"' in output


async def test_service_starts_without_kafka_or_clickhouse_and_answers_503(
    fresh_settings: Settings, tmp_path: Path
) -> None:
    """The ingest's start-up policy: no exit while a dependency is away; 503 naming it until it is back."""
    dead_kafka, dead_clickhouse = free_ports(2)
    environment = {
        **_environment(fresh_settings, tmp_path),
        "TELEMETRY_KAFKA_BOOTSTRAP": f"127.0.0.1:{dead_kafka}",
        "TELEMETRY_CLICKHOUSE_URL": f"http://127.0.0.1:{dead_clickhouse}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "query_api"], env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        url = f"http://127.0.0.1:{environment['TELEMETRY_QUERY_PORT']}"
        async with aiohttp.ClientSession() as session:
            for _ in range(150):
                assert process.poll() is None, "the service exited instead of waiting for its dependencies"
                try:
                    async with session.get(url + "/healthz") as health:
                        if health.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
            async with session.get(url + "/readyz") as ready:
                missing = (await ready.json())["response"]["errors"]
            assert ready.status == 503 and set(missing) == {"reference_data", "clickhouse"}
            params = {"data_type": "text", "data_group": "g", "api_key": "any"}
            async with session.get(url + "/v1/get-telemetry-data", params=params) as read:
                answer = (await read.json())["response"]
            assert read.status == 503 and read.headers["Retry-After"] == "5"
            assert answer["errors"] == {"reference": ["reference data is still loading"]}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
