"""The sink's transform: flagged record bytes -> ``events`` rows, without duplicates.

Duplicates of an event id reach the sink three ways: the flagger re-published a batch after a
crash (same ``received_at``), a client retried after a timeout (new ``received_at``, same id), or
the sink itself re-reads a batch it inserted but did not commit. Every retry of an id shares a
partition (the Kafka key is the event id), so ``StoredIds`` keeps, per partition, a bounded LRU
of ids this worker has stored, and a row whose id is in it (or earlier in the same batch) is
dropped: the first stored version wins, one row per id, and the hourly aggregate counts it once.
After a (re)assignment the pipeline also asks ClickHouse which ids of its first rows are
already stored (what a crashed or departed predecessor inserted but could not commit).

What remains: a retry arriving after its original fell out of the LRU (``DEDUP_IDS_PER_PARTITION``
ids, or a restart, beyond the post-assignment probe) is stored again. ``events`` is a
ReplacingMergeTree; such a pair collapses only if its sort key matches, so queries that need
exactness count with FINAL / LIMIT 1 BY event_id.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from processors.batch import SourceMessage
from processors.dlq import invalid
from processors.errors import InvalidMessage
from telemetry_core.clickhouse.rows import event_row
from telemetry_core.events import EventDecodeError, FlaggedEvent, decode_flagged

DEDUP_IDS_PER_PARTITION = 50_000

# DateTime64 holds 1900-01-01 .. 2299-12-31; UInt16 / UInt8 bound the other two numbers.
_MIN_MS = int(dt.datetime(1900, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
_MAX_MS = int(dt.datetime(2299, 12, 31, tzinfo=dt.UTC).timestamp() * 1000)


class StoredIds:
    """Per partition, the most recently stored event ids -> ``received_at_ms`` (bounded LRU)."""

    def __init__(self, per_partition: int = DEDUP_IDS_PER_PARTITION) -> None:
        self.per_partition = per_partition
        self._by_partition: dict[int, OrderedDict[str, int]] = {}

    def get(self, partition: int, event_id: str) -> int | None:
        ids = self._by_partition.get(partition)
        return ids.get(event_id) if ids is not None else None

    def add(self, partition: int, event_id: str, received_at_ms: int) -> None:
        ids = self._by_partition.setdefault(partition, OrderedDict())
        ids[event_id] = received_at_ms
        ids.move_to_end(event_id)
        if len(ids) > self.per_partition:
            ids.popitem(last=False)

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._by_partition.values())


@dataclass
class SinkRows:
    """One batch, ready to insert: rows, what to remember once stored, and what to dead-letter."""

    rows: list[list[Any]] = field(default_factory=list)
    stored: list[tuple[int, str, int]] = field(default_factory=list)  # partition, event id, received_at_ms
    dead: list[tuple[SourceMessage, InvalidMessage]] = field(default_factory=list)
    outcomes: list[bool] = field(default_factory=list)  # per input message: True = dead letter
    duplicates_in_batch: int = 0
    duplicates_stored: int = 0


def decode(messages: Sequence[SourceMessage]) -> tuple[list[tuple[SourceMessage, FlaggedEvent]], SinkRows]:
    """Decode every message; undecodable or unstorable ones are dead letters of the returned rows."""
    out = SinkRows()
    decoded: list[tuple[SourceMessage, FlaggedEvent]] = []
    for message in messages:
        try:
            if message.value is None:
                raise EventDecodeError("no value (tombstone)")
            event = decode_flagged(message.value)
            problem = _unstorable(event, message.value)
        except EventDecodeError as exc:
            problem = f"undecodable flagged event: {exc.reason}"
        out.outcomes.append(problem is not None)
        if problem is not None:
            out.dead.append((message, invalid(message, problem)))
        else:
            decoded.append((message, event))
    return decoded, out


def select_rows(decoded: Sequence[tuple[SourceMessage, FlaggedEvent]], stored: StoredIds, out: SinkRows) -> SinkRows:
    """Rows for every event whose id is neither stored already nor earlier in this batch."""
    in_batch: set[str] = set()
    for message, event in decoded:
        event_id = event.raw.event_id
        if event_id in in_batch:
            out.duplicates_in_batch += 1
            continue
        if stored.get(message.partition, event_id) is not None:
            out.duplicates_stored += 1
            continue
        in_batch.add(event_id)
        out.rows.append(event_row(event))
        out.stored.append((message.partition, event_id, event.raw.received_at_ms))
    return out


def _unstorable(event: FlaggedEvent, value: bytes) -> str | None:
    """Why ClickHouse would refuse this row (the whole insert would fail), or ``None``."""
    for name, ms in (("received_at_ms", event.raw.received_at_ms), ("processed_at_ms", event.processed_at_ms)):
        if not _MIN_MS <= ms <= _MAX_MS:
            return f"unstorable flagged event: {name} {ms} outside 1900-2299"
    if not 0 <= event.retention_days <= 0xFFFF:
        return f"unstorable flagged event: retention_days {event.retention_days} outside 0-65535"
    if not 0 <= event.schema_version <= 0xFF:
        return f"unstorable flagged event: schema version {event.schema_version}"
    if b"\\ud" in value or b"\\uD" in value:  # JSON may escape a lone surrogate, which UTF-8 cannot hold
        texts = [v for v in event_row(event) if isinstance(v, str)] + list(event.flags.red_flags)
        try:
            for text in texts:
                text.encode("utf-8")
        except UnicodeEncodeError:
            return "unstorable flagged event: text holds a lone UTF-16 surrogate"
    return None
