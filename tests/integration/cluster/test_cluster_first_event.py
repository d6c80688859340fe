"""The cluster topology end to end: the launcher's summary names every process, and its two
curl commands work as printed (send an event through either ingest process, read it back
through the query service, which reads the Distributed table over both shards)."""

from __future__ import annotations

import json
import shlex
import subprocess
import time

from cluster_harness import Cluster

from deploy.local.summary import summary


def test_the_printed_first_event_commands_work(cluster: Cluster) -> None:
    text = summary(cluster.settings, cluster.report)
    assert "(cluster topology)" in text and "2 processes sharing the port" in text
    assert cluster.settings.kafka_bootstrap.count(",") == 2 and len(cluster.settings.shard_urls) == 2
    lines = text.splitlines()
    send = lines[lines.index("send a first event:") + 1].strip()
    read = lines[lines.index("read it back (after a second or two):") + 1].strip()

    for _ in range(4):  # several connections: both ingest processes answer
        sent = json.loads(subprocess.run(shlex.split(send), capture_output=True, check=True, timeout=30).stdout)
        assert sent["response"]["code"] == 830, sent
    deadline, data = time.monotonic() + 60, []
    while time.monotonic() < deadline and len(data) < 4:
        answer = json.loads(subprocess.run(shlex.split(read), capture_output=True, check=True, timeout=30).stdout)
        assert answer["response"]["code"] == 200, answer
        data = answer["response"]["data"]
        time.sleep(0.5)
    assert len(data) == 4 and data[0]["numeric_data_single_value"] == 50.0

