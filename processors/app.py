"""Faust wiring: each worker's app, agent and lifecycle, built from ``Settings`` (never at import).

One app per worker and one consumer group per app (``telemetry-flagger``, ``telemetry-sink``):
replicas of a worker share its group and split the partitions of its source topic, so each
stage scales on its own, up to ``TELEMETRY_TOPIC_PARTITIONS`` replicas (more stay idle).

Faust runs the group membership, fetching and rebalancing; the worker's ``BatchLoop`` decides
when to commit (see ``processors.pipeline``). Source topics are declared with ``acks=False`` and
the raw serializer: faust neither decodes (its decode-error path would ack and drop) nor
commits on its own. An agent crash stops the worker (``CrashingSupervisor``) instead of
restarting an agent whose stream position would have moved past an uncommitted batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import faust
import mode
from faust.transport.consumer import Consumer
from faust.types import TP

from processors.batch import SourceMessage, TopicPartition
from processors.dlq import DeadLetterPolicy
from processors.errors import ProcessorError
from processors.metrics import FlaggerMetrics, MetricsSite, SinkMetrics, WorkerMetrics
from processors.pipeline import BatchLoop
from processors.publisher import KafkaPublisher, Publisher
from processors.sink import StoredIds
from processors.stages import DeadLetters, FlagStage, StoreStage, Topics
from processors.writer import ClickHouseWriter, EventWriter
from telemetry_core import topics
from telemetry_core.reference import ReferenceStore
from telemetry_core.reference_feed import ReferenceFeed
from telemetry_core.settings import Settings

log = logging.getLogger(__name__)

FLAGGER_GROUP = "telemetry-flagger"
SINK_GROUP = "telemetry-sink"
SESSION_TIMEOUT_S = 10.0
HEARTBEAT_INTERVAL_S = 3.0
REBALANCE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Names:
    """Topic and consumer-group names; a namespace prefixes all of them (isolated test runs)."""

    topics: Topics
    flagger_group: str
    sink_group: str


def names(namespace: str = "") -> Names:
    prefix = f"{namespace}." if namespace else ""
    return Names(
        Topics(raw=prefix + topics.RAW, flagged=prefix + topics.FLAGGED, dlq=prefix + topics.DLQ),
        flagger_group=prefix + FLAGGER_GROUP,
        sink_group=prefix + SINK_GROUP,
    )


def create_app(settings: Settings, group_id: str) -> faust.App:
    """A faust app whose id is the consumer group; no topic creation, no leader topic, no tables."""
    datadir = Path(settings.data_dir) / "faust"
    datadir.mkdir(parents=True, exist_ok=True)  # faust creates only the last level
    return faust.App(
        group_id,
        broker=[f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(",") if host.strip()],
        autodiscover=False,
        datadir=str(datadir),
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=HEARTBEAT_INTERVAL_S,
        broker_rebalance_timeout=REBALANCE_TIMEOUT_S,
        stream_recovery_delay=0.0,
        stream_wait_empty=False,
        web_enabled=True,
    )


class FaustGroup:
    """``ConsumerGroup`` over faust's consumer: explicit offsets through its commit hook."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    @property
    def generation(self) -> int:
        return int(self.app.consumer_generation_id)

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> bool:
        # Consumer._commit is faust's transport hook for committing given offsets (its periodic
        # committer calls it with what acks allowed); it drops partitions no longer assigned.
        consumer = cast(Consumer, self.app.consumer)
        return bool(await consumer._commit({TP(tp.topic, tp.partition): o for tp, o in offsets.items()}))

    def highwater(self, tp: TopicPartition) -> int | None:
        try:
            high = self.app.consumer.highwater(TP(tp.topic, tp.partition))
        except Exception:  # not assigned (any more) or not fetched yet
            return None
        return int(high) if high is not None else None


async def source_messages(stream: Any) -> AsyncIterator[SourceMessage]:
    """The stream's records as ``SourceMessage`` (raw bytes, Kafka coordinates, generation)."""
    async for _ in stream:  # the value is the raw bytes; the event carries the coordinates
        event = stream.current_event
        if event is None:
            continue
        m = event.message
        timestamp_ms = int(m.timestamp * 1000) if m.timestamp else 0
        yield SourceMessage(m.topic, m.partition, m.offset, m.key, m.value, timestamp_ms, m.generation_id)


