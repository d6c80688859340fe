"""Kafka topic names (versioned constants) and how each is created."""

from __future__ import annotations

from dataclasses import dataclass

from telemetry_core.settings import Settings

RAW = "telemetry.raw.v1"
FLAGGED = "telemetry.flagged.v1"
DLQ = "telemetry.dlq.v1"
REFERENCE = "telemetry.reference.v1"


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
        TopicSpec(RAW, n, r, dict(durable)),
        TopicSpec(FLAGGED, n, r, dict(durable)),
        TopicSpec(DLQ, 1, r, {**durable, "retention.ms": str(30 * 24 * 3600 * 1000)}),
        TopicSpec(REFERENCE, 1, r, {**durable, "cleanup.policy": "compact", "retention.ms": "-1"}),
    ]
