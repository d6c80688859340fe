"""The local cluster topology end to end and under faults, on one cluster brought up by the
launcher's own start sequence (module fixture ``cluster``).

First: the summary names every process and its two curl commands work as printed (send through
either ingest process, read back through the query service, which reads the Distributed table
over both shards). Then faults under load: each test drives steady traffic through the two
ingest processes, injects one fault, and checks through the Distributed table that every
acknowledged event is stored exactly once (rows without FINAL = distinct ids = hourly count,
and both shards hold some): a Kafka node SIGKILLed (and brought back), a ClickHouse shard down
for 10 s, the shard the sinks talk to SIGKILLed while an insert runs, a flagger replica added
and another removed mid-stream.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import time
import urllib.parse
import urllib.request

from cluster_harness import Cluster, Load, eventually, in_sync_replicas, stored_once

from deploy.local.summary import summary
from telemetry_core import topics


def test_the_printed_first_event_commands_work(cluster: Cluster) -> None:
    text = summary(cluster.settings, cluster.report)
    assert "(cluster topology)" in text and "2 processes sharing the port" in text
    assert cluster.settings.kafka_bootstrap.count(",") == 2 and len(cluster.settings.shard_urls) == 2
    lines = text.splitlines()
    send = lines[lines.index("send a first event:") + 1].strip()
    read = lines[lines.index("read it back (after a second or two):") + 1].strip()

    for _ in range(4):
        sent = json.loads(subprocess.run(shlex.split(send), capture_output=True, check=True, timeout=30).stdout)
        assert sent["response"]["code"] == 830, sent
    deadline, data = time.monotonic() + 60, []
    while time.monotonic() < deadline and len(data) < 4:
        answer = json.loads(subprocess.run(shlex.split(read), capture_output=True, check=True, timeout=30).stdout)
        assert answer["response"]["code"] == 200, answer
        data = answer["response"]["data"]
        time.sleep(0.5)
    assert len(data) == 4 and data[0]["numeric_data_single_value"] == 50.0


def sends_logged(cluster: Cluster, name: str) -> int:
    """Access lines of ``send-telemetry-data`` in a process's log."""
    text = cluster.stack.log_path(name).read_text(errors="replace")
    return sum("send-telemetry-data" in line for line in text.splitlines())


async def test_a_kafka_node_killed_mid_load_loses_nothing_and_rejoins(cluster: Cluster) -> None:
    load = Load(cluster, "fault-broker")
    load.start()
    await load.until(150)
    cluster.stack.kill("kafka-2")
    killed_at, before = time.monotonic(), len(load.acked)
    await load.until(before + 150, timeout=60)  # with two of three nodes in sync
    print(f"[fault] 150 more acks {time.monotonic() - killed_at:.1f} s after the kill; "
          f"slowest answer {load.slowest:.1f} s", flush=True)
    await asyncio.to_thread(cluster.stack.relaunch, "kafka-2")
    await asyncio.sleep(2)
    await load.stop()
    assert load.refused() == {}, f"not every answer was 830: {sorted(set(load.refused().values()))}"
    assert sends_logged(cluster, "ingest-1") > 50 and sends_logged(cluster, "ingest-2") > 50, "both processes serve"
    await stored_once(cluster, "fault-broker", load.acked)

    async def rejoined() -> bool:
        isr = await in_sync_replicas(cluster.settings.kafka_bootstrap, [topics.RAW, topics.FLAGGED])
        return min(isr) == 3

    await eventually(rejoined, 90, "kafka-2 back in every ISR")


async def test_a_shard_down_for_ten_seconds_delays_but_loses_and_duplicates_nothing(cluster: Cluster) -> None:
    load = Load(cluster, "fault-shard-down")
    load.start()
    await load.until(100)
    cluster.stack.kill("clickhouse-2")
    await asyncio.sleep(10)
    await asyncio.to_thread(cluster.stack.relaunch, "clickhouse-2")
    await asyncio.sleep(2)
    await load.stop()
    assert load.refused() == {}
    assert cluster.stack.first_exited() is None, "the sinks waited instead of exiting"
    # A shard dying mid-insert answers ATTEMPT_TO_READ_AFTER_EOF after the live shard stored its
    # part: the sink must retry that insert whole (same token), not halve it (new tokens), or the
    # hourly aggregate counts the live shard's part twice (it did, until the sink stopped taking
    # that code for a data error).
    await stored_once(cluster, "fault-shard-down", load.acked)


def inserts_running(url: str) -> int:
    sql = "SELECT count() FROM system.processes WHERE query_kind = 'Insert'"
    request = f"{url}/?" + urllib.parse.urlencode({"query": sql})
    with urllib.request.urlopen(request, timeout=2) as response:
        return int(response.read().strip() or 0)


async def test_the_shard_killed_while_an_insert_is_in_flight_dedups_the_retry(cluster: Cluster) -> None:
    load = Load(cluster, "fault-insert-in-flight", workers=10)
    load.start()
    await load.until(100)
    url = cluster.settings.shard_urls[0]
    deadline = time.monotonic() + 30
    caught = False
    while time.monotonic() < deadline and not caught:
        caught = await asyncio.to_thread(inserts_running, url) > 0
    cluster.stack.kill("clickhouse-1")  # the shard the sinks insert through, mid-insert if caught
    print(f"[fault] insert in flight when killed: {caught}", flush=True)
    await asyncio.sleep(3)
    await asyncio.to_thread(cluster.stack.relaunch, "clickhouse-1")
    await asyncio.sleep(2)
    await load.stop()
    assert load.refused() == {}
    assert caught, "no insert was seen running within 30 s"
    await stored_once(cluster, "fault-insert-in-flight", load.acked)


async def test_a_flagger_replica_added_and_one_removed_mid_stream(cluster: Cluster) -> None:
    load = Load(cluster, "fault-rebalance")
    load.start()
    await load.until(100)
    added = await asyncio.to_thread(cluster.stack.add_replica, "flagger", 3)
    await asyncio.sleep(4)
    await asyncio.to_thread(cluster.stack.stop_one, "flagger-1")
    await asyncio.sleep(4)
    await load.stop()
    assert load.refused() == {}
    await stored_once(cluster, "fault-rebalance", load.acked)
    assert cluster.stack.find(added).process.poll() is None
