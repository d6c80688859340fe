"""The ingest app against the session's real Kafka: what lands on telemetry.raw.v1, retries,
reference data applied while running, and an unreachable Kafka."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from fixed_reference import FixedReference

from deploy.local.ports import free_ports
from ingest_api.app import create_app
from ingest_api.flusher import ingest_publisher
from telemetry_core.admin.__main__ import main as admin_main
from telemetry_core.admin.topic_io import write_records
from telemetry_core.events import RawEvent, decode_raw
from telemetry_core.reference import ApiKey, Product, ReferenceStore, Tenant, encode_entity, hash_key
from telemetry_core.reference_feed import ReferenceFeed
from telemetry_core.settings import Settings
from telemetry_core.signing import load_or_create_signer
from telemetry_core.topics import RAW

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
SEND = "/api/v1/send-telemetry-data"
TENANT = f"ingest-{uuid.uuid4().hex[:8]}"
SECRET = str(uuid.uuid4())


async def _until(what: str, check: Any, timeout: float = 60.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout:.0f} s")


@pytest.fixture(scope="module")
async def client(pipeline_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    """A running ingest app (real producer, real reference feed) with one tenant, key and product."""
    settings = dataclasses.replace(pipeline_settings, data_dir=tmp_path_factory.mktemp("ingest"))
    entities = [
        Tenant(TENANT),
        ApiKey("send", TENANT, hash_key(SECRET), frozenset({"telemetry:send"})),
        Product(TENANT, "1", "App", frozenset({"1.0"})),
    ]
    await write_records(settings, [encode_entity(e) for e in entities])
    app = create_app(
        settings,
        publisher=ingest_publisher(settings),
        reference=ReferenceFeed(settings, ReferenceStore()),
        signer=load_or_create_signer(settings),
    )
    async with TestClient(TestServer(app)) as test_client:

        async def ready() -> bool:
            return (await test_client.get("/readyz")).status == 200

        await _until("ingest ready", ready)
        yield test_client


async def _raw_events(settings: Settings, key: str, count: int) -> list[tuple[int, RawEvent]]:
    """The first ``count`` (partition, event) pairs on the raw topic whose message key is ``key``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(RAW, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: list[tuple[int, RawEvent]] = []

        async def collect() -> bool:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                found.extend((tp.partition, decode_raw(r.value)) for r in records if r.key == key.encode())
            return len(found) >= count

        await _until(f"{count} message(s) with key {key}", collect, timeout=30)
        return found
    finally:
        await consumer.stop()


async def test_saved_event_is_on_the_raw_topic_with_every_field(client: Client, pipeline_settings: Settings) -> None:
    fields = {
        "data_type": "text",
        "text_data": "hello",
        "product_id": "1",
        "user_identifier": "u1",
        "license_key": "L",
        "activation_identifier": "A",
        "product_version": "1.0",
        "data_group": "g",
        "custom": "kept",
    }
    response = await client.post(SEND, data={"api_key": SECRET, **fields}, headers={"User-Agent": "it/1"})
    assert response.status == 200
    assert (await response.json())["response"]["code"] == 830
    event_id = response.headers["X-Event-Id"]
    [(_, event)] = await _raw_events(pipeline_settings, event_id, 1)
    assert event.fields == fields
    assert (event.tenant_id, event.api_key_id, event.user_agent) == (TENANT, "send", "it/1")
    assert event.client_ip == "127.0.0.1" and event.received_at_ms > 0


async def test_sdk_chunked_json_at_the_host_root_lands_verbatim(client: Client, pipeline_settings: Settings) -> None:
    """What the JS SDK sends: /v1/send-telemetry, chunked, JSON numbers, Bearer and body key, nested extras."""
    fields = {
        "data_type": "numeric-single-value",
        "numeric_data_single_value": 50,
        "product_id": 1,
        "product_version": "1.0",
        "data_group": "g",
        "hwid": "HW-1",
        "country": "BE",
        "flags": {"beta": True, "tiers": [1, 2.5]},
        "metadata": [{"os": "linux"}, None],
    }
    data = json.dumps({"api_key": SECRET, **fields}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 16):
            yield data[start : start + 16]

    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json", "Accept": "application/json"}
    response = await client.post("/v1/send-telemetry", data=chunks(), headers=headers)
    assert "Content-Length" not in response.request_info.headers
    assert response.status == 200
    answer = (await response.json())["response"]
    assert answer["code"] == 831  # no user/license/activation: saved with their errors
    assert "product_id" not in answer["errors"]
    [(_, event)] = await _raw_events(pipeline_settings, response.headers["X-Event-Id"], 1)
    assert event.fields == fields


async def test_retry_with_the_same_id_keeps_key_and_partition(client: Client, pipeline_settings: Settings) -> None:
    event_id = f"retry-{uuid.uuid4().hex}"
    for _ in range(2):
        response = await client.post(
            SEND, json={"data_group": "g"}, headers={"Authorization": f"Bearer {SECRET}", "Idempotency-Key": event_id}
        )
        assert response.status == 200
        assert response.headers["X-Event-Id"] == event_id
    found = await _raw_events(pipeline_settings, event_id, 2)
    assert len({partition for partition, _ in found}) == 1
    assert {event.event_id for _, event in found} == {event_id}


async def test_concurrent_sends_are_each_saved_once_on_their_keys_partition(
    client: Client, pipeline_settings: Settings
) -> None:
    """Concurrent requests share the flusher's record batches: every one is acknowledged, and
    each event is on the partition Kafka's default partitioner picks for its id, once."""
    ids = [f"together-{uuid.uuid4().hex}" for _ in range(200)]
    auth = {"Authorization": f"Bearer {SECRET}"}
    responses = await asyncio.gather(
        *(client.post(SEND, json={"data_group": "g"}, headers={**auth, "Idempotency-Key": i}) for i in ids)
    )
    assert [r.status for r in responses] == [200] * len(ids)
    found = await _partitions_of(pipeline_settings, set(ids))
    partitions = list(range(pipeline_settings.topic_partitions))
    expected = {i: [DefaultPartitioner()(i.encode(), partitions, partitions)] for i in ids}
    assert found == expected


async def _partitions_of(settings: Settings, keys: set[str]) -> dict[str, list[int]]:
    """For each of ``keys``, the partitions of the raw topic's messages with that key."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(RAW, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: dict[str, list[int]] = {}
        ends = await consumer.end_offsets(partitions)

        async def collect() -> bool:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    key = (record.key or b"").decode()
                    if key in keys:
                        found.setdefault(key, []).append(tp.partition)
            return all([await consumer.position(tp) >= ends[tp] for tp in partitions])

        await _until("the raw topic read to its end", collect, timeout=30)
        return found
    finally:
        await consumer.stop()


async def test_key_applied_with_the_admin_cli_works_without_restart(
    client: Client, pipeline_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = str(uuid.uuid4())
    before = await client.post(SEND, data={"api_key": secret})
    assert (await before.json())["response"]["code"] == 100
    document = {
        "api_keys": [{"id": f"new-{secret[:8]}", "tenant": TENANT, "key": secret, "capabilities": ["telemetry:send"]}]
    }
    path = tmp_path / "reference.json"
    path.write_text(json.dumps(document))
    monkeypatch.setenv("TELEMETRY_KAFKA_BOOTSTRAP", pipeline_settings.kafka_bootstrap)
    assert await asyncio.to_thread(admin_main, ["apply", str(path)]) == 0

    async def accepted() -> bool:
        response = await client.post(SEND, data={"api_key": secret})
        return response.status == 200

    await _until("the new key accepted", accepted, timeout=20)


async def test_unreachable_kafka_answers_503_and_claims_nothing(tmp_path: Path) -> None:
    """Kafka at a port nothing listens on: the producer never connects (the shared broker
    cannot be stopped here); the answer is 503 with Retry-After, and readyz says why."""
    dead = f"127.0.0.1:{free_ports(1)[0]}"
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=dead, publish_timeout_s=1.0)
    store = ReferenceStore()
    store.put(Tenant("t"))
    store.put(ApiKey("k", "t", hash_key("s"), frozenset({"telemetry:send"})))
    app = create_app(
        settings,
        publisher=ingest_publisher(settings),
        reference=FixedReference(store),
        signer=load_or_create_signer(settings),
    )
    async with TestClient(TestServer(app)) as dead_client:
        response = await dead_client.post(SEND, data={"api_key": "s", "data_group": "g"})
        assert response.status == 503
        assert response.headers["Retry-After"] == "5"
        assert "X-Event-Id" not in response.headers
        body = (await response.json())["response"]
        assert body["code"] == 503 and body["message"].endswith("nothing was saved, retry later")
        ready = await dead_client.get("/readyz")
        assert ready.status == 503
        assert "kafka" in (await ready.json())["response"]["errors"]
