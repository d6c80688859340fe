"""The measured runs of ``bench/processors.py``: baselines, the workers as subprocesses, end to end."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from deploy.local.ports import free_ports
from processors.app import Names, names
from processors.batch import OutRecord, SourceMessage
from processors.flagger import flag_batch
from processors.publisher import KafkaPublisher
from telemetry_core.clickhouse.connection import connect
from telemetry_core.clickhouse.rows import EVENT_COLUMNS, INSERT_SETTINGS, event_row
from telemetry_core.events import RawEvent, decode_flagged, encode_raw
from telemetry_core.reference import License, Product, ReferenceStore, Tenant
from telemetry_core.settings import PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
TENANT = "bench"
REFERENCE = [
    Tenant(TENANT, "Bench", 30),
    Product(TENANT, "1", "Bench", frozenset({"1.0.1"})),
    License(TENANT, "LIC-1", "1", "active", frozenset({"act-1"})),
]
FIELDS = {
    "data_type": "numeric-single-value",
    "numeric_data_single_value": "50",
    "product_id": "1",
    "user_identifier": "554dddsqfqs4dqd5qsd74q",
    "license_key": "LIC-1",
    "activation_identifier": "act-1",
    "product_version": "1.0.1",
    "data_group": "test_group",
}


def raw_events(count: int, tenant: str = TENANT) -> list[RawEvent]:
    now = int(time.time() * 1000)
    return [
        RawEvent(str(uuid.uuid4()), now, tenant, "bench-key", "10.0.0.1", "bench/1.0", FIELDS) for _ in range(count)
    ]


async def create_topics(settings: Settings, stream_names: Names) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        t = stream_names.topics
        n = settings.topic_partitions
        await admin.create_topics(
            [
                NewTopic(t.raw, n, 1),
                NewTopic(t.flagged, n, 1),
                NewTopic(f"{t.flagged}.baseline", n, 1),
                NewTopic(t.dlq, 1, 1),
            ]
        )
    finally:
        await admin.close()


async def publish(settings: Settings, records: list[OutRecord]) -> None:
    publisher = KafkaPublisher(settings, "bench-loader")
    await publisher.start()
    try:
        for start in range(0, len(records), 20_000):
            await publisher.publish(records[start : start + 20_000])
    finally:
        await publisher.stop()


async def read_topic(settings: Settings, topic: str, count: int) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: list[Any] = []
    try:
        while len(found) < count:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                found.extend(records)
    finally:
        await consumer.stop()
    return found


async def flagger_baseline(settings: Settings, stream_names: Names, count: int) -> float:
    """aiokafka consume -> the same flag_batch -> the same publisher (acks=all) -> commit; events/s."""
    ref = ReferenceStore()
    for entity in REFERENCE:
        ref.put(entity)
    consumer = AIOKafkaConsumer(
        stream_names.topics.raw,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{stream_names.flagger_group}.baseline",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    publisher = KafkaPublisher(settings, "bench-baseline")
    await asyncio.gather(consumer.start(), publisher.start())
    done, started = 0, 0.0
    try:
        while done < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=settings.flagger_batch_size)
            messages = [
                SourceMessage(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp)
                for records in batch.values()
                for r in records
            ]
            if messages and not started:
                started = time.perf_counter()
            now = int(time.time() * 1000)
            out = flag_batch(messages, ref, flagged_topic=f"{stream_names.topics.flagged}.baseline",
                             default_retention_days=90, now_ms=now, max_record_bytes=900_000)  # fmt: skip
            await publisher.publish(out.records)
            await consumer.commit()
            done += len(messages)
        return count / (time.perf_counter() - started)
    finally:
        await asyncio.gather(consumer.stop(), publisher.stop())


def sink_baseline(settings: Settings, flagged: list[bytes]) -> float:
    """The same rows (built beforehand, not timed) inserted with clickhouse-connect; rows/s."""
    rows = [event_row(decode_flagged(value)) for value in flagged]
    client = connect(settings, compress=False)
    try:
        context = client.create_insert_context("events", list(EVENT_COLUMNS))
        started = time.perf_counter()
        for start in range(0, len(rows), settings.sink_batch_size):
            client.insert(
                "events",
                rows[start : start + settings.sink_batch_size],
                column_names=list(EVENT_COLUMNS),
                column_types=context.column_types,
                settings={"insert_deduplication_token": f"baseline-{start}", **INSERT_SETTINGS},
            )
        return len(rows) / (time.perf_counter() - started)
    finally:
        client.close()


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        env[PREFIX + f.name.upper()] = (
            "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        )
    return env


def faust_floor(settings: Settings, namespace: str, count: int) -> float:
    """Messages/s of a faust agent that does nothing (``bench/processors_floor.py``)."""
    argv = [sys.executable, str(ROOT / "bench" / "processors_floor.py"), namespace, str(count)]
    result = subprocess.run(argv, cwd=ROOT, env=worker_env(settings), capture_output=True, text=True, timeout=600)
    for line in result.stderr.splitlines():
        if "FLOOR " in line:
            return float(line.rsplit("FLOOR ", 1)[1].split()[0])
    raise SystemExit(f"the faust floor run failed:\n{result.stderr[-2000:]}")


class WorkerRun:
    """A worker subprocess, exactly as deployed (``python -m processors KIND``), with its metrics."""

    def __init__(self, kind: str, settings: Settings, namespace: str, log: Path) -> None:
        (self.port,) = free_ports(1)
        field = "flagger_metrics_port" if kind == "flagger" else "sink_metrics_port"
        settings = dataclasses.replace(settings, **{field: self.port})
        env = worker_env(settings)
        self.log = log
        self.ready_at = 0.0
        with open(log, "ab") as out:
            argv = [sys.executable, "-m", "processors", kind, "--namespace", namespace]
            self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def metric(self, name: str) -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return -1.0
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as response:
            return str(response.read().decode())

    async def ready(self, timeout: float = 120.0) -> None:
        """Until ``/healthz`` answers: the worker joined its group and loaded what it needs."""
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self._healthy):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
                raise SystemExit(f"worker failed to start ({self.log}):\n{tail}")
            await asyncio.sleep(0.05)
        self.ready_at = time.perf_counter()

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                return int(response.status) == 200
        except OSError:
            return False

    async def rate(self, done: str, count: int, timeout: float = 900.0) -> float:
        """Events/s from the moment the worker was ready (joined its group, loaded what it
        needs: start-up excluded) until metric ``done`` reaches ``count``."""
        started = self.ready_at
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await asyncio.to_thread(self.metric, done) >= count:
                return count / (time.perf_counter() - started)
            await asyncio.sleep(0.05)
        raise SystemExit(f"worker did not finish {count} events in {timeout} s; see {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


async def end_to_end(settings: Settings, work: Path, rate: int, seconds: float) -> dict[str, float]:
    """Flagger and sink running; RawEvents produced to the raw topic at ``rate``/s; latency of
    the k-th produced event = first count() poll (every 50 ms) showing k rows - its send time."""
    namespace = f"e2e{uuid.uuid4().hex[:6]}"
    stream_names = names(namespace)
    await create_topics(settings, stream_names)
    workers = [WorkerRun(kind, settings, namespace, work / f"e2e-{kind}.log") for kind in ("flagger", "sink")]
    try:
        await asyncio.gather(*(w.ready() for w in workers))
        tenant = f"{TENANT}-{namespace}"
        sent: list[float] = []
        polls: list[tuple[float, int]] = []
        total = int(rate * seconds)
        poller = asyncio.create_task(_poll(settings, tenant, total, polls))
        await _produce_paced(settings, stream_names.topics.raw, tenant, total, rate, sent)
        await asyncio.wait_for(poller, 120)
        ordered = _latencies(sent, polls)
        steady = sorted(ordered[len(ordered) // 3 :])  # after the first third: start-up excluded
        latencies = sorted(ordered)
        age = workers[1].metrics_text()
        return {
            "events": float(total),
            "p50": statistics.median(latencies),
            "p99": latencies[int(0.99 * (len(latencies) - 1))],
            "max": latencies[-1],
            "steady_p50": statistics.median(steady),
            "steady_p99": steady[int(0.99 * (len(steady) - 1))],
            "age_p99_bucket": _histogram_quantile(age, "telemetry_sink_event_age_seconds", 0.99),
        }
    finally:
        for worker in workers:
            worker.stop()


async def _produce_paced(settings: Settings, topic: str, tenant: str, total: int, rate: int, sent: list[float]) -> None:
    """Send ``rate`` events per second in 10 ms ticks, as ingest would (one send per event,
    acks=all, idempotent; ``received_at`` = now); ``sent`` gets each event's hand-over time."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=1
    )
    await producer.start()
    try:
        tick, per_tick = 0.01, max(1, rate // 100)
        started = time.perf_counter()
        futures = []
        for i in range(0, total, per_tick):
            await asyncio.sleep(max(0.0, started + (i // per_tick) * tick - time.perf_counter()))
            for event in raw_events(min(per_tick, total - i), tenant):
                sent.append(time.perf_counter())
                futures.append(await producer.send(topic, encode_raw(event), key=event.event_id.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _poll(settings: Settings, tenant: str, total: int, polls: list[tuple[float, int]]) -> None:
    client = await asyncio.to_thread(connect, settings)
    try:
        while not polls or polls[-1][1] < total:
            result = await asyncio.to_thread(
                client.query, "SELECT count() FROM events WHERE tenant_id = {t:String}", parameters={"t": tenant}
            )
            polls.append((time.perf_counter(), int(result.result_rows[0][0])))
            await asyncio.sleep(0.05)
    finally:
        client.close()


def _latencies(sent: list[float], polls: list[tuple[float, int]]) -> list[float]:
    out, p = [], 0
    for k, sent_at in enumerate(sent):
        while polls[p][1] < k + 1:
            p += 1
        out.append(polls[p][0] - sent_at)
    return out


def _histogram_quantile(text: str, name: str, q: float) -> float:
    buckets = []
    for line in text.splitlines():
        if line.startswith(name + "_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if bound == "+Inf" else float(bound), float(line.rsplit(" ", 1)[1])))
    total = buckets[-1][1] if buckets else 0.0
    for bound, cumulative in buckets:
        if total and cumulative >= q * total:
            return bound
    return float("nan")
