"""The two stages a ``BatchLoop`` runs: flag (raw -> flagged topic) and store (flagged -> ClickHouse).

Each ``process`` goes decode -> transform -> check the dead-letter cap -> write (retried), and
returns only when the batch's whole output is durable; the loop commits after that.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from processors.batch import OutRecord, SourceBatch, SourceMessage, dedup_token
from processors.dlq import DeadLetterPolicy, dead_letter
from processors.errors import InvalidMessage
from processors.flagger import flag_batch
from processors.metrics import FlaggerMetrics, SinkMetrics, WorkerMetrics, reason_label
from processors.pipeline import Retry
from processors.publisher import MAX_RECORD_BYTES, Publisher
from processors.sink import SinkRows, StoredIds, decode, select_rows
from processors.writer import EventWriter
from telemetry_core.events import FlaggedEvent
from telemetry_core.reference import ReferenceLookup

PROBE_LOOKBACK_MS = 3_600_000


@dataclass(frozen=True)
class Topics:
    raw: str
    flagged: str
    dlq: str


class DeadLetters:
    """Turns invalid messages into DLQ records and accounts for them (cap and metrics)."""

    def __init__(self, worker: str, topic: str, policy: DeadLetterPolicy, metrics: WorkerMetrics) -> None:
        self.worker, self.topic, self.policy, self.metrics = worker, topic, policy, metrics

    def check(self, outcomes: Sequence[bool]) -> None:
        """Raises ``DeadLetterRatioExceeded`` before anything of the batch is written."""
        self.policy.check(outcomes)
        self.metrics.dead_letter_ratio.set(self.policy.ratio)

    def records(self, dead: Sequence[tuple[SourceMessage, InvalidMessage]]) -> list[OutRecord]:
        now = dt.datetime.now(dt.UTC)
        for _, error in dead:
            self.metrics.dead_letters.inc(reason_label(error.reason))
        return [dead_letter(message, error, self.worker, self.topic, now) for message, error in dead]


class FlagStage:
    """Flags a batch and publishes flagged records and dead letters (acks=all) before the commit."""

    def __init__(
        self,
        topics: Topics,
        ref: ReferenceLookup,
        publisher: Publisher,
        dead_letters: DeadLetters,
        metrics: FlaggerMetrics,
        default_retention_days: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.topics, self.ref, self.publisher, self.dead_letters = topics, ref, publisher, dead_letters
        self.metrics, self.default_retention_days, self.clock = metrics, default_retention_days, clock

    async def process(self, batch: SourceBatch, retry: Retry) -> None:
        self.metrics.messages.inc(amount=len(batch))
        out = flag_batch(
            batch.messages,
            self.ref,
            flagged_topic=self.topics.flagged,
            default_retention_days=self.default_retention_days,
            now_ms=int(self.clock() * 1000),
            max_record_bytes=MAX_RECORD_BYTES,
        )
        self.dead_letters.check(out.outcomes)
        records = out.records + self.dead_letters.records(out.dead)
        if records:
            await retry(batch, "publish", lambda: self.publisher.publish(records))
        self.metrics.count_flags(out.flags)


class StoreStage:
    """Inserts a batch into ClickHouse, without ids already stored; dead letters go to the DLQ."""

    def __init__(
        self,
        writer: EventWriter,
        publisher: Publisher,
        dead_letters: DeadLetters,
        metrics: SinkMetrics,
        stored: StoredIds,
        probe_rows: int,
    ) -> None:
        self.writer, self.publisher, self.dead_letters, self.metrics = writer, publisher, dead_letters, metrics
        self.stored, self.probe_rows = stored, probe_rows
        self._probe_generation: int | None = None
        self._probed: Counter[int] = Counter()

    async def process(self, batch: SourceBatch, retry: Retry) -> None:
        self.metrics.messages.inc(amount=len(batch))
        decoded, out = decode(batch.messages)
        self.dead_letters.check(out.outcomes)
        await self._probe(batch, decoded, retry)
        select_rows(decoded, self.stored, out)
        if out.dead:
            records = self.dead_letters.records(out.dead)
            await retry(batch, "dead-letter", lambda: self.publisher.publish(records))
        if out.rows:
            await retry(batch, "insert", lambda: self._insert(out, dedup_token(batch)))
        for partition, event_id, received_at_ms in out.stored:
            self.stored.add(partition, event_id, received_at_ms)
        self.metrics.duplicates.inc("batch", amount=out.duplicates_in_batch)
        self.metrics.duplicates.inc("stored", amount=out.duplicates_stored)

    async def _insert(self, out: SinkRows, token: str) -> None:
        started = time.perf_counter()
        await asyncio.to_thread(self.writer.insert, out.rows, token)
        self.metrics.insert_seconds.observe(time.perf_counter() - started)
        self.metrics.rows.inc(amount=len(out.rows))
        now_ms = time.time() * 1000
        for _, _, received_at_ms in out.stored:
            self.metrics.event_age.observe(max(0.0, now_ms - received_at_ms) / 1000)

    async def _probe(
        self, batch: SourceBatch, decoded: Sequence[tuple[SourceMessage, FlaggedEvent]], retry: Retry
    ) -> None:
        """After each (re)assignment, ask ClickHouse which ids of the first ``probe_rows`` messages
        per partition are stored already: a predecessor may have inserted them without committing."""
        if batch.generation != self._probe_generation:
            self._probe_generation, self._probed = batch.generation, Counter()
        pending = [(m, e) for m, e in decoded if self._probed[m.partition] < self.probe_rows]
        for message in batch.messages:
            self._probed[message.partition] += 1
        if not pending:
            return
        ids = [e.raw.event_id for _, e in pending]
        since = min(e.raw.received_at_ms for _, e in pending) - PROBE_LOOKBACK_MS
        found = await retry(batch, "probe", lambda: asyncio.to_thread(self.writer.stored, ids, since))
        for message, event in pending:
            received = found.get(event.raw.event_id)
            if received is not None:
                self.stored.add(message.partition, event.raw.event_id, received)
