"""One contract, two publishers (in the style of arroyo's tests/backends/mixins.py): the
in-memory fake the unit tests use and the real ``KafkaPublisher`` on the session's Kafka must
answer the same calls the same way, so unit tests over the fake say something about Kafka."""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from publisher_fakes import MemoryPublisher

from telemetry_core.kafka_publisher import ANY_PARTITION, KafkaPublisher, OutRecord, Publisher, PublishError
from telemetry_core.settings import Settings

pytestmark = pytest.mark.integration

PARTITIONS = 3
BUDGET = 10_000
Stored = tuple[bytes | None, bytes, tuple[tuple[str, bytes], ...], int | None]  # key, value, headers, partition


class PublisherContract(abc.ABC):
    """The tests; a subclass says how to make a publisher on a fresh topic and read it back."""

    @abc.abstractmethod
    async def publisher(self, topic: str) -> Publisher: ...

    @abc.abstractmethod
    async def stored(self, topic: str, count: int) -> list[Stored]: ...

    @pytest.fixture
    async def topic(self) -> AsyncIterator[str]:
        yield f"contract-{uuid.uuid4().hex[:10]}"

    async def test_acknowledged_records_are_stored_with_key_value_and_headers(self, topic: str) -> None:
        publisher = await self.publisher(topic)
        try:
            assert publisher.readiness() is None
            records = [OutRecord(topic, b"k%d" % i, b"v%d" % i, (("h", b"%d" % i),)) for i in range(20)]
            await publisher.publish(records[:5])
            await publisher.publish(records[5:])
            stored = await self.stored(topic, 20)
            assert sorted((k, v, h) for k, v, h, _ in stored) == sorted((r.key, r.value, r.headers) for r in records)
        finally:
            await publisher.stop()

    async def test_one_key_keeps_its_order(self, topic: str) -> None:
        publisher = await self.publisher(topic)
        try:
            await publisher.publish([OutRecord(topic, b"same", b"%d" % i) for i in range(10)])
            await publisher.publish([OutRecord(topic, b"same", b"%d" % i) for i in range(10, 15)])
            assert [v for _, v, _, _ in await self.stored(topic, 15)] == [b"%d" % i for i in range(15)]
        finally:
            await publisher.stop()

    async def test_an_explicit_partition_is_kept(self, topic: str) -> None:
        publisher = await self.publisher(topic)
        try:
            await publisher.publish([OutRecord(topic, b"k", b"v", partition=2)])
            assert [p for _, _, _, p in await self.stored(topic, 1)] == [2]
        finally:
            await publisher.stop()

    async def test_any_partition_records_of_one_call_share_a_partition(self, topic: str) -> None:
        publisher = await self.publisher(topic)
        try:
            await publisher.publish([OutRecord(topic, b"k%d" % i, b"v", partition=ANY_PARTITION) for i in range(10)])
            assert len({p for _, _, _, p in await self.stored(topic, 10)}) == 1
        finally:
            await publisher.stop()

    async def test_a_record_over_the_budget_is_too_large_and_nothing_of_the_call_is_stored(self, topic: str) -> None:
        publisher = await self.publisher(topic)
        try:
            with pytest.raises(PublishError) as caught:
                await publisher.publish([OutRecord(topic, b"small", b"v"), OutRecord(topic, b"big", b"x" * BUDGET)])
            assert caught.value.reason == "too_large"
            await publisher.publish([OutRecord(topic, b"after", b"v")])
            assert [k for k, _, _, _ in await self.stored(topic, 1)] == [b"after"]
        finally:
            await publisher.stop()

    async def test_partition_count_is_the_topics(self, topic: str) -> None:
        publisher = await self.publisher(topic)
        try:
            assert await publisher.partition_count(topic) == PARTITIONS
        finally:
            await publisher.stop()


class TestMemoryPublisher(PublisherContract):
    async def publisher(self, topic: str) -> Publisher:
        self.memory = MemoryPublisher(partitions={topic: PARTITIONS}, max_record_bytes=BUDGET)
        await self.memory.start()
        return self.memory

    async def stored(self, topic: str, count: int) -> list[Stored]:
        found = [(r.key, r.value, r.headers, r.partition) for r in self.memory.records if r.topic == topic]
        assert len(found) == count
        return found


class TestKafkaPublisher(PublisherContract):
    @pytest.fixture(autouse=True)
    def _settings(self, pipeline_settings: Settings) -> None:
        self.settings = dataclasses.replace(pipeline_settings)

    async def publisher(self, topic: str) -> Publisher:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
        finally:
            await admin.close()
        publisher = KafkaPublisher(self.settings, "contract", max_record_bytes=BUDGET)
        await publisher.start()
        return publisher

    async def stored(self, topic: str, count: int) -> list[Stored]:
        """Every record of ``topic`` (waiting up to 30 s for ``count``), in offset order per partition."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            found: list[Stored] = []
            deadline = asyncio.get_running_loop().time() + 30
            while len(found) < count and asyncio.get_running_loop().time() < deadline:
                for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                    found += [(m.key, m.value or b"", tuple(m.headers), tp.partition) for m in messages]
            return found
        finally:
            await consumer.stop()
