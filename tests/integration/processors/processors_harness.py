"""Running the processors for real: worker subprocesses, isolated topics, events in, rows out.

Every test pipeline gets a namespace (``--namespace``): its own raw/flagged/DLQ topics and
consumer groups on the session's Kafka, so tests never read each other's messages. Workers are
subprocesses (``python -m processors ...``), so a kill is a real SIGKILL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from clickhouse_connect.driver.client import Client

from deploy.local.ports import free_ports
from processors.app import Names, names
from telemetry_core import topics
from telemetry_core.admin.topic_io import write_records
from telemetry_core.events import RawEvent, encode_raw
from telemetry_core.reference import Entity, encode_entity
from telemetry_core.settings import PREFIX, Settings

REPO = Path(__file__).resolve().parents[3]
PARTITIONS = 3

GOOD_FIELDS: dict[str, Any] = {
    "data_type": "numeric-single-value",
    "numeric_data_single_value": "5",
    "data_group": "g",
    "product_id": "1",
    "product_version": "1.0",
    "license_key": "LIC",
    "activation_identifier": "A1",
    "user_identifier": "u",
}


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``TELEMETRY_*`` environment that makes ``Settings.from_env`` return ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        text = "" if value is None else ("true" if value is True else "false" if value is False else str(value))
        env[PREFIX + f.name.upper()] = text
    return env


class WorkerProcess:
    """A worker subprocess with its log file and metrics port."""

    def __init__(self, argv: Sequence[str], settings: Settings, port: int, log: Path) -> None:
        self.settings, self.port, self.log = settings, port, log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, *argv], cwd=REPO, env=settings_env(settings), stdout=out, stderr=subprocess.STDOUT
            )

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metric(self, name: str) -> float:
        """Sum of every sample of ``name`` (0 when absent)."""
        _, text = self.get("/metrics")
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    async def ready(self, timeout: float = 60.0) -> None:
        """Until ``/healthz`` answers (the worker joined its group and started its resources)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if (await asyncio.to_thread(self.get, "/healthz"))[0] == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError(f"worker not ready after {timeout} s:\n{self.tail()}")

    async def exit_code(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"worker still running after {timeout} s:\n{self.tail()}")
            await asyncio.sleep(0.1)
        return self.process.returncode

    def signal(self, sig: signal.Signals) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class Pipeline:
    """An isolated pipeline: topics and groups of one namespace, the workers started for it."""

    def __init__(self, settings: Settings, tmp: Path) -> None:
        self.namespace = f"t{uuid.uuid4().hex[:10]}"
        self.names: Names = names(self.namespace)
        self.tenant = f"tenant-{self.namespace}"
        self.tmp = tmp
        self.settings = dataclasses.replace(
            settings,
            data_dir=tmp / "data",
            topic_partitions=PARTITIONS,
            flagger_batch_size=500,
            flagger_batch_seconds=0.1,
            sink_batch_size=1000,
            sink_batch_seconds=0.2,
            log_level="INFO",
        )
        self.workers: list[WorkerProcess] = []

    async def create_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
        await admin.start()
        try:  # the pipeline's own topic specs (sizes, configs), under this namespace's names
            prefix = f"{self.namespace}."
            wanted = {topics.RAW, topics.FLAGGED, topics.DLQ}
            specs = [s for s in topics.topic_specs(self.settings) if s.name in wanted]
            new = [NewTopic(prefix + s.name, s.partitions, 1, topic_configs=s.config) for s in specs]
            await admin.create_topics(new)
        finally:
            await admin.close()

    def start(self, kind: str, script: Path | None = None, **overrides: Any) -> WorkerProcess:
        """Start ``python -m processors KIND`` (or ``script``) with these setting overrides."""
        (port,) = free_ports(1)
        metrics = {"flagger_metrics_port": port} if kind == "flagger" else {"sink_metrics_port": port}
        settings = dataclasses.replace(self.settings, **{**metrics, **overrides})
        target = [str(script)] if script else ["-m", "processors", kind]
        log = self.tmp / f"{kind}-{len(self.workers)}.log"
        worker = WorkerProcess([*target, "--namespace", self.namespace], settings, port, log)
        self.workers.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait(10)

    def raw(self, tenant: str | None = None, **fields: Any) -> RawEvent:
        return RawEvent(
            str(uuid.uuid4()),
            int(time.time() * 1000),
            tenant or self.tenant,
            "key-1",
            "198.51.100.7",
            "tests/1.0",
            {**GOOD_FIELDS, **fields},
        )

    async def produce(
        self, events: Iterable[RawEvent | bytes | tuple[bytes, bytes]], topic: str | None = None
    ) -> None:
        """Publish raw events (or arbitrary bytes, or (key, value) pairs) with acks=all."""
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            futures = []
            for item in events:
                if isinstance(item, RawEvent):
                    key, value = item.event_id.encode(), encode_raw(item)
                else:
                    key, value = item if isinstance(item, tuple) else (None, item)
                futures.append(await producer.send(topic or self.names.topics.raw, value, key=key))
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    async def reference(self, entities: Sequence[Entity]) -> None:
        await write_records(self.settings, [encode_entity(e) for e in entities])

    async def committed(self, group: str, topic: str, partitions: int = PARTITIONS) -> dict[int, int | None]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, group_id=group)
        await consumer.start()
        try:
            return {p: await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
        finally:
            await consumer.stop()

    async def read_all(self, topic: str, expected: int, timeout: float = 30.0) -> list[Any]:
        """The first ``expected`` records of ``topic`` (all partitions), or fewer at the timeout."""
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=self.settings.kafka_bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        found: list[Any] = []
        try:
            deadline = time.monotonic() + timeout
            while len(found) < expected and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend(records)
        finally:
            await consumer.stop()
        return found


def counts(client: Client, tenant: str) -> tuple[int, int, int]:
    """(rows, rows with FINAL, distinct event ids) of ``tenant`` in ``events``."""
    params = {"t": tenant}
    rows = client.query("SELECT count() FROM events WHERE tenant_id = {t:String}", parameters=params)
    final = client.query(
        "SELECT count(), uniqExact(event_id) FROM events FINAL WHERE tenant_id = {t:String}", parameters=params
    )
    return int(rows.result_rows[0][0]), int(final.result_rows[0][0]), int(final.result_rows[0][1])


def hourly_events(client: Client, tenant: str) -> int:
    result = client.query(
        "SELECT sum(events) FROM events_hourly WHERE tenant_id = {t:String}", parameters={"t": tenant}
    )
    return int(result.result_rows[0][0] or 0)


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def stored(client: Client, tenant: str, expected: int, timeout: float = 60.0) -> None:
    """Until ``expected`` distinct event ids of ``tenant`` are visible, in ``events`` and in
    ``events_hourly``: an insert's part in ``events`` becomes visible before the materialized views
    (one per aggregate table) have written theirs, and the insert returns only after all of them."""

    def done() -> bool:
        return counts(client, tenant)[2] >= expected and hourly_events(client, tenant) >= expected

    await eventually(lambda: asyncio.to_thread(done), timeout, f"{expected} rows of {tenant}")


def sigkill(worker: WorkerProcess) -> None:
    worker.signal(signal.SIGKILL)
