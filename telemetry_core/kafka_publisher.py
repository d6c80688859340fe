"""Producing to Kafka, for the ingest, both workers and the DLQ replay: the seam (``Publisher``),
the record (``OutRecord``), the one error (``PublishError``) and the aiokafka producer.

``publish(records)`` returns only after Kafka acknowledged every record with acks=all (every
in-sync replica has it); otherwise it raises ``PublishError`` and nothing may be claimed saved.
A record may still reach Kafka after a failure; the caller publishes again with the same key
(the event id) and the sink removes duplicates by it. The producer is idempotent, so its own
internal retries add no duplicates.

- Partitioning: a record's explicit ``partition`` (the flagger keeps the source partition when
  the partition counts match), else aiokafka's ``DefaultPartitioner`` over the key: Kafka's
  murmur2, so the same event id always lands on the same partition. ``ANY_PARTITION`` says a
  record has no earlier copy to meet (an event id the ingest just assigned): all such records
  of one call go to one partition, the next call's to the next one (sticky, as Kafka's own
  default partitioner places records without a key), so a call makes one record batch, not
  one per partition, and no murmur2 runs for them.
- Size: a record over the publisher's ``max_record_bytes`` (the one budget of the path,
  ``telemetry_core.topics``) is refused with ``PublishError(TOO_LARGE)`` before anything of the
  call is sent.
- Records are appended to one batch per partition (far cheaper than aiokafka's ``send`` per
  record: no coroutine, accumulator lookup or future per record), in order per partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from telemetry_core import topics
from telemetry_core.retries import Delays, forever
from telemetry_core.settings import Settings

log = logging.getLogger(__name__)

TOO_LARGE = "too_large"
PROBE_INTERVAL_S = 5.0
STALE_AFTER_S = 3 * PROBE_INTERVAL_S
CONNECT_DELAYS = Delays(0.5, 5.0)
# Record batches: a larger record travels alone in a batch of its own. The ingest's batches are
# the requests of one flush (256 KiB measured best in bench/ingest.py); the workers publish
# whole batches of thousands of rows, and fewer, larger record batches mean fewer produce requests.
INGEST_BATCH_BYTES = 256 * 1024
WORKER_BATCH_BYTES = 1_000_000
REQUEST_TIMEOUT_MS = 30_000

ANY_PARTITION = -1  # ``OutRecord.partition``: any partition will do (see the module docstring)
Headers = tuple[tuple[str, bytes], ...]
_estimate = DefaultRecordBatchBuilder.estimate_size_in_bytes  # the check aiokafka's ``send`` makes
_NO_HEADERS: list[tuple[str, bytes]] = []  # shared, never mutated
# What a record batch of one headerless record adds to its key and value at most (batch header
# 61 bytes, the record's varints); tests/unit/telemetry_core/test_kafka_publisher.py checks it.
RECORD_OVERHEAD_BOUND = 128


class PublishError(Exception):
    """Kafka did not acknowledge (in time) or refused; ``reason`` is a short metric label.

    ``TOO_LARGE`` is the one permanent refusal: a record over the size budget.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


class OutRecord(NamedTuple):
    """A record to produce; ``partition`` ``None`` lets the key choose it (Kafka's default
    partitioner); ``timestamp_ms`` ``None`` means now."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers = ()
    partition: int | None = None
    timestamp_ms: int | None = None


class Publisher(Protocol):
    """Where records go; ``readiness()`` is ``None`` when ready, else why not."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def readiness(self) -> str | None: ...
    async def publish(self, records: Sequence[OutRecord]) -> None: ...
    async def partition_count(self, topic: str) -> int: ...


