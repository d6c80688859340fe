"""Reading the whole reference topic once and writing records to it (for the admin CLI)."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from telemetry_core.reference import ReferenceStore
from telemetry_core.reference_feed import ReferenceFeed
from telemetry_core.settings import Settings
from telemetry_core.topics import REFERENCE


async def read_state(settings: Settings) -> ReferenceStore:
    """The reference state as the topic holds it now."""
    feed = ReferenceFeed(settings, ReferenceStore())
    await feed.start()
    await feed.stop()
    return feed.store


async def write_records(settings: Settings, records: list[tuple[bytes, bytes | None]]) -> None:
    """Write records in order, each acknowledged by all in-sync replicas."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send(REFERENCE, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()
