"""Micro-batching in front of the Kafka producer: one flusher task turns the records of
concurrent requests into one record batch per partition.

Why: aiokafka's ``send`` costs a coroutine, a partition lookup, an accumulator append and a
per-record future with its metadata for every record; built here, a batch costs one
``BatchBuilder.append`` per record and one ``send_batch`` per partition and flush.

The guarantees ``KafkaPublisher.publish`` builds on:

- A request's future is resolved exactly once: with ``None`` only after every record of the
  request was in a batch that Kafka acknowledged (the producer's acks=all, idempotent:
  ``send_batch`` batches get their sequence numbers when the sender drains them, as ``send``
  batches do); with a ``PublishError`` as soon as one of its batches failed.
- A batch's failure fails exactly the requests that had a record in it.
- A request not settled within ``wait_s`` fails with ``PublishError("timeout")`` (one timer
  for all waiting requests, not one per request); one whose future is already done (timed
  out, or its caller was cancelled) is not sent.
- Records keep their order per partition; the partition is the producer's partitioner's choice
  over the same partition list ``send`` would use.
- Flush policy: an idle flusher flushes at once (no added latency at low load); while a flush
  waits for its acknowledgements, new records accumulate and go together in the next one.
- The buffer is bounded (``max_bytes``): past it ``add`` refuses at once instead of queueing
  behind a Kafka that does not answer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from ingest_api.errors import TOO_LARGE, PublishError

log = logging.getLogger(__name__)

estimate_size = DefaultRecordBatchBuilder.estimate_size_in_bytes  # what ``send`` checks
_NO_HEADERS: list[tuple[str, bytes]] = []
MAX_TICK_S = 0.1  # how often waiting requests are checked against their deadline (at most)

Partitioner = Callable[[bytes, list[int], list[int]], int]


class BatchBuilder(Protocol):
    """The part of aiokafka's ``BatchBuilder`` used here: ``append`` returns ``None`` when full."""

    def append(self, *, timestamp: int | None, key: bytes, value: bytes) -> object | None: ...


class BatchProducer(Protocol):
    """The part of ``AIOKafkaProducer`` used here (a seam, so fakes type-check)."""

    def create_batch(self) -> Any: ...
    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]: ...
    async def partitions_for(self, topic: str) -> set[int]: ...


class _Request:
    """One ``add`` call: its future and how many of its records are not acknowledged yet."""

    __slots__ = ("future", "remaining")

    def __init__(self, future: asyncio.Future[None], remaining: int) -> None:
        self.future = future
        self.remaining = remaining


_Entry = tuple[bytes, bytes, _Request]


