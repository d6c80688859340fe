"""The service's Prometheus metrics and its structured access log.

The access log writes one JSON object per request: method, path (never the query string, which
may hold the API key), the names of the query parameters given (never their values, which may
identify users; unknown names are left out), status, answer code, key id, client and duration. No secret reaches it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from query_api.params import AGGREGATE_PARAMS, RECORD_PARAMS
from telemetry_core.metrics import Counter, Histogram, Registry

ACCESS_LOG = logging.getLogger("query_api.access")

T = TypeVar("T")

# Only names the API defines are logged: an unknown name could be anything, a pasted key too.
_LOGGED_PARAMS = frozenset(RECORD_PARAMS + AGGREGATE_PARAMS) - {"api_key"}

# Request keys handlers fill in for the access log and the request counter.
ANSWER_CODE = web.ResponseKey("answer_code", int)
API_KEY_ID = web.RequestKey("api_key_id", str)


@dataclass
class QueryMetrics:
    """Requests by endpoint and answer code, storage latency by query kind, storage errors."""

    registry: Registry = field(default_factory=Registry)

    def __post_init__(self) -> None:
        self.requests: Counter = self.registry.counter(
            "telemetry_query_requests_total", "Requests answered, by endpoint and answer code", ("endpoint", "code")
        )
        self.latency: Histogram = self.registry.histogram(
            "telemetry_query_storage_seconds", "Time spent waiting for ClickHouse, by query kind", ("kind",)
        )
        self.storage_errors: Counter = self.registry.counter(
            "telemetry_query_storage_errors_total", "Storage errors (503 answers, aborted exports)", ("endpoint",)
        )
        self.exported_bytes: Counter = self.registry.counter(
            "telemetry_query_export_bytes_total", "Bytes streamed by exports, by format", ("format",)
        )


async def timed(metrics: QueryMetrics, kind: str, pending: Awaitable[T]) -> T:
    """Await a storage call, recording how long it took under ``kind``."""
    start = time.perf_counter()
    try:
        return await pending
    finally:
        metrics.latency.observe(time.perf_counter() - start, kind)


class JsonAccessLogger(AbstractAccessLogger):
    """aiohttp access logger writing one JSON line per request (``access_log_class=``)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        entry = {
            "method": request.method,
            "path": request.path,
            "params": sorted({name for name in request.query if name in _LOGGED_PARAMS}),
            "status": response.status,
            "code": response.get(ANSWER_CODE),
            "api_key_id": request.get(API_KEY_ID),
            "remote": request.remote,
            "duration_ms": round(time * 1000, 2),
        }
        self.logger.info(json.dumps(entry, separators=(",", ":")))

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
