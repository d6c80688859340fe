"""Processes of the ingest benchmark: the bare-aiohttp baseline server and the load generator.

    python bench/ingest_load.py baseline --port 8099 --size 560 [--loop uvloop]
    python bench/ingest_load.py load --url http://127.0.0.1:8080/api/v1/send-telemetry-data \
        --body-file body.bin --content-type application/x-www-form-urlencoded --concurrency 64 --count 20000

``load`` prints one JSON object: requests, seconds, requests/s, latency percentiles (ms) and
the count of each HTTP status. It runs ``--warmup`` requests first and leaves them out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from aiohttp import web


def answer_body(size: int) -> bytes:
    """A JSON body of exactly ``size`` bytes (the baseline's answer)."""
    head, tail = b'{"response":{"code":830,"padding":"', b'"}}'
    return head + b"x" * max(0, size - len(head) - len(tail)) + tail


def baseline_app(size: int) -> web.Application:
    """A handler that reads the body and answers a JSON body of exactly ``size`` bytes."""
    body = answer_body(size)

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    return app


async def _worker(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], todo: list[int], out: dict[str, Any]
) -> None:
    latencies: list[float] = out["latencies"]
    statuses: Counter[int] = out["statuses"]
    while todo:
        todo.pop()
        started = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            statuses[response.status] += 1
        latencies.append(time.perf_counter() - started)


async def _phase(url: str, body: bytes, headers: dict[str, str], concurrency: int, count: int) -> dict[str, Any]:
    out: dict[str, Any] = {"latencies": [], "statuses": Counter()}
    todo = list(range(count))
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(_worker(session, url, body, headers, todo, out) for _ in range(concurrency)))
        out["seconds"] = time.perf_counter() - started
    return out


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else float("nan")


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    body = Path(args.body_file).read_bytes()
    headers = {"Content-Type": args.content_type}
    if args.bearer:
        headers["Authorization"] = f"Bearer {args.bearer}"
    if args.warmup:
        await _phase(args.url, body, headers, args.concurrency, args.warmup)
    out = await _phase(args.url, body, headers, args.concurrency, args.count)
    latencies = out["latencies"]
    return {
        "requests": args.count,
        "seconds": round(out["seconds"], 3),
        "rps": round(args.count / out["seconds"], 1),
        "p50_ms": round(_percentile(latencies, 0.50), 2),
        "p99_ms": round(_percentile(latencies, 0.99), 2),
        "statuses": {str(k): v for k, v in sorted(out["statuses"].items())},
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    baseline = sub.add_parser("baseline")
    baseline.add_argument("--port", type=int, required=True)
    baseline.add_argument("--size", type=int, required=True)
    baseline.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio", help="its event loop")
    load = sub.add_parser("load")
    load.add_argument("--url", required=True)
    load.add_argument("--body-file", required=True)
    load.add_argument("--content-type", required=True)
    load.add_argument("--bearer", default="")
    load.add_argument("--concurrency", type=int, default=64)
    load.add_argument("--count", type=int, default=20_000)
    load.add_argument("--warmup", type=int, default=2_000)
    return parser


def main() -> int:
    args = _parser().parse_args()
    if args.command == "baseline":
        loop = uvloop.new_event_loop() if args.loop == "uvloop" else None
        web.run_app(baseline_app(args.size), host="127.0.0.1", port=args.port, access_log=None, print=None, loop=loop)
        return 0
    print(json.dumps(asyncio.run(run_load(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
