"""The loop every worker runs: read -> batch -> process (decode, transform, write) -> commit.

    intake:  faust's consumer fetch -> lists of SourceMessage -> Batcher.put_many
             (blocks while 2 batches are pending: backpressure reaches the fetcher)
    loop:    Batcher.next_batch(size, seconds)          size- and time-bounded
             drop messages of an older generation        re-read after the rebalance's seek
             stage.process(batch)                        decode, transform, write; retried
             group.commit(batch.commit_offsets())        only now

What a commit means: for each partition in the batch, the offset after the batch's last message
is committed to Kafka, once the stage's output for *every* message up to it is durable (flagged
records and dead letters acknowledged by Kafka with acks=all; rows accepted by ClickHouse).
Faust's per-message machinery (streams, events, acks) is not used (``processors.intake``): its
acking could commit past unprocessed data (a ``take()`` buffer is acked when released, even when
the batch failed; skipped messages are acked during a rebalance). The worker commits explicit
offsets through faust's consumer, never an offset it has not processed.

Failures: a storage or publish error is retried with backoff while intake stops (backpressure:
faust's buffers fill and it pauses the partitions). A rebalance abandons an in-flight batch
(its partitions are re-read from the last commit by whoever owns them next); before giving up
partitions the worker flushes and commits what it holds (``on_revoke``). Anything else
(including ``DeadLetterRatioExceeded``) propagates: the worker stops without committing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol, TypeVar

from processors.batch import SourceBatch, SourceMessage, TopicPartition
from processors.errors import BatchAbandoned, StorageError
from processors.metrics import WorkerMetrics
from telemetry_core.kafka_publisher import PublishError
from telemetry_core.retries import Delays, forever

log = logging.getLogger(__name__)

T = TypeVar("T")
REVOKE_FLUSH_TIMEOUT_S = 10.0
# The most bytes of record values in one batch (and, twice that, pending before the intake waits).
BATCH_MAX_BYTES = 32 * 1024 * 1024


# Between attempts of a failing write: 0.2 s, doubling, at most 5 s (telemetry_core.retries).
WRITE_RETRY_DELAYS = Delays(0.2, 5.0)


class ConsumerGroup(Protocol):
    """The worker's view of its consumer group (faust's consumer in production)."""

    @property
    def generation(self) -> int: ...

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> bool:
        """Commit exactly these offsets; False if the group rebalanced meanwhile."""
        ...

    def highwater(self, tp: TopicPartition) -> int | None: ...


class Retry(Protocol):
    """Runs ``attempt`` until it succeeds (see ``BatchLoop.retry``)."""

    async def __call__(self, batch: SourceBatch, operation: str, attempt: Callable[[], Awaitable[T]]) -> T: ...


Process = Callable[[SourceBatch, Retry], Awaitable[None]]
"""What a worker does with a batch (decode, transform, write); returns once the output is durable."""


class Batcher:
    """Bounded hand-off between the intake and the batch loop. ``put_many`` wakes the loop only
    when a batch is complete (not per fetch: a wake-up costs more than a message).

    Bounded in messages and in bytes: a batch holds at most ``max_bytes`` of values (at least one
    message, however large), and the intake waits while ``max_pending`` messages or twice
    ``max_bytes`` are pending, so large records cannot pile up in memory."""

    def __init__(self, max_pending: int, max_bytes: int = BATCH_MAX_BYTES) -> None:
        self.max_pending, self.max_bytes = max_pending, max_bytes
        self._items: deque[tuple[float, SourceMessage]] = deque()  # (arrival, message)
        self._bytes = 0
        self._ready = asyncio.Event()  # set when a batch is complete, or on flush_now
        self._room = asyncio.Event()  # set when a batch was taken
        self._want = 1
        self._flush = False

    def __len__(self) -> int:
        return len(self._items)

    def _complete(self) -> bool:
        return len(self._items) >= self._want or self._bytes >= self.max_bytes

    async def put_many(self, messages: Sequence[SourceMessage]) -> None:
        """Add a fetched list; waits while the pending messages or bytes are at their bound."""
        while len(self._items) >= self.max_pending or self._bytes >= 2 * self.max_bytes:
            self._room.clear()
            await self._room.wait()
        now = time.monotonic()
        self._items.extend((now, message) for message in messages)
        self._bytes += sum(len(m.value) for m in messages if m.value)
        if self._complete():
            self._ready.set()

    def flush_now(self) -> None:
        """Make the pending ``next_batch`` return what it has without waiting."""
        self._flush = True
        self._ready.set()

    async def next_batch(self, max_size: int, max_seconds: float) -> list[SourceMessage]:
        """Up to ``max_size`` messages and ``max_bytes``: as soon as that many are pending, or
        ``max_seconds`` after the oldest of them arrived, or at once after ``flush_now``."""
        self._want = 1
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        remaining = self._items[0][0] + max_seconds - time.monotonic()
        self._want = max_size
        if not self._complete() and not self._flush and remaining > 0:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), remaining)
        self._flush = False
        self._want = 1
        batch: list[SourceMessage] = []
        taken = 0
        items = self._items
        while items and len(batch) < max_size and (not batch or taken < self.max_bytes):
            message = items.popleft()[1]
            batch.append(message)
            taken += len(message.value) if message.value else 0
        self._bytes -= taken
        self._room.set()
        return batch


class BatchLoop:
    """Runs one stage over a stream of source messages, committing after each durable batch."""

    def __init__(
        self,
        process: Process,
        group: ConsumerGroup,
        metrics: WorkerMetrics,
        *,
        batch_size: int,
        batch_seconds: float,
        retry_delays: Delays = WRITE_RETRY_DELAYS,
    ) -> None:
        self.process, self.group, self.metrics = process, group, metrics
        self.batch_size, self.batch_seconds = batch_size, batch_seconds
        self.batcher = Batcher(2 * batch_size)
        self.committed: dict[TopicPartition, int] = {}
        self._retry_delays = retry_delays
        self._busy = False

    async def run(self) -> None:
        """Until cancelled or a non-retryable error, which is raised; the intake feeds ``batcher``."""
        while True:
            messages = await self.batcher.next_batch(self.batch_size, self.batch_seconds)
            generation = self.group.generation
            batch = SourceBatch(generation, [m for m in messages if m.generation == generation])
            if batch.messages:
                self._busy = True
                try:
                    await self._handle(batch)
                finally:
                    self._busy = False

    async def _handle(self, batch: SourceBatch) -> None:
        started = time.perf_counter()
        try:
            await self.process(batch, self.retry)
        except BatchAbandoned as exc:
            log.info("batch of %d messages abandoned: %s", len(batch), exc)
            return
        self.metrics.batch_size.observe(len(batch))
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        await self._commit(batch)

    async def _commit(self, batch: SourceBatch) -> None:
        if self.group.generation != batch.generation:
            log.info("not committing a batch of %d: the group rebalanced while it was written", len(batch))
            return
        offsets = batch.commit_offsets()
        if await self.group.commit(offsets):
            self.committed.update(offsets)
            self.metrics.commits.inc()
        else:
            log.info("commit of %s refused (rebalance); the next owner re-reads those messages", offsets)

    async def retry(self, batch: SourceBatch, operation: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()`` until it succeeds; storage and publish errors are retried with backoff,
        while the batch's generation is current (``BatchAbandoned`` otherwise)."""

        def failed(number: int, exc: BaseException, delay: float) -> None:
            self.metrics.retries.labels(operation).inc()
            self.metrics.backpressure.set(1)
            if number == 1 or number % 10 == 0:
                log.warning("%s failed (attempt %d), retrying in %.1f s: %s", operation, number, delay, exc)

        async for state in forever((StorageError, PublishError), self._retry_delays, failed):
            with state:
                if state.retry_state.attempt_number > 1 and self.group.generation != batch.generation:
                    raise BatchAbandoned(f"the group rebalanced while {operation} was retried")
                result = await attempt()
        self.metrics.backpressure.set(0)
        return result

    async def on_revoke(self, timeout_s: float = REVOKE_FLUSH_TIMEOUT_S) -> None:
        """Partitions are about to be taken away: write and commit what is pending, within
        ``timeout_s`` (the rebalance waits for this); what is left is re-read by the next owner."""
        deadline = time.monotonic() + timeout_s
        self.batcher.flush_now()
        while (self._busy or len(self.batcher)) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            if len(self.batcher) and not self._busy:
                self.batcher.flush_now()

    def lag(self) -> dict[tuple[str, ...], float]:
        """Per partition: high-water mark minus the committed offset (for the metrics gauge)."""
        found: dict[tuple[str, ...], float] = {}
        for tp, offset in self.committed.items():
            high = self.group.highwater(tp)
            if high is not None:
                found[(tp.topic, str(tp.partition))] = float(max(0, high - offset))
        return found
