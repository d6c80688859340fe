"""The batch loop with fakes: batching, commit only after durable output, retries, rebalances, the cap."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

import pytest
from metric_samples import samples
from processors_fakes import QUICK_RETRY, FakeGroup, message

from processors.batch import SourceBatch, SourceMessage, TopicPartition
from processors.errors import BatchAbandoned, DeadLetterRatioExceeded, StorageError
from processors.metrics import WorkerMetrics
from processors.pipeline import Batcher, BatchLoop, Retry


class RecordingStage:
    """Writes batches to ``written``; fails as scripted: a list of exceptions to raise first."""

    def __init__(self, failures: Iterable[Exception] = ()) -> None:
        self.written: list[list[int]] = []
        self.failures = list(failures)
        self.gate: asyncio.Event | None = None

    async def process(self, batch: SourceBatch, retry: Retry) -> None:
        async def attempt() -> None:
            if self.gate is not None:
                await self.gate.wait()
            if self.failures:
                raise self.failures.pop(0)
            self.written.append([m.offset for m in batch.messages])

        await retry(batch, "write", attempt)


def make_loop(stage: RecordingStage, group: FakeGroup, size: int = 3, seconds: float = 0.05) -> BatchLoop:
    return BatchLoop(
        stage.process, group, WorkerMetrics("test"), batch_size=size, batch_seconds=seconds, retry_delays=QUICK_RETRY
    )


def start(loop: BatchLoop, messages: list[SourceMessage]) -> asyncio.Task[None]:
    """The loop running, fed ``messages`` as one fetch (the intake calls ``put_many`` per fetch)."""

    async def run() -> None:
        if messages:
            await loop.batcher.put_many(messages)
        await loop.run()

    return asyncio.create_task(run())


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def run_until(loop: BatchLoop, messages: list[SourceMessage], done: Callable[[], bool]) -> None:
    task = start(loop, messages)
    try:
        for _ in range(500):
            if done() or task.done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
    finally:
        await stop(task)


async def test_batcher_cuts_by_size_then_by_time() -> None:
    batcher = Batcher(max_pending=100)
    await batcher.put_many([message(b"v", i) for i in range(5)])
    assert [m.offset for m in await batcher.next_batch(3, 10.0)] == [0, 1, 2]
    started = asyncio.get_running_loop().time()
    assert [m.offset for m in await batcher.next_batch(3, 0.05)] == [3, 4]
    assert asyncio.get_running_loop().time() - started >= 0.04


async def test_batcher_times_a_batch_from_the_arrival_of_its_oldest_message() -> None:
    batcher = Batcher(max_pending=100)
    await batcher.put_many([message(b"v", 0)])
    await asyncio.sleep(0.06)  # e.g. while the previous batch was being written
    started = asyncio.get_running_loop().time()
    assert [m.offset for m in await batcher.next_batch(10, 0.05)] == [0]
    assert asyncio.get_running_loop().time() - started < 0.03


async def test_batcher_blocks_producers_when_full_and_flushes_on_demand() -> None:
    batcher = Batcher(max_pending=2)
    await batcher.put_many([message(b"v", 0), message(b"v", 1)])
    blocked = asyncio.create_task(batcher.put_many([message(b"v", 2)]))
    await asyncio.sleep(0.02)
    assert not blocked.done()
    waiting = asyncio.create_task(batcher.next_batch(10, 60.0))
    await asyncio.sleep(0.02)
    batcher.flush_now()
    assert [m.offset for m in await asyncio.wait_for(waiting, 1)] in ([0, 1], [0, 1, 2])
    await asyncio.wait_for(blocked, 1)


async def test_batcher_takes_a_whole_fetch_once_there_is_room() -> None:
    batcher = Batcher(max_pending=2)
    await batcher.put_many([message(b"v", i) for i in range(5)])  # a fetch is never split
    assert len(batcher) == 5
    assert [m.offset for m in await batcher.next_batch(3, 60.0)] == [0, 1, 2]
    assert [m.offset for m in await batcher.next_batch(3, 0.01)] == [3, 4]


async def test_each_batch_is_committed_after_it_was_written() -> None:
    stage, group = RecordingStage(), FakeGroup()
    loop = make_loop(stage, group)
    messages = [message(b"v", i, partition=i % 2) for i in range(5)]
    await run_until(loop, messages, lambda: len(group.commits) == 2)
    assert stage.written == [[0, 1, 2], [3, 4]]
    assert group.commits == [
        {TopicPartition("src", 0): 3, TopicPartition("src", 1): 2},
        {TopicPartition("src", 1): 4, TopicPartition("src", 0): 5},
    ]
    assert loop.committed == {TopicPartition("src", 0): 5, TopicPartition("src", 1): 4}


async def test_storage_errors_are_retried_and_the_batch_committed_once() -> None:
    stage, group = RecordingStage([StorageError("down"), StorageError("still down")]), FakeGroup()
    loop = make_loop(stage, group)
    await run_until(loop, [message(b"v", 0)], lambda: bool(group.commits))
    assert stage.written == [[0]] and group.commits == [{TopicPartition("src", 0): 1}]
    assert samples(loop.metrics.retries) == {("write",): 2.0}
    assert samples(loop.metrics.backpressure) == {(): 0.0}


async def test_intake_stops_while_a_write_is_retried() -> None:
    stage, group = RecordingStage([StorageError("down")] * 1000), FakeGroup()
    loop = make_loop(stage, group, size=2)
    pulled: list[int] = []

    async def fetching() -> None:  # one record per fetch
        for i in range(100):
            pulled.append(i)
            await loop.batcher.put_many([message(b"v", i)])

    task, intake = start(loop, []), asyncio.create_task(fetching())
    await asyncio.sleep(0.2)
    await stop(task)
    await stop(intake)
    assert group.commits == [] and stage.written == []
    assert len(pulled) <= 2 + 2 * 2 + 1  # the batch in flight + two pending batches + the one waiting
    assert samples(loop.metrics.backpressure) == {(): 1.0}


async def test_a_rebalance_during_retries_abandons_the_batch_without_commit() -> None:
    stage, group = RecordingStage([StorageError("down")] * 3), FakeGroup()
    loop = make_loop(stage, group)

    async def rebalance() -> None:
        while not stage.failures or len(stage.failures) == 3:
            await asyncio.sleep(0.001)
        group.generation = 2

    mover = asyncio.create_task(rebalance())
    await run_until(loop, [message(b"v", 0)], lambda: mover.done() and loop._busy is False)
    await asyncio.sleep(0.05)
    assert group.commits == [] and stage.written == []


async def test_messages_read_in_an_older_generation_are_dropped() -> None:
    stage, group = RecordingStage(), FakeGroup()
    group.generation = 2
    loop = make_loop(stage, group)
    messages = [message(b"v", 0, generation=1), message(b"v", 0, generation=2), message(b"v", 1, generation=2)]
    await run_until(loop, messages, lambda: bool(group.commits))
    assert stage.written == [[0, 1]]


async def test_a_write_that_finishes_after_a_rebalance_is_not_committed() -> None:
    stage, group = RecordingStage(), FakeGroup()
    stage.gate = asyncio.Event()
    loop = make_loop(stage, group)
    task = start(loop, [message(b"v", 0)])
    await asyncio.sleep(0.1)
    group.generation = 2
    stage.gate.set()
    await asyncio.sleep(0.05)
    await stop(task)
    assert stage.written == [[0]] and group.commits == []


async def test_a_refused_commit_is_not_recorded() -> None:
    stage, group = RecordingStage(), FakeGroup()
    group.refuse = True
    loop = make_loop(stage, group)
    await run_until(loop, [message(b"v", 0)], lambda: bool(stage.written))
    await asyncio.sleep(0.02)
    assert loop.committed == {}


async def test_any_other_error_stops_the_loop_without_commit() -> None:
    error = DeadLetterRatioExceeded("flagger", 0.9, 10, 0.5)
    stage, group = RecordingStage([error]), FakeGroup()
    loop = make_loop(stage, group)
    with pytest.raises(DeadLetterRatioExceeded):
        await asyncio.wait_for(start(loop, [message(b"v", 0)]), 2)
    assert group.commits == []


async def test_on_revoke_writes_and_commits_what_is_pending_at_once() -> None:
    stage, group = RecordingStage(), FakeGroup()
    loop = make_loop(stage, group, size=100, seconds=60.0)
    task = start(loop, [message(b"v", i) for i in range(3)])
    await asyncio.sleep(0.05)
    assert group.commits == []
    await asyncio.wait_for(loop.on_revoke(timeout_s=2), 3)
    assert group.commits == [{TopicPartition("src", 0): 3}]
    await stop(task)


async def test_on_revoke_gives_up_after_its_timeout() -> None:
    stage, group = RecordingStage([StorageError("down")] * 10_000), FakeGroup()
    loop = make_loop(stage, group)
    task = start(loop, [message(b"v", 0)])
    await asyncio.sleep(0.02)
    started = asyncio.get_running_loop().time()
    await loop.on_revoke(timeout_s=0.1)
    assert asyncio.get_running_loop().time() - started < 1
    await stop(task)
    assert group.commits == []


async def test_lag_is_high_water_minus_committed() -> None:
    stage, group = RecordingStage(), FakeGroup()
    loop = make_loop(stage, group)
    await run_until(loop, [message(b"v", 0), message(b"v", 1)], lambda: bool(group.commits))
    group.high[TopicPartition("src", 0)] = 10
    assert loop.lag() == {("src", "0"): 8.0}


async def test_retry_outside_the_loop_raises_batch_abandoned_on_generation_change() -> None:
    group = FakeGroup()
    loop = make_loop(RecordingStage(), group)
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        group.generation = 5
        raise StorageError("down")

    attempt: Callable[[], Awaitable[None]] = failing
    with pytest.raises(BatchAbandoned):
        await loop.retry(SourceBatch(1, [message(b"v", 0)]), "write", attempt)
    assert calls == 1