class _Deadlines:
    """Fails every request not settled within ``wait_s`` with ``PublishError("timeout")``.

    One timer ticking while requests wait, instead of an ``asyncio.timeout`` per request (its
    timer handle, heap push and cancellation were the largest single cost of a publish). Each
    request is failed at most one tick before ``wait_s`` is up, never after it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, wait_s: float) -> None:
        self._loop = loop
        self._tick = min(MAX_TICK_S, wait_s / 10)
        self._wait = wait_s - self._tick
        self._queue: deque[tuple[float, _Request]] = deque()  # in arrival order, so in deadline order
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, request: _Request) -> None:
        self._queue.append((self._loop.time() + self._wait, request))
        if self._timer is None:
            self._timer = self._loop.call_later(self._tick, self._sweep)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep(self) -> None:
        now, queue = self._loop.time(), self._queue
        while queue:
            deadline, request = queue[0]
            if not request.future.done():
                if deadline > now:
                    break
                request.future.set_exception(PublishError("timeout"))
            queue.popleft()
        self._timer = self._loop.call_later(self._tick, self._sweep) if queue else None


class RecordFlusher:
    """Buffers records and sends them in batches through ``producer`` (see the module docstring)."""

    def __init__(
        self,
        producer: BatchProducer,
        topic: str,
        partitioner: Partitioner,
        *,
        wait_s: float,
        max_bytes: int,
        max_record_bytes: int,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._deadlines = _Deadlines(self._loop, wait_s)
        self._producer = producer
        self._topic = topic
        self._partitioner = partitioner
        self._max_bytes = max_bytes
        self._max_record_bytes = max_record_bytes
        self._buffer: list[_Entry] = []
        self._bytes = 0
        self._wakeup: asyncio.Future[None] | None = None
        self._sending: list[_Entry] = []  # the flush in progress
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="kafka-flusher")

    def add(self, records: Sequence[tuple[bytes, bytes]]) -> asyncio.Future[None]:
        """Queue ``records`` (all or none); the future settles as the module docstring says, at
        the latest with ``PublishError("timeout")`` when ``wait_s`` is up.

        Raises ``PublishError`` at once: ``TOO_LARGE`` for a record over the producer's request
        limit (the check ``send`` makes), ``backlog`` when the buffer is full, ``stopping`` after
        ``stop`` began.
        """
        if self._closing:
            raise PublishError("stopping")
        size = 0
        for key, value in records:
            if estimate_size(key, value, _NO_HEADERS) > self._max_record_bytes:
                raise PublishError(TOO_LARGE)
            size += len(key) + len(value)
        if self._bytes + size > self._max_bytes and not self._prune(size):
            raise PublishError("backlog")
        request = _Request(self._loop.create_future(), len(records))
        if not records:
            request.future.set_result(None)  # nothing to wait for
            return request.future
        self._buffer += [(key, value, request) for key, value in records]
        self._bytes += size
        self._deadlines.watch(request)
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
        return request.future

    async def stop(self, timeout_s: float) -> None:
        """Refuse new records, send what is buffered (waiting up to ``timeout_s``), then fail
        whatever is left with ``PublishError("stopping")``."""
        self._closing = True
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        _fail([entry[2] for entry in self._sending + self._buffer], "stopping")
        self._buffer, self._sending = [], []
        self._deadlines.close()

    def _prune(self, size: int) -> bool:
        """Drop records whose requests already gave up; whether ``size`` more bytes now fit."""
        self._buffer = [entry for entry in self._buffer if not entry[2].future.done()]
        self._bytes = sum(len(key) + len(value) for key, value, _ in self._buffer)
        return self._bytes + size <= self._max_bytes

    async def _run(self) -> None:
        loop = self._loop
        while True:
            if not self._buffer:
                if self._closing:
                    return
                self._wakeup = loop.create_future()
                await self._wakeup
                continue
            entries, self._buffer, self._bytes = self._buffer, [], 0
            self._sending = entries
            try:
                await self._flush(entries)
            except KafkaError as exc:
                _fail([entry[2] for entry in entries], _reason(exc))
            except Exception:
                # A bug here must not hang every later request until its timeout.
                log.exception("flushing %d records to Kafka failed", len(entries))
                _fail([entry[2] for entry in entries], "kafka_error")
            self._sending = []

    async def _flush(self, entries: list[_Entry]) -> None:
        """Send ``entries`` as one batch per partition (more if one fills up) and wait for all
        their deliveries; each batch settles its own requests when its delivery completes."""
        producer, topic, partitioner = self._producer, self._topic, self._partitioner
        partitions = list(await producer.partitions_for(topic))  # the list ``send`` partitions over
        groups: dict[int, list[_Entry]] = {}
        for entry in entries:
            if not entry[2].future.done():
                groups.setdefault(partitioner(entry[0], partitions, partitions), []).append(entry)
        deliveries: list[asyncio.Future[Any]] = []
        for partition, group in groups.items():
            for batch, members in _batches(producer, group):
                try:
                    delivery = await producer.send_batch(batch, topic, partition=partition)
                except KafkaError as exc:
                    _fail([entry[2] for entry in members], _reason(exc))
                    continue
                delivery.add_done_callback(functools.partial(_settle, members))
                deliveries.append(delivery)
        if deliveries:
            await asyncio.wait(deliveries)


def _batches(producer: BatchProducer, group: list[_Entry]) -> Iterator[tuple[Any, list[_Entry]]]:
    """``group`` in order, cut where a batch is full (an empty batch takes any record)."""
    batch: BatchBuilder = producer.create_batch()
    members: list[_Entry] = []
    for entry in group:
        if batch.append(timestamp=None, key=entry[0], value=entry[1]) is None:
            yield batch, members
            batch, members = producer.create_batch(), []
            batch.append(timestamp=None, key=entry[0], value=entry[1])
        members.append(entry)
    yield batch, members


def _settle(members: list[_Entry], delivery: asyncio.Future[Any]) -> None:
    """Settle the requests of one batch as soon as its delivery completes."""
    if delivery.cancelled():
        _fail([entry[2] for entry in members], "stopping")
        return
    error = delivery.exception()
    if error is not None:
        if not isinstance(error, KafkaError):
            log.warning("Kafka batch failed: %r", error)
        _fail([entry[2] for entry in members], _reason(error))
        return
    for _, _, request in members:
        request.remaining -= 1
        if request.remaining == 0 and not request.future.done():
            request.future.set_result(None)


def _reason(error: BaseException) -> str:
    if isinstance(error, MessageSizeTooLargeError):
        return TOO_LARGE
    log.warning("Kafka refused a batch: %s", type(error).__name__)
    return "kafka_error"


def _fail(requests: list[_Request], reason: str) -> None:
    """Each not yet settled request gets its own ``PublishError`` (one traceback each)."""
    for request in requests:
        if not request.future.done():
            request.future.set_exception(PublishError(reason))
