"""The sink: flagged rows -> ClickHouse ``events``, each event id stored once.

The flagged records are finished rows (JSONCompactEachRow, see ``telemetry_core.clickhouse.rows``),
keyed by event id, timestamped with the time the ingest received the event. The sink never
decodes them: it drops duplicates by key, inserts the rest as bytes, and ClickHouse parses them.

Duplicates of an event id reach the sink three ways: the flagger re-published a batch after a
crash (same ``received_at``), a client retried after a timeout (new ``received_at``, same id), or
the sink itself re-reads a batch it inserted but did not commit. Every retry of an id shares a
partition (the Kafka key is the event id), so ``StoredIds`` keeps, per partition, a bounded LRU
of ids this worker has stored, and a row whose id is in it (or earlier in the same batch) is
dropped: the first stored version wins, one row per id, and the hourly aggregate counts it once.
After a (re)assignment the sink also asks ClickHouse which ids of its first rows are already
stored (what a crashed or departed predecessor inserted but could not commit).

What remains: a retry arriving after its original fell out of the LRU (``DEDUP_IDS_PER_PARTITION``
ids, or a restart, beyond the post-assignment probe) is stored again. ``events`` is a
ReplacingMergeTree; such a pair collapses only if its sort key matches, so queries that need
exactness count with FINAL / LIMIT 1 BY event_id.

Rows of a subject erased after the row was received (``telemetry_core.erasure``) are dropped
before the insert and counted; docs/erasure.md explains the bound. The list is refreshed from the
audit table between batches, every ``TELEMETRY_ERASURE_REFRESH_SECONDS``; an erasure that appears
in a refresh (not at the first load) is swept once: its rows this sink may have inserted before it
knew the erasure are deleted.

A row ClickHouse refuses as data (it cannot happen for rows the flagger built, but a replayed or
foreign record might) is found by halving the insert until the refused rows are alone; they
become dead letters and the rest is stored. Every insert's deduplication token names exactly its
rows (``processors.batch.dedup_token`` of the messages inserted), so a re-read batch repeats the
same inserts for the same rows and ClickHouse drops them.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from processors.batch import SourceBatch, SourceMessage, dedup_token
from processors.clickhouse import EventsTable
from processors.dlq import DeadLetters, invalid
from processors.errors import InvalidMessage, RowsRejected
from processors.metrics import SinkMetrics
from processors.pipeline import Retry
from telemetry_core.erasure import ErasureList, Subject
from telemetry_core.kafka_publisher import Publisher

DEDUP_IDS_PER_PARTITION = 50_000
PROBE_LOOKBACK_MS = 3_600_000


class StoredIds:
    """Per partition, the most recently stored event ids -> ``received_at_ms`` (bounded LRU)."""

    def __init__(self, per_partition: int = DEDUP_IDS_PER_PARTITION) -> None:
        self.per_partition = per_partition
        self._by_partition: dict[int, OrderedDict[bytes, int]] = {}

    def get(self, partition: int, event_id: bytes) -> int | None:
        ids = self._by_partition.get(partition)
        return ids.get(event_id) if ids is not None else None

    def add(self, partition: int, event_id: bytes, received_at_ms: int) -> None:
        ids = self._by_partition.get(partition)
        if ids is None:
            ids = self._by_partition[partition] = OrderedDict()
        ids[event_id] = received_at_ms
        ids.move_to_end(event_id)
        if len(ids) > self.per_partition:
            ids.popitem(last=False)

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._by_partition.values())


@dataclass(frozen=True)
class Selection:
    """What of a batch to insert (``rows`` with the ``messages`` they came from) and what to drop."""

    messages: tuple[SourceMessage, ...]
    rows: tuple[bytes, ...]
    invalid: tuple[tuple[SourceMessage, InvalidMessage], ...]
    duplicates_in_batch: int
    duplicates_stored: int
    erased: int = 0


_NO_ERASURES = ErasureList()


def select(messages: Sequence[SourceMessage], stored: StoredIds, erased: ErasureList = _NO_ERASURES) -> Selection:
    """The rows whose event id is neither stored already nor earlier in this batch, nor of a subject
    erased after it was received; records without a key or a value cannot be rows (dead letters)."""
    keep: list[SourceMessage] = []
    bad: list[tuple[SourceMessage, InvalidMessage]] = []
    seen: set[bytes] = set()
    in_batch = in_store = dropped = 0
    for m in messages:
        key, value = m.key, m.value
        if key is None or not value:
            bad.append((m, invalid(m, "unstorable flagged record: no key (event id) or no value")))
        elif key in seen:
            in_batch += 1
        elif stored.get(m.partition, key) is not None:
            in_store += 1
        elif m.timestamp_ms < erased.newest_ms and erased.erased(value, m.timestamp_ms):
            dropped += 1
        else:
            seen.add(key)
            keep.append(m)
    rows = tuple(m.value for m in keep if m.value is not None)
    return Selection(tuple(keep), rows, tuple(bad), in_batch, in_store, dropped)


class KnownErasures:
    """The sink's erasure list: reloaded from the table's audit records at most every ``refresh_s``,
    between batches. Erasures new since the previous load are swept (``EventsTable.sweep``)."""

    def __init__(self, table: EventsTable, metrics: SinkMetrics, refresh_s: float) -> None:
        self.table, self.metrics, self.refresh_s = table, metrics, refresh_s
        self.current = _NO_ERASURES
        self._known: set[tuple[Subject, int]] | None = None  # None: never loaded
        self._due = 0.0

    async def refresh(self, batch: SourceBatch, retry: Retry) -> ErasureList:
        if time.monotonic() < self._due:
            return self.current
        now_ms = int(time.time() * 1000)
        found = await retry(batch, "erasures", lambda: asyncio.to_thread(self.table.erasures, now_ms))
        new = [] if self._known is None else [e for e in found if e not in self._known]
        for subject, erased_at_ms in new:
            sweep = functools.partial(asyncio.to_thread, self.table.sweep, subject, erased_at_ms)
            swept = await retry(batch, "sweep", sweep)
            self.metrics.erased.labels("swept").inc(swept)
        self._known, self.current = set(found), ErasureList(found)
        self._due = time.monotonic() + self.refresh_s
        return self.current


class Sink:
    """Writes batches of flagged rows: probe after assignment, select, insert (bisecting refused
    rows out), dead-letter, remember. ``write`` returns once ClickHouse and the DLQ accepted all."""

    def __init__(
        self,
        table: EventsTable,
        publisher: Publisher,
        dead_letters: DeadLetters,
        metrics: SinkMetrics,
        stored: StoredIds,
        probe_rows: int,
        erasure_refresh_s: float = 5.0,
    ) -> None:
        self.table, self.publisher, self.dead_letters, self.metrics = table, publisher, dead_letters, metrics
        self.stored, self.probe_rows = stored, probe_rows
        self.erasures = KnownErasures(table, metrics, erasure_refresh_s)
        self._probe_generation: int | None = None
        self._probed: Counter[int] = Counter()

    async def write(self, batch: SourceBatch, retry: Retry) -> None:
        self.metrics.messages.inc(len(batch))
        await self._probe(batch, retry)
        erased = await self.erasures.refresh(batch, retry)
        chosen = select(batch.messages, self.stored, erased)
        refused = await self._insert(batch, chosen.messages, chosen.rows, retry)
        dead = list(chosen.invalid) + refused
        outcomes = [False] * (len(batch) - len(dead)) + [True] * len(dead)
        self.dead_letters.check(outcomes)
        if dead:
            records = self.dead_letters.records(dead)
            await retry(batch, "dead-letter", lambda: self.publisher.publish(records))
        refused_at = {id(m) for m, _ in refused}
        oldest_ms = None
        for m in chosen.messages:
            if id(m) not in refused_at and m.key is not None:
                self.stored.add(m.partition, m.key, m.timestamp_ms)
                oldest_ms = m.timestamp_ms if oldest_ms is None else min(oldest_ms, m.timestamp_ms)
        if oldest_ms is not None:  # once per batch: the freshness of its oldest row
            self.metrics.event_age.observe(max(0.0, time.time() * 1000 - oldest_ms) / 1000)
        self.metrics.duplicates.labels("batch").inc(chosen.duplicates_in_batch)
        self.metrics.duplicates.labels("stored").inc(chosen.duplicates_stored)
        self.metrics.erased.labels("dropped").inc(chosen.erased)

    async def _insert(
        self,
        batch: SourceBatch,
        messages: Sequence[SourceMessage],
        rows: Sequence[bytes],
        retry: Retry,
    ) -> list[tuple[SourceMessage, InvalidMessage]]:
        """Insert ``rows`` (of ``messages``); the rows ClickHouse refuses, each alone, as dead
        letters. The token names exactly the rows inserted (their offsets and keys), so a re-read
        that selects the same rows repeats the same token, whatever else the batch held."""
        if not rows:
            return []
        token = dedup_token(SourceBatch(batch.generation, list(messages)))
        started = time.perf_counter()
        try:
            await retry(batch, "insert", lambda: asyncio.to_thread(self.table.insert, rows, token))
        except RowsRejected as exc:
            if len(rows) == 1:
                return [(messages[0], invalid(messages[0], f"unstorable flagged record: {exc}"))]
            half = len(rows) // 2
            first = await self._insert(batch, messages[:half], rows[:half], retry)
            return first + await self._insert(batch, messages[half:], rows[half:], retry)
        self.metrics.insert_seconds.observe(time.perf_counter() - started)
        self.metrics.rows.inc(len(rows))
        return []

    async def _probe(self, batch: SourceBatch, retry: Retry) -> None:
        """After each (re)assignment, ask ClickHouse which ids of the first ``probe_rows`` messages
        per partition are stored already: a predecessor may have inserted them without committing."""
        if batch.generation != self._probe_generation:
            self._probe_generation, self._probed = batch.generation, Counter()
        probed, limit = self._probed, self.probe_rows
        if all(probed[p] >= limit for p in {m.partition for m in batch.messages}):
            return  # every partition of the batch probed already (nearly every batch)
        pending = [m for m in batch.messages if m.key is not None and probed[m.partition] < limit]
        probed.update(m.partition for m in batch.messages)
        if not pending:
            return
        ids = [m.key.decode("utf-8", "replace") for m in pending if m.key is not None]
        since = min(m.timestamp_ms for m in pending) - PROBE_LOOKBACK_MS
        found = await retry(batch, "probe", lambda: asyncio.to_thread(self.table.stored, ids, since))
        for m in pending:
            if m.key is None:
                continue
            received = found.get(m.key.decode("utf-8", "replace"))
            if received is not None:
                self.stored.add(m.partition, m.key, received)