class Resource(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class Worker:
    """One worker: the app, its agent over ``source_topic``, the loop and the resources it owns.

    Resources (reference feed, producer, ClickHouse writer) and the metrics site start once the
    app has joined its group; the agent waits for them before the first batch."""

    def __init__(
        self,
        app: faust.App,
        source_topic: str,
        loop: BatchLoop,
        metrics: WorkerMetrics,
        resources: Sequence[Resource],
        metrics_port: int,
        metrics_host: str,
    ) -> None:
        self.app, self.loop, self.resources = app, loop, list(resources)
        self.ready = asyncio.Event()
        self.failure: str | None = None
        self.site = MetricsSite(metrics.registry, metrics_host, metrics_port, lambda: self.failure)
        metrics.lag.source = loop.lag
        topic = app.topic(source_topic, key_serializer="raw", value_serializer="raw", acks=False)
        self.agent = app.agent(topic, name=f"{app.conf.id}.batches", supervisor_strategy=mode.CrashingSupervisor)(
            self._agent
        )
        app.web_server(_WorkerService(self))
        app.on_partitions_revoked.connect(cast(Any, self._on_revoked))  # held weakly: self lives as long as app

    async def _agent(self, stream: Any) -> None:
        await self.ready.wait()
        try:
            await self.loop.run(source_messages(stream))
        except ProcessorError as exc:
            self.failure = str(exc)
            log.critical("%s", exc)
            raise

    async def _on_revoked(self, sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        if self.ready.is_set():
            await self.loop.on_revoke()

    async def start_resources(self) -> None:
        for resource in self.resources:
            await resource.start()
        await self.site.start()
        self.ready.set()

    async def stop_resources(self) -> None:
        self.failure = self.failure or "stopping"
        await self.site.stop()
        for resource in reversed(self.resources):
            try:
                await resource.stop()
            except Exception:  # stop the rest regardless
                log.exception("stopping %r failed", resource)


class _WorkerService(mode.Service):
    """Registered as the app's web server: faust starts it after the group is joined."""

    def __init__(self, worker: Worker, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.worker = worker

    async def on_start(self) -> None:
        await self.worker.start_resources()

    async def on_stop(self) -> None:
        await self.worker.stop_resources()


class _Closing:
    """A ClickHouse writer as a resource: connected at start if possible, closed at stop."""

    def __init__(self, writer: EventWriter) -> None:
        self.writer = writer

    async def start(self) -> None:
        await asyncio.to_thread(self.writer.prepare)

    async def stop(self) -> None:
        await asyncio.to_thread(self.writer.close)


def build_flagger(settings: Settings, stream_names: Names, *, publisher: Publisher | None = None) -> Worker:
    """The flagger: raw topic -> validate, join reference data, flag -> flagged topic (+ DLQ)."""
    app = create_app(settings, stream_names.flagger_group)
    store = ReferenceStore()
    publisher = publisher or KafkaPublisher(settings, client_id=stream_names.flagger_group)
    metrics = FlaggerMetrics()
    policy = DeadLetterPolicy("flagger", settings.dlq_window, settings.dlq_max_ratio)
    dead_letters = DeadLetters("flagger", stream_names.topics.dlq, policy, metrics)
    stage = FlagStage(stream_names.topics, store, publisher, dead_letters, metrics, settings.default_retention_days)
    loop = BatchLoop(
        stage,
        FaustGroup(app),
        metrics,
        batch_size=settings.flagger_batch_size,
        batch_seconds=settings.flagger_batch_seconds,
    )
    resources: list[Resource] = [ReferenceFeed(settings, store), publisher]
    return Worker(
        app,
        stream_names.topics.raw,
        loop,
        metrics,
        resources,
        settings.flagger_metrics_port,
        settings.worker_metrics_host,
    )


def build_sink(
    settings: Settings,
    stream_names: Names,
    *,
    writer: EventWriter | None = None,
    publisher: Publisher | None = None,
) -> Worker:
    """The sink: flagged topic -> deduplicate by event id -> ClickHouse ``events`` (+ DLQ)."""
    app = create_app(settings, stream_names.sink_group)
    writer = writer or ClickHouseWriter(settings)
    publisher = publisher or KafkaPublisher(settings, client_id=stream_names.sink_group)
    metrics = SinkMetrics()
    policy = DeadLetterPolicy("sink", settings.dlq_window, settings.dlq_max_ratio)
    dead_letters = DeadLetters("sink", stream_names.topics.dlq, policy, metrics)
    stage = StoreStage(writer, publisher, dead_letters, metrics, StoredIds(), probe_rows=settings.sink_batch_size)
    loop = BatchLoop(
        stage,
        FaustGroup(app),
        metrics,
        batch_size=settings.sink_batch_size,
        batch_seconds=settings.sink_batch_seconds,
    )
    resources: list[Resource] = [publisher, _Closing(writer)]
    return Worker(
        app,
        stream_names.topics.flagged,
        loop,
        metrics,
        resources,
        settings.sink_metrics_port,
        settings.worker_metrics_host,
    )
