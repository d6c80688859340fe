"""The query service's own Prometheus metrics (requests and their latency are counted by the
shared HTTP layer, ``service_http``, which also writes the access log)."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

from telemetry_core.metrics import LATENCY_BUCKETS

T = TypeVar("T")


@dataclass
class QueryMetrics:
    """Storage latency by query kind, storage errors, exported bytes, on the app's own registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.latency = Histogram(
            "telemetry_query_storage_seconds",
            "Time spent waiting for ClickHouse, by query kind",
            ("kind",),
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.storage_errors = Counter(
            "telemetry_query_storage_errors_total",
            "Storage errors (503 answers, aborted exports)",
            ("endpoint",),
            registry=self.registry,
        )
        self.exported_bytes = Counter(
            "telemetry_query_export_bytes_total",
            "Bytes streamed by exports, by format",
            ("format",),
            registry=self.registry,
        )


async def timed(metrics: QueryMetrics, kind: str, pending: Awaitable[T]) -> T:
    """Await a storage call, recording how long it took under ``kind``."""
    start = time.perf_counter()
    try:
        return await pending
    finally:
        metrics.latency.labels(kind).observe(time.perf_counter() - start)
