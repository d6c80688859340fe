"""Signing-key size benchmark (not a test): 2048- vs 4096-bit RSA under wrk, same run.

    .venv/bin/python bench/signing.py [--seconds 8] [--rounds 2] [--port 18090]

For each key size it starts the real ingest and query apps (``create_app``, signature cache
as in production) in their own processes, with in-memory stand-ins for Kafka (a publisher
that acknowledges at once) and ClickHouse (a store answering a fixed 100-record page), so the
figures are the services' own CPU. wrk drives three loads in alternating short phases:
single events (form POST: the 830 answer repeats, the cache signs it once a second), batches
of 100 events (every answer unique: one RSA signature each) and GET pages of 100 records
(unique: one signature each). CPU per request = utime+stime of the service process from
/proc/PID/stat over the phase, divided by wrk's request count. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test fakes (FixedReference)

SECRET = "bench-signing-key"
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
TICKS = os.sysconf("SC_CLK_TCK")


def serve(service: str, bits: int, port: int, data_dir: str) -> None:
    """Run one service with in-memory stand-ins for Kafka / ClickHouse (the child process)."""

    from aiohttp import web

    from telemetry_core.reference import ApiKey, License, Product, ReferenceStore, Tenant, hash_key
    from telemetry_core.settings import Settings
    from telemetry_core.signing import load_or_create_signer

    settings = Settings(data_dir=Path(data_dir), signing_key_bits=bits, log_level="WARNING")
    store = ReferenceStore()
    store.put(Tenant("acme", "Acme"))
    store.put(ApiKey("k", "acme", hash_key(SECRET), frozenset({"telemetry:send", "telemetry:read"})))
    store.put(Product("acme", "1", "App", frozenset({"1.0.1"})))
    store.put(License("acme", EVENT["license_key"], "1", activations=frozenset({EVENT["activation_identifier"]})))
    signer = load_or_create_signer(settings)
    from fixed_reference import FixedReference

    if service == "ingest":
        from publisher_fakes import AcknowledgingPublisher

        from ingest_api.app import create_app

        app = create_app(settings, publisher=AcknowledgingPublisher(), reference=FixedReference(store), signer=signer)
    else:
        from query_api.app import create_app as create_query_app

        app = create_query_app(settings, storage=PageStore(), reference=FixedReference(store), signer=signer)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


class PageStore:
    """A store whose every record query answers the same 100 rows (ClickHouse's cost left out)."""

    def __init__(self) -> None:
        at = dt.datetime(2026, 11, 1, 5, 12, 1, 123000)
        self.rows = [
            (f"01a2334e-1b53-7626-92ca-9afab819{i:04d}", "numeric-single-value", "test_group", 50.0 + i / 8,
             None, None, None, "1", "554dddsqfqs4dqd5qsd74q", EVENT["license_key"], "12135644", "1.0.1",
             1, 1, 1, 1, 0, [], at - dt.timedelta(seconds=i))
            for i in range(100)
        ]  # fmt: skip

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ready(self) -> bool:
        return True

    async def records(self, tenant: str, query: Any, limit: int) -> list[Any]:
        return self.rows[:limit]

    async def aggregates(self, tenant: str, query: Any) -> list[Any]:
        return []

    async def export(self, tenant: str, query: Any) -> Any:
        yield b""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wrk(url: str, seconds: int, script: Path | None) -> int:
    command = ["wrk", "-t1", "-c16", f"-d{seconds}s", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise SystemExit(f"{non_2xx.group(1)} failed answers from {url}:\n{out}")
    match = re.search(r"(\d+) requests in", out)
    assert match, out
    return int(match.group(1))


def scripts(folder: Path) -> dict[str, Path]:
    form = "&".join(f"{k}={v}" for k, v in {"api_key": SECRET, **EVENT}.items())
    batch = json.dumps([{**EVENT, "event_id": f"e{i}"} for i in range(100)])
    bodies = {
        "single": ("application/x-www-form-urlencoded", form),
        "batch": ("application/json", batch),
    }
    made = {}
    for name, (kind, body) in bodies.items():
        path = folder / f"{name}.lua"
        path.write_text(
            f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
            f'wrk.headers["Content-Type"] = "{kind}"\nwrk.headers["Authorization"] = "Bearer {SECRET}"\n'
        )
        made[name] = path
    return made


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 120  # a 4096-bit key takes seconds to generate
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--port", type=int, default=18090)
    args = parser.parse_args()
    results: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        lua = scripts(Path(folder))
        servers: dict[tuple[str, int], tuple[subprocess.Popen[bytes], str]] = {}
        port = args.port
        try:
            for bits in (2048, 4096):
                data_dir = str(Path(folder) / f"keys-{bits}")
                for service in ("ingest", "query"):
                    command = [sys.executable, __file__, "serve", service, str(bits), str(port), data_dir]
                    servers[(service, bits)] = (subprocess.Popen(command), f"http://127.0.0.1:{port}")
                    wait_ready(f"http://127.0.0.1:{port}/healthz")
                    port += 1
            loads = {
                "single": ("ingest", "/api/v1/send-telemetry-data", lua["single"]),
                "batch": ("ingest", "/api/v1/send-telemetry-data/batch", lua["batch"]),
                "GET page": ("query", f"/api/v1/get-telemetry-data?api_key={SECRET}&data_type=numeric-single-value"
                             "&data_group=test_group&limit=100", None),
            }  # fmt: skip
            for service, path, script in loads.values():
                for bits in (2048, 4096):  # warm-up, not measured
                    wrk(servers[(service, bits)][1] + path, 2, script)
            for _ in range(args.rounds):
                for load, (service, path, script) in loads.items():
                    for bits in (2048, 4096):
                        process, base = servers[(service, bits)]
                        before = cpu_seconds(process.pid)
                        requests = wrk(base + path, args.seconds, script)
                        used = cpu_seconds(process.pid) - before
                        results.setdefault((load, bits), []).append(used / requests * 1e6)
                        results.setdefault((load + " req/s", bits), []).append(requests / args.seconds)
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=30)
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")
    print("| load | 2048-bit CPU µs/request | 4096-bit CPU µs/request | 2048 req/s | 4096 req/s |")
    print("|---|---|---|---|---|")
    for load in ("single", "batch", "GET page"):
        cells = [min(results[(load, bits)]) for bits in (2048, 4096)]
        rates = [max(results[(load + " req/s", bits)]) for bits in (2048, 4096)]
        print(f"| {load} | {cells[0]:.0f} | {cells[1]:.0f} | {rates[0]:.0f} | {rates[1]:.0f} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        main()
