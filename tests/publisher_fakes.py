"""The in-memory ``Publisher`` (telemetry_core.kafka_publisher) for unit tests of the ingest and
the workers; tests/integration/telemetry_core/test_publisher_contract.py holds it and the real
``KafkaPublisher`` to the same contract."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from aiokafka.errors import KafkaConnectionError

from telemetry_core import topics
from telemetry_core.kafka_publisher import TOO_LARGE, OutRecord, PublishError, record_size


class MemoryPublisher:
    """Keeps what it "acknowledged" (``records``, in order).

    Knobs: ``failures`` publishes fail first (``PublishError("kafka_error")``); ``failure`` set:
    every publish fails with that reason; ``stalled``: a Kafka that takes nothing, each publish
    waits ``timeout_s`` then fails with ``timeout``; ``not_ready``: the readiness answer;
    ``partitions[topic]`` partitions per topic (1 unless told), ``metadata_failures`` metadata
    lookups fail first. Records over ``max_record_bytes`` are refused with ``TOO_LARGE`` and
    nothing of the call is kept, as the real publisher does.
    """

    def __init__(
        self,
        timeout_s: float = 1.0,
        *,
        failures: int = 0,
        partitions: Mapping[str, int] | None = None,
        metadata_failures: int = 0,
        max_record_bytes: int = topics.MAX_FLAGGED_RECORD_BYTES,
    ) -> None:
        self.records: list[OutRecord] = []
        self.timeout_s = timeout_s
        self.failures = failures
        self.failure: str | None = None
        self.stalled = False
        self.not_ready: str | None = None
        self.started = False
        self.attempts = 0
        self.partitions = dict(partitions or {})
        self.metadata_failures = metadata_failures
        self.max_record_bytes = max_record_bytes

    @property
    def keyed(self) -> list[tuple[bytes | None, bytes]]:
        """(key, value) of every record kept."""
        return [(r.key, r.value) for r in self.records]

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    def readiness(self) -> str | None:
        return self.not_ready

    async def publish(self, records: Sequence[OutRecord]) -> None:
        self.attempts += 1
        if self.stalled:
            await asyncio.sleep(self.timeout_s)
            raise PublishError("timeout")
        if self.failure is not None:
            raise PublishError(self.failure)
        if self.failures:
            self.failures -= 1
            raise PublishError("kafka_error", "broker away")
        if any(record_size(r) > self.max_record_bytes for r in records):
            raise PublishError(TOO_LARGE, f"a record is larger than {self.max_record_bytes} bytes")
        self.records.extend(records)

    async def partition_count(self, topic: str) -> int:
        if self.metadata_failures:
            self.metadata_failures -= 1
            raise PublishError("metadata", f"no metadata for {topic}: KafkaTimeoutError()")
        return self.partitions.get(topic, 1)


class FakeBatch:
    def __init__(self, limit: int) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []
        self.limit, self.size = limit, 0

    def append(self, *, timestamp: int | None, key: bytes | None, value: bytes, headers: object) -> object | None:
        if self.records and self.size + len(value) > self.limit:
            return None  # full; an empty batch takes any record, as aiokafka's does
        self.records.append((key, value))
        self.size += len(value)
        return object()


class FakeProducer:
    """An ``AIOKafkaProducer`` stand-in: acknowledges each batch at once unless ``stalled`` (then
    ``release()`` acknowledges what waits) or told to fail; ``sent`` holds (topic, partition,
    key, value) of what was acknowledged, ``batches`` counts ``send_batch`` calls."""

    def __init__(self, fail_start: int = 0, partitions: int = 1, batch_bytes: int = 1_000_000) -> None:
        self.fail_start = fail_start
        self.partitions = partitions
        self.batch_bytes = batch_bytes
        self.sent: list[tuple[str, int, bytes | None, bytes]] = []
        self.batches = 0
        self.stalled = False
        self.error: Exception | None = None
        self.send_error: Exception | None = None
        self.stopped = False
        self.client = self
        self._held: list[tuple[asyncio.Future[object], str, int, FakeBatch]] = []

    async def force_metadata_update(self) -> bool:
        return True

    async def start(self) -> None:
        if self.fail_start:
            self.fail_start -= 1
            raise KafkaConnectionError("no broker")

    async def stop(self) -> None:
        self.stopped = True

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.batch_bytes)

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future[object]:
        if self.send_error is not None:
            raise self.send_error
        self.batches += 1
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.error is not None:
            future.set_exception(self.error)
        elif self.stalled:
            self._held.append((future, topic, partition, batch))
        else:
            self._ack(future, topic, partition, batch)
        return future

    def release(self) -> None:
        held, self._held = self._held, []
        for future, topic, partition, batch in held:
            self._ack(future, topic, partition, batch)

    def _ack(self, future: asyncio.Future[object], topic: str, partition: int, batch: FakeBatch) -> None:
        self.sent += [(topic, partition, key, value) for key, value in batch.records]
        future.set_result(None)


class AcknowledgingPublisher:
    """Acknowledges every publish at once and keeps nothing: what a service costs without the
    Kafka path (bench/ingest_server.py ``instant``, bench/signing.py)."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def readiness(self) -> str | None:
        return None

    async def publish(self, records: Sequence[OutRecord]) -> None:
        return None

    async def partition_count(self, topic: str) -> int:
        return 1
