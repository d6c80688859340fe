"""Query service benchmark: ``python bench/query.py [--events N]`` (default 10 million).

What it does, in order:
1. ClickHouse: ``TEST_CLICKHOUSE_URL`` when set, else the local chdb server
   (``python -m deploy.local.clickhouse_server``) with its data in ``--data-dir`` (default
   ``.data/bench-query``), kept between runs.
2. Data: database ``bench_query_<N>``; generated inside ClickHouse (``bench/query_data.py``)
   unless it already holds the full dataset, so reruns skip loading.
3. The service: ``bench/query_server.py`` in its own process (``telemetry-query`` with API keys
   from memory instead of Kafka), on a free port.
4. For each scenario, ``--requests`` requests one after another, alternating between the API
   (HTTP, the whole signed body read) and the very statement the service sends
   (``query_api.queries``), sent straight through clickhouse-connect's async client: p50 and
   p99 of both and the p50 ratio. Then exports (rows/s, API and direct) and the two ways of
   deduplicating (FINAL and LIMIT 1 BY, direct).
5. Prints the figures and writes ``--output`` (default ``bench/RESULTS.query.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import aiohttp  # noqa: E402
import clickhouse_connect  # noqa: E402
import query_data  # noqa: E402
import query_report  # noqa: E402
import query_scenarios as scenarios  # noqa: E402

from deploy.local.ports import free_ports  # noqa: E402
from deploy.local.processes import spawn, stop_child  # noqa: E402
from telemetry_core.clickhouse.connection import client_kwargs, connect  # noqa: E402
from telemetry_core.clickhouse.migrate import apply_migrations  # noqa: E402
from telemetry_core.settings import Settings  # noqa: E402

RECORDS = "/api/v1/get-telemetry-data"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events in the dataset (default 10M)")
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--requests", type=int, default=150, help="measured requests per scenario and side")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data" / "bench-query")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.query.md")
    return parser.parse_args()


def start_clickhouse(data_dir: Path) -> tuple[str, Any]:
    """The ClickHouse URL to use and the process started for it (None when given one)."""
    given = os.environ.get("TEST_CLICKHOUSE_URL")
    if given:
        return given, None
    (port,) = free_ports(1)
    root = data_dir / "clickhouse"
    # A ``ready`` left by an earlier run would pass the wait below before the new server removes it.
    (root / "ready").unlink(missing_ok=True)
    argv = [sys.executable, "-m", "deploy.local.clickhouse_server", "--root", str(root), "--http-port", str(port)]
    process = spawn(argv, data_dir / "clickhouse.log", cwd=ROOT)
    _wait(lambda: (root / "ready").exists(), 90, "ClickHouse", process)
    return f"http://127.0.0.1:{port}", process


def _wait(check: Any, timeout: float, what: str, process: Any) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}; see its log in the data dir")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} not ready within {timeout:.0f} s")
        time.sleep(0.2)


def prepare_data(settings: Settings, events: int, tenants: int) -> str:
    """Ensure the dataset is loaded; returns what was done, for the report."""
    expected = events + events // 100
    admin = connect(settings, with_database=False, send_receive_timeout=3600)
    db = settings.clickhouse_database
    exists = admin.command("EXISTS DATABASE {db:Identifier}", parameters={"db": db})
    if exists and query_data.loaded_count(admin, db) == expected:
        return f"reused the dataset already in `{db}` ({expected:,} rows)"
    admin.command("DROP DATABASE IF EXISTS {db:Identifier}", parameters={"db": db})
    apply_migrations(settings, admin)
    print(f"loading {events:,} events into {db} ...", flush=True)
    seconds = query_data.load(admin, db, events, tenants)
    return f"loaded {expected:,} rows into `{db}` in {seconds:.0f} s ({events / seconds:,.0f} events/s)"


def start_service(settings: Settings, data_dir: Path, tenants: int) -> tuple[str, Any]:
    (port,) = free_ports(1)
    env = {
        **os.environ,
        "TELEMETRY_CLICKHOUSE_URL": settings.clickhouse_url,
        "TELEMETRY_CLICKHOUSE_DATABASE": settings.clickhouse_database,
        "TELEMETRY_QUERY_PORT": str(port),
        "TELEMETRY_DATA_DIR": str(data_dir),
        "TELEMETRY_LOG_LEVEL": "INFO",
    }
    argv = [sys.executable, str(ROOT / "bench" / "query_server.py"), "--tenants", str(tenants)]
    process = spawn(argv, data_dir / "query_server.log", env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    _wait(lambda: _ready(url), 60, "the query service", process)
    return url, process


def _ready(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def run(args: argparse.Namespace, settings: Settings, base_url: str) -> dict[str, Any]:
    client = await clickhouse_connect.get_async_client(**client_kwargs(settings), compress=False)
    connector = aiohttp.TCPConnector(limit=4)
    async with aiohttp.ClientSession(base_url, connector=connector) as session:
        bench = scenarios.Bench(session, client, settings.clickhouse_database, args.tenants)
        results: dict[str, Any] = {"pages": [], "aggregates": [], "exports": [], "dedup": [], "load": [_load()]}
        for scenario in scenarios.PAGES:
            results["pages"].append(await bench.compare(scenario, args.requests))
        for scenario in scenarios.AGGREGATES:
            results["aggregates"].append(await bench.compare(scenario, args.requests))
        for fmt in ("ndjson", "csv"):
            results["exports"].append(await bench.export(fmt))
        for scenario in scenarios.DEDUP:
            results["dedup"].append(await bench.dedup(scenario, max(20, args.requests // 3)))
        results["load"].append(_load())
    await client.close()
    return results


def _load() -> str:
    """The 1-minute load average: the machine may be shared, and the figures say so."""
    return f"{os.getloadavg()[0]:.1f}"


def main() -> None:
    args = parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    url, clickhouse = start_clickhouse(args.data_dir)
    service = None
    try:
        settings = Settings(clickhouse_url=url, clickhouse_database=f"bench_query_{args.events}")
        loading = prepare_data(settings, args.events, args.tenants)
        print(loading, flush=True)
        base_url, service = start_service(settings, args.data_dir, args.tenants)
        results = asyncio.run(run(args, settings, base_url))
    finally:
        if service is not None:
            stop_child(service, 15)
        if clickhouse is not None:
            stop_child(clickhouse, 30)
    text = query_report.render(args, started, loading, results)
    print(text)
    args.output.write_text(text)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
