"""The two stages with fakes: what is written where, and that duplicates are not stored twice."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from processors_fakes import (
    FakePublisher,
    FakeWriter,
    flagged_event,
    flagged_messages,
    message,
    quick_backoff,
    raw_messages,
)

from processors import dlq
from processors.batch import SourceBatch, dedup_token
from processors.dlq import DeadLetterPolicy
from processors.errors import DeadLetterRatioExceeded, StorageError
from processors.metrics import FlaggerMetrics, SinkMetrics, WorkerMetrics
from processors.sink import StoredIds
from processors.stages import DeadLetters, FlagStage, StoreStage, Topics
from telemetry_core.events import decode_flagged
from telemetry_core.reference import Product, ReferenceStore, Tenant

T = TypeVar("T")
TOPICS = Topics(raw="raw", flagged="flagged", dlq="dlq")


async def retry(batch: SourceBatch, operation: str, attempt: Callable[[], Awaitable[T]]) -> T:
    backoff = quick_backoff()
    while True:
        try:
            return await attempt()
        except StorageError:
            backoff.next_delay()


def dead_letters(worker: str, metrics: WorkerMetrics, window: int = 100, ratio: float = 0.5) -> DeadLetters:
    return DeadLetters(worker, "dlq", DeadLetterPolicy(worker, window, ratio), metrics)


def flag_stage(publisher: FakePublisher, window: int = 100) -> tuple[FlagStage, FlaggerMetrics]:
    ref = ReferenceStore()
    ref.put(Tenant("acme", "", 7))
    ref.put(Product("acme", "1", "", frozenset({"1.0"})))
    metrics = FlaggerMetrics()
    stage = FlagStage(TOPICS, ref, publisher, dead_letters("flagger", metrics, window), metrics, 90, clock=lambda: 5.0)
    return stage, metrics


async def test_flag_stage_publishes_flagged_records_and_dead_letters_together() -> None:
    publisher = FakePublisher()
    stage, metrics = flag_stage(publisher)
    messages = [*raw_messages(2), message(b"junk", 2, topic="raw")]
    await stage.process(SourceBatch(1, messages), retry)
    assert [r.topic for r in publisher.records] == ["flagged", "flagged", "dlq"]
    assert decode_flagged(publisher.records[0].value).processed_at_ms == 5000
    assert dlq.header(publisher.records[2].headers, dlq.SOURCE_OFFSET) == "2"
    assert metrics.flags.values[("license_key_exists", "0")] == 2
    assert metrics.red_flags.values[("license_unknown",)] == 2
    assert metrics.dead_letters.values == {("undecodable",): 1.0}


async def test_flag_stage_stops_before_publishing_when_the_cap_is_exceeded() -> None:
    publisher = FakePublisher()
    stage, _ = flag_stage(publisher, window=4)
    with pytest.raises(DeadLetterRatioExceeded):
        await stage.process(SourceBatch(1, [message(b"junk", i, topic="raw") for i in range(4)]), retry)
    assert publisher.attempts == 0


def store_stage(writer: FakeWriter, publisher: FakePublisher | None = None) -> tuple[StoreStage, SinkMetrics]:
    metrics = SinkMetrics()
    publisher = publisher or FakePublisher()
    stage = StoreStage(writer, publisher, dead_letters("sink", metrics), metrics, StoredIds(), probe_rows=10)
    return stage, metrics


async def test_store_stage_inserts_with_the_batch_token_and_remembers_ids() -> None:
    writer = FakeWriter()
    stage, metrics = store_stage(writer)
    events = [flagged_event() for _ in range(3)]
    batch = SourceBatch(1, flagged_messages(events))
    await stage.process(batch, retry)
    assert writer.ids == [e.raw.event_id for e in events] and writer.tokens == [dedup_token(batch)]
    assert metrics.rows.values == {(): 3.0}
    # Redelivered by the flagger (same ids, later offsets): nothing is inserted again.
    await stage.process(SourceBatch(1, flagged_messages(events, start=3)), retry)
    assert len(writer.rows) == 3 and metrics.duplicates.values[("stored",)] == 3


async def test_a_client_retry_with_a_new_received_at_is_not_stored_twice() -> None:
    writer = FakeWriter()
    stage, _ = store_stage(writer)
    first = flagged_event()
    retried = dataclasses.replace(
        first, raw=dataclasses.replace(first.raw, received_at_ms=first.raw.received_at_ms + 9)
    )
    await stage.process(SourceBatch(1, flagged_messages([first])), retry)
    await stage.process(SourceBatch(1, flagged_messages([retried], start=1)), retry)
    assert writer.ids == [first.raw.event_id]


async def test_an_insert_whose_answer_was_lost_is_retried_with_the_same_token() -> None:
    writer = FakeWriter(failures=2, store_then_fail=True)
    stage, _ = store_stage(writer)
    events = [flagged_event() for _ in range(2)]
    await stage.process(SourceBatch(1, flagged_messages(events)), retry)
    assert writer.attempts == 3 and len(writer.rows) == 2 and len(writer.tokens) == 1


async def test_after_a_reassignment_rows_a_predecessor_stored_are_not_inserted_again() -> None:
    writer = FakeWriter()
    events = [flagged_event() for _ in range(4)]
    predecessor, _ = store_stage(writer)
    await predecessor.process(SourceBatch(1, flagged_messages(events[:3])), retry)  # inserted, never committed
    successor, metrics = store_stage(writer)
    await successor.process(SourceBatch(2, flagged_messages(events)), retry)  # re-reads from the last commit
    assert writer.ids == [e.raw.event_id for e in events]
    assert writer.lookups[-1] == [e.raw.event_id for e in events]
    assert metrics.duplicates.values[("stored",)] == 3


async def test_the_probe_covers_only_the_first_rows_of_each_partition_per_generation() -> None:
    writer = FakeWriter()
    stage, _ = store_stage(writer)
    await stage.process(SourceBatch(1, flagged_messages([flagged_event() for _ in range(8)])), retry)
    await stage.process(SourceBatch(1, flagged_messages([flagged_event() for _ in range(8)], start=8)), retry)
    await stage.process(SourceBatch(1, flagged_messages([flagged_event() for _ in range(8)], start=16)), retry)
    assert [len(ids) for ids in writer.lookups] == [8, 8]  # 16 >= probe_rows=10: no third lookup
    await stage.process(SourceBatch(2, flagged_messages([flagged_event()], start=24)), retry)
    assert len(writer.lookups) == 3


async def test_dead_letters_go_to_the_dlq_before_the_insert() -> None:
    writer, publisher = FakeWriter(), FakePublisher()
    stage, metrics = store_stage(writer, publisher)
    event = flagged_event()
    messages = [message(b"junk", 0, topic="flagged"), *flagged_messages([event], start=1)]
    await stage.process(SourceBatch(1, messages), retry)
    assert [r.topic for r in publisher.records] == ["dlq"] and writer.ids == [event.raw.event_id]
    assert dlq.header(publisher.records[0].headers, dlq.WORKER) == "sink"
    assert metrics.dead_letters.values == {("undecodable",): 1.0}
