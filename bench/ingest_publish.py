"""Publisher-only benchmark (not a test): the ingest's publisher (``ingest_publisher``: the
flusher over ``KafkaPublisher``), CPU per event, no HTTP.

    .venv/bin/python bench/ingest_publish.py [--concurrency 64] [--count 20000] [--rounds 4]

Starts a local Kafka with the deploy launcher (or uses TEST_KAFKA_BOOTSTRAP), then runs
``--concurrency`` tasks that each publish one 36-byte key and a 420-byte value at a time and
wait for the acknowledgement, as ingest's handlers do. Per round it prints the CPU time of this
process per event (user + system; the key generation is timed separately and subtracted) and
events/s. The broker shares the machine, so events/s moves with the background load; CPU per
event is the steadier figure. Run it from two checkouts against one TEST_KAFKA_BOOTSTRAP to
compare publishers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import start_kafka  # noqa: E402
from deploy.local.ports import free_ports  # noqa: E402
from ingest_api.flusher import RecordFlusher, ingest_publisher  # noqa: E402
from telemetry_core.kafka_admin import ensure_topics  # noqa: E402
from telemetry_core.kafka_publisher import OutRecord  # noqa: E402
from telemetry_core.settings import Settings  # noqa: E402
from telemetry_core.topics import RAW  # noqa: E402

VALUE = b"v" * 420


async def publish_all(publisher: RecordFlusher, concurrency: int, count: int) -> None:
    async def worker(n: int) -> None:
        for _ in range(n):
            await publisher.publish([OutRecord(RAW, str(uuid.uuid4()).encode(), VALUE)])

    await asyncio.gather(*(worker(count // concurrency) for _ in range(concurrency)))


async def measure(settings: Settings, args: argparse.Namespace) -> None:
    publisher = ingest_publisher(settings)
    await publisher.start()
    while publisher.readiness() is not None:
        await asyncio.sleep(0.05)
    await publish_all(publisher, args.concurrency, args.warmup)
    count = args.count // args.concurrency * args.concurrency
    for round_ in range(1, args.rounds + 1):
        cpu, wall = time.process_time(), time.perf_counter()
        await publish_all(publisher, args.concurrency, count)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        keys = time.process_time()
        for _ in range(count):
            str(uuid.uuid4()).encode()
        cpu -= time.process_time() - keys
        load = os.getloadavg()[0]
        print(f"round {round_}: {cpu / count * 1e6:.1f} us CPU/event, {count / wall:.0f} events/s, load {load:.1f}")
    await publisher.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--count", type=int, default=20_000, help="events per round")
    parser.add_argument("--warmup", type=int, default=40_000, help="unmeasured events first (broker JIT)")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        kafka_port, controller_port = free_ports(2)
        bootstrap = os.environ.get("TEST_KAFKA_BOOTSTRAP") or f"127.0.0.1:{kafka_port}"
        settings = Settings(data_dir=Path(tmp), kafka_bootstrap=bootstrap, kafka_controller_port=controller_port)
        kafka = None if os.environ.get("TEST_KAFKA_BOOTSTRAP") else start_kafka(settings)
        try:
            asyncio.run(ensure_topics(settings))
            asyncio.run(measure(settings, args))
        finally:
            if kafka is not None:
                kafka.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
