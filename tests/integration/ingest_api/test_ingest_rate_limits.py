"""Per-key rate limits against the session's real Kafka: refused events never reach the raw
topic, and a limit changed with the reference topic applies to the running ingest."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, TopicPartition

from ingest_api.app import create_app
from ingest_api.flusher import ingest_publisher
from telemetry_core.admin.topic_io import write_records
from telemetry_core.ratelimit import RateLimit
from telemetry_core.reference import ApiKey, ReferenceStore, Tenant, encode_entity, hash_key
from telemetry_core.reference_feed import ReferenceFeed
from telemetry_core.settings import Settings
from telemetry_core.signing import load_or_create_signer
from telemetry_core.topics import RAW

Client = TestClient[web.Request, web.Application]
SEND = "/api/v1/send-telemetry-data"
BATCH = "/api/v1/send-telemetry-data/batch"
TENANT = f"limits-{uuid.uuid4().hex[:8]}"
SECRET = str(uuid.uuid4())
AUTH = {"Authorization": f"Bearer {SECRET}"}


def _key(limit: RateLimit | None) -> ApiKey:
    return ApiKey("limited", TENANT, hash_key(SECRET), frozenset({"telemetry:send"}), rate_limit=limit)


@pytest.fixture(scope="module")
async def client(pipeline_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    settings = dataclasses.replace(
        pipeline_settings, data_dir=tmp_path_factory.mktemp("limits"), signing_key_bits=2048
    )
    await write_records(settings, [encode_entity(e) for e in (Tenant(TENANT), _key(RateLimit(0.001, 3)))])
    app = create_app(
        settings,
        publisher=ingest_publisher(settings),
        reference=ReferenceFeed(settings, ReferenceStore()),
        signer=load_or_create_signer(settings),
    )
    async with TestClient(TestServer(app)) as test_client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while (await test_client.get("/readyz")).status != 200:
            assert loop.time() < deadline, "ingest not ready within 60 s"
            await asyncio.sleep(0.2)
        yield test_client


async def _keys_on_raw_topic(settings: Settings) -> set[str]:
    """Every message key on the raw topic, read to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(RAW, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: set[str] = set()
        deadline = asyncio.get_running_loop().time() + 30
        while not all([await consumer.position(tp) >= ends[tp] for tp in partitions]):
            assert asyncio.get_running_loop().time() < deadline, "raw topic not read to its end in 30 s"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.update((r.key or b"").decode() for r in records)
        return found
    finally:
        await consumer.stop()


async def test_refused_events_never_reach_kafka_and_a_new_limit_applies_live(
    client: Client, pipeline_settings: Settings
) -> None:
    run = uuid.uuid4().hex[:8]
    saved = [f"ok-{run}-{n}" for n in range(3)]
    for event_id in saved:
        response = await client.post(SEND, json={"data_group": "g"}, headers={**AUTH, "Idempotency-Key": event_id})
        assert response.status == 200
    refused = f"over-{run}"
    response = await client.post(SEND, json={"data_group": "g"}, headers={**AUTH, "Idempotency-Key": refused})
    assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
    assert (await response.json())["response"]["code"] == 429
    batch = [{"data_group": "g", "event_id": f"batch-{run}-{n}"} for n in range(2)]
    assert (await client.post(BATCH, json=batch, headers=AUTH)).status == 429

    await write_records(pipeline_settings, [encode_entity(_key(RateLimit(1000.0, 1000)))])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    after = f"after-{run}"
    while True:
        response = await client.post(SEND, json={"data_group": "g"}, headers={**AUTH, "Idempotency-Key": after})
        if response.status == 200:
            break
        assert response.status == 429 and loop.time() < deadline, "the new limit did not apply within 30 s"
        await asyncio.sleep(0.2)

    on_topic = await _keys_on_raw_topic(pipeline_settings)
    assert set(saved) | {after} <= on_topic
    assert refused not in on_topic and not {b["event_id"] for b in batch} & on_topic
