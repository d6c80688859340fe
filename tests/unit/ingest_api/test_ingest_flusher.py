"""RecordFlusher's guarantees against a producer whose batch acknowledgements the test controls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from ingest_api.flusher import RecordFlusher
from ingest_api.publisher import KafkaPublisher, PublishError, key_partitioner
from telemetry_core.settings import Settings

TOPIC = "t"
PARTITIONS = {0, 1, 2}


class CappedBatch:
    """Holds at most ``capacity`` records, like a builder that reached its byte limit."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[bytes] = []

    def append(self, *, timestamp: int | None, key: bytes, value: bytes) -> object | None:
        if len(self.records) >= self.capacity:
            return None
        self.records.append(key)
        return object()


@dataclass
class Sent:
    partition: int
    keys: list[bytes]
    delivery: asyncio.Future[Any]


@dataclass
class HeldProducer:
    """Every ``send_batch`` returns a delivery future the test settles."""

    capacity: int = 1000
    sent: list[Sent] = field(default_factory=list)
    client: Any = None

    async def partitions_for(self, topic: str) -> set[int]:
        return PARTITIONS

    def create_batch(self) -> CappedBatch:
        return CappedBatch(self.capacity)

    async def send_batch(self, batch: CappedBatch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append(Sent(partition, batch.records, delivery))
        return delivery

    def ack_all(self) -> None:
        for sent in self.sent:
            if not sent.delivery.done():
                sent.delivery.set_result(None)

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def partition_of(key: bytes) -> int:
    partitions = list(PARTITIONS)
    return key_partitioner(key, partitions, partitions)


def keys_for(partition: int, count: int) -> list[bytes]:
    """``count`` keys that the producer's partitioner sends to ``partition``."""
    found: list[bytes] = []
    n = 0
    while len(found) < count:
        key = f"event-{n}".encode()
        if partition_of(key) == partition:
            found.append(key)
        n += 1
    return found


async def turns(n: int = 10) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


@pytest.fixture
async def held() -> AsyncIterator[tuple[HeldProducer, RecordFlusher]]:
    producer = HeldProducer()
    flusher = RecordFlusher(producer, TOPIC, key_partitioner, wait_s=5.0, max_bytes=10_000, max_record_bytes=1_000)
    yield producer, flusher
    stopping = asyncio.create_task(flusher.stop(1.0))
    while not stopping.done():
        producer.ack_all()
        await asyncio.sleep(0)


async def test_idle_flushes_at_once_and_busy_accumulates_one_batch_per_partition(held: Any) -> None:
    producer, flusher = held
    (a1, a2), (b1,) = keys_for(0, 2), keys_for(1, 1)
    first = flusher.add([(a1, b"v")])
    await turns()
    assert [(s.partition, s.keys) for s in producer.sent] == [(0, [a1])]
    later = [flusher.add([(key, b"v")]) for key in (b1, a2)]
    await turns()
    assert len(producer.sent) == 1, "nothing more is sent while a flush waits for its acks"
    producer.ack_all()
    await turns()
    assert first.done() and first.result() is None
    assert not any(f.done() for f in later)
    assert sorted((s.partition, s.keys) for s in producer.sent[1:]) == [(0, [a2]), (1, [b1])]
    producer.ack_all()
    await turns()
    assert all(f.done() and f.result() is None for f in later)


async def test_partitions_are_the_producers_choice_and_order_is_kept(held: Any) -> None:
    producer, flusher = held
    keys = [f"id-{n}".encode() for n in range(60)]
    futures = [flusher.add([(key, b"v")]) for key in keys]
    await turns()
    producer.ack_all()
    await turns()
    producer.ack_all()
    await turns()
    assert all(f.done() for f in futures)
    for partition in PARTITIONS:
        sent = [key for s in producer.sent if s.partition == partition for key in s.keys]
        assert sent == [key for key in keys if partition_of(key) == partition]


async def test_a_request_resolves_once_after_all_its_batches_are_acknowledged(held: Any) -> None:
    producer, flusher = held
    (a,), (b,) = keys_for(0, 1), keys_for(1, 1)
    flusher.add([(b"first", b"v")])
    await turns()
    both = flusher.add([(a, b"v"), (b, b"v")])
    producer.ack_all()
    await turns()
    by_partition = {s.partition: s for s in producer.sent[1:]}
    by_partition[0].delivery.set_result(None)
    await turns()
    assert not both.done()
    by_partition[1].delivery.set_result(None)
    await turns()
    assert both.done() and both.result() is None


async def test_a_failed_batch_fails_exactly_its_requests(held: Any) -> None:
    producer, flusher = held
    (a1, a2), (b1,) = keys_for(0, 2), keys_for(1, 1)
    flusher.add([(b"first", b"v")])
    await turns()
    only_a, only_b, spanning = (
        flusher.add([(a1, b"v")]),
        flusher.add([(b1, b"v")]),
        flusher.add([(a2, b"v"), (b1, b"v")]),
    )
    producer.ack_all()
    await turns()
    by_partition = {s.partition: s for s in producer.sent[1:]}
    by_partition[0].delivery.set_exception(KafkaConnectionError("gone"))
    await turns()
    assert isinstance(only_a.exception(), PublishError) and isinstance(spanning.exception(), PublishError)
    assert str(only_a.exception()) == "kafka_error"
    assert not only_b.done()
    by_partition[1].delivery.set_result(None)  # the spanning request is already settled: no second result
    await turns()
    assert only_b.result() is None
    assert str(spanning.exception()) == "kafka_error"


async def test_a_too_large_refusal_from_kafka_is_too_large(held: Any) -> None:
    producer, flusher = held
    future = flusher.add([(b"k", b"v")])
    await turns()
    producer.sent[0].delivery.set_exception(MessageSizeTooLargeError())
    await turns()
    assert str(future.exception()) == "too_large"


async def test_no_records_is_acknowledged_at_once(held: Any) -> None:
    producer, flusher = held
    assert flusher.add([]).done()
    await turns()
    assert producer.sent == []


async def test_a_full_batch_continues_in_a_new_one(held: Any) -> None:
    producer, flusher = held
    producer.capacity = 2
    keys = keys_for(2, 5)
    flusher.add([(b"first", b"v")])
    await turns()
    request = flusher.add([(key, b"v") for key in keys])
    producer.ack_all()
    await turns()
    assert [s.keys for s in producer.sent[1:]] == [keys[:2], keys[2:4], keys[4:]]
    for sent in producer.sent[1:3]:
        sent.delivery.set_result(None)
    await turns()
    assert not request.done()
    producer.ack_all()
    await turns()
    assert request.result() is None


async def test_requests_that_gave_up_are_not_sent(held: Any) -> None:
    producer, flusher = held
    flusher.add([(b"first", b"v")])
    await turns()
    given_up, waiting = flusher.add([(b"gone", b"v")]), flusher.add([(b"kept", b"v")])
    given_up.cancel()  # what the caller's timeout does to the future it awaits
    producer.ack_all()
    await turns()
    assert [key for s in producer.sent[1:] for key in s.keys] == [b"kept"]
    producer.ack_all()
    await turns()
    assert waiting.result() is None


async def test_the_buffer_is_bounded_and_given_up_requests_free_it(held: Any) -> None:
    _, flusher = held
    flusher.add([(b"first", b"v")])
    await turns()
    waiting = [flusher.add([(b"k", b"v" * 900)]) for _ in range(11)]
    with pytest.raises(PublishError) as caught:
        flusher.add([(b"k", b"v" * 900)])
    assert caught.value.reason == "backlog"
    for future in waiting[:5]:
        future.cancel()
    flusher.add([(b"k", b"v" * 900)])


async def test_a_record_over_the_limit_is_refused_before_anything_is_queued(held: Any) -> None:
    producer, flusher = held
    with pytest.raises(PublishError) as caught:
        flusher.add([(b"ok", b"v"), (b"big", b"v" * 1_000)])
    assert caught.value.reason == "too_large"
    await turns()
    assert producer.sent == []


async def test_stop_sends_what_is_buffered_then_refuses() -> None:
    producer = HeldProducer()
    flusher = RecordFlusher(producer, TOPIC, key_partitioner, wait_s=5.0, max_bytes=10_000, max_record_bytes=1_000)
    first = flusher.add([(b"first", b"v")])
    await turns()
    buffered = flusher.add([(b"second", b"v")])
    stopping = asyncio.create_task(flusher.stop(1.0))
    await turns()
    with pytest.raises(PublishError):
        flusher.add([(b"third", b"v")])
    producer.ack_all()
    await turns()
    producer.ack_all()
    await stopping
    assert first.result() is None and buffered.result() is None


async def test_stop_fails_what_kafka_did_not_acknowledge_in_time() -> None:
    producer = HeldProducer()
    flusher = RecordFlusher(producer, TOPIC, key_partitioner, wait_s=5.0, max_bytes=10_000, max_record_bytes=1_000)
    in_flight = flusher.add([(b"first", b"v")])
    await turns()
    buffered = flusher.add([(b"second", b"v")])
    await flusher.stop(0.05)
    assert str(in_flight.exception()) == "stopping"
    assert str(buffered.exception()) == "stopping"


async def test_publish_times_out_and_the_timed_out_event_is_not_sent_later(tmp_path: Path) -> None:
    producer = HeldProducer()
    publisher = KafkaPublisher(Settings(data_dir=tmp_path, publish_timeout_s=0.05), factory=lambda _: producer)
    await publisher.start()
    while publisher.readiness() is not None:
        await asyncio.sleep(0.01)
    blocked = asyncio.create_task(publisher.publish([(b"first", b"v")]))
    await turns()
    with pytest.raises(PublishError) as caught:
        await publisher.publish([(b"late", b"v")])
    assert caught.value.reason == "timeout"
    with pytest.raises(PublishError):
        await blocked
    producer.ack_all()
    await turns()
    assert [key for s in producer.sent for key in s.keys] == [b"first"]
    await publisher.stop()
