"""Ingest throughput benchmark (not a test): ingest vs a bare aiohttp handler, same load, same run.

    .venv/bin/python bench/ingest.py [--load wrk] [--concurrency 64] [--seconds 8] [--rounds 5] [--batch 100]
    .venv/bin/python bench/ingest.py --load python [--count 10000]   # the older Python load generator

Starts a local Kafka with the deploy launcher (or uses TEST_KAFKA_BOOTSTRAP), creates the
topics, applies reference data, then starts three processes: ``python -m ingest_api``, the
bare-aiohttp baseline (bench/ingest_load.py baseline, answering a JSON body as large as
ingest's 830 answer) and, per phase, the load generator: ``wrk`` (bench/ingest_wrk.py; the
default, ``--concurrency`` connections for ``--seconds``) or the Python client
(bench/ingest_load.py load, ``--count`` requests). After an
unmeasured warm-up, phases alternate baseline / ingest for ``--rounds`` (alternating short
phases keeps both sides under the same background load on a shared machine), then one batch
phase. For every phase it reads from /proc the CPU time each process spent per request and
the server's peak RSS. Prints a table of figures.

Two bare handlers run: the one on the standard asyncio loop (the figure the target is stated
against) and the same handler on uvloop, the ingest's default loop (``TELEMETRY_EVENT_LOOP``),
so the table shows both the ratio to the stated baseline and the like-for-like one.
``--before DIR`` also measures ``python -m ingest_api`` of another checkout in the same rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import ingest_wrk  # noqa: E402

from deploy.local.environment import child_environ  # noqa: E402
from deploy.local.ports import free_ports  # noqa: E402
from deploy.local.processes import spawn, stop_child, wait_until  # noqa: E402
from deploy.local.stack import Stack  # noqa: E402
from telemetry_core.admin.topic_io import write_records  # noqa: E402
from telemetry_core.kafka_admin import ensure_topics  # noqa: E402
from telemetry_core.reference import ApiKey, License, Product, Tenant, encode_entity, hash_key  # noqa: E402
from telemetry_core.settings import Settings  # noqa: E402

LOAD = str(ROOT / "bench" / "ingest_load.py")
SERVER = str(ROOT / "bench" / "ingest_server.py")
SECRET = "bench-send-key"
SEND = "/api/v1/send-telemetry-data"
BEFORE = "before"  # the variant that runs ``python -m ingest_api`` of the ``--before`` checkout
EVENT = {
    "data_type": "numeric-single-value",
    "numeric_data_single_value": "50",
    "product_id": "1",
    "user_identifier": "554dddsqfqs4dqd5qsd74q",
    "license_key": "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541",
    "activation_identifier": "12135644",
    "product_version": "1.0.1",
    "data_group": "test_group",
}


def start_kafka(settings: Settings) -> Stack:
    """A local single-node Kafka from the deploy launcher (ClickHouse is not needed here)."""
    launcher = Stack(settings, tied=True, kafka_heap="512m", out=lambda line: print(f"[kafka] {line}", file=sys.stderr))
    try:
        launcher.start_servers(kafka=True, clickhouse=False)
    except BaseException:
        launcher.stop()
        raise
    return launcher


async def prepare_kafka(settings: Settings) -> None:
    await ensure_topics(settings)
    entities = [
        Tenant("bench"),
        ApiKey("bench-send", "bench", hash_key(SECRET), frozenset({"telemetry:send"})),
        Product("bench", "1", "Bench", frozenset({"1.0.1"})),
        License("bench", EVENT["license_key"], "1", "active", frozenset({"12135644"})),
    ]
    await write_records(settings, [encode_entity(e) for e in entities])


def start_ingest(settings: Settings, variant: str = "ingest", tree: Path = ROOT) -> subprocess.Popen[bytes]:
    """``python -m ingest_api`` (variant ``ingest``) or bench/ingest_server.py ``variant``; ``tree``
    is the checkout it runs from (``-m`` finds the packages of the working directory first)."""
    env = child_environ(settings, os.environ)
    if tree != ROOT:  # an older checkout refuses settings it does not have yet
        known = (tree / "telemetry_core" / "settings.py").read_text()
        env = {k: v for k, v in env.items() if not k.startswith("TELEMETRY_") or f"    {k[10:].lower()}:" in known}
    argv = [sys.executable, "-m", "ingest_api"] if variant in ("ingest", BEFORE) else [sys.executable, SERVER, variant]
    log_path = settings.data_dir / f"{variant}.log"
    process = spawn(argv, log_path, env=env, cwd=tree)
    url = f"http://127.0.0.1:{settings.ingest_port}/readyz"
    wait_until(variant, lambda: _ok(url), 90, process=process, log_path=log_path)
    return process


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except OSError:
        return False


def answer_size(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return len(response.read())


class RssSampler:
    """Samples VmRSS of ``pid`` every 0.2 s while running; ``peak_mb`` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_mb, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak_mb = max(self.peak_mb, proc_status_mb(self.pid, "VmRSS"))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def proc_status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of ``pid`` so far (0 when unknown)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(url: str, body_file: Path, content_type: str, args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    if args.load == "wrk":
        lua = ingest_wrk.script(body_file.parent, body_file, content_type, extra.get("bearer", ""))
        seconds = extra.get("seconds", args.seconds)
        return ingest_wrk.run_wrk(url, lua, extra.get("concurrency", args.concurrency), seconds)
    argv = [sys.executable, LOAD, "load", "--url", url, "--body-file", str(body_file), "--content-type", content_type]
    argv += ["--concurrency", str(extra.get("concurrency", args.concurrency))]
    argv += ["--count", str(extra.get("count", args.count)), "--warmup", str(extra.get("warmup", args.warmup))]
    if extra.get("bearer"):
        argv += ["--bearer", extra["bearer"]]
    done = subprocess.run(argv, capture_output=True, check=True, text=True, timeout=900)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def phase(server_pid: int, kafka_pid: int | None, *load: Any, **extra: Any) -> dict[str, Any]:
    """One load run, plus the CPU each process spent per request and the server's peak RSS."""
    before = (cpu_seconds(server_pid), cpu_seconds(kafka_pid), os.times())
    with RssSampler(server_pid) as rss:
        found = run_load(*load, **extra)
    after = (cpu_seconds(server_pid), cpu_seconds(kafka_pid), os.times())
    sent = found["requests"] + (extra.get("warmup", load[3].warmup) if load[3].load == "python" else 0)
    loadgen = (after[2].children_user + after[2].children_system) - (
        before[2].children_user + before[2].children_system
    )
    server, kafka = (round((a - b) / sent * 1e6) for a, b in ((after[0], before[0]), (after[1], before[1])))
    found["cpu_us"] = [server, kafka if kafka_pid else "n/a", round(loadgen / sent * 1e6)]
    found["rss_mb"] = round(rss.peak_mb)
    return found


def _row(name: str, found: dict[str, Any], events_per_request: int = 1) -> str:
    server, kafka, loadgen = found["cpu_us"]
    return (
        f"| {name} | {found['rps']:.0f} | {found['rps'] * events_per_request:.0f} | {found['p50_ms']:.1f} "
        f"| {found['p99_ms']:.1f} | {server} | {kafka} | {loadgen} | {found['rss_mb']} | {found['statuses']} |"
    )


def measure(settings: Settings, args: argparse.Namespace, work: Path, kafka_pid: int | None) -> list[str]:
    form, batch = work / "event.form", work / "batch.json"
    form.write_bytes(urlencode({"api_key": SECRET, **EVENT}).encode())
    batch.write_bytes(json.dumps([EVENT] * args.batch).encode())
    ingest_url = f"http://127.0.0.1:{settings.ingest_port}/api/v1/send-telemetry-data"
    ingest = start_ingest(settings)
    size = answer_size(ingest_url, form.read_bytes())
    os.environ["BENCH_ANSWER_SIZE"] = str(size)  # the ``floor`` variant answers as many bytes
    others = {}  # variant -> (process, url): the same service with another publisher
    for variant in args.variants + ([BEFORE] if args.before else []):
        other = dataclasses.replace(settings, ingest_port=free_ports(1)[0])
        tree = Path(args.before) if variant == BEFORE else ROOT
        others[variant] = (start_ingest(other, variant, tree), f"http://127.0.0.1:{other.ingest_port}{SEND}")
    baseline_port = free_ports(1)[0]
    argv = [sys.executable, LOAD, "baseline", "--port", str(baseline_port), "--size", str(size)]
    baseline = spawn(argv, work / "baseline.log")
    baseline_url = f"http://127.0.0.1:{baseline_port}/api/v1/send-telemetry-data"
    # The same bare handler on uvloop (the ingest's default loop): the like-for-like comparison.
    uv_port = free_ports(1)[0]
    uv_baseline = spawn([*argv[:3], "--port", str(uv_port), *argv[5:], "--loop", "uvloop"], work / "uv.log")
    uv_url = f"http://127.0.0.1:{uv_port}/api/v1/send-telemetry-data"
    single = (form, "application/x-www-form-urlencoded", args)
    try:
        wait_until("baseline", lambda: _ok_post(baseline_url), 30, process=baseline)
        wait_until("baseline on uvloop", lambda: _ok_post(uv_url), 30, process=uv_baseline)
        # Warm-up, not measured: the broker's JIT compiler and the producer's connections.
        run_load(ingest_url, *single, count=args.kafka_warmup, warmup=0, seconds=args.warmup_seconds)
        for variant, (_, url) in others.items():
            seconds = args.warmup_seconds if variant == BEFORE else args.warmup_seconds / 3
            run_load(url, *single, count=args.kafka_warmup // 4, warmup=0, seconds=seconds)
        rows, ratios, cpu_ratios, uv_ratios = [], [], [], []
        variant_ratios: dict[str, list[float]] = {variant: [] for variant in others}
        against_before: list[float] = []
        for round_ in range(1, args.rounds + 1):
            bare = phase(baseline.pid, kafka_pid, baseline_url, *single)
            uv_bare = phase(uv_baseline.pid, kafka_pid, uv_url, *single)
            found = phase(ingest.pid, kafka_pid, ingest_url, *single)
            ratios.append(found["rps"] / bare["rps"])
            cpu_ratios.append(found["cpu_us"][0] / max(1, bare["cpu_us"][0]))
            uv_ratios.append(found["cpu_us"][0] / max(1, uv_bare["cpu_us"][0]))
            rows += [_row(f"baseline, round {round_}", bare), _row(f"baseline on uvloop, round {round_}", uv_bare)]
            rows.append(_row(f"ingest, round {round_}", found))
            for variant, (process, url) in others.items():
                alt = phase(process.pid, kafka_pid, url, *single)
                variant_ratios[variant].append(alt["cpu_us"][0] / max(1, bare["cpu_us"][0]))
                if variant == BEFORE:
                    against_before.append(found["cpu_us"][0] / max(1, alt["cpu_us"][0]))
                rows.append(_row(f"{_variant_name(variant)}, round {round_}", alt))
        batched = phase(
            ingest.pid,
            kafka_pid,
            ingest_url + "/batch",
            batch,
            "application/json",
            args,
            bearer=SECRET,
            count=max(50, args.count // args.batch * 2),
            warmup=10,
            seconds=max(2.0, args.seconds / 2),
            concurrency=args.batch_concurrency,
        )
        rows.append(_row(f"ingest batch of {args.batch} (concurrency {args.batch_concurrency})", batched, args.batch))
        ratios.sort()
        cpu_ratios.sort()
        rows.append(
            f"\nserver CPU per request, ingest/baseline per round (sorted): "
            f"{', '.join(f'{r:.2f}' for r in cpu_ratios)}; median **{cpu_ratios[len(cpu_ratios) // 2]:.2f}** "
            "(target <= 1.6)"
        )
        uv_ratios.sort()
        rows.append(
            f"server CPU per request, ingest/baseline on uvloop per round (sorted): "
            f"{', '.join(f'{r:.2f}' for r in uv_ratios)}; median {uv_ratios[len(uv_ratios) // 2]:.2f}"
        )
        for variant, found_ratios in variant_ratios.items():
            found_ratios.sort()
            rows.append(
                f"server CPU per request, {_variant_name(variant)}/baseline per round (sorted): "
                f"{', '.join(f'{r:.2f}' for r in found_ratios)}; median {found_ratios[len(found_ratios) // 2]:.2f}"
            )
        if against_before:
            against_before.sort()
            rows.append(
                f"server CPU per request, ingest/`--before` checkout per round (sorted): "
                f"{', '.join(f'{r:.2f}' for r in against_before)}; "
                f"median {against_before[len(against_before) // 2]:.2f}"
            )
        rows.append(
            f"throughput ratio ingest/baseline per round (sorted): {', '.join(f'{r:.2f}' for r in ratios)}; "
            f"median {ratios[len(ratios) // 2]:.2f} (target >= 0.60)"
        )
        rows.append(
            f"ingest VmHWM (peak RSS of the whole run): {proc_status_mb(ingest.pid, 'VmHWM'):.0f} MB "
            f"(target <= 150 MB); answer size {size} B"
        )
        return rows
    finally:
        stop_child(baseline, 10)
        stop_child(uv_baseline, 10)
        stop_child(ingest, 30)
        for process, _ in others.values():
            stop_child(process, 30)


def _variant_name(variant: str) -> str:
    return "ingest of the `--before` checkout" if variant == BEFORE else f"ingest with publisher `{variant}`"


def _ok_post(url: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=b"x"), timeout=2) as response:
            return int(response.status) == 200
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load", choices=("wrk", "python"), default="wrk", help="the load generator")
    parser.add_argument("--concurrency", type=int, default=64, help="connections (wrk) or workers (python)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of a wrk phase")
    parser.add_argument("--warmup-seconds", type=float, default=15.0, help="unmeasured wrk load on ingest first")
    parser.add_argument("--count", type=int, default=10_000, help="requests per single-event phase")
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--variants",
        type=lambda text: [v for v in text.split(",") if v],
        default=[],
        help="also measure the ingest with these publishers (bench/ingest_server.py), e.g. send",
    )
    parser.add_argument(
        "--before",
        default="",
        help="also measure `python -m ingest_api` of this checkout (e.g. `git archive` of an older commit "
        "unpacked there) in the same rounds, as variant `before`",
    )
    parser.add_argument("--batch", type=int, default=100, help="events per batch request")
    parser.add_argument("--batch-concurrency", type=int, default=8)
    parser.add_argument("--kafka-warmup", type=int, default=40_000, help="unmeasured ingest requests first")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the raw topic (the default setting)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        kafka_port, controller_port, ingest_port = free_ports(3)
        bootstrap = os.environ.get("TEST_KAFKA_BOOTSTRAP") or f"127.0.0.1:{kafka_port}"
        settings = Settings(
            data_dir=work,
            kafka_bootstrap=bootstrap,
            kafka_controller_port=controller_port,
            ingest_port=ingest_port,
            topic_partitions=args.partitions,
        )
        kafka = None if os.environ.get("TEST_KAFKA_BOOTSTRAP") else start_kafka(settings)
        try:
            asyncio.run(prepare_kafka(settings))
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            load_before = os.getloadavg()
            rows = measure(settings, args, work, kafka.started[0].process.pid if kafka else None)
        finally:
            if kafka is not None:
                kafka.stop()
    print(
        f"ingest benchmark, {started}; {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; load generator {args.load}, concurrency {args.concurrency}, "
        + (f"{args.seconds:g} s per phase" if args.load == "wrk" else f"{args.count} requests per phase")
        + f"; load average before {load_before[0]:.2f} / {load_before[1]:.2f} (1 / 5 min), "
        f"after {os.getloadavg()[0]:.2f}"
    )
    print("CPU columns: CPU time of that process per request during the phase (server = ingest or baseline).")
    print(
        "| phase | requests/s | events/s | p50 ms | p99 ms | server CPU us/req | Kafka CPU us/req "
        "| load generator CPU us/req | server peak RSS MB | statuses |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
