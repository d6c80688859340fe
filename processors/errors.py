"""The processors' error hierarchy: what stops a worker, what is retried, what is dead-lettered."""

from __future__ import annotations


class ProcessorError(Exception):
    """Base of every error raised by the processors."""


class DeadLetterRatioExceeded(ProcessorError):
    """Too large a share of recent messages were dead letters: the worker stops instead of draining."""

    def __init__(self, worker: str, ratio: float, window: int, cap: float) -> None:
        super().__init__(
            f"{worker}: dead-letter ratio {ratio:.2f} over the last {window} messages exceeds "
            f"TELEMETRY_DLQ_MAX_RATIO={cap:g}; stopping without committing this batch (fix the cause and "
            "restart; to divert such messages to the DLQ instead, raise the cap, and replay them later)"
        )
        self.ratio = ratio


class StorageError(ProcessorError):
    """ClickHouse did not answer an insert or a query (down, overloaded, timed out); retried, never skipped."""


class RowsRejected(ProcessorError):
    """ClickHouse refused the rows of an insert as data; the sink isolates the rows it refuses (DLQ)."""


class StorageMisconfigured(ProcessorError):
    """No insert can succeed until an operator fixes ClickHouse (schema, permissions): the worker
    stops without committing, so nothing is lost and the batch is read again after the fix."""


class BatchAbandoned(ProcessorError):
    """The partitions of a batch were reassigned while it was in flight; it is not committed."""


class InvalidMessage(ProcessorError):
    """A message that cannot be processed: where it came from and why (it goes to the DLQ)."""

    def __init__(self, topic: str, partition: int, offset: int, reason: str) -> None:
        super().__init__(f"{topic}[{partition}]@{offset}: {reason}")
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.reason = reason
