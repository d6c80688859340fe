"""The local cluster topology for tests: brought up by the launcher's own start sequence
(``deploy.local.__main__.start``: three Kafka nodes, two ClickHouse shards, migrations, topics,
demo data, two replicas of each worker, two ingest processes), plus load and counting helpers.

Ports come from one free block below the kernel's ephemeral range (32768+), so no outgoing
connection of the cluster itself can take a port a node has yet to bind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka.admin import AIOKafkaAdminClient
from clickhouse_connect.driver.client import Client

from deploy.local.__main__ import start
from deploy.local.ports import port_is_free
from deploy.local.stack import Stack
from deploy.local.summary import StackReport, first_event_fields
from deploy.local.topology import METRICS_PORT_STRIDE
from telemetry_core.clickhouse.connection import connect
from telemetry_core.settings import Settings

BLOCK = 14 + 2 * METRICS_PORT_STRIDE  # Kafka 0-5, ClickHouse 6-9, ingest 10, query 11, workers 12-13 (+10, +20)


def free_block(size: int = BLOCK) -> int:
    """A base port with ``size`` consecutive free ports, in 20000-32000."""
    for _ in range(200):
        base = random.randrange(20_000, 32_000 - size)
        if all(port_is_free(base + i) for i in range(size)):
            return base
    raise AssertionError("no block of free ports found")


def cluster_settings(data_dir: Path, base: int) -> Settings:
    return Settings(
        local_topology="cluster", data_dir=data_dir,
        kafka_bootstrap=f"127.0.0.1:{base}", kafka_controller_port=base + 1,
        clickhouse_url=f"http://127.0.0.1:{base + 6}",
        ingest_port=base + 10, query_port=base + 11, flagger_metrics_port=base + 12, sink_metrics_port=base + 13,
        flagger_batch_seconds=0.1, sink_batch_seconds=0.3,
    )


@dataclass
class Cluster:
    stack: Stack
    report: StackReport

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    def client(self, shard: int = 0) -> Client:
        return connect(dataclasses.replace(self.settings, clickhouse_url=self.settings.shard_urls[shard]))

    def fields(self, data_group: str) -> list[tuple[str, str]]:
        assert self.report.demo_keys is not None and self.report.demo is not None
        return first_event_fields(self.report.demo_keys.send_key, self.report.demo, data_group)


def bring_up(data_dir: Path) -> Cluster:
    settings = cluster_settings(data_dir, free_block())
    stack = Stack(settings, tied=True, kafka_heap="384m", out=lambda line: print(f"[cluster] {line}", flush=True))
    try:
        return Cluster(stack, start(stack.settings, stack))
    except BaseException:
        stack.stop()
        raise


@dataclass
class Load:
    """Steady ingest traffic: ``workers`` loops, each POSTing one event at a time with its own
    ``Idempotency-Key``; every answer is recorded."""

    cluster: Cluster
    data_group: str
    workers: int = 6
    answers: dict[str, int] = field(default_factory=dict)  # event id -> response code (or HTTP status)
    slowest: float = 0.0  # seconds, the longest wait for an answer
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(self.workers)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    @property
    def acked(self) -> set[str]:
        return {event_id for event_id, code in self.answers.items() if code == 830}

    def refused(self) -> dict[str, int]:
        return {event_id: code for event_id, code in self.answers.items() if code != 830}

    async def _loop(self) -> None:
        url = f"http://127.0.0.1:{self.cluster.settings.ingest_port}/api/v1/send-telemetry-data"
        fields = self.cluster.fields(self.data_group)
        timeout = aiohttp.ClientTimeout(total=30)
        # A new connection per request, as a fleet of installs makes them: the kernel spreads
        # connections (not requests) over the ingest processes sharing the port, so six
        # keep-alive connections could all land on one process.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            while not self._stop.is_set():
                event_id, began = str(uuid.uuid4()), time.monotonic()
                try:
                    async with session.post(url, data=fields, headers={"Idempotency-Key": event_id}) as response:
                        body: Any = await response.json(content_type=None)
                        self.answers[event_id] = int(body["response"]["code"]) if response.status < 500 else (
                            response.status)
                except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
                    self.answers[event_id] = -1
                    print(f"[load] {type(exc).__name__}: {exc}", flush=True)
                self.slowest = max(self.slowest, time.monotonic() - began)
                await asyncio.sleep(0.01)

    async def until(self, acked: int, timeout: float = 60.0) -> None:
        await eventually(lambda: len(self.acked) >= acked, timeout, f"{acked} acknowledged events")


def stored_ids(client: Client, data_group: str) -> tuple[int, list[str], int]:
    """(rows, event ids, hourly events) of ``data_group`` through the Distributed tables."""
    params = {"g": data_group}
    rows = int(client.query("SELECT count() FROM events WHERE data_group = {g:String}", parameters=params)
               .result_rows[0][0])
    ids = [str(r[0]) for r in client.query("SELECT DISTINCT event_id FROM events FINAL WHERE data_group = {g:String}",
                                           parameters=params).result_rows]
    hourly = client.query("SELECT sum(events) FROM events_hourly WHERE data_group = {g:String}", parameters=params)
    return rows, ids, int(hourly.result_rows[0][0] or 0)


def shard_rows(cluster: Cluster, data_group: str) -> list[int]:
    """Rows of ``data_group`` in each shard's own table."""
    counts = []
    for shard in range(len(cluster.settings.shard_urls)):
        client = cluster.client(shard)
        try:
            result = client.query("SELECT count() FROM events_local WHERE data_group = {g:String}",
                                  parameters={"g": data_group})
            counts.append(int(result.result_rows[0][0]))
        finally:
            client.close()
    return counts


async def stored_once(
    cluster: Cluster, data_group: str, acked: set[str], timeout: float = 90.0
) -> int:
    """Until every acknowledged id is stored; then asserts one row per id through the
    Distributed table (also without FINAL) and one count per id in the aggregate. Returns rows."""
    client = cluster.client()
    try:
        def all_there() -> bool:
            try:
                return acked <= set(stored_ids(client, data_group)[1])
            except Exception:  # a shard still coming back: look again
                return False

        await eventually(lambda: asyncio.to_thread(all_there), timeout, f"{len(acked)} acked events stored")
        await asyncio.sleep(2)  # late duplicates (re-read after a rebalance) must not add rows
        rows, ids, hourly = await asyncio.to_thread(stored_ids, client, data_group)
        assert rows == len(ids), (rows, len(ids), hourly)
        assert hourly == rows, (rows, len(ids), hourly)
        assert acked <= set(ids)
        assert all(count > 0 for count in shard_rows(cluster, data_group)), "both shards hold some rows"
        return rows
    finally:
        client.close()


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


async def in_sync_replicas(bootstrap: str, topics: list[str]) -> list[int]:
    """The ISR size of every partition of ``topics``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
        return [len(p["isr"]) for topic in described for p in topic["partitions"]]
    finally:
        await admin.close()
