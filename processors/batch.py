"""What a worker reads: source messages and a batch of them (it writes ``kafka_publisher.OutRecord``).

A batch holds messages of one consumer generation, each partition's messages in offset order.
``commit_offsets`` is what committing the batch means: for every partition it touched, the
next offset to read is one past the last message of the batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import NamedTuple


class TopicPartition(NamedTuple):
    topic: str
    partition: int


class SourceMessage(NamedTuple):
    """One Kafka record as consumed; ``generation`` is the consumer-group generation it was read in.
    (A tuple: one is made per record, and a tuple is the cheapest immutable record to make.)"""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    generation: int = 0


@dataclass
class SourceBatch:
    """Messages read in one generation, in arrival order (per partition: offset order)."""

    generation: int
    messages: list[SourceMessage] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.messages)

    def ranges(self) -> dict[TopicPartition, tuple[int, int]]:
        """First and last offset of every partition in the batch."""
        first: dict[tuple[str, int], int] = {}
        last: dict[tuple[str, int], int] = {}
        for m in self.messages:  # plain tuples: a TopicPartition per message costs more than the loop
            tp = (m.topic, m.partition)
            if tp not in first:
                first[tp] = m.offset
            last[tp] = m.offset
        return {TopicPartition(*tp): (offset, last[tp]) for tp, offset in first.items()}

    def commit_offsets(self) -> dict[TopicPartition, int]:
        """The offsets to commit once the batch's output is durable (last offset + 1)."""
        return {tp: last + 1 for tp, (_, last) in self.ranges().items()}


def dedup_token(batch: SourceBatch) -> str:
    """The insert_deduplication_token of a batch: every partition's offset range, in partition
    order, plus a digest of the keys (event ids) read. The same token is produced only when the
    same records are read again; the digest keeps a recreated topic (offsets restarting at 0)
    from colliding with an old token inside ClickHouse's deduplication window."""
    ranges = sorted(batch.ranges().items())
    spans = ",".join(f"{tp.topic}/{tp.partition}:{first}-{last}" for tp, (first, last) in ranges)
    digest = hashlib.blake2b(b"\n".join([*(m.key or b"" for m in batch.messages), b""]), digest_size=16)
    return f"{spans}#{digest.hexdigest()}"  # the digest of every key followed by a newline
