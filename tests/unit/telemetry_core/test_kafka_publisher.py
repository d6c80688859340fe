"""KafkaPublisher against a fake producer: acknowledgement, partitioning, the size budget, error
mapping, connecting (background and not) and readiness. The same contract against real Kafka
and the in-memory fake: tests/integration/telemetry_core/test_publisher_contract.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from publisher_fakes import FakeProducer

from telemetry_core import kafka_publisher
from telemetry_core.kafka_publisher import ANY_PARTITION, KafkaPublisher, OutRecord, PublishError
from telemetry_core.retries import Delays
from telemetry_core.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


def publisher_of(settings: Settings, producer: FakeProducer, **options: Any) -> KafkaPublisher:
    return KafkaPublisher(settings, "test", factory=lambda *_: producer, **options)


async def test_publish_returns_after_every_record_is_acknowledged_in_order(settings: Settings) -> None:
    producer = FakeProducer(batch_bytes=4)
    publisher = publisher_of(settings, producer)
    await publisher.start()
    await publisher.publish([OutRecord("t", b"k1", b"v1")])
    await publisher.publish([OutRecord("t", b"k%d" % i, b"v%d" % i) for i in (2, 3, 4)])
    assert [(key, value) for _, _, key, value in producer.sent] == [(b"k%d" % i, b"v%d" % i) for i in range(1, 5)]
    assert producer.batches == 3  # a full batch is cut, the rest goes in a new one
    await publisher.stop()
    assert producer.stopped


async def test_the_key_chooses_the_partition_as_kafkas_default_partitioner_does(settings: Settings) -> None:
    producer = FakeProducer(partitions=6)
    publisher = publisher_of(settings, producer)
    await publisher.start()
    keys = [f"event-{i}".encode() for i in range(200)]
    await publisher.publish([OutRecord("t", key, b"v") for key in keys])
    every = list(range(6))
    assert {key: p for _, p, key, _ in producer.sent} == {key: DefaultPartitioner()(key, every, every) for key in keys}
    await publisher.publish([OutRecord("t", b"kept", b"v", partition=4)])
    assert producer.sent[-1][1] == 4  # an explicit partition is kept
    await publisher.stop()


@pytest.mark.parametrize("value_bytes", [1_000, 960])  # 960: key + value fit, the record does not
async def test_a_record_over_the_budget_is_too_large_and_nothing_is_sent(settings: Settings, value_bytes: int) -> None:
    producer = FakeProducer()
    publisher = publisher_of(settings, producer, max_record_bytes=1_000)
    await publisher.start()
    assert kafka_publisher.record_size(OutRecord("t", b"k2", b"x" * value_bytes)) > 1_000
    with pytest.raises(PublishError) as caught:
        await publisher.publish([OutRecord("t", b"k1", b"v"), OutRecord("t", b"k2", b"x" * value_bytes)])
    assert caught.value.reason == "too_large"
    assert producer.sent == [] and producer.batches == 0
    await publisher.stop()


@pytest.mark.parametrize(
    ("where", "error", "reason"),
    [
        ("future", KafkaConnectionError("gone"), "kafka_error"),
        ("send", KafkaConnectionError("closed"), "kafka_error"),
        ("future", RuntimeError(), "kafka_error"),
        ("future", MessageSizeTooLargeError(), "too_large"),
    ],
)
async def test_kafka_errors_are_publish_errors(settings: Settings, where: str, error: Exception, reason: str) -> None:
    producer = FakeProducer()
    publisher = publisher_of(settings, producer)
    await publisher.start()
    if where == "future":
        producer.error = error
    else:
        producer.send_error = error
    with pytest.raises(PublishError) as caught:
        await publisher.publish([OutRecord("t", b"k", b"v")])
    assert caught.value.reason == reason
    await publisher.stop()


async def test_not_connected_is_refused_at_once(settings: Settings) -> None:
    publisher = publisher_of(settings, FakeProducer(fail_start=10**6), background=True)
    assert publisher.readiness() == "not connected to Kafka yet"
    with pytest.raises(PublishError) as caught:
        await publisher.publish([OutRecord("t", b"k", b"v")])
    assert caught.value.reason == "not_connected"
    with pytest.raises(PublishError):
        await publisher.partition_count("t")


async def test_a_foreground_start_fails_when_kafka_cannot_be_reached(settings: Settings) -> None:
    with pytest.raises(PublishError) as caught:
        await publisher_of(settings, FakeProducer(fail_start=1)).start()
    assert caught.value.reason == "not_connected"


async def test_connects_in_the_background_after_failures(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka_publisher, "CONNECT_DELAYS", Delays(0.01, 0.01))
    producer = FakeProducer(fail_start=3, partitions=3)
    publisher = publisher_of(settings, producer, background=True)
    await publisher.start()
    for _ in range(500):
        if publisher.readiness() is None:
            break
        await asyncio.sleep(0.01)
    assert publisher.readiness() is None and producer.fail_start == 0
    assert await publisher.partition_count("t") == 3
    await publisher.stop()


async def test_readiness_goes_stale_without_answers(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    publisher = publisher_of(settings, FakeProducer())
    await publisher.start()
    monkeypatch.setattr(kafka_publisher, "STALE_AFTER_S", -1.0)
    assert "no answer from Kafka" in (publisher.readiness() or "")
    await publisher.stop()


async def test_any_partition_records_of_one_call_share_one_partition_and_calls_rotate(settings: Settings) -> None:
    producer = FakeProducer(partitions=3)
    publisher = publisher_of(settings, producer)
    await publisher.start()
    for call in range(4):
        records = [OutRecord("t", b"c%d-%d" % (call, i), b"v", partition=ANY_PARTITION) for i in range(5)]
        await publisher.publish(records)
    by_call = [{p for _, p, key, _ in producer.sent if key.startswith(b"c%d-" % call)} for call in range(4)]
    assert by_call == [{0}, {1}, {2}, {0}]
    assert producer.batches == 4  # one record batch per call
    await publisher.stop()


@pytest.mark.parametrize("key_bytes", [0, 36, 300])
@pytest.mark.parametrize("value_bytes", [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 4_000_000])
def test_a_headerless_record_adds_at_most_the_overhead_bound(key_bytes: int, value_bytes: int) -> None:
    # publish skips the exact size estimate for records whose key and value are this far below
    # the budget; the bound must hold for every size.
    key = b"k" * key_bytes if key_bytes else None
    size = kafka_publisher.record_size(OutRecord("t", key, b"v" * value_bytes))
    assert size - key_bytes - value_bytes <= kafka_publisher.RECORD_OVERHEAD_BOUND
