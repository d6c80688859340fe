"""The sink: selection by event id, the insert with its token, the probe after an assignment,
refused rows bisected into dead letters, and setup errors that stop the worker."""

from __future__ import annotations

import dataclasses

import pytest
from metric_samples import samples
from processors_fakes import FakeTable, flagged_messages, message, raw_event, retry, time_ms
from publisher_fakes import MemoryPublisher

from processors import dlq
from processors.batch import SourceBatch, SourceMessage, dedup_token
from processors.dlq import DeadLetterPolicy, DeadLetters
from processors.errors import DeadLetterRatioExceeded, StorageMisconfigured
from processors.metrics import SinkMetrics
from processors.sink import Sink, StoredIds, select

# --- select: which rows of a batch to insert ------------------------------------------------


def test_every_new_id_is_selected_in_order() -> None:
    events = [raw_event() for _ in range(3)]
    messages = flagged_messages(events)
    chosen = select(messages, StoredIds())
    assert chosen.messages == tuple(messages) and chosen.rows == tuple(m.value for m in messages)
    assert chosen.invalid == () and (chosen.duplicates_in_batch, chosen.duplicates_stored) == (0, 0)


def test_repeats_within_a_batch_keep_the_first() -> None:
    first = raw_event()
    retried = dataclasses.replace(first, received_at_ms=first.received_at_ms + 5000)  # a client retry
    messages = flagged_messages([first, retried, first])
    chosen = select(messages, StoredIds())
    assert chosen.messages == (messages[0],) and chosen.duplicates_in_batch == 2


def test_ids_stored_already_in_the_same_partition_are_dropped() -> None:
    stored = StoredIds()
    event = raw_event()
    stored.add(0, event.event_id.encode(), event.received_at_ms)
    messages = flagged_messages([event]) + flagged_messages([event], partition=1)
    chosen = select(messages, stored)
    assert chosen.duplicates_stored == 1 and [m.partition for m in chosen.messages] == [1]


def test_records_without_key_or_value_are_dead_letters() -> None:
    good = flagged_messages([raw_event()], start=3)
    messages = [message(b"{}", 0, key=None), message(None, 1, key=b"id"), message(b"", 2, key=b"id"), *good]
    chosen = select(messages, StoredIds())
    assert [m.offset for m, _ in chosen.invalid] == [0, 1, 2] and chosen.messages == tuple(good)
    assert {e.reason for _, e in chosen.invalid} == {"unstorable flagged record: no key (event id) or no value"}


def test_stored_ids_are_a_bounded_lru_per_partition() -> None:
    stored = StoredIds(per_partition=2)
    stored.add(0, b"a", 1)
    stored.add(0, b"b", 2)
    stored.add(0, b"a", 1)  # refreshed: "b" is now the oldest
    stored.add(0, b"c", 3)
    stored.add(1, b"z", 9)
    assert [stored.get(0, i) for i in (b"a", b"b", b"c")] == [1, None, 3]
    assert stored.get(1, b"z") == 9 and stored.get(2, b"z") is None and len(stored) == 3


# --- Sink.write ------------------------------------------------------------------------------


def sink(
    table: FakeTable, publisher: MemoryPublisher | None = None, probe_rows: int = 10, window: int = 100
) -> tuple[Sink, SinkMetrics, MemoryPublisher]:
    metrics = SinkMetrics()
    publisher = publisher or MemoryPublisher()
    dead = DeadLetters("sink", "dlq", DeadLetterPolicy("sink", window, 0.5), metrics)
    return Sink(table, publisher, dead, metrics, StoredIds(), probe_rows=probe_rows), metrics, publisher


async def test_the_insert_uses_the_batch_token_and_remembers_ids_with_the_message_time() -> None:
    table = FakeTable()
    stage, metrics, _ = sink(table)
    events = [raw_event() for _ in range(3)]
    batch = SourceBatch(1, flagged_messages(events))
    await stage.write(batch, retry)
    assert table.ids == [e.event_id for e in events] and table.tokens == [dedup_token(batch)]
    assert table.rows == [m.value for m in batch.messages]  # the flagger's bytes, inserted as they are
    assert [stage.stored.get(0, e.event_id.encode()) for e in events] == [e.received_at_ms for e in events]
    assert samples(metrics.rows) == {(): 3.0} and samples(metrics.messages) == {(): 3.0}
    # Redelivered by the flagger (same ids, later offsets): nothing is inserted again.
    await stage.write(SourceBatch(1, flagged_messages(events, start=3)), retry)
    assert len(table.rows) == 3 and len(table.attempts) == 1
    assert samples(metrics.duplicates)[("stored",)] == 3


