"""Keeps a ``ReferenceStore`` current from the compacted reference topic.

``start()`` reads the topic from the beginning up to the end offsets seen at start and only
then returns: a service is ready once it has the whole reference state. Afterwards updates
are applied in the background as they arrive. No consumer group: every process reads all.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from telemetry_core.reference import ReferenceStore
from telemetry_core.settings import Settings
from telemetry_core.topics import REFERENCE

log = logging.getLogger(__name__)


class ReferenceFeed:
    """Owns the consumer and the background task; ``ready`` is set after the initial load."""

    def __init__(self, settings: Settings, store: ReferenceStore) -> None:
        self._settings = settings
        self.store = store
        self.ready = asyncio.Event()
        self.bad_records = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout_s: float = 60.0) -> None:
        """Load the whole topic (bounded by ``timeout_s``), then follow it in the background."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest",
            client_id="reference-feed",
        )
        self._consumer = consumer
        try:
            await consumer.start()
            partitions = [TopicPartition(REFERENCE, p) for p in sorted(await self._partitions(consumer))]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            await asyncio.wait_for(self._catch_up(consumer, end), timeout_s)
        except BaseException:
            await consumer.stop()
            self._consumer = None
            raise
        self.ready.set()
        self._task = asyncio.create_task(self._follow(consumer))

    async def _partitions(self, consumer: AIOKafkaConsumer) -> set[int]:
        for _ in range(100):
            found = consumer.partitions_for_topic(REFERENCE)
            if found:
                return set(found)
            # aiokafka has no public call that refreshes the consumer's own metadata view
            # (consumer.topics() fetches into a separate object), hence the private client.
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {REFERENCE} does not exist; run `telemetry-admin create-topics`")

    async def _catch_up(self, consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> None:
        pending = dict(end)
        while pending:
            self._apply(await consumer.getmany(timeout_ms=200))
            for tp in list(pending):
                if await consumer.position(tp) >= pending[tp]:
                    del pending[tp]

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                self._apply(await consumer.getmany(timeout_ms=1000))
            except asyncio.CancelledError:
                raise
            except Exception:  # keep following: a transient broker error must not freeze reference data
                log.exception("reference feed error; retrying")
                await asyncio.sleep(1.0)

    def _apply(self, batches: dict[TopicPartition, list[object]]) -> None:
        for messages in batches.values():
            for message in messages:
                try:
                    self.store.apply(message.key, message.value)  # type: ignore[attr-defined]
                except (ValueError, KeyError, TypeError, AttributeError):
                    self.bad_records += 1
                    log.warning("ignored malformed reference record at offset %s", getattr(message, "offset", "?"))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()
