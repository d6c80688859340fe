"""Dashboard benchmark: ``python bench/dashboard.py [--events N] [--seconds S]`` (default 10 million).

Reuses ``bench/query.py``'s ClickHouse, dataset (``bench_query_<N>``, generated once and kept in
``.data/bench-query``) and service process; applies any new migration to the kept dataset first
(0003 copies the existing events into the dashboard tables).
Each scenario is one ``wrk`` run (one connection, one request at a time, ``--latency``) of
``--seconds`` against the service, with the Bearer header; ``wrk`` reports p50 and p99. Each is
preceded by an unmeasured ``--warmup-seconds`` run of the same scenario: ClickHouse JIT-compiles a
query's aggregate functions on its third or fourth run (``compile_aggregate_expressions``), once per
query shape and server lifetime, which adds ~150 ms to that one call (measured: 210 ms among
50-70 ms calls); out of ~50 calls per scenario that single call is the p99. The
dataset covers October 2026, so every window ends at ``to=2026-10-30T12:00:00Z``.

Scenarios: every dashboard endpoint x range (24h, 7d, 30d, 90d) for the heavy tenant
(``tenant-00``, 1.1 M events in one stream, 1.3 M in all) and a normal one (``tenant-07``, 180 k),
then the records endpoint's user and license filters on the heavy stream (random values, by a
Lua script). Writes ``--output`` (default ``bench/RESULTS.dashboard.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import query  # noqa: E402
from query_server import secret  # noqa: E402

from deploy.local.processes import stop_child  # noqa: E402
from telemetry_core.clickhouse.connection import connect  # noqa: E402
from telemetry_core.clickhouse.migrate import apply_migrations  # noqa: E402
from telemetry_core.settings import Settings  # noqa: E402

TO = "2026-10-30T12:00:00Z"
ENDPOINTS = ("streams", "stats", "alerts", "offenders", "trends", "versions")
RANGES = ("24h", "7d", "30d", "90d")
TENANTS = ("tenant-00", "tenant-07")
HEAVY = {"data_type": "numeric-single-value", "data_group": "cpu"}
_LUA = """
math.randomseed(20261201)
request = function()
  local path = "%s" .. math.random(0, %d)
  return wrk.format("GET", path)
end
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=4, help="wrk duration per scenario")
    parser.add_argument(
        "--warmup-seconds",
        type=int,
        default=1,
        help="unmeasured wrk run of each scenario first (ClickHouse compiles a query's aggregation on its 3rd-4th run)",
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data" / "bench-query")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.dashboard.md")
    parser.add_argument("--only", nargs="*", default=[], help="endpoints to run (and/or 'records'); default all")
    return parser.parse_args()


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def cpu_seconds(pids: list[int]) -> list[float]:
    """User + system CPU seconds of each process so far (``/proc/PID/stat``, all its threads)."""
    found = []
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        found.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    return found


def measured(
    pids: list[int], warmup: int, run: Callable[..., dict[str, float]], *args: Any, seconds: int
) -> dict[str, float]:
    """``run``'s wrk figures plus the CPU milliseconds per request of ClickHouse and of the service:
    the work a call costs, which a busy machine's scheduling does not inflate as it does latency.
    A ``warmup``-second run of the same scenario first is not measured (see the module's text)."""
    if warmup > 0:
        run(*args, warmup)
    before = cpu_seconds(pids)
    result = run(*args, seconds)
    after = cpu_seconds(pids)
    for name, start, end in zip(("clickhouse_cpu", "service_cpu"), before, after, strict=True):
        result[name] = (end - start) * 1000 / result["n"]
    return result


def wrk(url: str, tenant: str, seconds: int, script: str | None = None) -> dict[str, float]:
    argv = ["wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {secret(tenant)}"]
    if script:
        argv += ["-s", script]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    count = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or not (p50 and p99 and count):
        raise SystemExit(f"wrk on {url}: errors or no figures\n{out}")
    return {"p50": _ms(p50.group(1)), "p99": _ms(p99.group(1)), "n": float(count.group(1))}


def random_filter(base: str, name: str, prefix: str, values: int, tenant: str, seconds: int) -> dict[str, float]:
    params = urllib.parse.urlencode({**HEAVY, name: prefix}).replace("%", "%%")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(_LUA % (f"/api/v1/get-telemetry-data?{params}", values - 1))
    try:
        return wrk(base, tenant, seconds, handle.name)
    finally:
        os.unlink(handle.name)


