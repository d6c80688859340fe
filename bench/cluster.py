"""Cluster scaling benchmark: ``python bench/cluster.py [--events N] [--seconds S]``.

Brings up ``TELEMETRY_LOCAL_TOPOLOGY=cluster`` with the launcher's own start sequence (three
Kafka nodes, two ClickHouse shards, the services) in a temp folder, then, in this one run, for
one and for two replicas/processes of each stage:

- flagger: with the workers stopped, N raw events go straight to the raw topic; the flagger
  replicas are started together, and from the moment all are ready (plus 2 s to settle the
  group) until the group has committed every event: events/s and CPU seconds per event of the
  flagger processes (utime + stime from /proc/PID/stat), and of the Kafka and ClickHouse
  processes over the same window;
- sink: the same for the flagged topic -> ClickHouse (rows counted through ``Distributed``);
- ingest: ``wrk`` POSTs the demo event for S seconds against one, then two ingest processes
  (the workers stopped): requests/s and CPU per request.

Prints the figures and writes bench/RESULTS.cluster.md with the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "integration" / "cluster")]

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from cluster_harness import Cluster, bring_up  # noqa: E402

from processors.app import FLAGGER_GROUP  # noqa: E402
from telemetry_core import topics  # noqa: E402
from telemetry_core.events import RawEvent, encode_raw  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
STAGES = {"flagger": ("flagger-1", "flagger-2"), "sink": ("sink-1", "sink-2"), "ingest": ("ingest-1", "ingest-2")}


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def pids(cluster: Cluster, prefix: str) -> list[int]:
    return [s.process.pid for s in cluster.stack.started if s.component.name.startswith(prefix)]


def stop(cluster: Cluster, names: list[str]) -> None:
    for name in names:
        if any(s.component.name == name for s in cluster.stack.started):
            cluster.stack.stop_one(name)


async def produce_raw(cluster: Cluster, count: int) -> None:
    fields = dict(cluster.fields("bench"))
    fields.pop("api_key")
    producer = AIOKafkaProducer(bootstrap_servers=cluster.settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5, max_batch_size=512 * 1024)
    await producer.start()
    try:
        now = int(time.time() * 1000)
        for start in range(0, count, 5000):
            futures = []
            for _ in range(min(5000, count - start)):
                event = RawEvent(str(uuid.uuid4()), now, "demo", "demo-send", "10.0.0.1", "bench/1.0", fields)
                futures.append(await producer.send(topics.RAW, encode_raw(event), key=event.event_id.encode()))
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def committed(cluster: Cluster) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=cluster.settings.kafka_bootstrap, group_id=FLAGGER_GROUP)
    await consumer.start()
    try:
        parts = range(cluster.settings.topic_partitions)
        return sum([await consumer.committed(TopicPartition(topics.RAW, p)) or 0 for p in parts])
    finally:
        await consumer.stop()


def stored_rows(cluster: Cluster) -> int:
    client = cluster.client()
    try:
        return int(client.query("SELECT count() FROM events WHERE data_group = 'bench'").result_rows[0][0])
    finally:
        client.close()


async def measure(
    cluster: Cluster, stage: str, names: list[str], progress: Callable[[], Awaitable[int]], target: int
) -> dict[str, float]:
    await asyncio.to_thread(cluster.stack.relaunch, *names)  # returns once they answer (ready)
    done0, t0 = await progress(), time.monotonic()
    cpu0 = [cpu_seconds(pids(cluster, p)) for p in (stage, "kafka", "clickhouse")]
    while (done := await progress()) < target:
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - t0
    cpu1 = [cpu_seconds(pids(cluster, p)) for p in (stage, "kafka", "clickhouse")]
    events = max(1, done - done0)  # the batch workers may finish a small backlog before the first look
    return {"events": events, "seconds": elapsed, "rate": events / elapsed,
            "stage_cpu_us": (cpu1[0] - cpu0[0]) / events * 1e6, "kafka_cpu_us": (cpu1[1] - cpu0[1]) / events * 1e6,
            "clickhouse_cpu_us": (cpu1[2] - cpu0[2]) / events * 1e6}


def wrk_ingest(cluster: Cluster, seconds: int, work: Path) -> dict[str, float]:
    body = urllib.parse.urlencode(cluster.fields("bench-ingest"))
    script = work / "post.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.body = "{body}"\n'
                      'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n')
    url = f"http://127.0.0.1:{cluster.settings.ingest_port}/api/v1/send-telemetry-data"
    cpu0 = cpu_seconds(pids(cluster, "ingest"))
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    cpu1 = cpu_seconds(pids(cluster, "ingest"))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"events": requests, "seconds": seconds, "rate": requests / seconds,
            "stage_cpu_us": (cpu1 - cpu0) / requests * 1e6, "errors": int(non2xx.group(1)) if non2xx else 0}


async def run(cluster: Cluster, events: int, seconds: int, work: Path) -> dict[tuple[str, int], dict[str, float]]:
    results: dict[tuple[str, int], dict[str, float]] = {}
    produced = 0
    for replicas in (1, 2):
        stop(cluster, [*STAGES["flagger"], *STAGES["sink"]])
        await produce_raw(cluster, events)
        produced += events
        names = list(STAGES["flagger"][:replicas])
        results[("flagger", replicas)] = await measure(cluster, "flagger", names, lambda: committed(cluster),
                                                       produced)
        names = list(STAGES["sink"][:replicas])
        results[("sink", replicas)] = await measure(cluster, "sink", names,
                                                    lambda: asyncio.to_thread(stored_rows, cluster), produced)
        print(replicas, results[("flagger", replicas)], results[("sink", replicas)], flush=True)
    stop(cluster, [*STAGES["flagger"], *STAGES["sink"]])
    stop(cluster, ["ingest-2"])
    results[("ingest", 1)] = await asyncio.to_thread(wrk_ingest, cluster, seconds, work)
    await asyncio.to_thread(cluster.stack.relaunch, "ingest-2")
    results[("ingest", 2)] = await asyncio.to_thread(wrk_ingest, cluster, seconds, work)
    print(results[("ingest", 1)], results[("ingest", 2)], flush=True)
    return results


def report(results: dict[tuple[str, int], dict[str, float]], args: argparse.Namespace, loads: tuple[str, str]) -> str:
    lines = [
        "# Cluster scaling (local cluster topology)", "",
        f"`python bench/cluster.py --events {args.events} --seconds {args.seconds}` on {platform.node()}, "
        f"{os.cpu_count()} cores shared with other sessions; load average before: `{loads[0]}`, after: `{loads[1]}`.",
        "Each stage is started on a backlog produced beforehand and measured from the moment its replicas "
        "answer until the backlog is committed (flagger) or stored (sink); the ingest under wrk "
        "(32 connections, single events).", "",
        "| stage | replicas | events | seconds | events/s | stage CPU µs/event | Kafka CPU µs/event | "
        "ClickHouse CPU µs/event |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (stage, n), r in results.items():
        others = " | ".join(f"{r[k]:.0f}" if k in r else "-" for k in ("kafka_cpu_us", "clickhouse_cpu_us"))
        lines.append(f"| {stage} | {n} | {int(r['events'])} | {r['seconds']:.1f} | {r['rate']:.0f} | "
                     f"{r['stage_cpu_us']:.0f} | {others} |")
    lines += ["", "Capacity (from the 2-replica CPU per event; cores = events/s x CPU s/event):", "",
              "| stage | events/s per core | cores for 100k events/s | cores for 1M events/s |",
              "| --- | --- | --- | --- |"]
    for stage in ("ingest", "flagger", "sink"):
        us = results[(stage, 2)]["stage_cpu_us"]
        lines.append(f"| {stage} | {1e6 / us:.0f} | {1e5 * us / 1e6:.0f} | {1e6 * us / 1e6:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.cluster.md")
    args = parser.parse_args()
    before = Path("/proc/loadavg").read_text().strip()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        cluster = bring_up(Path(tmp))
        try:
            results = asyncio.run(run(cluster, args.events, args.seconds, Path(tmp)))
        finally:
            cluster.stack.stop()
    text = report(results, args, (before, Path("/proc/loadavg").read_text().strip()))
    print(text)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
