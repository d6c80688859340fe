"""The measured runs of ``bench/pipeline.py``: batch load with wrk, baselines, latency."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from deploy.local.environment import child_environ
from deploy.local.ports import free_ports
from deploy.local.services import http_ok
from processors.app import names
from telemetry_core import topics
from telemetry_core.clickhouse.connection import connect
from telemetry_core.clickhouse.migrate import apply_migrations
from telemetry_core.clickhouse.rows import EVENT_COLUMNS, ROW_FORMAT
from telemetry_core.events import RawEvent, encode_raw
from telemetry_core.kafka_publisher import KafkaPublisher, OutRecord
from telemetry_core.settings import Settings

CLK_TCK = os.sysconf("SC_CLK_TCK")
BATCH_GROUP, LATENCY_GROUP, WARMUP_GROUP = "bench-batch", "bench-latency", "bench-warmup-batch"
FIELDS = {
    "data_type": "numeric-single-value",
    "numeric_data_single_value": "50",
    "product_id": "1",
    "user_identifier": "554dddsqfqs4dqd5qsd74q",
    "license_key": "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541",
    "activation_identifier": "12135644",
    "product_version": "1.0.1",
}
PROCESSES = {"ingest": "ingest", "kafka": "kafka", "clickhouse": "clickhouse", "flagger": "flagger", "sink": "sink"}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def snapshot(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def count(settings: Settings, group: str) -> int:
    client = connect(settings)
    try:
        sql = "SELECT count() FROM events WHERE data_group = {g:String}"
        return int(client.query(sql, parameters={"g": group}).result_rows[0][0])
    finally:
        client.close()


async def warm_up(settings: Settings, key: str) -> None:
    """One event through the whole pipeline (connections made, metadata known)."""
    url = f"http://127.0.0.1:{settings.ingest_port}/api/v1/send-telemetry-data"
    data = {**FIELDS, "api_key": key, "data_group": "bench-warmup"}
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while True:  # 503 until the ingest has loaded the reference data
            async with session.post(url, data=data) as response:
                if response.status == 200:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"the ingest did not accept the warm-up event: {await response.text()}")
            await asyncio.sleep(0.2)
    while await asyncio.to_thread(count, settings, "bench-warmup") < 1:
        if time.monotonic() > deadline:
            raise SystemExit("the warm-up event never reached ClickHouse")
        await asyncio.sleep(0.1)


def _wrk_script(work: Path, key: str, group: str) -> Path:
    events = [
        {**FIELDS, "numeric_data_single_value": str(i), "user_identifier": f"u-{i % 97}", "data_group": group}
        for i in range(1000)
    ]
    (work / f"{group}.json").write_text(json.dumps(events, separators=(",", ":")))
    script = work / f"{group}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
        f'local f = io.open("{work / (group + ".json")}", "rb")\n'
        "wrk.body = f:read('*a')\nf:close()\n"
    )
    return script


async def batch_run(
    settings: Settings, key: str, pids: dict[str, int], seconds: float, work: Path, group: str = BATCH_GROUP
) -> dict[str, object]:
    script = _wrk_script(work, key, group)
    url = f"http://127.0.0.1:{settings.ingest_port}/api/v1/send-telemetry-data/batch"
    measured = {name: pids[name] for name in PROCESSES if name in pids}
    before = snapshot(measured)
    started = time.perf_counter()
    wrk = await asyncio.create_subprocess_exec(
        "wrk", "-t2", "-c4", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(script), url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out = (await wrk.communicate())[0].decode()
    last_ack = time.perf_counter()
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors_found = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(errors_found.group(1)) if errors_found else 0
    acked = (requests - errors) * 1000
    stored = 0
    deadline = last_ack + 300
    while stored < acked and time.perf_counter() < deadline:
        stored = await asyncio.to_thread(count, settings, group)
        if stored < acked:
            await asyncio.sleep(0.05)
    drained = time.perf_counter()
    after = snapshot(measured)
    cpu = {name: (after[name] - before[name]) / max(1, stored) * 1e6 for name in measured}
    return {
        "acked": acked,
        "acked_rate": acked / (last_ack - started),
        "stored": stored,
        "stored_rate": stored / (drained - started),
        "lag_s": drained - last_ack,
        "errors": errors,
        "cpu_us_per_event": cpu,
        "wrk": out,
    }


async def baselines(settings: Settings, clickhouse_pid: int, count_: int) -> dict[str, float]:
    figures = await kafka_loop(settings, count_)
    figures.update(await asyncio.to_thread(insert_baseline, settings, clickhouse_pid, count_))
    return figures


async def kafka_loop(settings: Settings, count_: int) -> dict[str, float]:
    """A plain aiokafka consume -> produce loop: the raw topic's records to a scratch topic as they
    are (acks=all, idempotent, one send per record), committing after each fetch."""
    scratch = f"bench.scratch.{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(scratch, settings.topic_partitions, 1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        topics.RAW, bootstrap_servers=settings.kafka_bootstrap, group_id=f"bench-loop-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=5000,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
        max_batch_size=1_000_000,
    )
    await asyncio.gather(consumer.start(), producer.start())
    done, cpu0, started = 0, 0.0, 0.0
    try:
        while done < count_:
            fetched = await consumer.getmany(timeout_ms=1000)
            if fetched and not started:
                cpu0, started = time.process_time(), time.perf_counter()
            futures = [
                await producer.send(scratch, r.value, key=r.key, partition=r.partition)
                for records in fetched.values()
                for r in records
            ]
            await asyncio.gather(*futures)
            await consumer.commit()
            done += len(futures)
        cpu = time.process_time() - cpu0
        return {"kafka_loop_us": cpu / done * 1e6, "kafka_loop_rate": done / (time.perf_counter() - started)}
    finally:
        await asyncio.gather(consumer.stop(), producer.stop())


def insert_baseline(settings: Settings, clickhouse_pid: int, count_: int) -> dict[str, float]:
    """The flagged rows as they are (JSONCompactEachRow bytes) inserted with clickhouse-connect's raw_insert
    into a scratch database, 10,000 per insert; CPU of this process and of ClickHouse."""
    rows = asyncio.run(_read_values(settings, topics.FLAGGED, count_))
    scratch = dataclasses.replace(settings, clickhouse_database=f"bench_scratch_{uuid.uuid4().hex[:6]}")
    apply_migrations(scratch)
    client = connect(scratch, compress=False)
    try:
        cpu0, started = time.process_time(), time.perf_counter()
        ch0 = cpu_seconds(clickhouse_pid)
        for start in range(0, len(rows), 10_000):
            client.raw_insert(
                "events",
                column_names=EVENT_COLUMNS,
                insert_block=b"\n".join(rows[start : start + 10_000]),
                settings={"insert_deduplication_token": f"baseline-{start}"},
                fmt=ROW_FORMAT,
            )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
        ch = cpu_seconds(clickhouse_pid) - ch0
    finally:
        client.close()
    return {
        "insert_us": cpu / len(rows) * 1e6,
        "insert_clickhouse_us": ch / len(rows) * 1e6,
        "insert_rate": len(rows) / elapsed,
    }


async def _read_values(settings: Settings, topic: str, count_: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: list[bytes] = []
    try:
        while len(found) < count_:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                found.extend(r.value for r in records if r.value)
    finally:
        await consumer.stop()
    return found[:count_]


async def latency_run(settings: Settings, key: str, rate: int, seconds: float, work: Path) -> dict[str, float]:
    """``rate`` single form posts per second from wrk, paced (see ``paced_script``) over
    ``rate // 20`` connections, so the rate does not depend on the answer latency (the old
    fixed 20 ms delay per connection reached only ~720 of 2,000 requests/s). Latency of each
    event = the moment the first ClickHouse poll that shows it was sent (see ``_poll_ids``) minus
    its ``received_at`` (set by the ingest when the request arrived): ingest -> queryable. Split
    at the row's ``processed_at`` (the flagger's clock when it flagged the event's batch):
    received -> flagged (ingest, Kafka, the flagger's fetch and window) and flagged -> queryable
    (Kafka, the sink's fetch, window and insert)."""
    fields = {**FIELDS, "api_key": key, "data_group": LATENCY_GROUP}
    body = "&".join(f"{name}={value}" for name, value in fields.items())
    threads = 2
    script = paced_script(work / "single.lua", body, rate, threads)
    connections = max(threads, rate // 20)
    url = f"http://127.0.0.1:{settings.ingest_port}/api/v1/send-telemetry-data"
    seen: dict[str, tuple[int, int, float]] = {}
    done = asyncio.Event()
    inserts_before = await asyncio.to_thread(_sink_inserts, settings)
    poller = asyncio.create_task(_poll_ids(settings, seen, done))
    wrk = await asyncio.create_subprocess_exec(
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{round(seconds)}s", "-s", str(script), url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out = (await wrk.communicate())[0].decode()
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    achieved = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    deadline = time.monotonic() + 60
    while await asyncio.to_thread(count, settings, LATENCY_GROUP) < requests and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.2)
    done.set()
    await poller
    stored = await asyncio.to_thread(count, settings, LATENCY_GROUP)
    total = [visible - received for received, _, visible in seen.values()]
    flagger = [float(processed - received) for received, processed, _ in seen.values()]
    sink = [visible - processed for _, processed, visible in seen.values()]
    figures = {
        "sent": float(requests),
        "non_2xx": float(refused.group(1)) if refused else 0.0,
        "connections": float(connections),
        "stored": float(stored),
        "achieved_rate": achieved,
        "all_visible": float(len(seen) == stored >= requests),
    }
    seconds_after, inserts_after = await asyncio.to_thread(_sink_inserts, settings)
    figures["inserts"] = inserts_after - inserts_before[1]
    figures["insert_ms"] = 1000 * (seconds_after - inserts_before[0]) / max(1.0, figures["inserts"])
    for name, values in (("", total), ("flagger_", flagger), ("sink_", sink)):
        figures |= {f"{name}{label}": value for label, value in _quantiles(values).items()}
    return figures


def _quantiles(values_ms: list[float]) -> dict[str, float]:
    """p50 / p90 / p99 / max of millisecond values, in seconds."""
    ordered = sorted(values_ms)
    return {
        "p50": statistics.median(ordered) / 1000,
        "p90": ordered[int(0.90 * (len(ordered) - 1))] / 1000,
        "p99": ordered[int(0.99 * (len(ordered) - 1))] / 1000,
        "max": ordered[-1] / 1000,
    }


def paced_script(path: Path, body: str, rate: int, threads: int) -> Path:
    """A wrk script that POSTs ``body`` at ``rate`` requests/s in all (wrk2-like pacing): each
    thread hands out send slots ``threads / rate`` seconds apart, and a connection whose answer
    came back waits (``delay()``) until its slot. A thread that falls more than a second behind
    starts again from now instead of bursting to catch up."""
    path.write_text(
        'local ffi = require("ffi")\n'
        'ffi.cdef[[ typedef struct { long tv_sec; long tv_usec; } bench_timeval;\n'
        "int gettimeofday(bench_timeval *tv, void *tz); ]]\n"
        'local tv = ffi.new("bench_timeval")\n'
        "local function now_ms() ffi.C.gettimeofday(tv, nil) "
        "return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000 end\n"
        f"local interval = {threads * 1000 / rate!r}\n"
        "local next_at = nil\n"
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        f'wrk.body = "{body}"\n'
        "function delay()\n"
        "  local now = now_ms()\n"
        "  if next_at == nil or next_at < now - 1000 then next_at = now end\n"
        "  next_at = next_at + interval\n"
        "  local wait = next_at - now\n"
        "  if wait < 1 then return 0 end\n"
        "  return math.floor(wait)\n"
        "end\n"
    )
    return path


async def _poll_ids(settings: Settings, seen: dict[str, tuple[int, int, float]], done: asyncio.Event) -> None:
    """Until ``done``: every 50 ms, the ids that became visible -> (received_at, processed_at, visible)
    in ms. "Visible" is the wall-clock time at which the query that first returned the id was
    *sent*: a row in a query's result was stored before the query began, so that moment bounds the
    row's visibility from above without counting the query's own duration (50-250 ms on this
    machine, more under load) as pipeline latency. The query reads a window that starts 5 s before
    the newest ``received_at`` already seen, so it stays small at any rate."""
    client = await asyncio.to_thread(connect, settings)
    sql = (
        "SELECT event_id, toUnixTimestamp64Milli(received_at), toUnixTimestamp64Milli(processed_at) FROM events "
        "WHERE data_type = {t:String} AND data_group = {g:String} "
        "AND received_at >= fromUnixTimestamp64Milli({since:Int64})"
    )
    since = int(time.time() * 1000) - 20_000
    try:
        while not done.is_set():
            sent_ms = time.time() * 1000
            params = {"t": FIELDS["data_type"], "g": LATENCY_GROUP, "since": since}
            result = await asyncio.to_thread(client.query, sql, parameters=params)
            for event_id, received_ms, processed_ms in result.result_rows:
                if event_id not in seen:
                    seen[event_id] = (received_ms, processed_ms, sent_ms)
                    since = max(since, received_ms - 5_000)
            await asyncio.sleep(0.05)
    finally:
        client.close()


def _sink_inserts(settings: Settings) -> tuple[float, float]:
    """(seconds, inserts) of the sink so far (its ``telemetry_sink_insert_seconds`` histogram)."""
    url = f"http://127.0.0.1:{settings.sink_metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    found = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "telemetry_sink_insert_seconds"
        for sample in family.samples
    }
    return found.get("telemetry_sink_insert_seconds_sum", 0.0), found.get("telemetry_sink_insert_seconds_count", 0.0)


async def isolated_runs(settings: Settings, work: Path, count_: int) -> dict[str, float]:
    """Each worker alone on a backlog of ``count_`` events in a namespace of its own: the flagger
    over raw events produced beforehand, then the sink over the flagger's output. CPU of the
    worker process (from /proc) from the moment it is ready until its group committed the whole
    topic (flagger) or ClickHouse holds every row (sink); events/s over the same span."""
    namespace = f"iso{uuid.uuid4().hex[:6]}"
    names_ = names(namespace)
    specs = [s for s in topics.topic_specs(settings) if s.name in (topics.RAW, topics.FLAGGED, topics.DLQ)]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(f"{namespace}.{s.name}", s.partitions, 1, topic_configs=s.config) for s in specs]
        )
    finally:
        await admin.close()
    tenant = f"iso-{namespace}"
    publisher = KafkaPublisher(settings, "bench-isolated")
    await publisher.start()
    try:
        now = int(time.time() * 1000)
        for start in range(0, count_, 20_000):
            events = [
                RawEvent(str(uuid.uuid4()), now, "demo", "demo-send", "127.0.0.1", "wrk/4.2",
                         {**FIELDS, "data_group": tenant, "user_identifier": f"u-{i % 97}"})
                for i in range(start, min(count_, start + 20_000))
            ]
            await publisher.publish([OutRecord(names_.topics.raw, e.event_id.encode(), encode_raw(e)) for e in events])
    finally:
        await publisher.stop()
    figures: dict[str, float] = {}
    for kind, group, topic in (
        ("flagger", names_.flagger_group, names_.topics.raw),
        ("sink", names_.sink_group, names_.topics.flagged),
    ):
        worker = WorkerProcess(kind, settings, namespace, work / f"isolated-{kind}.log")
        try:
            await worker.ready()
            cpu0, started = cpu_seconds(worker.pid), time.perf_counter()
            if kind == "flagger":
                await _committed_all(settings, group, topic, count_)
            else:
                while await asyncio.to_thread(count, settings, tenant) < count_:
                    await asyncio.sleep(0.05)
            elapsed, cpu = time.perf_counter() - started, cpu_seconds(worker.pid) - cpu0
        finally:
            worker.stop()
        figures[f"{kind}_us"] = cpu / count_ * 1e6
        figures[f"{kind}_rate"] = count_ / elapsed
    return figures


async def _committed_all(settings: Settings, group: str, topic: str, count_: int, timeout: float = 600) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            offsets = await admin.list_consumer_group_offsets(group)
            if sum(o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset > 0) >= count_:
                return
            await asyncio.sleep(0.05)
        raise SystemExit(f"{group} did not commit {count_} records of {topic} in {timeout} s")
    finally:
        await admin.close()


class WorkerProcess:
    """``python -m processors KIND --namespace NS`` with the stack's settings and a metrics port of its own."""

    def __init__(self, kind: str, settings: Settings, namespace: str, log: Path) -> None:
        (port,) = free_ports(1)
        field = "flagger_metrics_port" if kind == "flagger" else "sink_metrics_port"
        env = child_environ(dataclasses.replace(settings, **{field: port}), os.environ)
        self.port, self.log = port, log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "processors", kind, "--namespace", namespace],
                env=dict(env), stdout=out, stderr=subprocess.STDOUT,
            )
        self.pid = self.process.pid

    async def ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(http_ok, f"http://127.0.0.1:{self.port}/healthz"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start; see {self.log}")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
