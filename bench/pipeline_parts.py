"""The measured runs of ``bench/pipeline.py``: batch load with wrk, baselines, latency."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import statistics
import time
import uuid
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from telemetry_core import topics
from telemetry_core.clickhouse.connection import connect
from telemetry_core.clickhouse.migrate import apply_migrations
from telemetry_core.clickhouse.rows import EVENT_COLUMNS, ROW_FORMAT
from telemetry_core.settings import Settings

CLK_TCK = os.sysconf("SC_CLK_TCK")
BATCH_GROUP, LATENCY_GROUP = "bench-batch", "bench-latency"
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
    async with aiohttp.ClientSession() as session, session.post(url, data=data) as response:
        assert response.status == 200, await response.text()
    deadline = time.monotonic() + 60
    while await asyncio.to_thread(count, settings, "bench-warmup") < 1:
        if time.monotonic() > deadline:
            raise SystemExit("the warm-up event never reached ClickHouse")
        await asyncio.sleep(0.1)


def _wrk_script(work: Path, key: str) -> Path:
    events = [
        {**FIELDS, "numeric_data_single_value": str(i), "user_identifier": f"u-{i % 97}", "data_group": BATCH_GROUP}
        for i in range(1000)
    ]
    (work / "batch.json").write_text(json.dumps(events, separators=(",", ":")))
    script = work / "batch.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
        f'local f = io.open("{work / "batch.json"}", "rb")\n'
        "wrk.body = f:read('*a')\nf:close()\n"
    )
    return script


async def batch_run(
    settings: Settings, key: str, pids: dict[str, int], seconds: float, work: Path
) -> dict[str, object]:
    script = _wrk_script(work, key)
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
        stored = await asyncio.to_thread(count, settings, BATCH_GROUP)
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


async def latency_run(settings: Settings, key: str, rate: int, seconds: float) -> dict[str, float]:
    """``rate`` single form posts per second, each sent at its scheduled time by one of 64
    connection loops; each event's latency from the moment its request was sent until a
    ClickHouse poll first shows its id."""
    url = f"http://127.0.0.1:{settings.ingest_port}/api/v1/send-telemetry-data"
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    total = int(rate * seconds)
    acked = 0
    next_index = 0

    async def connection(session: aiohttp.ClientSession) -> None:
        nonlocal acked, next_index
        while next_index < total:
            i, next_index = next_index, next_index + 1
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            event_id = str(uuid.uuid4())
            sent[event_id] = time.perf_counter()
            data = {**FIELDS, "api_key": key, "data_group": LATENCY_GROUP, "event_id": event_id}
            async with session.post(url, data=data) as response:
                await response.read()
                acked += response.status == 200

    poller = asyncio.create_task(_poll_ids(settings, sent, seen, total))
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        await asyncio.gather(*(connection(session) for _ in range(64)))
    achieved = total / (time.perf_counter() - started)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(poller, 120)
    latencies = sorted(seen[i] - sent[i] for i in seen)
    return {
        "sent": float(total),
        "acked": float(acked),
        "achieved_rate": achieved,
        "all_visible": float(len(seen) == total),
        "p50": statistics.median(latencies),
        "p90": latencies[int(0.90 * (len(latencies) - 1))],
        "p99": latencies[int(0.99 * (len(latencies) - 1))],
        "max": latencies[-1],
    }


async def _poll_ids(settings: Settings, sent: dict[str, float], seen: dict[str, float], total: int) -> None:
    client = await asyncio.to_thread(connect, settings)
    sql = (
        "SELECT event_id FROM events WHERE data_group = {g:String} "
        "AND received_at >= now64(3) - toIntervalSecond({back:UInt32})"
    )
    try:
        while len(seen) < total:
            result = await asyncio.to_thread(client.query, sql, parameters={"g": LATENCY_GROUP, "back": 10})
            now = time.perf_counter()
            for (event_id,) in result.result_rows:
                if event_id not in seen and event_id in sent:
                    seen[event_id] = now
            await asyncio.sleep(0.05)
    finally:
        client.close()
