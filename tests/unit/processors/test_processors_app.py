"""The workers as ``build_flagger`` / ``build_sink`` compose them, driven without Kafka: the
intake installed on the faust app, fetched lists fed to the batcher, committed batches out."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import faust
import pytest
from processors_fakes import FakeGroup, FakeTable, flagged_messages, raw_event, row_dict
from publisher_fakes import MemoryPublisher

from processors.app import FLAGGER_GROUP, SINK_GROUP, Worker, build_flagger, build_sink, names
from processors.batch import SourceMessage, TopicPartition
from processors.errors import StorageMisconfigured
from processors.intake import BatchConsumer, BatchTransport
from telemetry_core.events import encode_raw
from telemetry_core.settings import Settings


def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, sink_batch_seconds=0.02, flagger_batch_seconds=0.02)


def test_names_and_namespaces() -> None:
    plain = names()
    assert (plain.topics.raw, plain.topics.flagged, plain.topics.dlq) == (
        "telemetry.raw.v1",
        "telemetry.flagged.v2",
        "telemetry.dlq.v1",
    )
    assert (plain.flagger_group, plain.sink_group) == (FLAGGER_GROUP, SINK_GROUP)
    isolated = names("t42")
    assert isolated.topics.raw == "t42.telemetry.raw.v1" and isolated.sink_group == "t42.telemetry-sink"
    assert isolated.topics.flagged == "t42.telemetry.flagged.v2" and isolated.flagger_group == "t42.telemetry-flagger"


def subscribed(app: faust.App) -> list[faust.Topic]:
    return [topic for topic in app.topics if isinstance(topic, faust.Topic)]


def test_each_worker_is_its_own_consumer_group_reading_raw_bytes_through_the_batch_intake(tmp_path: Path) -> None:
    flagger = build_flagger(settings(tmp_path), names(), publisher=MemoryPublisher())
    sink = build_sink(settings(tmp_path), names(), table=FakeTable(), publisher=MemoryPublisher())
    assert (flagger.app.conf.id, sink.app.conf.id) == ("telemetry-flagger", "telemetry-sink")
    for worker, topic_name in ((flagger, "telemetry.raw.v1"), (sink, "telemetry.flagged.v2")):
        transport = worker.app.transport
        assert isinstance(transport, BatchTransport) and transport.Consumer is BatchConsumer
        assert transport.handler == worker.loop.batcher.put_many
        (topic,) = subscribed(worker.app)
        assert topic.get_topic_name() == topic_name
        assert topic.acks is False
        assert topic.key_serializer == "raw" and topic.value_serializer == "raw"
    assert flagger.app.conf.topic_allow_declare is False and flagger.app.conf.topic_disable_leader is True


async def drive(worker: Worker, messages: list[SourceMessage]) -> FakeGroup:
    """Runs the worker's loop over ``messages`` as one fetch until it committed, then stops it."""
    group = FakeGroup(generation=int(worker.app.consumer_generation_id))
    worker.loop.group = group
    task = asyncio.create_task(worker.loop.run())
    try:
        await worker.loop.batcher.put_many([m._replace(generation=group.generation) for m in messages])
        for _ in range(300):
            if group.commits or task.done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            task.result()  # raises what stopped the loop
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return group


async def test_the_sink_worker_stores_and_commits(tmp_path: Path) -> None:
    table = FakeTable()
    worker = build_sink(settings(tmp_path), names("unit"), table=table, publisher=MemoryPublisher())
    event = raw_event()
    messages = [m._replace(topic="unit.telemetry.flagged.v2") for m in flagged_messages([event], partition=2)]
    group = await drive(worker, messages)
    assert table.ids == [event.event_id] and table.rows == [messages[0].value]
    assert group.commits == [{TopicPartition("unit.telemetry.flagged.v2", 2): 1}]


async def test_the_flagger_worker_publishes_and_commits(tmp_path: Path) -> None:
    publisher = MemoryPublisher()
    worker = build_flagger(settings(tmp_path), names("unit"), publisher=publisher)
    event = raw_event()
    topic = "unit.telemetry.raw.v1"
    messages = [
        SourceMessage(topic, 0, 0, event.event_id.encode(), encode_raw(event), event.received_at_ms),
        SourceMessage(topic, 0, 1, b"x", b"junk", event.received_at_ms),
    ]
    group = await drive(worker, messages)
    assert [r.topic for r in publisher.records] == ["unit.telemetry.flagged.v2", "unit.telemetry.dlq.v1"]
    flagged = publisher.records[0]
    assert flagged.key == event.event_id.encode() and flagged.timestamp_ms == event.received_at_ms
    assert (row_dict(flagged.value) or {})["raw_fields"] == json.dumps(event.fields, separators=(",", ":"))
    assert group.commits == [{TopicPartition(topic, 0): 2}]


async def test_messages_of_an_older_generation_are_not_processed(tmp_path: Path) -> None:
    table = FakeTable()
    worker = build_sink(settings(tmp_path), names(), table=table, publisher=MemoryPublisher())
    group = FakeGroup(generation=int(worker.app.consumer_generation_id) + 1)
    worker.loop.group = group
    task = asyncio.create_task(worker.loop.run())
    try:
        await worker.loop.batcher.put_many(flagged_messages([raw_event()], generation=group.generation - 1))
        await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert table.attempts == [] and group.commits == []


async def test_a_misconfigured_table_stops_the_sink_worker_without_commit(tmp_path: Path) -> None:
    table = FakeTable(misconfigured=True)
    worker = build_sink(settings(tmp_path), names(), table=table, publisher=MemoryPublisher())
    with pytest.raises(StorageMisconfigured):
        await drive(worker, flagged_messages([raw_event()]))
    assert isinstance(worker.loop.group, FakeGroup) and worker.loop.group.commits == []
    assert table.rows == []
