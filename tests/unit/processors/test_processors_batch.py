"""Batches: offset ranges, what a commit covers, and the deduplication token."""

from __future__ import annotations

import hashlib

from processors_fakes import message

from processors.batch import SourceBatch, TopicPartition, dedup_token


def batch(*specs: tuple[int, int, bytes]) -> SourceBatch:
    return SourceBatch(1, [message(b"v", offset, partition, "t", key=key) for partition, offset, key in specs])


def test_ranges_and_commit_offsets_per_partition() -> None:
    b = batch((0, 10, b"a"), (1, 3, b"b"), (0, 11, b"c"), (1, 4, b"d"), (0, 12, b"e"))
    assert b.ranges() == {TopicPartition("t", 0): (10, 12), TopicPartition("t", 1): (3, 4)}
    assert b.commit_offsets() == {TopicPartition("t", 0): 13, TopicPartition("t", 1): 5}


def test_the_same_records_give_the_same_token_in_any_arrival_order_of_partitions() -> None:
    first = batch((0, 10, b"a"), (1, 3, b"b"), (0, 11, b"c"))
    again = batch((0, 10, b"a"), (1, 3, b"b"), (0, 11, b"c"))
    assert dedup_token(first) == dedup_token(again)
    assert dedup_token(first).startswith("t/0:10-11,t/1:3-3#")


def test_a_different_range_gives_a_different_token() -> None:
    short = batch((0, 10, b"a"), (0, 11, b"c"))
    longer = batch((0, 10, b"a"), (0, 11, b"c"), (0, 12, b"e"))
    assert dedup_token(short) != dedup_token(longer)


def test_reused_offsets_with_other_records_give_a_different_token() -> None:
    # A topic recreated with the same name restarts at offset 0: the key digest tells them apart.
    assert dedup_token(batch((0, 0, b"old"))) != dedup_token(batch((0, 0, b"new")))


def test_the_token_is_stable_across_versions() -> None:
    # A batch re-read after an upgrade must repeat the token ClickHouse saw before it: every key
    # followed by a newline, blake2b of 16 bytes.
    token = dedup_token(batch((0, 10, b"a"), (1, 3, b"b"), (0, 11, b"c")))
    assert token == "t/0:10-11,t/1:3-3#" + hashlib.blake2b(b"a\nb\nc\n", digest_size=16).hexdigest()
