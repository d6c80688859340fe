"""Whole-pipeline benchmark: ``python bench/pipeline.py [--seconds S] [--rate R] [--latency-seconds L]``
(``--only latency``: the latency run alone, after the same unmeasured warm-up; ``--only isolated``:
each worker alone on its backlog, part 4, without the load runs).

Everything on this machine, started by the project's own launcher (deploy/local ``Stack``) as
``make up`` does: Kafka, ClickHouse (chdb), ingest, query, flagger, sink, default settings.

1. Batch load: ``wrk`` (4 connections, 2 threads) posts 1,000-event JSON batches to
   ``/api/v1/send-telemetry-data/batch`` for ``--seconds``. Acked = 1,000 x the 200 answers.
   Then ClickHouse is polled (every 50 ms) until every acked event is stored: the lag after the
   last ack. CPU time of each process (utime + stime from ``/proc/PID/stat``) from before the load
   until the last row is stored, divided by the events stored: CPU µs per event per process.
2. Baselines over the same topics and rows, each a process of its own, its CPU from /proc:
   a plain aiokafka consume -> produce loop (raw topic -> a scratch topic, records as they are,
   acks=all, commit per fetch), and a plain clickhouse-connect ``raw_insert`` of the flagged
   rows (the same JSONCompactEachRow bytes, 10,000 per insert) into a scratch database.
   Before it, an unmeasured 5 s load of the same kind warms the JVM and every connection.
3. Latency: ``--rate`` single events/s (form posts, one request each) from wrk for
   ``--latency-seconds``, paced by a Lua script (wrk2-like send slots over ``rate // 20``
   connections, so the rate does not depend on the answer latency); ClickHouse is polled
   every 50 ms for the ids that became visible.
   Latency of an event = the first poll that shows it minus its ``received_at`` (the ingest's
   receive time): ingest -> queryable, "visible" being when the first poll that returned it was
   sent; split at the row's ``processed_at`` into received -> flagged and flagged -> queryable.
4. Each worker alone (``--isolated`` events, a namespace of its own on the same stack): the
   flagger over a backlog of raw events produced beforehand, then the sink over its output;
   the worker's CPU from ready until the backlog is committed (flagger) or stored (sink).
5. Prints the figures (markdown) and writes ``--output`` (default bench/RESULTS.pipeline.md).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import pipeline_parts as parts  # noqa: E402

from deploy.local import demo  # noqa: E402
from deploy.local.ports import free_ports  # noqa: E402
from deploy.local.stack import Stack, installed_services  # noqa: E402
from telemetry_core.settings import Settings  # noqa: E402

TARGETS = {"flagger": 40.0, "sink": 20.0}
TARGET_LAG_S, TARGET_P99_S = 5.0, 1.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the wrk batch load")
    parser.add_argument("--rate", type=int, default=2000, help="single events/s of the latency run")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--isolated", type=int, default=200_000, help="backlog of each worker's isolated run")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.pipeline.md")
    parser.add_argument("--only", choices=("latency", "isolated"), default=None, help="run only this part")
    parser.add_argument("--sink-seconds", type=float, default=None,
                        help="TELEMETRY_SINK_BATCH_SECONDS of the stack (default: the setting's default)")
    parser.add_argument("--flagger-seconds", type=float, default=None,
                        help="TELEMETRY_FLAGGER_BATCH_SECONDS of the stack (default: the setting's default)")
    return parser.parse_args()


def start_stack(
    work: Path, sink_seconds: float | None = None, flagger_seconds: float | None = None
) -> tuple[Stack, Settings, demo.DemoKeys, dict[str, int]]:
    ports = free_ports(8)
    settings = Settings(
        data_dir=work,
        kafka_bootstrap=f"127.0.0.1:{ports[0]}",
        kafka_controller_port=ports[1],
        clickhouse_url=f"http://127.0.0.1:{ports[2]}",
        ingest_port=ports[3],
        query_port=ports[4],
        flagger_metrics_port=ports[5],
        sink_metrics_port=ports[6],
        log_level="WARNING",
    )
    if sink_seconds is not None:
        settings = dataclasses.replace(settings, sink_batch_seconds=sink_seconds)
    if flagger_seconds is not None:
        settings = dataclasses.replace(settings, flagger_batch_seconds=flagger_seconds)
    stack = Stack(settings, tied=True, out=lambda line: print(f"[stack] {line}", file=sys.stderr))
    stack.start_servers()
    stack.prepare_data()
    prepared = demo.prepare(work)
    if prepared is None:
        raise SystemExit("no demo reference template")
    rendered, keys, _ = prepared
    demo.apply(rendered, stack.environ, stack.log_path("admin"))
    stack.start_services(installed_services())
    pids = {s.component.name: s.process.pid for s in stack.started}
    return stack, settings, keys, pids


async def run(args: argparse.Namespace, work: Path) -> str:
    load_before = os.getloadavg()
    stack, settings, keys, pids = await asyncio.to_thread(start_stack, work, args.sink_seconds, args.flagger_seconds)
    try:
        if args.only == "isolated":
            isolated = await parts.isolated_runs(settings, work, args.isolated)
            return "\n".join([*header(args, load_before, os.getloadavg()), *isolated_lines(args, isolated)])
        await parts.warm_up(settings, keys.send_key)
        # A first, unmeasured load: the JVM compiles Kafka's hot paths, every client connects.
        await parts.batch_run(settings, keys.send_key, pids, 5.0, work, group=parts.WARMUP_GROUP)
        if args.only == "latency":
            latency = await parts.latency_run(settings, keys.send_key, args.rate, args.latency_seconds, work)
            return "\n".join([*header(args, load_before, os.getloadavg()), *latency_lines(args, latency)])
        batch = await parts.batch_run(settings, keys.send_key, pids, args.seconds, work)
        stored = batch["stored"]
        assert isinstance(stored, int)
        baselines = await parts.baselines(settings, pids["clickhouse"], stored)
        isolated = await parts.isolated_runs(settings, work, args.isolated)
        latency = await parts.latency_run(settings, keys.send_key, args.rate, args.latency_seconds, work)
    finally:
        await asyncio.to_thread(stack.stop)
    return report(args, load_before, os.getloadavg(), batch, baselines, isolated, latency)


def report(
    args: argparse.Namespace,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
    batch: dict[str, object],
    baselines: dict[str, float],
    isolated: dict[str, float],
    latency: dict[str, float],
) -> str:
    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    cpu = batch["cpu_us_per_event"]
    assert isinstance(cpu, dict)
    names = ["ingest", "kafka", "clickhouse", "flagger", "sink"]
    lines = [
        *header(args, load_before, load_after),
        f"## Batch load: wrk, 4 connections, 1,000-event batches, {args.seconds:g} s",
        "",
        f"- acked: {batch['acked']:,} events at {batch['acked_rate']:,.0f} events/s; "
        f"stored: {batch['stored']:,} at {batch['stored_rate']:,.0f} events/s (first request to last row)",
        f"- lag after the last ack (last row stored): **{batch['lag_s']:.2f} s** "
        f"(target ≤ {TARGET_LAG_S:g} s: {verdict(float(str(batch['lag_s'])) <= TARGET_LAG_S)})",
        f"- non-200 answers: {batch['errors']}",
        "",
        "CPU time per stored event, per process (utime + stime from /proc/PID/stat over the run):",
        "",
        "| " + " | ".join(names) + " | total |",
        "|" + "---|" * (len(names) + 1),
        "| " + " | ".join(f"{cpu[n]:.1f} µs" for n in names) + f" | {sum(cpu[n] for n in names):.1f} µs |",
        "",
        "| worker | CPU µs/event | target | verdict |",
        "|---|---|---|---|",
        *(f"| {n} | {cpu[n]:.1f} | ≤ {t:g} | {verdict(cpu[n] <= t)} |" for n, t in TARGETS.items()),
        "",
        "Baselines over the same topics and rows (each its own process, CPU from /proc):",
        "",
        "| baseline | CPU µs/event | ClickHouse CPU µs/event | events/s |",
        "|---|---|---|---|",
        f"| plain aiokafka consume -> produce, raw topic -> scratch topic | {baselines['kafka_loop_us']:.1f} | "
        f"| {baselines['kafka_loop_rate']:,.0f} |",
        f"| plain clickhouse-connect raw_insert of the flagged rows (10,000 per insert) | "
        f"{baselines['insert_us']:.1f} | {baselines['insert_clickhouse_us']:.1f} | {baselines['insert_rate']:,.0f} |",
        "",
        *isolated_lines(args, isolated),
        *latency_lines(args, latency),
    ]
    return "\n".join(lines)


def isolated_lines(args: argparse.Namespace, isolated: dict[str, float]) -> list[str]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    return [
        f"Each worker alone on a backlog of {args.isolated:,} events (same stack, its own namespace; CPU of the "
        "worker process from ready until the whole backlog is committed / stored):",
        "",
        "| worker | CPU µs/event | events/s | target | verdict |",
        "|---|---|---|---|---|",
        *(
            f"| {n} | {isolated[n + '_us']:.1f} | {isolated[n + '_rate']:,.0f} | ≤ {t:g} | "
            f"{verdict(isolated[n + '_us'] <= t)} |"
            for n, t in TARGETS.items()
        ),
        "",
    ]


def header(args: argparse.Namespace, load_before: tuple[float, ...], load_after: tuple[float, ...]) -> list[str]:
    only = f" --only {args.only}" if args.only else ""
    only += f" --sink-seconds {args.sink_seconds:g}" if args.sink_seconds is not None else ""
    only += f" --flagger-seconds {args.flagger_seconds:g}" if args.flagger_seconds is not None else ""
    return [
        "# Pipeline benchmark (issue 8)",
        "",
        f"Command: `python bench/pipeline.py --seconds {args.seconds:g} --rate {args.rate} "
        f"--latency-seconds {args.latency_seconds:g} --isolated {args.isolated}{only}`",
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {platform.node()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; load average before {load_before[0]:.2f} "
        f"(5 min {load_before[1]:.2f}), after {load_after[0]:.2f}",
        "Stack: deploy/local launcher, default settings, everything on this machine.",
        "",
    ]


def latency_lines(args: argparse.Namespace, latency: dict[str, float]) -> list[str]:
    met = "met" if latency["p99"] <= TARGET_P99_S else "**not met**"
    return [
        f"## Latency: {args.rate:,} single events/s for {args.latency_seconds:g} s (received -> row visible)",
        "",
        f"- wrk (paced, {latency['connections']:.0f} connections) answered {latency['sent']:,.0f} requests at "
        f"{latency['achieved_rate']:,.0f} requests/s ({latency['non_2xx']:.0f} not 200); stored "
        f"{latency['stored']:,.0f}; every stored event seen by the poller: {latency['all_visible']:.0f}",
        f"- ingest -> queryable: p50 {latency['p50']:.3f} s, p90 {latency['p90']:.3f} s, "
        f"**p99 {latency['p99']:.3f} s**, max {latency['max']:.3f} s (target p99 ≤ {TARGET_P99_S:g} s: {met})",
        f"- received -> flagged (ingest, Kafka, the flagger's fetch, window and work): p50 "
        f"{latency['flagger_p50']:.3f} s, p90 {latency['flagger_p90']:.3f} s, p99 {latency['flagger_p99']:.3f} s",
        f"- flagged -> queryable (Kafka, the sink's fetch, window and insert): p50 {latency['sink_p50']:.3f} s, "
        f"p90 {latency['sink_p90']:.3f} s, p99 {latency['sink_p99']:.3f} s; {latency['inserts']:.0f} sink inserts "
        f"during the run, {latency['insert_ms']:.0f} ms each on average",
        "",
    ]


def main() -> int:
    args = parse_args()
    if subprocess.run(["which", "wrk"], capture_output=True, check=False).returncode != 0:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        text = asyncio.run(run(args, Path(tmp)))
    print(text)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
