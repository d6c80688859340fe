"""In-memory fakes for the processors' seams (consumer group, publisher, events table) and the
records they carry, built the way the workers build them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from processors.batch import SourceBatch, SourceMessage, TopicPartition
from processors.errors import RowsRejected, StorageError, StorageMisconfigured
from processors.flagger import FlagRules, flag_record
from telemetry_core.clickhouse.rows import EVENT_COLUMNS
from telemetry_core.erasure import Subject
from telemetry_core.events import RawEvent, encode_raw
from telemetry_core.kafka_publisher import PublishError
from telemetry_core.reference import ReferenceStore
from telemetry_core.retries import Delays

T = TypeVar("T")


class FakeGroup:
    def __init__(self, generation: int = 1) -> None:
        self.generation = generation
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


class FakeTable:
    """The ``events`` table as the sink sees it. Like ClickHouse: a block is parsed first (a row
    that is not an ``events`` row refuses the whole block, ``RowsRejected``), then dropped if its
    token was stored already. ``failures`` inserts fail first with ``StorageError`` (after
    storing the block when ``store_then_fail``: the answer was lost); ``misconfigured`` fails
    every call with ``StorageMisconfigured``, ``unreachable`` with ``StorageError``. The
    contract it shares with ``ClickHouseEvents`` is tests/events_table_contract.py."""

    def __init__(
        self, failures: int = 0, store_then_fail: bool = False, misconfigured: bool = False, unreachable: bool = False
    ) -> None:
        self.rows: list[bytes] = []
        self.tokens: list[str] = []
        self.failures = failures
        self.store_then_fail = store_then_fail
        self.misconfigured = misconfigured
        self.unreachable = unreachable
        self.attempts: list[tuple[str, int]] = []  # (token, rows) of every insert call
        self.lookups: list[list[str]] = []
        self.erased: list[tuple[Subject, int]] = []  # the audit table's recent erasures
        self.sweeps: list[tuple[Subject, int]] = []

    def prepare(self) -> None:
        return None

    def insert(self, rows: Sequence[bytes], token: str) -> None:
        self.attempts.append((token, len(rows)))
        if self.misconfigured:
            raise StorageMisconfigured("insert of rows cannot succeed until ClickHouse is fixed: no table")
        if self.unreachable:
            raise StorageError(f"insert of {len(rows)} rows failed: connection refused")
        for line in rows:
            if row_dict(line) is None:
                raise RowsRejected(f"insert of {len(rows)} rows rejected by ClickHouse: cannot parse {line[:20]!r}")
        if self.failures and not self.store_then_fail:
            self.failures -= 1
            raise StorageError(f"insert of {len(rows)} rows failed: connection refused (nothing stored)")
        if token not in self.tokens:
            self.tokens.append(token)
            self.rows.extend(rows)
        if self.failures:
            self.failures -= 1
            raise StorageError(f"insert of {len(rows)} rows failed: connection reset (stored, answer lost)")

    def stored(self, event_ids: Sequence[str], since_ms: int) -> dict[str, int]:
        if self.misconfigured:
            raise StorageMisconfigured("looking up stored event ids cannot succeed until ClickHouse is fixed")
        if self.unreachable:
            raise StorageError("looking up stored event ids failed: connection refused")
        self.lookups.append(list(event_ids))
        wanted, found = set(event_ids), dict[str, int]()
        for stored in self.decoded:
            event_id, received = stored["event_id"], time_ms(stored["received_at"])
            if event_id in wanted and received >= since_ms:
                found[event_id] = min(received, found.get(event_id, received))
        return found

    def erasures(self, now_ms: int) -> list[tuple[Subject, int]]:
        return list(self.erased)

    def sweep(self, subject: Subject, before_ms: int) -> int:
        self.sweeps.append((subject, before_ms))
        gone = [
            line for line in self.rows
            if (d := row_dict(line)) and d["tenant_id"] == subject.tenant and d[subject.kind] == subject.value
            and time_ms(d["received_at"]) < before_ms
        ]
        self.rows = [line for line in self.rows if line not in gone]
        return len(gone)

    def close(self) -> None:
        return None

    @property
    def decoded(self) -> list[dict[str, Any]]:
        return [row_dict(line) or {} for line in self.rows]

    @property
    def ids(self) -> list[str]:
        return [stored["event_id"] for stored in self.decoded]


def row_dict(line: bytes) -> dict[str, Any] | None:
    """A flagged record's value (one ``events`` row, see ``telemetry_core.clickhouse.rows``) by
    column name; ``None`` when it is not one."""
    try:
        parsed = json.loads(line)
    except ValueError:
        return None
    if isinstance(parsed, list) and len(parsed) == len(EVENT_COLUMNS):
        return dict(zip(EVENT_COLUMNS, parsed, strict=True))
    return parsed if isinstance(parsed, dict) and set(parsed) == set(EVENT_COLUMNS) else None


def time_ms(text: str) -> int:
    """A row's ``"seconds.mmm"`` time as milliseconds."""
    seconds, millis = text.split(".")
    return int(seconds) * 1000 + int(millis)


QUICK_RETRY = Delays(initial=0.001, maximum=0.002)


async def retry(batch: SourceBatch, operation: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """``BatchLoop.retry`` without the loop: storage and publish errors are retried at once."""
    while True:
        try:
            return await attempt()
        except (StorageError, PublishError):
            continue


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


def message(
    value: bytes | None,
    offset: int,
    partition: int = 0,
    topic: str = "src",
    generation: int = 1,
    key: bytes | None = b"k",
    timestamp_ms: int = 1_700_000_000_000,
) -> SourceMessage:
    return SourceMessage(topic, partition, offset, key, value, timestamp_ms, generation)


def raw_messages(count: int, partition: int = 0, start: int = 0, generation: int = 1) -> list[SourceMessage]:
    out = []
    for i in range(count):
        event = raw_event()
        out.append(message(encode_raw(event), start + i, partition, "raw", generation, event.event_id.encode()))
    return out


RULES = FlagRules(ReferenceStore(), "flagged", 30)


def flagged_value(event: RawEvent, processed_at_ms: int | None = None) -> bytes:
    """The flagged record's value (the finished row) as the flagger makes it."""
    now_ms = processed_at_ms if processed_at_ms is not None else event.received_at_ms + 1
    return flag_record(encode_raw(event), RULES, now_ms)[2]


def flagged_messages(
    events: Sequence[RawEvent], partition: int = 0, start: int = 0, generation: int = 1
) -> list[SourceMessage]:
    """Flagged records as the sink reads them: keyed by event id, timestamped with received_at."""
    return [
        message(flagged_value(e), start + i, partition, "flagged", generation, e.event_id.encode(), e.received_at_ms)
        for i, e in enumerate(events)
    ]