def main() -> None:
    args = parse_args()
    started = dt.datetime.now(dt.UTC)
    url, clickhouse = query.start_clickhouse(args.data_dir)
    service = None
    rows: list[tuple[str, dict[str, float]]] = []
    loads = [Path("/proc/loadavg").read_text().split()[:3]]
    try:
        settings = Settings(clickhouse_url=url, clickhouse_database=f"bench_query_{args.events}")
        loading = query.prepare_data(settings, args.events, args.tenants)
        admin = connect(settings, send_receive_timeout=3600)
        applied = apply_migrations(settings, admin)
        print(loading, "; migrations applied:", applied or "none new", flush=True)
        base, service = query.start_service(settings, args.data_dir, args.tenants)
        pids = [clickhouse.pid if clickhouse is not None else os.getpid(), service.pid]
        for tenant in TENANTS:
            for endpoint in [e for e in ENDPOINTS if not args.only or e in args.only]:
                for range_name in RANGES if endpoint != "streams" else ("lifetime",):
                    params = {"to": TO} | ({"range": range_name} if endpoint != "streams" else {})
                    path = f"/api/v1/dashboard/{endpoint}?{urllib.parse.urlencode(params)}"
                    result = measured(pids, args.warmup_seconds, wrk, base + path, tenant, seconds=args.seconds)
                    rows.append((f"{tenant} {endpoint} {range_name}", result))
                    print(rows[-1], flush=True)
        for name, prefix, values in (("user_identifier", "user-", 5000), ("license_key", "LIC-", 2000)):
            if args.only and "records" not in args.only:
                continue
            scenario = (random_filter, base, name, prefix, values, "tenant-00")
            result = measured(pids, args.warmup_seconds, *scenario, seconds=args.seconds * 3)
            rows.append((f"records, heavy stream + {name}", result))
            print(rows[-1], flush=True)
        loads.append(Path("/proc/loadavg").read_text().split()[:3])
    finally:
        if service is not None:
            stop_child(service, 15)
        if clickhouse is not None:
            stop_child(clickhouse, 30)
    text = render(args, started, loading, applied, rows, loads) + kept_notes(args.output)
    args.output.write_text(text)
    print(text)


def render(args: argparse.Namespace, started: dt.datetime, loading: str, applied: list[str],
           rows: list[tuple[str, dict[str, float]]], loads: list[list[str]]) -> str:  # fmt: skip
    lines = [
        "# Dashboard benchmark",
        "",
        f"- Command: `python bench/dashboard.py --events {args.events} --seconds {args.seconds}"
        f" --warmup-seconds {args.warmup_seconds}`",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC; machine: 2 cores shared with other work",
        f"- Load average (1, 5, 15 min) at the start: {' '.join(loads[0])}; at the end: {' '.join(loads[-1])}",
        f"- Data: {loading}; migrations applied by this run: {', '.join(applied) or 'none'}",
        "- Method: `wrk -t1 -c1 --latency` (one request at a time) per scenario, Bearer header, whole signed body;"
        " CPU ms per request of the ClickHouse process and of the query service from `/proc/PID/stat`"
        " (user + system, all threads) over the scenario",
        "",
        "| scenario | requests | p50 ms | p99 ms | p99 <= target | ClickHouse CPU ms/req | service CPU ms/req |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for name, result in rows:
        target = 100.0 if name.startswith("records") else 150.0
        met = "met" if result["p99"] <= target else "NOT met"
        figures = f"{result['n']:.0f} | {result['p50']:.1f} | {result['p99']:.1f}"
        cpu = f"{result['clickhouse_cpu']:.1f} | {result['service_cpu']:.1f}"
        lines.append(f"| {name} | {figures} | {met} ({target:.0f}) | {cpu} |")
    return "\n".join(lines) + "\n"


def kept_notes(output: Path) -> str:
    """The hand-written part of the previous report (from its first ``## `` heading on): kept."""
    old = output.read_text() if output.exists() else ""
    start = old.find("\n## ")
    return "" if start < 0 else old[start:]


if __name__ == "__main__":
    main()
