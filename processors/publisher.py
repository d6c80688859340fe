"""Producing a worker's output to Kafka: the seam (``Publisher``) and the aiokafka producer.

``publish`` returns only after Kafka acknowledged every record with acks=all (every in-sync
replica has it); otherwise it raises ``PublishFailed`` and the caller publishes the whole batch
again. The producer is idempotent, so its own internal retries add no duplicates; a batch
published twice does, and the sink removes them by event id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from processors.batch import OutRecord
from processors.errors import PublishFailed
from telemetry_core import topics
from telemetry_core.settings import Settings

# Records are appended to batches of up to MAX_BATCH_BYTES; a larger record travels alone in a
# batch of its own, up to the topic's max.message.bytes (the size budget in telemetry_core.topics).
MAX_BATCH_BYTES = 1_000_000
MAX_REQUEST_BYTES = topics.MAX_FLAGGED_RECORD_BYTES + topics.FLAGGED_BUDGET_SLACK
LINGER_MS = 5
REQUEST_TIMEOUT_MS = 30_000


class Publisher(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, records: Sequence[OutRecord]) -> None: ...
    async def partition_count(self, topic: str) -> int: ...


class KafkaPublisher:
    """An idempotent acks=all aiokafka producer owned by one worker."""

    def __init__(self, settings: Settings, client_id: str) -> None:
        self._settings = settings
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=LINGER_MS,
            max_batch_size=MAX_BATCH_BYTES,
            max_request_size=MAX_REQUEST_BYTES,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
        )
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def publish(self, records: Sequence[OutRecord]) -> None:
        """Append records to one batch per partition (far cheaper than a send per record), send
        every batch, and wait for all acknowledgements."""
        producer = self._producer
        if producer is None:
            raise PublishFailed("the producer is not started")
        futures: list[asyncio.Future[object]] = []
        try:
            partitions = {t: sorted(await producer.partitions_for(t)) for t in {r.topic for r in records}}
            batches: dict[tuple[str, int], BatchBuilder] = {}
            for r in records:
                partition = r.partition
                if partition is None:
                    every = partitions[r.topic]
                    partition = int(self._partitioner(r.key, every, every))
                tp = (r.topic, partition)
                batch = batches.get(tp)
                if batch is None or _append(batch, r) is None:
                    if batch is not None:
                        futures.append(await producer.send_batch(batch, tp[0], partition=tp[1]))
                    batch = batches[tp] = producer.create_batch()
                    _append(batch, r)  # the first record of a batch always fits
            for (topic, partition), batch in batches.items():
                futures.append(await producer.send_batch(batch, topic, partition=partition))
        except KafkaError as exc:
            await asyncio.gather(*futures, return_exceptions=True)
            raise PublishFailed(f"sending failed: {exc!r}") from exc
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise PublishFailed(f"{len(failed)} of {len(futures)} batches not acknowledged: {failed[0]!r}")

    async def partition_count(self, topic: str) -> int:
        """The topic's partitions as the producer's metadata knows them now (aiokafka refreshes it
        periodically and on errors, so a topic that gained partitions is followed)."""
        producer = self._producer
        if producer is None:
            raise PublishFailed("the producer is not started")
        try:
            return len(await producer.partitions_for(topic))
        except KafkaError as exc:
            raise PublishFailed(f"no metadata for {topic}: {exc!r}") from exc


def _append(batch: BatchBuilder, r: OutRecord) -> object:
    # The record builder takes milliseconds (BatchBuilder's docstring says seconds; its send path
    # passes milliseconds too); None stamps the current time.
    return batch.append(key=r.key, value=r.value, timestamp=r.timestamp_ms, headers=list(r.headers))
