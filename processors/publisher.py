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
from telemetry_core.settings import Settings

# Kafka's default message.max.bytes (1 MiB) bounds a record batch; a record must fit in one.
MAX_BATCH_BYTES = 1_000_000
MAX_RECORD_BYTES = 900_000
LINGER_MS = 5
REQUEST_TIMEOUT_MS = 30_000


class Publisher(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, records: Sequence[OutRecord]) -> None: ...


class KafkaPublisher:
    """An idempotent acks=all aiokafka producer owned by one worker."""

    def __init__(self, settings: Settings, client_id: str) -> None:
        self._settings = settings
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()
        self._partitions: dict[str, list[int]] = {}

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=LINGER_MS,
            max_batch_size=MAX_BATCH_BYTES,
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
            batches: dict[tuple[str, int], BatchBuilder] = {}
            for r in records:
                tp = (r.topic, await self._partition(producer, r))
                batch = batches.get(tp)
                if (
                    batch is None
                    or batch.append(key=r.key, value=r.value, timestamp=None, headers=list(r.headers)) is None
                ):
                    if batch is not None:
                        futures.append(await producer.send_batch(batch, tp[0], partition=tp[1]))
                    batch = batches[tp] = producer.create_batch()
                    if batch.append(key=r.key, value=r.value, timestamp=None, headers=list(r.headers)) is None:
                        raise PublishFailed(f"a record of {len(r.value)} bytes does not fit in a batch")
            for (topic, partition), batch in batches.items():
                futures.append(await producer.send_batch(batch, topic, partition=partition))
        except KafkaError as exc:
            await asyncio.gather(*futures, return_exceptions=True)
            raise PublishFailed(f"sending failed: {exc!r}") from exc
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise PublishFailed(f"{len(failed)} of {len(futures)} batches not acknowledged: {failed[0]!r}")

    async def _partition(self, producer: AIOKafkaProducer, record: OutRecord) -> int:
        """Kafka's default partitioner (murmur2 of the key), as the Java client would choose."""
        partitions = self._partitions.get(record.topic)
        if partitions is None:
            partitions = self._partitions[record.topic] = sorted(await producer.partitions_for(record.topic))
        return int(self._partitioner(record.key, partitions, partitions))
