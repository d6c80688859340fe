"""Renders the query benchmark's figures as ``bench/RESULTS.query.md``."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
from typing import Any

RATIO_TARGET = 1.3
P99_TARGET_MS = 100.0


def _latency_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| scenario | n | API p50 ms | API p99 ms | direct p50 ms | direct p99 ms | p50 ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        api, direct = row["api"], row["direct"]
        lines.append(
            f"| {row['name']} | {api['n']} | {api['p50']:.1f} | {api['p99']:.1f} | {direct['p50']:.1f} "
            f"| {direct['p99']:.1f} | {row['ratio']:.2f}x |"
        )
    return lines


def _targets(results: dict[str, Any]) -> list[str]:
    lines = []
    for group in ("pages", "aggregates"):
        for row in results[group]:
            ok = row["ratio"] <= RATIO_TARGET
            lines.append(
                f"- p50 overhead, {group[:-1]} '{row['name']}': {row['ratio']:.2f}x "
                f"({'met' if ok else 'NOT met'}, target <= {RATIO_TARGET}x)"
            )
    for row in results["pages"]:
        ok = row["api"]["p99"] <= P99_TARGET_MS
        lines.append(
            f"- p99 of record page '{row['name']}': {row['api']['p99']:.1f} ms "
            f"({'met' if ok else 'NOT met'}, target <= {P99_TARGET_MS:.0f} ms)"
        )
    return lines


def render(args: argparse.Namespace, started: dt.datetime, loading: str, results: dict[str, Any]) -> str:
    command = "python bench/query.py" + ("" if args.events == 10_000_000 else f" --events {args.events}")
    clickhouse = os.environ.get("TEST_CLICKHOUSE_URL") or "local chdb server (deploy/local/clickhouse_server.py)"
    lines = [
        "# Query service benchmark",
        "",
        f"- Command: `{command}` (--requests {args.requests}, --tenants {args.tenants})",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {platform.system()}; load average"
        f" {results['load'][0]} at the start, {results['load'][1]} at the end (1-minute, all processes)",
        f"- ClickHouse: {clickhouse}",
        f"- Data: {loading}",
        "- Method: requests one at a time, API and direct alternating; direct = the same SQL, parameters and",
        "  settings the service sends, through clickhouse-connect's async client, every row read. The service",
        "  runs in its own process (bench/query_server.py: telemetry-query with API keys from memory).",
        "",
        "## Record pages (limit 100)",
        "",
        *_latency_table(results["pages"]),
        "",
        "## Aggregates",
        "",
        *_latency_table(results["aggregates"]),
        "",
        "## Exports (heavy stream, every record)",
        "",
        "| format | rows | MB | API s | API rows/s | direct s | direct rows/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["exports"]:
        lines.append(
            f"| {row['format']} | {row['rows']:,} | {row['bytes'] / 1e6:.0f} | {row['api_seconds']:.2f} "
            f"| {row['rows'] / row['api_seconds']:,.0f} | {row['direct_seconds']:.2f} "
            f"| {row['direct_rows'] / row['direct_seconds']:,.0f} |"
        )
    lines += [
        "",
        "## Deduplication: FINAL or LIMIT 1 BY event_id (direct, same pages)",
        "",
        "| scenario | n | FINAL p50 ms | FINAL p99 ms | LIMIT 1 BY p50 ms | LIMIT 1 BY p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["dedup"]:
        final, limit_by = row["final"], row["limit_by"]
        lines.append(
            f"| {row['name']} | {final['n']} | {final['p50']:.1f} | {final['p99']:.1f} "
            f"| {limit_by['p50']:.1f} | {limit_by['p99']:.1f} |"
        )
    lines += ["", "## Targets", "", *_targets(results), ""]
    return "\n".join(lines)
