"""Kafka topic names (versioned constants) and how each is created."""

from __future__ import annotations

from dataclasses import dataclass

from telemetry_core.settings import Settings

RAW = "telemetry.raw.v1"
# v2: each record is the finished ``events`` row (JSONCompactEachRow), see telemetry_core.clickhouse.rows
FLAGGED = "telemetry.flagged.v2"
DLQ = "telemetry.dlq.v1"
REFERENCE = "telemetry.reference.v1"


# The one size budget of the path. The ingest refuses (413, nothing saved) a raw record larger
# than MAX_RAW_RECORD_BYTES; everything downstream is sized so that any accepted record is
# always carried: its flagged row holds the fields twice (the typed columns and ``raw_fields``,
# JSON-escaped, at most twice the bytes) plus small metadata, so it is below
# FLAGGED_BUDGET_FACTOR times the raw record plus FLAGGED_BUDGET_SLACK, and the flagged and
# dead-letter topics accept records up to MAX_FLAGGED_RECORD_BYTES (their max.message.bytes).
MAX_RAW_RECORD_BYTES = 1_000_000
FLAGGED_BUDGET_FACTOR = 3
FLAGGED_BUDGET_SLACK = 64 * 1024
MAX_FLAGGED_RECORD_BYTES = FLAGGED_BUDGET_FACTOR * MAX_RAW_RECORD_BYTES + FLAGGED_BUDGET_SLACK
# What a topic accepts in one record batch (Kafka's max.message.bytes), with room for the batch header.
_RAW_TOPIC_BYTES = str(MAX_RAW_RECORD_BYTES + FLAGGED_BUDGET_SLACK)
_FLAGGED_TOPIC_BYTES = _DLQ_BYTES = str(MAX_FLAGGED_RECORD_BYTES + FLAGGED_BUDGET_SLACK)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    config: dict[str, str]


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic the pipeline needs. The reference topic is compacted and has one
    partition so that every service reads updates in the order they were written."""
    n, r = settings.topic_partitions, settings.topic_replication
    durable = {"min.insync.replicas": str(min(2, r))}
    return [
        TopicSpec(RAW, n, r, {**durable, "max.message.bytes": _RAW_TOPIC_BYTES}),
        TopicSpec(FLAGGED, n, r, {**durable, "max.message.bytes": _FLAGGED_TOPIC_BYTES}),
        TopicSpec(DLQ, 1, r, {**durable, "retention.ms": str(30 * 24 * 3600 * 1000), "max.message.bytes": _DLQ_BYTES}),
        TopicSpec(REFERENCE, 1, r, {**durable, "cleanup.policy": "compact", "retention.ms": "-1"}),
    ]
