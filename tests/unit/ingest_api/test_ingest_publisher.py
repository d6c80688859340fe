"""KafkaPublisher's contract against a fake producer: bounded wait, error mapping, background connect."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from ingest_api import publisher as publisher_module
from ingest_api.publisher import KafkaPublisher, PublishError, key_partitioner, murmur2
from telemetry_core.settings import Settings
from telemetry_core.topics import RAW


class FakeClient:
    async def force_metadata_update(self) -> bool:
        return True


class FakeBatch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes]] = []

    def append(self, *, timestamp: int | None, key: bytes, value: bytes) -> object | None:
        self.records.append((key, value))
        return object()


class FakeProducer:
    """Acknowledges each batch at once unless told to stall or fail."""

    def __init__(self, fail_start: int = 0) -> None:
        self.fail_start = fail_start
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.stalled = False
        self.error: Exception | None = None
        self.send_error: Exception | None = None
        self.stopped = False
        self.client = FakeClient()

    async def start(self) -> None:
        if self.fail_start:
            self.fail_start -= 1
            raise KafkaConnectionError("no broker")

    async def stop(self) -> None:
        self.stopped = True

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        if self.send_error is not None:
            raise self.send_error
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.error is not None:
            future.set_exception(self.error)
        elif not self.stalled:
            self.sent += [(topic, key, value) for key, value in batch.records]
            future.set_result(None)
        return future


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, publish_timeout_s=0.1)


async def started(settings: Settings, producer: FakeProducer) -> KafkaPublisher:
    publisher = KafkaPublisher(settings, factory=lambda _: producer)
    await publisher.start()
    for _ in range(200):
        if publisher.readiness() is None:
            return publisher
        await asyncio.sleep(0.01)
    raise AssertionError("never connected")


async def test_publish_returns_after_every_record_is_acknowledged(settings: Settings) -> None:
    producer = FakeProducer()
    publisher = await started(settings, producer)
    await publisher.publish([(b"k1", b"v1")])
    await publisher.publish([(b"k2", b"v2"), (b"k3", b"v3")])
    assert producer.sent == [(RAW, b"k1", b"v1"), (RAW, b"k2", b"v2"), (RAW, b"k3", b"v3")]
    await publisher.stop()
    assert producer.stopped


async def test_no_acknowledgement_within_the_timeout_is_a_publish_error(settings: Settings) -> None:
    producer = FakeProducer()
    publisher = await started(settings, producer)
    producer.stalled = True
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(PublishError) as caught:
        await publisher.publish([(b"k", b"v")])
    assert caught.value.reason == "timeout"
    assert 0.09 <= loop.time() - began < 1.0
    await publisher.stop()


@pytest.mark.parametrize(
    ("where", "error"),
    [("future", KafkaConnectionError("gone")), ("send", KafkaConnectionError("closed")), ("future", RuntimeError())],
)
async def test_kafka_errors_are_publish_errors(settings: Settings, where: str, error: Exception) -> None:
    producer = FakeProducer()
    publisher = await started(settings, producer)
    if where == "future":
        producer.error = error
    else:
        producer.send_error = error
    with pytest.raises(PublishError) as caught:
        await publisher.publish([(b"k", b"v")])
    assert caught.value.reason == "kafka_error"
    await publisher.stop()


async def test_a_record_over_the_request_limit_is_too_large_and_nothing_is_sent(settings: Settings) -> None:
    producer = FakeProducer()
    publisher = await started(settings, producer)
    huge = b"x" * publisher_module.MAX_REQUEST_BYTES
    with pytest.raises(PublishError) as caught:
        await publisher.publish([(b"k1", b"v"), (b"k2", huge)])
    assert caught.value.reason == "too_large"
    assert producer.sent == []
    await publisher.stop()


async def test_not_connected_is_refused_at_once(settings: Settings) -> None:
    publisher = KafkaPublisher(settings, factory=lambda _: FakeProducer(fail_start=10**6))
    assert publisher.readiness() == "not connected to Kafka yet"
    with pytest.raises(PublishError) as caught:
        await publisher.publish([(b"k", b"v")])
    assert caught.value.reason == "not_connected"


async def test_connects_in_the_background_after_failures(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publisher_module, "CONNECT_BACKOFF_S", (0.01, 0.01))
    producer = FakeProducer(fail_start=3)
    publisher = await started(settings, producer)
    assert producer.fail_start == 0
    await publisher.stop()


async def test_readiness_goes_stale_without_answers(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    publisher = await started(settings, FakeProducer())
    monkeypatch.setattr(publisher_module, "STALE_AFTER_S", -1.0)
    assert "no answer from Kafka" in (publisher.readiness() or "")
    await publisher.stop()


def test_partitioner_matches_kafkas_default() -> None:
    rng = random.Random(7)
    partitions = list(range(6))
    for _ in range(5000):
        data = rng.randbytes(rng.randint(0, 80))
        assert murmur2(data) == aiokafka_murmur2(data)
        assert key_partitioner(data, partitions, partitions) == DefaultPartitioner()(data, partitions, partitions)