async def test_a_client_retry_with_a_new_received_at_is_not_stored_twice() -> None:
    table = FakeTable()
    stage, _, _ = sink(table)
    first = raw_event()
    retried = dataclasses.replace(first, received_at_ms=first.received_at_ms + 9)
    await stage.write(SourceBatch(1, flagged_messages([first])), retry)
    await stage.write(SourceBatch(1, flagged_messages([retried], start=1)), retry)
    assert table.ids == [first.event_id] and time_ms(table.decoded[0]["received_at"]) == first.received_at_ms


async def test_an_insert_whose_answer_was_lost_is_retried_with_the_same_token() -> None:
    table = FakeTable(failures=2, store_then_fail=True)
    stage, _, _ = sink(table)
    batch = SourceBatch(1, flagged_messages([raw_event() for _ in range(2)]))
    await stage.write(batch, retry)
    assert [token for token, _ in table.attempts] == [dedup_token(batch)] * 3
    assert len(table.rows) == 2 and len(table.tokens) == 1


async def test_after_a_reassignment_rows_a_predecessor_stored_are_not_inserted_again() -> None:
    table = FakeTable()
    events = [raw_event() for _ in range(4)]
    predecessor, _, _ = sink(table)
    await predecessor.write(SourceBatch(1, flagged_messages(events[:3])), retry)  # inserted, never committed
    successor, metrics, _ = sink(table)
    await successor.write(SourceBatch(2, flagged_messages(events)), retry)  # re-reads from the last commit
    assert table.ids == [e.event_id for e in events]
    assert table.lookups[-1] == [e.event_id for e in events]
    assert samples(metrics.duplicates)[("stored",)] == 3
    assert successor.stored.get(0, events[0].event_id.encode()) == events[0].received_at_ms


async def test_the_probe_covers_only_the_first_rows_of_each_partition_per_generation() -> None:
    table = FakeTable()
    stage, _, _ = sink(table, probe_rows=10)

    def batch(generation: int, start: int, count: int = 8, partition: int = 0) -> SourceBatch:
        return SourceBatch(generation, flagged_messages([raw_event() for _ in range(count)], partition, start))

    await stage.write(batch(1, 0), retry)
    await stage.write(batch(1, 8), retry)
    await stage.write(batch(1, 16), retry)
    assert [len(ids) for ids in table.lookups] == [8, 8]  # 16 >= probe_rows=10: no third lookup
    await stage.write(batch(1, 0, partition=1), retry)  # another partition has its own count
    assert len(table.lookups) == 3
    await stage.write(batch(2, 24, count=1), retry)  # a new generation probes again
    assert len(table.lookups) == 4


async def test_dead_letters_go_to_the_dlq_and_good_rows_are_stored() -> None:
    table, publisher = FakeTable(), MemoryPublisher()
    stage, metrics, _ = sink(table, publisher)
    event = raw_event()
    messages = [message(None, 0, topic="flagged", key=b"id"), *flagged_messages([event], start=1)]
    await stage.write(SourceBatch(1, messages), retry)
    assert [r.topic for r in publisher.records] == ["dlq"] and table.ids == [event.event_id]
    assert dlq.header(publisher.records[0].headers, dlq.WORKER) == "sink"
    assert dlq.header(publisher.records[0].headers, dlq.SOURCE_OFFSET) == "0"
    assert samples(metrics.dead_letters) == {("unstorable",): 1.0}


async def test_the_dlq_cap_stops_the_sink_before_dead_letters_are_published() -> None:
    table, publisher = FakeTable(), MemoryPublisher()
    stage, _, _ = sink(table, publisher, window=4)
    with pytest.raises(DeadLetterRatioExceeded):
        await stage.write(SourceBatch(1, [message(None, i, key=b"id") for i in range(4)]), retry)
    assert publisher.attempts == 0


