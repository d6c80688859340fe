"""Micro-batching in front of the one Kafka publisher (``telemetry_core.kafka_publisher``): the
records of concurrent requests go out in one ``publish`` call, so in one record batch per
partition instead of one tiny batch (or one aiokafka ``send``) per request. bench/ingest.py
measures whether it pays (bench/RESULTS.ingest.md).

The guarantees the ingest handlers build on (``RecordFlusher`` is itself a ``Publisher``):

- ``publish`` returns only after every record of the call was in a flush that Kafka
  acknowledged (acks=all); it raises ``PublishError`` if that flush failed (every call in a
  failed flush fails), and ``PublishError("timeout")`` when ``wait_s`` is up. A call that
  gave up (timed out, or its caller was cancelled) before its flush began is not sent.
- Flush policy: an idle flusher flushes at once (no added latency at low load); while a flush
  waits for its acknowledgements, new records accumulate and go together in the next one.
- The buffer is bounded (``max_bytes``): past it ``publish`` refuses at once
  (``PublishError("backlog")``) instead of queueing behind a Kafka that does not answer.
- Size: a record over the publisher's budget is refused at once with ``TOO_LARGE``, so it
  cannot fail the flush of other requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence

from telemetry_core import kafka_publisher, topics
from telemetry_core.kafka_publisher import TOO_LARGE, KafkaPublisher, OutRecord, PublishError, record_size
from telemetry_core.settings import Settings

log = logging.getLogger(__name__)

MAX_TICK_S = 0.1  # how often waiting calls are checked against their deadline (at most)
MAX_BUFFERED_BYTES = 16 * 1024 * 1024  # records waiting for the next flush; 503 "backlog" past it


class _Call:
    """One ``publish`` call: its records and its future."""

    __slots__ = ("future", "records", "size")

    def __init__(self, future: asyncio.Future[None], records: Sequence[OutRecord], size: int) -> None:
        self.future, self.records, self.size = future, records, size


class _Deadlines:
    """Fails every call not settled within ``wait_s`` with ``PublishError("timeout")``.

    One timer ticking while calls wait, instead of an ``asyncio.timeout`` per call (its timer
    handle, heap push and cancellation were the largest single cost of a publish). Each call is
    failed at most one tick before ``wait_s`` is up, never after it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, wait_s: float) -> None:
        self._loop = loop
        self._tick = min(MAX_TICK_S, wait_s / 10)
        self._wait = wait_s - self._tick
        self._queue: deque[tuple[float, _Call]] = deque()  # in arrival order, so in deadline order
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, call: _Call) -> None:
        self._queue.append((self._loop.time() + self._wait, call))
        if self._timer is None:
            self._timer = self._loop.call_later(self._tick, self._sweep)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep(self) -> None:
        now, queue = self._loop.time(), self._queue
        while queue:
            deadline, call = queue[0]
            if not call.future.done():
                if deadline > now:
                    break
                call.future.set_exception(PublishError("timeout"))
            queue.popleft()
        self._timer = self._loop.call_later(self._tick, self._sweep) if queue else None


class RecordFlusher:
    """A ``Publisher`` that coalesces concurrent calls into one ``publish`` of ``publisher``."""

    def __init__(self, publisher: KafkaPublisher, *, wait_s: float, max_bytes: int) -> None:
        self._publisher = publisher
        self._wait_s = wait_s
        self._max_bytes = max_bytes
        self._buffer: list[_Call] = []
        self._bytes = 0
        self._wakeup: asyncio.Event | None = None
        self._deadlines: _Deadlines | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._wakeup, self._deadlines = asyncio.Event(), _Deadlines(loop, self._wait_s)
        self._closing = False
        await self._publisher.start()
        self._task = asyncio.create_task(self._run(), name="kafka-flusher")

    async def stop(self) -> None:
        """Refuse new records, send what is buffered (waiting up to ``wait_s``), fail whatever
        is left with ``PublishError("stopping")``, then stop the publisher."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self._wait_s)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        _fail(self._buffer, PublishError("stopping"))
        self._buffer, self._bytes = [], 0
        if self._deadlines is not None:
            self._deadlines.close()
        await self._publisher.stop()

    def readiness(self) -> str | None:
        return self._publisher.readiness()

    async def partition_count(self, topic: str) -> int:
        return await self._publisher.partition_count(topic)

    async def publish(self, records: Sequence[OutRecord]) -> None:
        """Queue ``records`` (all or none) for the next flush and wait for it (see the module docstring)."""
        if self._closing or self._task is None or self._wakeup is None or self._deadlines is None:
            raise PublishError("stopping" if self._closing else "not_connected")
        if not self._publisher.connected:
            raise PublishError("not_connected")
        if not records:
            return
        size, limit = 0, self._publisher.max_record_bytes
        for r in records:
            bytes_ = record_size(r)
            if bytes_ > limit:
                raise PublishError(TOO_LARGE, f"a record is larger than {limit} bytes")
            size += bytes_
        if self._bytes + size > self._max_bytes and not self._prune(size):
            raise PublishError("backlog")
        call = _Call(asyncio.get_running_loop().create_future(), records, size)
        self._buffer.append(call)
        self._bytes += size
        self._deadlines.watch(call)
        self._wakeup.set()
        await call.future

    def _prune(self, size: int) -> bool:
        """Drop calls that already gave up; whether ``size`` more bytes now fit."""
        self._buffer = [call for call in self._buffer if not call.future.done()]
        self._bytes = sum(call.size for call in self._buffer)
        return self._bytes + size <= self._max_bytes

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._buffer:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            calls = [call for call in self._buffer if not call.future.done()]
            self._buffer, self._bytes = [], 0
            if calls:
                await self._flush(calls)

    async def _flush(self, calls: list[_Call]) -> None:
        records = [r for call in calls for r in call.records]
        try:
            await self._publisher.publish(records)
        except PublishError as exc:
            _fail(calls, exc)
            return
        except Exception:
            # A bug here must not hang every later call until its timeout.
            log.exception("flushing %d records to Kafka failed", len(records))
            _fail(calls, PublishError("kafka_error"))
            return
        for call in calls:
            if not call.future.done():
                call.future.set_result(None)


def _fail(calls: list[_Call], error: PublishError) -> None:
    """Each call not yet settled gets its own ``PublishError`` (one traceback each)."""
    for call in calls:
        if not call.future.done():
            call.future.set_exception(PublishError(error.reason, error.detail))


def ingest_publisher(settings: Settings) -> RecordFlusher:
    """The ingest's publisher: the raw topic's size budget, connecting in the background, and
    the flusher in front (``publish_timeout_s`` bounds every wait)."""
    kafka = KafkaPublisher(
        settings,
        "telemetry-ingest",
        max_record_bytes=topics.MAX_RAW_RECORD_BYTES,
        max_batch_bytes=kafka_publisher.INGEST_BATCH_BYTES,
        background=True,
    )
    return RecordFlusher(kafka, wait_s=settings.publish_timeout_s, max_bytes=MAX_BUFFERED_BYTES)
