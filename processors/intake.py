"""How records reach a worker: faust's consumer, fetched in batches instead of one event at a time.

Faust runs the consumer group (membership, assignment, rebalances, pausing and seeking) and its
fetcher service; the worker replaces only what the fetcher does with each fetch. Faust's own
drain hands every record to the conductor one by one (a ``Message``, an ``Event``, channel
queues, sensors, the ``Stream`` iterator): measured here (bench/faust_intake.py) that costs
~100 µs per record before any work. ``BatchConsumer`` hands each fetch (up to
``broker_max_poll_records`` records) to the worker as one list of ``SourceMessage`` instead.

Faust has no public hook for this, so it overrides ``Consumer._drain_messages`` (what the
fetcher service runs) and calls ``_wait_next_records`` (one fetch, honouring flow control and
paused partitions). Both are private: ``tests/unit/processors/test_processors_intake.py`` pins
their behaviour, so an upgrade of faust that changes them fails loudly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, cast

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from processors.batch import SourceMessage

log = logging.getLogger(__name__)

Handler = Callable[[Sequence[SourceMessage]], Awaitable[None]]
FETCH_TIMEOUT_S = 1.0


class BatchConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer whose fetcher hands over whole fetches to its transport's handler."""

    async def _drain_messages(self, fetcher: Any) -> None:
        handler = cast(BatchTransport, self.transport).handler
        new = tuple.__new__
        try:
            while not (self.should_stop or fetcher.should_stop):
                records, active = await self._wait_next_records(FETCH_TIMEOUT_S)
                if not records or self.should_stop:
                    continue
                generation = int(self.app.consumer_generation_id)
                # tuple.__new__: a NamedTuple's own __new__ is a Python function, 4x the cost per record.
                messages = [
                    new(SourceMessage, (r.topic, r.partition, r.offset, r.key, r.value, r.timestamp or 0, generation))
                    for tp, batch in records.items()
                    if active is None or tp in active
                    for r in batch
                ]
                if messages:
                    await handler(messages)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                log.info("broker stopped the consumer, shutting down")
                return
            raise


class BatchTransport(faust_aiokafka.Transport):
    """faust's aiokafka transport with ``BatchConsumer``, which hands fetches to ``handler``."""

    Consumer: ClassVar[type[BatchConsumer]] = BatchConsumer

    def __init__(self, app: faust.App, handler: Handler) -> None:
        super().__init__(app.conf.broker_consumer, app)
        self.handler = handler


def use_batch_intake(app: faust.App, topic_name: str, handler: Handler) -> None:
    """Make ``app`` consume ``topic_name`` (raw bytes, no faust acks) through ``handler``."""
    app.transport = BatchTransport(app, handler)
    app.topics.add(app.topic(topic_name, key_serializer="raw", value_serializer="raw", acks=False))
