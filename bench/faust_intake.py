"""How records can reach a faust worker, side by side: ``python bench/faust_intake.py [--messages N]``.

Starts a local Kafka (deploy/local launcher), writes N raw-sized records (~560 bytes, 6
partitions) once, then consumes all of them in a fresh consumer group per way, each in its own
process doing nothing with the records, and prints that process's CPU time per record (from
``time.process_time``: every thread, faust's consumer thread included) and the rate:

- ``stream``: a faust agent iterating its stream one event at a time (faust's default);
- ``take``: the same agent with ``stream.take(1000, within=0.2)`` (faust's batching helper);
- ``getmany``: faust's consumer, our drain calling its public ``Consumer.getmany()`` generator
  and handing each fetch over as a list (faust's per-record ``Message`` and tracking kept);
- ``batch``: ``processors.intake.BatchConsumer``, what the workers use (whole fetches as lists
  of ``SourceMessage``, straight from the consumer thread's records);
- ``aiokafka``: a plain aiokafka consumer's ``getmany`` loop, no faust (the floor).

``python bench/faust_intake.py --mode MODE --topic T --count N`` runs one way (used by the above).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

MODES = ("stream", "take", "getmany", "batch", "aiokafka")


class Counter:
    def __init__(self, count: int) -> None:
        self.count, self.seen, self.cpu0, self.t0 = count, 0, 0.0, 0.0

    def add(self, n: int) -> None:
        if not self.seen:
            self.cpu0, self.t0 = time.process_time(), time.perf_counter()
        self.seen += n
        if self.seen >= self.count:
            cpu, wall = time.process_time() - self.cpu0, time.perf_counter() - self.t0
            print(f"RESULT {cpu / self.seen * 1e6:.2f} {self.seen / wall:.0f}", flush=True)
            os._exit(0)


def run_faust(mode: str, topic_name: str, count: int) -> None:
    import faust
    import mode as mode_lib

    from processors.app import create_app
    from processors.intake import BatchConsumer, BatchTransport, use_batch_intake
    from telemetry_core.settings import Settings

    settings = Settings.from_env(os.environ)
    app = create_app(settings, f"bench-intake-{mode}-{uuid.uuid4().hex[:6]}")
    counter = Counter(count)

    async def handler(messages: Any) -> None:
        counter.add(len(messages))

    if mode in ("stream", "take"):
        topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw", acks=False)

        async def agent(stream: Any) -> None:
            if mode == "stream":
                async for _ in stream:
                    counter.add(1)
            else:
                async for values in stream.take(1000, within=0.2):
                    counter.add(len(values))

        app.agent(topic, name="bench", supervisor_strategy=mode_lib.CrashingSupervisor)(agent)
    elif mode == "batch":
        use_batch_intake(app, topic_name, handler)
    else:  # getmany: faust's public generator, fetch by fetch

        class GetmanyConsumer(BatchConsumer):
            async def _drain_messages(self, fetcher: Any) -> None:
                while not (self.should_stop or fetcher.should_stop):
                    messages = [message async for _, message in self.getmany(timeout=1.0)]
                    if messages:
                        await handler(messages)

        class GetmanyTransport(BatchTransport):
            Consumer = GetmanyConsumer

        app.transport = GetmanyTransport(app, handler)
        app.topics.add(app.topic(topic_name, key_serializer="raw", value_serializer="raw", acks=False))
    faust.Worker(app, loglevel="warn", quiet=True, redirect_stdouts=False).execute_from_commandline()


async def run_aiokafka(bootstrap: str, topic: str, count: int) -> None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"bench-intake-plain-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=5000,
    )
    await consumer.start()
    counter = Counter(count)
    while True:
        for records in (await consumer.getmany(timeout_ms=1000)).values():
            counter.add(len(records))


def one(args: argparse.Namespace) -> int:
    if args.mode == "aiokafka":
        asyncio.run(run_aiokafka(os.environ["TELEMETRY_KAFKA_BOOTSTRAP"], args.topic, args.count))
    else:
        run_faust(args.mode, args.topic, args.count)
    return 1


async def produce(bootstrap: str, topic: str, count: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from telemetry_core.kafka_publisher import KafkaPublisher, OutRecord
    from telemetry_core.settings import Settings

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 6, 1)])
    finally:
        await admin.close()
    publisher = KafkaPublisher(Settings(kafka_bootstrap=bootstrap), "bench-intake")
    await publisher.start()
    try:
        value = b"x" * 560
        for start in range(0, count, 20_000):
            await publisher.publish(
                [OutRecord(topic, str(uuid.uuid4()).encode(), value) for _ in range(min(20_000, count - start))]
            )
    finally:
        await publisher.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--mode", choices=MODES)
    parser.add_argument("--topic")
    parser.add_argument("--count", type=int)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.faust_intake.md")
    args = parser.parse_args()
    if args.mode:
        return one(args)

    from deploy.local.ports import free_ports
    from deploy.local.stack import Stack
    from telemetry_core.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        kafka, controller = free_ports(2)
        settings = Settings(data_dir=Path(tmp), kafka_bootstrap=f"127.0.0.1:{kafka}", kafka_controller_port=controller)
        stack = Stack(settings, tied=True, out=lambda line: print(f"[stack] {line}", file=sys.stderr))
        stack.start_servers(kafka=True, clickhouse=False)
        try:
            topic = f"bench.intake.{uuid.uuid4().hex[:6]}"
            asyncio.run(produce(settings.kafka_bootstrap, topic, args.messages))
            env = {**os.environ, **{f"TELEMETRY_{k.upper()}": str(v) for k, v in dataclasses.asdict(settings).items()
                                    if k in ("data_dir", "kafka_bootstrap")}}
            results = {}
            for mode in MODES:
                argv = [sys.executable, __file__, "--mode", mode, "--topic", topic, "--count", str(args.messages)]
                done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
                line = next((ln for ln in done.stdout.splitlines() if "RESULT " in ln), None)
                if line is None:
                    raise SystemExit(f"{mode} failed:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
                cpu, rate = line.split("RESULT ", 1)[1].split()[:2]
                results[mode] = (float(cpu), float(rate))
                print(f"{mode:9} {float(cpu):7.1f} µs/record  {float(rate):9,.0f} records/s", file=sys.stderr)
        finally:
            stack.stop()
    load = os.getloadavg()
    lines = [
        "# How records reach a faust worker (issue 8, item 2)",
        "",
        f"Command: `python bench/faust_intake.py --messages {args.messages}`; "
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; load average after {load[0]:.2f} / {load[1]:.2f}",
        "",
        "| way | CPU µs per record | records/s | × the plain aiokafka floor |",
        "|---|---|---|---|",
        *(
            f"| {mode} | {cpu:.1f} | {rate:,.0f} | {cpu / results['aiokafka'][0]:.1f} |"
            for mode, (cpu, rate) in results.items()
        ),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
