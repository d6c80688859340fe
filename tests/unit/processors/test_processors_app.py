"""The faust wiring, driven through ``agent.test_context()``: raw bytes in, committed batches out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import faust
from processors_fakes import FakeGroup, FakePublisher, FakeWriter, flagged_event, raw_event

from processors.app import FLAGGER_GROUP, SINK_GROUP, Worker, build_flagger, build_sink, names
from processors.batch import TopicPartition
from telemetry_core.events import decode_flagged, encode_flagged, encode_raw
from telemetry_core.settings import Settings


def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, sink_batch_seconds=0.02, flagger_batch_seconds=0.02)


def test_names_and_namespaces() -> None:
    plain = names()
    assert (plain.topics.raw, plain.topics.flagged, plain.topics.dlq) == (
        "telemetry.raw.v1",
        "telemetry.flagged.v1",
        "telemetry.dlq.v1",
    )
    assert (plain.flagger_group, plain.sink_group) == (FLAGGER_GROUP, SINK_GROUP)
    isolated = names("t42")
    assert isolated.topics.raw == "t42.telemetry.raw.v1" and isolated.sink_group == "t42.telemetry-sink"


def test_each_worker_is_its_own_consumer_group_reading_raw_bytes_without_faust_acks(tmp_path: Path) -> None:
    flagger = build_flagger(settings(tmp_path), names(), publisher=FakePublisher())
    sink = build_sink(settings(tmp_path), names(), writer=FakeWriter(), publisher=FakePublisher())
    assert (flagger.app.conf.id, sink.app.conf.id) == ("telemetry-flagger", "telemetry-sink")
    for worker, topic in ((flagger, "telemetry.raw.v1"), (sink, "telemetry.flagged.v1")):
        channel = cast(faust.Topic, worker.agent.channel)
        assert channel.get_topic_name() == topic
        assert channel.acks is False
        assert channel.value_serializer == "raw" and channel.key_serializer == "raw"
    assert flagger.app.conf.topic_allow_declare is False and flagger.app.conf.topic_disable_leader is True


async def drive(worker: Worker, values: list[tuple[bytes, bytes]], partition: int = 0) -> FakeGroup:
    group = FakeGroup()
    group.generation = worker.app.consumer_generation_id
    worker.loop.group = group
    worker.ready.set()
    async with worker.agent.test_context() as agent:
        for key, value in values:
            await agent.put(value, key=key, partition=partition)
        for _ in range(200):
            if group.commits:
                break
            await asyncio.sleep(0.01)
    return group


async def test_the_sink_agent_stores_and_commits(tmp_path: Path) -> None:
    writer = FakeWriter()
    worker = build_sink(settings(tmp_path), names("unit"), writer=writer, publisher=FakePublisher())
    event = flagged_event()
    group = await drive(worker, [(event.raw.event_id.encode(), encode_flagged(event))], partition=2)
    assert writer.ids == [event.raw.event_id]
    assert group.commits == [{TopicPartition("unit.telemetry.flagged.v1", 2): 1}]


async def test_the_flagger_agent_publishes_and_commits(tmp_path: Path) -> None:
    publisher = FakePublisher()
    worker = build_flagger(settings(tmp_path), names("unit"), publisher=publisher)
    event = raw_event()
    group = await drive(worker, [(event.event_id.encode(), encode_raw(event)), (b"x", b"junk")])
    assert [r.topic for r in publisher.records] == ["unit.telemetry.flagged.v1", "unit.telemetry.dlq.v1"]
    assert decode_flagged(publisher.records[0].value).raw == event
    assert group.commits == [{TopicPartition("unit.telemetry.raw.v1", 0): 2}]
