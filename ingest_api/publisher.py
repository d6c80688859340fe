"""Publishing raw events to Kafka: the seam (``Publisher``), the aiokafka producer, an in-memory fake.

The contract: ``publish`` returns only after Kafka acknowledged every record with acks=all
(all in-sync replicas have it); then, and only then, ingest may answer "saved". It raises
``PublishError`` within ``timeout_s`` otherwise, and the client is told nothing was saved. A
record may still reach Kafka after a timeout; the client's retry carries the same event id,
and the sink deduplicates by it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from ingest_api.errors import TOO_LARGE, PublishError
from ingest_api.flusher import RecordFlusher
from telemetry_core.settings import Settings
from telemetry_core.topics import MAX_RAW_RECORD_BYTES, RAW

log = logging.getLogger(__name__)

Record = tuple[bytes, bytes]  # (key: the event id, value: the encoded raw event)

PROBE_INTERVAL_S = 5.0
STALE_AFTER_S = 3 * PROBE_INTERVAL_S
CONNECT_BACKOFF_S = (0.5, 5.0)
LINGER_MS = 0
MAX_BATCH_BYTES = 256 * 1024
MAX_REQUEST_BYTES = 1_048_576  # aiokafka's default; above MAX_RAW_RECORD_BYTES, the budget records are held to
MAX_BUFFERED_BYTES = 16 * 1024 * 1024  # records waiting for the next flush; 503 "backlog" past it

__all__ = ["TOO_LARGE", "KafkaPublisher", "MemoryPublisher", "PublishError", "Publisher", "Record"]


class Publisher(Protocol):
    """Where accepted events go; ``readiness()`` is ``None`` when ready, else why not."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def readiness(self) -> str | None: ...
    async def publish(self, records: Sequence[Record]) -> None: ...


ProducerFactory = Callable[[Settings], Any]

_M = 0x5BD1E995


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (the Java client's), bit for bit; about twice as fast as aiokafka's
    pure-Python loop, which was the largest single cost of a publish."""
    length = len(data)
    h = 0x9747B28C ^ length
    body = length & ~3
    for (k,) in struct.iter_unpack("<I", data[:body]):
        k = (k * _M) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * _M) & 0xFFFFFFFF
        h = ((h * _M) & 0xFFFFFFFF) ^ k
    tail = length & 3
    if tail:
        if tail == 3:
            h ^= data[body + 2] << 16
        if tail >= 2:
            h ^= data[body + 1] << 8
        h = ((h ^ data[body]) * _M) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * _M) & 0xFFFFFFFF
    return h ^ (h >> 15)


def key_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """The partition Kafka's default partitioner picks for ``key`` (every event has a key)."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]


def kafka_producer(settings: Settings) -> AIOKafkaProducer:
    """The idempotent acks=all producer (``RecordFlusher`` hands it whole batches).

    No linger: while a produce request is in flight (one per broker at a time with
    idempotence), the records of concurrent requests gather in the flusher's buffer anyway; a
    linger only added latency and lowered throughput in bench/ingest.py.
    """
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="telemetry-ingest",
        acks="all",
        enable_idempotence=True,
        linger_ms=LINGER_MS,
        max_batch_size=MAX_BATCH_BYTES,
        max_request_size=MAX_REQUEST_BYTES,
        partitioner=key_partitioner,
        request_timeout_ms=max(30_000, int(settings.publish_timeout_s * 2000)),
    )


class KafkaPublisher:
    """Publishes to ``telemetry.raw.v1``, keyed by event id (same id, same partition), through
    a ``RecordFlusher``: the records of concurrent requests share one batch per partition.

    ``start`` returns at once: the producer connects in the background (retrying), so the
    service answers 503 rather than refusing to start while Kafka is away. Readiness means
    connected and a metadata request answered within the last ``STALE_AFTER_S`` seconds.
    """

    def __init__(self, settings: Settings, topic: str = RAW, factory: ProducerFactory = kafka_producer) -> None:
        self._settings = settings
        self._topic = topic
        self._factory = factory
        self._timeout_s = settings.publish_timeout_s
        self._producer: Any = None
        self._flusher: RecordFlusher | None = None
        self._last_ok = float("-inf")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kafka-publisher")

    async def stop(self) -> None:
        """Stop probing, send what is buffered (up to ``timeout_s``), then close the producer
        (which delivers what is in flight)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._flusher is not None:
            flusher, self._flusher = self._flusher, None
            await flusher.stop(self._timeout_s)
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    def readiness(self) -> str | None:
        if self._producer is None:
            return "not connected to Kafka yet"
        if time.monotonic() - self._last_ok > STALE_AFTER_S:
            return f"no answer from Kafka for over {STALE_AFTER_S:.0f} s"
        return None

    async def publish(self, records: Sequence[Record]) -> None:
        """Hand ``records`` to the flusher and wait for their acknowledgement; the flusher fails
        them with ``PublishError("timeout")`` within ``timeout_s`` (and drops them if not sent yet)."""
        flusher = self._flusher
        if flusher is None:
            raise PublishError("not_connected")
        await flusher.add(records)

    async def _run(self) -> None:
        self._producer = await self._connect()
        self._flusher = RecordFlusher(
            self._producer,
            self._topic,
            key_partitioner,
            wait_s=self._timeout_s,
            max_bytes=MAX_BUFFERED_BYTES,
            max_record_bytes=MAX_RAW_RECORD_BYTES,  # the path's one size budget (telemetry_core.topics)
        )
        self._last_ok = time.monotonic()
        log.info("connected to Kafka at %s", self._settings.kafka_bootstrap)
        while True:
            await asyncio.sleep(PROBE_INTERVAL_S)
            await self._probe()

    async def _connect(self) -> Any:
        delay, longest = CONNECT_BACKOFF_S
        while True:
            producer = self._factory(self._settings)
            try:
                await producer.start()
                await asyncio.wait_for(producer.partitions_for(self._topic), timeout=30.0)
                return producer
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning("cannot reach Kafka at %s (%s); retrying", self._settings.kafka_bootstrap, exc)
                await producer.stop()
            except asyncio.CancelledError:
                await producer.stop()
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)

    async def _probe(self) -> None:
        try:
            answered = await asyncio.wait_for(self._producer.client.force_metadata_update(), timeout=PROBE_INTERVAL_S)
        except (KafkaError, OSError, TimeoutError):
            answered = False
        if answered:
            self._last_ok = time.monotonic()


class MemoryPublisher:
    """An in-memory ``Publisher`` for unit tests: keeps what it "acknowledged".

    With ``stalled`` set it behaves like a Kafka that takes nothing: it waits ``timeout_s``
    and raises ``PublishError("timeout")``; with ``failure`` set it raises at once.
    """

    def __init__(self, timeout_s: float = 1.0) -> None:
        self.records: list[Record] = []
        self.timeout_s = timeout_s
        self.stalled = False
        self.failure: str | None = None
        self.not_ready: str | None = None
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    def readiness(self) -> str | None:
        return self.not_ready

    async def publish(self, records: Sequence[Record]) -> None:
        if self.stalled:
            await asyncio.sleep(self.timeout_s)
            raise PublishError("timeout")
        if self.failure is not None:
            raise PublishError(self.failure)
        self.records.extend(records)
