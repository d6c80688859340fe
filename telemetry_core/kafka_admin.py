"""Topic creation against a running Kafka (idempotent)."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from telemetry_core.settings import Settings
from telemetry_core.topics import topic_specs


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics; return the names created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in topic_specs(settings) if s.name not in existing]
        if missing:
            # A concurrent creator may win the race; the topics exist, which is all we need.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(s.name, s.partitions, s.replication, topic_configs=s.config) for s in missing]
                )
        return [s.name for s in missing]
    finally:
        await admin.close()
