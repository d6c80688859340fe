"""Each worker composed in one place: faust app, intake, transform, write, commit.

One app per worker and one consumer group per app (``telemetry-flagger``, ``telemetry-sink``):
replicas of a worker share its group and split the partitions of its source topic, so each
stage scales on its own, up to ``TELEMETRY_TOPIC_PARTITIONS`` replicas (more stay idle).

Faust runs the group membership, fetching, rebalancing, the lifecycle and the web server;
records reach the worker a fetch at a time (``processors.intake``), the ``BatchLoop`` batches
them by size and time, runs the worker's ``process`` and commits explicit offsets once the
output is durable (``processors.pipeline``). A failure of the loop stops the worker (exit 1,
reason on one CRITICAL line) without committing the batch in hand.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import faust
import mode
from faust.transport.consumer import Consumer
from faust.types import TP

from processors.batch import SourceBatch, TopicPartition
from processors.clickhouse import ClickHouseEvents, EventsTable
from processors.dlq import DeadLetterPolicy, DeadLetters
from processors.errors import ProcessorError
from processors.flagger import FlagRules, flag_batch
from processors.intake import use_batch_intake
from processors.metrics import FlaggerMetrics, MetricsSite, SinkMetrics, WorkerMetrics
from processors.pipeline import BatchLoop, Process, Retry
from processors.sink import Sink, StoredIds
from telemetry_core import topics
from telemetry_core.kafka_publisher import KafkaPublisher, Publisher
from telemetry_core.reference import ReferenceStore
from telemetry_core.reference_feed import ReferenceFeed
from telemetry_core.settings import Settings

log = logging.getLogger(__name__)

FLAGGER_GROUP = "telemetry-flagger"
SINK_GROUP = "telemetry-sink"
SESSION_TIMEOUT_S = 10.0
HEARTBEAT_INTERVAL_S = 3.0
REBALANCE_TIMEOUT_S = 30.0
MAX_POLL_RECORDS = 5_000
# A fetch may return one partition's records up to this size; the largest flagged record fits.
MAX_PARTITION_FETCH_BYTES = topics.MAX_FLAGGED_RECORD_BYTES + topics.FLAGGED_BUDGET_SLACK


@dataclass(frozen=True)
class Topics:
    raw: str
    flagged: str
    dlq: str


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


def build_flagger(settings: Settings, stream_names: Names, *, publisher: Publisher | None = None) -> Worker:
    """raw topic -> decode, validate, join reference data, flag, build the row -> flagged topic."""
    app = create_app(settings, stream_names.flagger_group)
    reference = ReferenceStore()
    publisher = publisher or KafkaPublisher(settings, client_id=stream_names.flagger_group)
    metrics = FlaggerMetrics()
    dead_letters = dead_letters_of("flagger", stream_names, settings, metrics)
    rules = FlagRules(reference, stream_names.topics.flagged, settings.default_retention_days)
    raw_topic, flagged_topic = stream_names.topics.raw, stream_names.topics.flagged

    async def process(batch: SourceBatch, retry: Retry) -> None:
        metrics.messages.inc(len(batch))
        same_partitions = await retry(batch, "metadata", lambda: same_counts(publisher, raw_topic, flagged_topic))
        flagged = flag_batch(batch.messages, rules, int(time.time() * 1000), same_partitions)  # pure
        dead_letters.check(flagged.outcomes)  # the DLQ cap, before anything is written
        records = [*flagged.records, *dead_letters.records(flagged.dead)]
        if records:
            await retry(batch, "publish", lambda: publisher.publish(records))  # acks=all
        metrics.count_flags(flagged.flags)

    loop = batch_loop(app, process, metrics, settings.flagger_batch_size, settings.flagger_batch_seconds)
    resources: list[Resource] = [ReferenceFeed(settings, reference), publisher]
    return Worker(app, raw_topic, loop, metrics, resources, settings.flagger_metrics_port, settings.worker_metrics_host)


def build_sink(
    settings: Settings,
    stream_names: Names,
    *,
    table: EventsTable | None = None,
    publisher: Publisher | None = None,
) -> Worker:
    """flagged topic -> drop event ids already stored -> insert the rows into ClickHouse ``events``."""
    app = create_app(settings, stream_names.sink_group)
    table = table or ClickHouseEvents(settings)
    publisher = publisher or KafkaPublisher(settings, client_id=stream_names.sink_group)
    metrics = SinkMetrics()
    dead_letters = dead_letters_of("sink", stream_names, settings, metrics)
    sink = Sink(
        table,
        publisher,
        dead_letters,
        metrics,
        StoredIds(),
        probe_rows=settings.sink_batch_size,
        erasure_refresh_s=settings.erasure_refresh_seconds,
    )
    loop = batch_loop(app, sink.write, metrics, settings.sink_batch_size, settings.sink_batch_seconds)
    resources: list[Resource] = [publisher, _Closing(table)]
    return Worker(
        app,
        stream_names.topics.flagged,
        loop,
        metrics,
        resources,
        settings.sink_metrics_port,
        settings.worker_metrics_host,
    )


async def same_counts(publisher: Publisher, raw_topic: str, flagged_topic: str) -> bool:
    return await publisher.partition_count(raw_topic) == await publisher.partition_count(flagged_topic)


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
        broker_max_poll_records=MAX_POLL_RECORDS,
        consumer_max_fetch_size=MAX_PARTITION_FETCH_BYTES,
        stream_recovery_delay=0.0,
        stream_wait_empty=False,
        web_enabled=True,
    )


def dead_letters_of(worker: str, stream_names: Names, settings: Settings, metrics: WorkerMetrics) -> DeadLetters:
    policy = DeadLetterPolicy(worker, settings.dlq_window, settings.dlq_max_ratio)
    return DeadLetters(worker, stream_names.topics.dlq, policy, metrics)


def batch_loop(app: faust.App, process: Process, metrics: WorkerMetrics, size: int, seconds: float) -> BatchLoop:
    return BatchLoop(process, FaustGroup(app), metrics, batch_size=size, batch_seconds=seconds)


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
        # Private: test_processors_intake.py pins it.
        consumer = cast(Consumer, self.app.consumer)
        return bool(await consumer._commit({TP(tp.topic, tp.partition): o for tp, o in offsets.items()}))

    def highwater(self, tp: TopicPartition) -> int | None:
        try:
            high = self.app.consumer.highwater(TP(tp.topic, tp.partition))
        except Exception:  # not assigned (any more) or not fetched yet
            return None
        return int(high) if high is not None else None


class Resource(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class Worker:
    """One worker: the app, the intake over ``source_topic``, the loop and the resources it owns.

    Resources (reference feed, producer, ClickHouse table) and the metrics site start with the
    app's web server; the loop starts once they run. Fetched records wait in the loop's bounded
    batcher until then."""

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
        self.failure: str | None = None
        self.site = MetricsSite(metrics.registry, metrics_host, metrics_port, lambda: self.failure)
        metrics.lag.source = loop.lag
        use_batch_intake(app, source_topic, loop.batcher.put_many)
        app.web_server(_WorkerService(self))
        app.on_partitions_revoked.connect(cast(Any, self._on_revoked))  # held weakly: self lives as long as app
        self._running = False

    async def run(self) -> None:
        """The batch loop until stopped; a failure stops the whole worker."""
        self._running = True
        try:
            await self.loop.run()
        except ProcessorError as exc:
            self.failure = str(exc)
            log.critical("%s", exc)
            await self.app.crash(exc)
        except Exception as exc:  # a bug: stop with its traceback, commit nothing more
            self.failure = f"{type(exc).__name__}: {exc}"
            log.critical("the worker failed", exc_info=exc)
            await self.app.crash(exc)

    async def _on_revoked(self, sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        if self._running:
            await self.loop.on_revoke()

    async def start_resources(self) -> None:
        for resource in self.resources:
            await resource.start()
        await self.site.start()

    async def stop_resources(self) -> None:
        self.failure = self.failure or "stopping"
        await self.site.stop()
        for resource in reversed(self.resources):
            try:
                await resource.stop()
            except Exception:  # stop the rest regardless
                log.exception("stopping %r failed", resource)


# Young-generation collections every this many allocations (CPython's default is 700): a batch
# makes a few container objects per record, and almost none of them take part in a cycle.
GC_YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Once the worker is up: move everything allocated so far (the imported modules, faust, the
    clients; ~100k objects) out of the collector's sight with ``gc.freeze`` and collect the young
    generation less often. Measured: a full collection re-scanned that heap every few batches and
    cost the flagger about 10 µs per event (see bench/RESULTS.md)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


class _WorkerService(mode.Service):
    """Registered as the app's web server: started and stopped with the app."""

    def __init__(self, worker: Worker, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.worker = worker

    async def on_start(self) -> None:
        await self.worker.start_resources()
        settle_heap()
        self.add_future(self.worker.run())

    async def on_stop(self) -> None:
        await self.worker.stop_resources()


class _Closing:
    """A ClickHouse table as a resource: connected at start if possible, closed at stop."""

    def __init__(self, table: EventsTable) -> None:
        self.table = table

    async def start(self) -> None:
        await asyncio.to_thread(self.table.prepare)

    async def stop(self) -> None:
        await asyncio.to_thread(self.table.close)
