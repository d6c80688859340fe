"""In-memory fakes for the processors' seams: consumer group, publisher, ClickHouse writer."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from processors.batch import OutRecord, SourceMessage, TopicPartition
from processors.errors import PublishFailed, StorageError
from processors.writer import Backoff
from telemetry_core.events import FlaggedEvent, Flags, RawEvent, encode_flagged, encode_raw


class FakeGroup:
    def __init__(self) -> None:
        self.generation = 1
        self.commits: list[dict[TopicPartition, int]] = []
        self.refuse = False
        self.high: dict[TopicPartition, int] = {}

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> bool:
        if self.refuse:
            return False
        self.commits.append(dict(offsets))
        return True

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.high.get(tp)


class FakePublisher:
    def __init__(self, failures: int = 0) -> None:
        self.records: list[OutRecord] = []
        self.failures = failures
        self.attempts = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, records: Sequence[OutRecord]) -> None:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise PublishFailed("broker away")
        self.records.extend(records)


class FakeWriter:
    """Deduplicates by token like ClickHouse; ``failures`` inserts fail first (optionally after storing)."""

    def __init__(self, failures: int = 0, store_then_fail: bool = False) -> None:
        self.rows: list[list[Any]] = []
        self.tokens: list[str] = []
        self.failures = failures
        self.store_then_fail = store_then_fail
        self.attempts = 0
        self.lookups: list[list[str]] = []

    def prepare(self) -> None:
        return None

    def insert(self, rows: Sequence[Sequence[Any]], token: str) -> None:
        self.attempts += 1
        stored_now = False
        if (not self.failures or self.store_then_fail) and token not in self.tokens:
            self.tokens.append(token)
            self.rows.extend(list(r) for r in rows)
            stored_now = True
        if self.failures:
            self.failures -= 1
            raise StorageError(f"connection reset (stored: {stored_now})")

    def stored(self, event_ids: Sequence[str], since_ms: int) -> dict[str, int]:
        self.lookups.append(list(event_ids))
        found: dict[str, int] = {}
        for row in self.rows:
            if row[0] in event_ids:
                found[row[0]] = int(row[24].timestamp() * 1000)
        return found

    def close(self) -> None:
        return None

    @property
    def ids(self) -> list[str]:
        return [row[0] for row in self.rows]


def quick_backoff() -> Backoff:
    return Backoff(initial=0.001, maximum=0.002)


GOOD_FIELDS = {
    "data_type": "numeric-single-value",
    "numeric_data_single_value": "5",
    "data_group": "g",
    "product_id": "1",
    "product_version": "1.0",
    "license_key": "LIC",
    "activation_identifier": "A1",
    "user_identifier": "u",
}


def raw_event(event_id: str | None = None, received_at_ms: int | None = None, **fields: Any) -> RawEvent:
    return RawEvent(
        event_id or str(uuid.uuid4()),
        received_at_ms if received_at_ms is not None else int(time.time() * 1000),
        "acme",
        "key-1",
        "198.51.100.1",
        "ua",
        {**GOOD_FIELDS, **fields},
    )


def flagged_event(raw: RawEvent | None = None) -> FlaggedEvent:
    return FlaggedEvent(raw or raw_event(), {}, Flags(True, True, True, True, False, ()), int(time.time() * 1000), 30)


def message(
    value: bytes | None, offset: int, partition: int = 0, topic: str = "src", generation: int = 1, key: bytes = b"k"
) -> SourceMessage:
    return SourceMessage(topic, partition, offset, key, value, 1_700_000_000_000, generation)


def raw_messages(count: int, partition: int = 0, start: int = 0, generation: int = 1) -> list[SourceMessage]:
    out = []
    for i in range(count):
        event = raw_event()
        out.append(message(encode_raw(event), start + i, partition, "raw", generation, event.event_id.encode()))
    return out


def flagged_messages(
    events: Sequence[FlaggedEvent], partition: int = 0, start: int = 0, generation: int = 1
) -> list[SourceMessage]:
    return [
        message(encode_flagged(e), start + i, partition, "flagged", generation, e.raw.event_id.encode())
        for i, e in enumerate(events)
    ]
