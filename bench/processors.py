"""Processors benchmark: ``python bench/processors.py [--events N] [--rate R] [--seconds S]``.

1. Kafka and ClickHouse: ``TEST_KAFKA_BOOTSTRAP`` / ``TEST_CLICKHOUSE_URL`` when set, else the
   deploy/local launchers (single-node Kafka, chdb ClickHouse) with their data in a temp folder.
2. Flagger: N RawEvents in a fresh namespace's raw topic (``--partitions``, default 6). Baseline:
   a plain aiokafka loop doing the same work (getmany -> the same ``flag_batch`` -> the same
   acks=all publisher -> commit). Worker: ``python -m processors flagger`` with the default
   batch settings; events/s from the moment it is ready (joined its group, loaded the reference
   data) until its metrics show the last batch written.
   Faust floor: ``bench/processors_floor.py``, the same faust app and stream adapter doing
   nothing with the messages: what faust's per-message dispatch costs before any work.
3. Sink: the flagger's output (N flagged records). Baseline: the same rows, built beforehand,
   inserted with clickhouse-connect in batches of ``sink_batch_size``. Worker:
   ``python -m processors sink`` into another fresh database.
4. End to end at ``--rate`` events/s for ``--seconds``: both workers running, RawEvents produced
   straight to the raw topic (not through the ingest service); latency of the k-th event = the
   first ``count()`` poll (every 50 ms) showing k rows minus the moment it was handed to the
   producer (assumes rows become visible roughly in production order).
5. Prints the figures and writes ``--output`` (default ``bench/RESULTS.processors.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import platform
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import processors_runs as runs  # noqa: E402

from deploy.local.ports import free_ports  # noqa: E402
from deploy.local.stack import Stack  # noqa: E402
from processors.app import names  # noqa: E402
from processors.batch import OutRecord  # noqa: E402
from telemetry_core.admin.topic_io import write_records  # noqa: E402
from telemetry_core.clickhouse.migrate import apply_migrations  # noqa: E402
from telemetry_core.events import encode_raw  # noqa: E402
from telemetry_core.kafka_admin import ensure_topics  # noqa: E402
from telemetry_core.reference import encode_entity  # noqa: E402
from telemetry_core.settings import Settings  # noqa: E402

TARGET_RATE, TARGET_RATIO, TARGET_P99 = 20_000, 0.5, 2.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events for the throughput runs")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rate", type=int, default=2000, help="events/s of the end-to-end run")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the end-to-end run")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.processors.md")
    return parser.parse_args()


def servers(work: Path, partitions: int) -> tuple[Settings, Stack | None]:
    kafka, controller, clickhouse = free_ports(3)
    settings = Settings(
        data_dir=work,
        kafka_bootstrap=os.environ.get("TEST_KAFKA_BOOTSTRAP") or f"127.0.0.1:{kafka}",
        kafka_controller_port=controller,
        clickhouse_url=os.environ.get("TEST_CLICKHOUSE_URL") or f"http://127.0.0.1:{clickhouse}",
        clickhouse_database=f"bench_proc_{uuid.uuid4().hex[:6]}",
        topic_partitions=partitions,
        log_level="WARNING",
    )
    launch_kafka, launch_clickhouse = (
        not os.environ.get("TEST_KAFKA_BOOTSTRAP"),
        not os.environ.get("TEST_CLICKHOUSE_URL"),
    )
    if not (launch_kafka or launch_clickhouse):
        return settings, None
    stack = Stack(settings, tied=True, kafka_heap="512m", out=lambda line: print(f"[servers] {line}", file=sys.stderr))
    stack.start_servers(kafka=launch_kafka, clickhouse=launch_clickhouse)
    return settings, stack


async def throughput(settings: Settings, work: Path, count: int) -> dict[str, float]:
    ns = f"tp{uuid.uuid4().hex[:6]}"
    stream_names = names(ns)
    await ensure_topics(settings)
    await write_records(settings, [encode_entity(e) for e in runs.REFERENCE])
    await runs.create_topics(settings, stream_names)
    events = runs.raw_events(count)
    await runs.publish(
        settings, [OutRecord(stream_names.topics.raw, e.event_id.encode(), encode_raw(e)) for e in events]
    )
    figures = {"flagger_baseline": await runs.flagger_baseline(settings, stream_names, count)}
    figures["faust_floor"] = await asyncio.to_thread(runs.faust_floor, settings, ns, count)
    flagger = runs.WorkerRun("flagger", settings, ns, work / "flagger.log")
    try:
        await flagger.ready()
        figures["flagger"] = await flagger.rate("telemetry_flagger_batch_size_sum", count)
    finally:
        flagger.stop()
    flagged = [r.value for r in await runs.read_topic(settings, stream_names.topics.flagged, count)]
    base_db = dataclasses.replace(settings, clickhouse_database=settings.clickhouse_database + "_base")
    apply_migrations(base_db)
    figures["sink_baseline"] = await asyncio.to_thread(runs.sink_baseline, base_db, flagged)
    sink = runs.WorkerRun("sink", settings, ns, work / "sink.log")
    try:
        await sink.ready()
        figures["sink"] = await sink.rate("telemetry_sink_batch_size_sum", count)
    finally:
        sink.stop()
    return figures


def report(args: argparse.Namespace, load: float, tp: dict[str, float], e2e: dict[float, dict[str, float]]) -> str:
    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    rows = []
    for name, key in (("flagger worker", "flagger"), ("sink worker", "sink")):
        rate, base = tp[key], tp[f"{key}_baseline"]
        verdicts = f"{verdict(rate >= TARGET_RATE)} / {verdict(rate / base >= TARGET_RATIO)}"
        rows.append(
            f"| {name} | {rate:,.0f} | {base:,.0f} | {rate / base:.0%} | ≥ {TARGET_RATE:,} and ≥ 50 % | {verdicts} |"
        )
    lines = [
        "# Processors benchmark",
        "",
        f"Command: `python bench/processors.py --events {args.events} --partitions {args.partitions} "
        f"--rate {args.rate} --seconds {args.seconds:g}`",
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {platform.node()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; load average before the run: {load:.1f}",
        f"Kafka: {os.environ.get('TEST_KAFKA_BOOTSTRAP') or 'deploy/local launcher'}; "
        f"ClickHouse: {os.environ.get('TEST_CLICKHOUSE_URL') or 'deploy/local chdb server'} (same machine)",
        "",
        "| run | events/s | baseline events/s | ratio | target | verdict |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Faust floor: an agent of the same faust app that does nothing with the messages reads "
        f"{tp['faust_floor']:,.0f} messages/s on this machine; both workers pay that before any work.",
        "",
        f"End to end (raw topic -> visible in ClickHouse), RawEvents produced straight to the raw topic at "
        f"{args.rate}/s for {args.seconds:g} s; latency in seconds (steady = without the first third of the run):",
        "",
        "| sink batch window | events | p50 | p99 | max | steady p50 | steady p99 | sink age p99 bucket | p99 ≤ 2 s |",
        "|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {window:g} s | {r['events']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['max']:.2f} | "
            f"{r['steady_p50']:.2f} | {r['steady_p99']:.2f} | ≤ {r['age_p99_bucket']:g} | "
            f"{verdict(r['p99'] <= TARGET_P99)} |"
            for window, r in e2e.items()
        ),
    ]
    return "\n".join(lines) + "\n"


async def run(args: argparse.Namespace, settings: Settings, work: Path) -> str:
    load = os.getloadavg()[0]
    apply_migrations(settings)
    tp = await throughput(settings, work, args.events)
    e2e = {}
    for window in (settings.sink_batch_seconds, 0.5):  # the default, and a shorter batch window
        tuned = dataclasses.replace(settings, sink_batch_seconds=window)
        e2e[window] = await runs.end_to_end(tuned, work, args.rate, args.seconds)
    return report(args, load, tp, e2e)


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-processors-") as tmp:
        work = Path(tmp)
        settings, stack = servers(work, args.partitions)
        try:
            text = asyncio.run(run(args, settings, work))
        finally:
            if stack is not None:
                stack.stop()
    print(text)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
