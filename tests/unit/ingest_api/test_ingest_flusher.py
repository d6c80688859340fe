"""RecordFlusher's guarantees over a KafkaPublisher whose acknowledgements the test controls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError
from publisher_fakes import FakeProducer

from ingest_api.flusher import RecordFlusher
from telemetry_core.kafka_publisher import KafkaPublisher, OutRecord, PublishError
from telemetry_core.settings import Settings


def record(key: bytes, size: int = 1) -> OutRecord:
    return OutRecord("t", key, b"v" * size)


def flusher_of(tmp_path: Path, producer: FakeProducer, wait_s: float = 5.0) -> RecordFlusher:
    kafka = KafkaPublisher(Settings(data_dir=tmp_path), "test", factory=lambda *_: producer, max_record_bytes=2_000)
    return RecordFlusher(kafka, wait_s=wait_s, max_bytes=10_000)


@pytest.fixture
async def held(tmp_path: Path) -> AsyncIterator[tuple[FakeProducer, RecordFlusher]]:
    """A started flusher whose producer holds every batch until ``release()``."""
    producer = FakeProducer()
    producer.stalled = True
    flusher = flusher_of(tmp_path, producer)
    await flusher.start()
    yield producer, flusher
    producer.release()
    await flusher.stop()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_calls_made_during_a_flush_share_the_next_one(held: tuple[FakeProducer, RecordFlusher]) -> None:
    producer, flusher = held
    first = asyncio.create_task(flusher.publish([record(b"first")]))
    await settle()
    later = [asyncio.create_task(flusher.publish([record(b"k%d" % i)])) for i in range(10)]
    await settle()
    assert producer.batches == 1 and not first.done()
    producer.release()
    await first
    await settle()
    assert producer.batches == 2  # the ten calls went out together
    assert not any(task.done() for task in later)
    producer.release()
    await asyncio.gather(*later)
    assert [key for _, _, key, _ in producer.sent] == [b"first", *(b"k%d" % i for i in range(10))]


async def test_no_acknowledgement_within_wait_s_is_a_timeout(tmp_path: Path) -> None:
    producer = FakeProducer()
    producer.stalled = True
    flusher = flusher_of(tmp_path, producer, wait_s=0.2)
    await flusher.start()
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(PublishError) as caught:
        await flusher.publish([record(b"k")])
    assert caught.value.reason == "timeout"
    assert 0.15 <= loop.time() - began < 1.0
    producer.release()
    await flusher.stop()


async def test_a_failed_flush_fails_its_calls_and_the_next_one_works(held: tuple[FakeProducer, RecordFlusher]) -> None:
    producer, flusher = held
    producer.stalled, producer.send_error = False, KafkaConnectionError("gone")
    with pytest.raises(PublishError) as caught:
        await flusher.publish([record(b"k")])
    assert caught.value.reason == "kafka_error"
    producer.send_error = None
    await flusher.publish([record(b"k2")])
    assert [key for _, _, key, _ in producer.sent] == [b"k2"]


async def test_an_oversized_record_is_refused_at_once_without_failing_others(
    held: tuple[FakeProducer, RecordFlusher],
) -> None:
    producer, flusher = held
    waiting = asyncio.create_task(flusher.publish([record(b"ok")]))
    await settle()
    with pytest.raises(PublishError) as caught:
        await flusher.publish([record(b"ok2"), record(b"big", 2_000)])
    assert caught.value.reason == "too_large"
    producer.release()
    await waiting
    assert [key for _, _, key, _ in producer.sent] == [b"ok"]


async def test_a_full_buffer_refuses_at_once_and_calls_that_gave_up_free_it(
    held: tuple[FakeProducer, RecordFlusher],
) -> None:
    producer, flusher = held
    first = asyncio.create_task(flusher.publish([record(b"first")]))
    await settle()
    waiting = [asyncio.create_task(flusher.publish([record(b"k", 900)])) for _ in range(10)]
    await settle()
    with pytest.raises(PublishError) as caught:
        await flusher.publish([record(b"k", 900)])
    assert caught.value.reason == "backlog"
    waiting[0].cancel()  # its caller gave up: its bytes are freed, and it is not sent
    await settle()
    late = asyncio.create_task(flusher.publish([record(b"late", 900)]))
    await settle()
    assert not late.done() and not first.done()
    producer.stalled = False
    producer.release()
    await asyncio.gather(first, late, *waiting[1:])  # all acknowledged once Kafka answers


async def test_stop_sends_what_is_buffered_then_refuses(tmp_path: Path) -> None:
    producer = FakeProducer()
    flusher = flusher_of(tmp_path, producer)
    await flusher.start()
    calls = [asyncio.create_task(flusher.publish([record(b"k%d" % i)])) for i in range(3)]
    await settle()
    await flusher.stop()
    await asyncio.gather(*calls)
    assert len(producer.sent) == 3 and producer.stopped
    with pytest.raises(PublishError) as caught:
        await flusher.publish([record(b"after")])
    assert caught.value.reason == "stopping"


async def test_not_connected_is_refused_at_once(tmp_path: Path) -> None:
    kafka = KafkaPublisher(
        Settings(data_dir=tmp_path), "test", factory=lambda *_: FakeProducer(fail_start=10**6), background=True
    )
    flusher = RecordFlusher(kafka, wait_s=1.0, max_bytes=1_000)
    await flusher.start()
    assert flusher.readiness() == "not connected to Kafka yet"
    with pytest.raises(PublishError) as caught:
        await flusher.publish([record(b"k")])
    assert caught.value.reason == "not_connected"
    await flusher.stop()