def with_bad_row(count: int, bad_at: int) -> list[SourceMessage]:
    messages = flagged_messages([raw_event() for _ in range(count)])
    messages[bad_at] = messages[bad_at]._replace(value=b'{"event_id": 5, "broken')
    return messages


async def test_a_refused_row_is_bisected_out_into_the_dlq_and_the_others_stored() -> None:
    table, publisher = FakeTable(), MemoryPublisher()
    stage, metrics, _ = sink(table, publisher)
    messages = with_bad_row(8, bad_at=5)
    batch = SourceBatch(1, messages)
    await stage.write(batch, retry)
    good = [m for i, m in enumerate(messages) if i != 5]
    assert sorted(table.ids) == sorted(m.key.decode() for m in good if m.key)
    (letter,) = publisher.records
    assert (letter.topic, letter.value, letter.key) == ("dlq", messages[5].value, messages[5].key)
    reason = dlq.header(letter.headers, dlq.REASON) or ""
    assert reason.startswith("unstorable flagged record: insert of 1 rows rejected by ClickHouse")

    # Each insert's token names exactly its rows (their offsets and keys).
    def token(rows: list[SourceMessage]) -> str:
        return dedup_token(SourceBatch(1, rows))

    # 8 rows: 0-3 stored, 4-7 refused; 4-5 refused; 4 stored, 5 alone refused; 6-7 stored.
    assert [t for t, _ in table.attempts][:2] == [token(messages), token(messages[:4])]
    assert table.tokens == [token(messages[:4]), token(messages[4:5]), token(messages[6:])]
    assert samples(metrics.rows) == {(): 7.0} and samples(metrics.dead_letters) == {("unstorable",): 1.0}
    assert stage.stored.get(0, messages[5].key or b"") is None and len(stage.stored) == 7


async def test_a_bisect_re_run_repeats_the_same_tokens_and_stores_nothing_twice() -> None:
    table = FakeTable()
    messages = with_bad_row(8, bad_at=2)
    first, _, _ = sink(table)
    await first.write(SourceBatch(1, messages), retry)
    again, _, publisher = sink(table, probe_rows=0)  # a restart that cannot ask ClickHouse first
    await again.write(SourceBatch(2, messages), retry)
    assert len(table.rows) == 7 and len(set(table.ids)) == 7
    half = len(table.attempts) // 2
    assert table.attempts[:half] == table.attempts[half:]  # the same inserts with the same tokens
    assert len(publisher.records) == 1


async def test_a_bisect_interrupted_after_its_first_half_loses_no_row() -> None:
    table = FakeTable()
    messages = with_bad_row(4, bad_at=3)  # rows a, b, c and a refused d
    batch = SourceBatch(1, messages)
    token = dedup_token(batch)
    table.insert([m.value or b"" for m in messages[:2]], f"{token}/0")  # the first run stored a, b then crashed
    successor, _, _ = sink(table)
    await successor.write(SourceBatch(2, messages), retry)  # the probe finds a, b: selects c, d
    assert sorted(table.ids) == sorted(m.key.decode() for m in messages[:3] if m.key)


async def test_a_misconfigured_table_stops_the_sink_with_nothing_remembered() -> None:
    table, publisher = FakeTable(misconfigured=True), MemoryPublisher()
    stage, _, _ = sink(table, publisher, probe_rows=0)
    with pytest.raises(StorageMisconfigured):
        await stage.write(SourceBatch(1, flagged_messages([raw_event()])), retry)
    assert len(stage.stored) == 0 and publisher.records == [] and table.rows == []


async def test_a_failed_dlq_publish_is_retried_and_the_rows_stored_once() -> None:
    table, publisher = FakeTable(), MemoryPublisher(failures=2)
    stage, _, _ = sink(table, publisher)
    messages = [message(None, 0, key=b"id"), *flagged_messages([raw_event()], start=1)]
    await stage.write(SourceBatch(1, messages), retry)
    assert publisher.attempts == 3 and len(publisher.records) == 1 and len(table.rows) == 1
