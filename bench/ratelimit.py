"""Rate-limit isolation benchmark (not a test): does one key flooding move another key's p99?

    .venv/bin/python bench/ratelimit.py [--seconds 10] [--victim-connections 4] [--flood-connections 16]

Starts a local Kafka (or uses TEST_KAFKA_BOOTSTRAP) and ``python -m ingest_api`` on ports
31000-31099 (TELEMETRY_BENCH_PORT_BASE moves them), with three keys: ``victim`` (no limit),
``flooder`` (``--limit`` events/s, burst the same) and ``unlimited`` (no limit, the control).
``wrk`` (Debian package ``wrk``) sends single events, one wrk process per key, in phases of
``--seconds``, all in one run, ``--rounds`` times (a shared machine drifts; rounds show it):

1. ``before``: the victim alone;
2. ``flood``: the victim and, at the same time, the flooder at wrk's maximum rate (most of
   it answered 429);
3. ``flood-unlimited``: the victim and the unlimited key at maximum rate (what the limit
   protects from: every flood event goes to Kafka);

and a last ``after`` phase, the victim alone again.

For every phase it prints the victim's requests/s and p50/p99 (wrk's latency distribution),
the flood's requests/s and answers other than 200, and the ingest's CPU time per request
(/proc/PID/stat), plus the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ingest as ingest_bench  # noqa: E402  (bench/ingest.py: Kafka and ingest start-up, /proc CPU)

from telemetry_core.admin.topic_io import write_records  # noqa: E402
from telemetry_core.kafka_admin import ensure_topics  # noqa: E402
from telemetry_core.ratelimit import RateLimit  # noqa: E402
from telemetry_core.reference import ApiKey, License, Product, Tenant, encode_entity, hash_key  # noqa: E402
from telemetry_core.settings import Settings  # noqa: E402

KEYS = {"victim": "bench-victim-key", "flooder": "bench-flooder-key", "unlimited": "bench-unlimited-key"}

LUA = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Bearer {secret}"
done = function(summary, latency, requests)
  io.write(string.format('{{"requests":%d,"seconds":%f,"p50_us":%d,"p99_us":%d,"non_2xx":%d,"errors":%d}}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout))
end
"""


async def prepare(settings: Settings, limit: float) -> None:
    await ensure_topics(settings)
    event = ingest_bench.EVENT
    entities: list[Any] = [
        Tenant("bench"),
        Product("bench", "1", "Bench", frozenset({"1.0.1"})),
        License("bench", event["license_key"], "1", "active", frozenset({"12135644"})),
    ]
    for name, secret in KEYS.items():
        rate = RateLimit(limit, max(1, int(limit))) if name == "flooder" else None
        entities.append(ApiKey(name, "bench", hash_key(secret), frozenset({"telemetry:send"}), rate_limit=rate))
    await write_records(settings, [encode_entity(e) for e in entities])


def script(work: Path, name: str) -> Path:
    path = work / f"{name}.lua"
    body = json.dumps(urlencode(ingest_bench.EVENT))  # a JSON string is a valid Lua string literal here
    path.write_text(LUA.format(body=body, secret=KEYS[name]))
    return path


def wrk(url: str, lua: Path, connections: int, seconds: int) -> subprocess.Popen[str]:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(lua), url]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def result(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = process.communicate(timeout=600)
    line = next((x for x in out.splitlines() if x.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    found: dict[str, Any] = json.loads(line)
    found["rps"] = round(found["requests"] / found["seconds"], 1)
    return found


def phase(name: str, url: str, work: Path, pid: int, args: argparse.Namespace, flood: str | None) -> dict[str, Any]:
    before = ingest_bench.cpu_seconds(pid)
    victim = wrk(url, script(work, "victim"), args.victim_connections, args.seconds)
    flooding = wrk(url, script(work, flood), args.flood_connections, args.seconds) if flood else None
    found = {"phase": name, "victim": result(victim), "flood": result(flooding) if flooding else None}
    requests = found["victim"]["requests"] + (found["flood"]["requests"] if found["flood"] else 0)
    found["ingest_cpu_us_per_request"] = round((ingest_bench.cpu_seconds(pid) - before) / requests * 1e6)
    found["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    return found


def row(found: dict[str, Any]) -> str:
    victim, flood = found["victim"], found["flood"]
    flood_cells = f"{flood['rps']} | {flood['non_2xx']}" if flood else "- | -"
    return (
        f"| {found['phase']} | {victim['rps']} | {victim['p50_us'] / 1000:.2f} | {victim['p99_us'] / 1000:.2f} "
        f"| {victim['non_2xx']} | {flood_cells} | {found['ingest_cpu_us_per_request']} | {' '.join(found['loadavg'])} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each phase")
    parser.add_argument("--victim-connections", type=int, default=4)
    parser.add_argument("--flood-connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of before / flood / flood-unlimited")
    parser.add_argument("--delay", type=float, default=0.5, help="TELEMETRY_RATE_LIMIT_DELAY_S of the ingest")
    parser.add_argument("--limit", type=float, default=100.0, help="the flooder's events/s (burst the same)")
    args = parser.parse_args()
    base = int(os.environ.get("TELEMETRY_BENCH_PORT_BASE", "31000"))
    with tempfile.TemporaryDirectory(prefix="bench-ratelimit-") as tmp:
        work = Path(tmp)
        bootstrap = os.environ.get("TEST_KAFKA_BOOTSTRAP") or f"127.0.0.1:{base + 1}"
        settings = Settings(
            data_dir=work,
            kafka_bootstrap=bootstrap,
            kafka_controller_port=base + 2,
            ingest_port=base + 3,
            log_level="WARNING",
            rate_limit_delay_s=args.delay,
        )
        kafka = None if os.environ.get("TEST_KAFKA_BOOTSTRAP") else ingest_bench.start_kafka(settings)
        try:
            asyncio.run(prepare(settings, args.limit))
            ingest = ingest_bench.start_ingest(settings)
            try:
                url = f"http://127.0.0.1:{settings.ingest_port}/api/v1/send-telemetry-data"
                started = time.strftime("%Y-%m-%d %H:%M:%S")
                warm = wrk(url, script(work, "victim"), args.victim_connections, 3)
                result(warm)  # unmeasured: connections, Kafka metadata, signature cache
                phases = []
                for n in range(1, args.rounds + 1):
                    phases.append(phase(f"{n}. before", url, work, ingest.pid, args, None))
                    phases.append(phase(f"{n}. flood", url, work, ingest.pid, args, "flooder"))
                    phases.append(phase(f"{n}. flood-unlimited", url, work, ingest.pid, args, "unlimited"))
                phases.append(phase("after", url, work, ingest.pid, args, None))
            finally:
                ingest_bench.stop_child(ingest, 30)
        finally:
            if kafka is not None:
                kafka.stop()
    print(
        f"rate-limit benchmark, {started}; {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs; "
        f"{args.seconds} s per phase; victim {args.victim_connections} connections, flood "
        f"{args.flood_connections} connections at wrk's maximum rate; flooder limit {args.limit:g} events/s; "
        f"429s held {args.delay:g} s"
    )
    print(
        "| phase | victim req/s | victim p50 ms | victim p99 ms | victim non-200 | flood req/s | flood non-200 "
        "| ingest CPU us/req (all) | load average (1/5/15 min) at end |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(row(p) for p in phases))
    print(json.dumps(phases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