def producer(settings: Settings, client_id: str, max_record_bytes: int, max_batch_bytes: int) -> AIOKafkaProducer:
    """The idempotent acks=all producer. No linger: batches are built whole before they are
    handed over, and while a produce request is in flight (one per broker at a time with
    idempotence) the next one fills anyway; a linger only added latency in bench/ingest.py."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=0,
        max_batch_size=max_batch_bytes,
        max_request_size=max_record_bytes + topics.FLAGGED_BUDGET_SLACK,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )


ProducerFactory = Callable[[Settings, str, int, int], Any]  # (settings, client id, record and batch bytes)


class KafkaPublisher:
    """One producer, owned by one service or worker.

    ``start`` connects; with ``background=True`` (the ingest) it returns at once and connects
    in the background, retrying, so a service answers 503 rather than refusing to start while
    Kafka is away; otherwise (workers, the replay tool) it raises ``PublishError`` when Kafka
    cannot be reached. Readiness: connected, and a metadata request answered within the last
    ``STALE_AFTER_S`` seconds.
    """

    def __init__(
        self,
        settings: Settings,
        client_id: str,
        *,
        max_record_bytes: int = topics.MAX_FLAGGED_RECORD_BYTES,
        max_batch_bytes: int = WORKER_BATCH_BYTES,
        background: bool = False,
        factory: ProducerFactory = producer,
    ) -> None:
        self._settings = settings
        self._client_id = client_id
        self.max_record_bytes = max_record_bytes
        self._max_batch_bytes = max_batch_bytes
        self._background = background
        self._factory = factory
        self._producer: Any = None
        self._partitioner = DefaultPartitioner()
        self._sticky: dict[str, int] = {}  # topic -> the partition of the last call's ANY_PARTITION records
        self._last_ok = float("-inf")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._background:
            self._task = asyncio.create_task(self._connect_and_probe(), name=f"kafka-publisher-{self._client_id}")
            return
        try:
            await self._connect_once()
        except (KafkaError, OSError, TimeoutError) as exc:
            raise PublishError(
                "not_connected", f"cannot reach Kafka at {self._settings.kafka_bootstrap}: {exc!r}"
            ) from exc
        self._task = asyncio.create_task(self._probe_forever(), name=f"kafka-probe-{self._client_id}")

    async def stop(self) -> None:
        """Stop connecting and probing, then close the producer (which delivers what is in flight)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    @property
    def connected(self) -> bool:
        return self._producer is not None

    def readiness(self) -> str | None:
        if self._producer is None:
            return "not connected to Kafka yet"
        if time.monotonic() - self._last_ok > STALE_AFTER_S:
            return f"no answer from Kafka for over {STALE_AFTER_S:.0f} s"
        return None

    async def publish(self, records: Sequence[OutRecord]) -> None:
        """Send ``records`` (see the module docstring) and wait for every acknowledgement."""
        producer = self._producer
        if producer is None:
            raise PublishError("not_connected", "the producer is not connected")
        limit = self.max_record_bytes
        plainly_within = limit - RECORD_OVERHEAD_BOUND  # key + value up to this always fit
        for r in records:
            if (r.headers or len(r.value) + (len(r.key) if r.key else 0) > plainly_within) and record_size(r) > limit:
                raise PublishError(TOO_LARGE, f"a record is larger than {limit} bytes")
        futures: list[asyncio.Future[Any]] = []
        try:
            for (topic, partition), batch in await self._batches(producer, records):
                futures.append(await producer.send_batch(batch, topic, partition=partition))
        except KafkaError as exc:
            await asyncio.gather(*futures, return_exceptions=True)
            raise _error(exc) from exc
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise _error(result) from result

    async def partition_count(self, topic: str) -> int:
        """The topic's partitions as the producer's metadata knows them now (aiokafka refreshes it
        periodically and on errors, so a topic that gained partitions is followed)."""
        producer = self._producer
        if producer is None:
            raise PublishError("not_connected", "the producer is not connected")
        try:
            return len(await producer.partitions_for(topic))
        except KafkaError as exc:
            raise PublishError("metadata", f"no metadata for {topic}: {exc!r}") from exc

    async def _batches(
        self, producer: Any, records: Sequence[OutRecord]
    ) -> list[tuple[tuple[str, int], Any]]:
        """``records`` as record batches, in order per partition (a new batch where one is full)."""
        partitions: dict[str, list[int]] = {}
        sticky: dict[str, int] = {}
        for topic in {r.topic for r in records}:
            partitions[topic] = every = sorted(await producer.partitions_for(topic))
            last = self._sticky.get(topic)
            nxt = every[(every.index(last) + 1) % len(every)] if last in every else every[0]
            sticky[topic] = self._sticky[topic] = nxt
        done: list[tuple[tuple[str, int], Any]] = []
        open_: dict[tuple[str, int], Any] = {}
        for r in records:
            partition = r.partition
            if partition is None:
                every = partitions[r.topic]
                partition = int(self._partitioner(r.key, every, every))
            elif partition == ANY_PARTITION:
                partition = sticky[r.topic]
            tp = (r.topic, partition)
            batch = open_.get(tp)
            if batch is None or _append(batch, r) is None:
                if batch is not None:
                    done.append((tp, batch))
                batch = open_[tp] = producer.create_batch()
                _append(batch, r)  # an empty batch takes any record
        return done + list(open_.items())

    async def _connect_once(self) -> None:
        candidate = self._factory(self._settings, self._client_id, self.max_record_bytes, self._max_batch_bytes)
        try:
            await candidate.start()
            await asyncio.wait_for(candidate.client.force_metadata_update(), timeout=30.0)
        except BaseException:
            await candidate.stop()
            raise
        self._producer, self._last_ok = candidate, time.monotonic()
        log.info("connected to Kafka at %s", self._settings.kafka_bootstrap)

    async def _connect_and_probe(self) -> None:
        def failed(number: int, exc: BaseException, delay: float) -> None:
            log.warning("cannot reach Kafka at %s (%s); retrying in %.1f s", self._settings.kafka_bootstrap, exc, delay)

        async for attempt in forever((KafkaError, OSError, TimeoutError), CONNECT_DELAYS, failed):
            with attempt:
                await self._connect_once()
        await self._probe_forever()

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL_S)
            producer = self._producer
            if producer is None:
                return
            try:
                answered = await asyncio.wait_for(producer.client.force_metadata_update(), timeout=PROBE_INTERVAL_S)
            except (KafkaError, OSError, TimeoutError):
                answered = False
            if answered:
                self._last_ok = time.monotonic()


def record_size(r: OutRecord) -> int:
    """The bytes ``r`` takes in a record batch (what the size budget is compared with)."""
    return int(_estimate(r.key, r.value, list(r.headers) if r.headers else _NO_HEADERS))


def _append(batch: Any, r: OutRecord) -> object:
    # The record builder takes milliseconds (BatchBuilder's docstring says seconds; its send path
    # passes milliseconds too); None stamps the current time.
    return batch.append(
        key=r.key, value=r.value, timestamp=r.timestamp_ms, headers=list(r.headers) if r.headers else _NO_HEADERS
    )


def _error(exc: BaseException) -> PublishError:
    if isinstance(exc, MessageSizeTooLargeError):
        return PublishError(TOO_LARGE, "Kafka refused a record as too large")
    if isinstance(exc, KafkaTimeoutError):
        return PublishError("timeout", "Kafka did not acknowledge in time")
    if not isinstance(exc, KafkaError):
        log.warning("Kafka batch failed: %r", exc)
    return PublishError("kafka_error", f"Kafka refused a batch: {type(exc).__name__}")
