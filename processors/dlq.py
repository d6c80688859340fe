"""Dead letters: messages a worker cannot process, and the cap on how many it may divert.

A dead letter is the original record (same key, same value bytes, original headers kept) sent
to ``telemetry.dlq.v1`` with ``dlq.*`` headers saying why and where from. The worker commits
the source offset only after the DLQ acknowledged it, so a dead letter is never lost either.

``DeadLetterPolicy`` watches the last ``window`` messages; when the dead-letter share among
them exceeds ``max_ratio`` it raises ``DeadLetterRatioExceeded`` *before* anything of the batch
is produced or committed: a poisoned topic (a bad deploy upstream, a schema change) stops the
worker instead of being drained into the DLQ.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter, deque
from collections.abc import Iterable, Sequence

from processors.batch import SourceMessage
from processors.errors import DeadLetterRatioExceeded, InvalidMessage
from processors.metrics import WorkerMetrics, reason_label
from telemetry_core.kafka_publisher import Headers, OutRecord

PREFIX = "dlq."
REASON = "dlq.reason"
SOURCE_TOPIC = "dlq.source_topic"
SOURCE_PARTITION = "dlq.source_partition"
SOURCE_OFFSET = "dlq.source_offset"
TIME = "dlq.time"
WORKER = "dlq.worker"
REPLAYED_FROM = "dlq.replayed_from"

MAX_REASON_CHARS = 500


def invalid(message: SourceMessage, reason: str) -> InvalidMessage:
    return InvalidMessage(message.topic, message.partition, message.offset, reason)


def dead_letter(
    message: SourceMessage, error: InvalidMessage, worker: str, dlq_topic: str, now: dt.datetime
) -> OutRecord:
    """The DLQ record of ``message``: original key, value and headers plus the ``dlq.*`` headers."""
    headers: Headers = (
        (REASON, error.reason[:MAX_REASON_CHARS].encode("utf-8")),
        (SOURCE_TOPIC, error.topic.encode("utf-8")),
        (SOURCE_PARTITION, str(error.partition).encode()),
        (SOURCE_OFFSET, str(error.offset).encode()),
        (TIME, now.astimezone(dt.UTC).isoformat(timespec="milliseconds").encode()),
        (WORKER, worker.encode("utf-8")),
    )
    return OutRecord(dlq_topic, message.key, message.value or b"", headers)


def header(headers: Iterable[tuple[str, bytes]], name: str) -> str | None:
    """The value of header ``name`` as text, or ``None``."""
    for key, value in headers:
        if key == name:
            return value.decode("utf-8", errors="replace")
    return None


class DeadLetterPolicy:
    """Sliding window over the last ``window`` outcomes; raises when dead letters exceed the cap."""

    def __init__(self, worker: str, window: int, max_ratio: float) -> None:
        self.worker = worker
        self.window = window
        self.max_ratio = max_ratio
        self._outcomes: deque[bool] = deque()
        self._dead = 0

    @property
    def ratio(self) -> float:
        return self._dead / len(self._outcomes) if self._outcomes else 0.0

    def check(self, dead_flags: Iterable[bool]) -> None:
        """Account for a batch's outcomes (True = dead letter), in order; raise on the first
        full window whose dead-letter share exceeds the cap. Nothing is recorded if it raises,
        so a restarted worker sees the same window again."""
        if isinstance(dead_flags, Sequence) and not any(dead_flags):
            self._check_clean(len(dead_flags))
            return
        outcomes, dead = self._outcomes.copy(), self._dead
        for is_dead in dead_flags:
            outcomes.append(is_dead)
            dead += is_dead
            if len(outcomes) > self.window:
                dead -= outcomes.popleft()
            if len(outcomes) == self.window and dead / self.window > self.max_ratio:
                raise DeadLetterRatioExceeded(self.worker, dead / self.window, self.window, self.max_ratio)
        self._outcomes, self._dead = outcomes, dead

    def _check_clean(self, count: int) -> None:
        """``check`` of ``count`` outcomes that are all False, in C-speed steps rather than one per
        message (nearly every batch). The dead count can only fall, so the one check that can fail
        is the one at the moment the window first fills."""
        outcomes, window = self._outcomes, self.window
        if len(outcomes) < window <= len(outcomes) + count and self._dead / window > self.max_ratio:
            raise DeadLetterRatioExceeded(self.worker, self._dead / window, window, self.max_ratio)
        kept = min(len(outcomes), max(0, window - count))  # of the old outcomes
        dropped = len(outcomes) - kept
        self._dead -= sum(itertools.islice(outcomes, dropped))
        fresh = deque(itertools.islice(outcomes, dropped, None))
        fresh.extend(itertools.repeat(False, min(count, window - kept)))
        self._outcomes = fresh


class DeadLetters:
    """A worker's dead letters: the cap on their share, their DLQ records, their metrics."""

    def __init__(self, worker: str, topic: str, policy: DeadLetterPolicy, metrics: WorkerMetrics) -> None:
        self.worker, self.topic, self.policy, self.metrics = worker, topic, policy, metrics

    def check(self, outcomes: Sequence[bool]) -> None:
        """Raises ``DeadLetterRatioExceeded`` before anything of the batch is committed."""
        self.policy.check(outcomes)
        self.metrics.dead_letter_ratio.set(self.policy.ratio)

    def records(self, dead: Sequence[tuple[SourceMessage, InvalidMessage]]) -> list[OutRecord]:
        now = dt.datetime.now(dt.UTC)
        for reason, count in Counter(reason_label(error.reason) for _, error in dead).items():
            self.metrics.dead_letters.labels(reason).inc(count)
        return [dead_letter(message, error, self.worker, self.topic, now) for message, error in dead]
