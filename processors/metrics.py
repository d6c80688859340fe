"""Each worker's Prometheus metrics and the small HTTP server that serves them.

``GET /metrics`` renders the registry (text format 0.0.4); ``GET /healthz`` answers 200 while
the worker runs and 503 once it is failing or stopping, with the reason. Metric names are
``telemetry_<worker>_...`` (worker = flagger or sink); see docs/processors.md.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Sequence

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from telemetry_core.events import Flags
from telemetry_core.flags import FLAG_NAMES
from telemetry_core.metrics import CONTENT_TYPE, LATENCY_BUCKETS, ScrapeCollector, render

log = logging.getLogger(__name__)

SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000)


class WorkerMetrics:
    """What both workers report, on the worker's own registry; every update is per batch.

    ``lag`` reads the batch loop's committed offsets at scrape time (its ``source`` is set
    once the loop exists).
    """

    def __init__(self, worker: str) -> None:
        self.registry = registry = CollectorRegistry()
        p = f"telemetry_{worker}"
        self.messages = Counter(f"{p}_messages_total", "messages read from the source topic", registry=registry)
        self.batch_size = Histogram(
            f"{p}_batch_size", "messages per processed batch", registry=registry, buckets=SIZE_BUCKETS
        )
        self.batch_seconds = Histogram(
            f"{p}_batch_seconds",
            "seconds from batch start until its output was durable",
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.commits = Counter(f"{p}_commits_total", "offset commits after a durable batch", registry=registry)
        self.retries = Counter(
            f"{p}_retries_total", "failed write attempts that were retried", ("operation",), registry=registry
        )
        self.backpressure = Gauge(
            f"{p}_backpressure", "1 while a failing write is retried and intake waits", registry=registry
        )
        self.dead_letters = Counter(
            f"{p}_dead_letters_total", "messages sent to the DLQ", ("reason",), registry=registry
        )
        self.dead_letter_ratio = Gauge(
            f"{p}_dead_letter_ratio", "dead-letter share of the ratio window", registry=registry
        )
        self.lag = ScrapeCollector(
            f"{p}_consumer_lag", "high-water mark minus committed offset", ("topic", "partition")
        )
        registry.register(self.lag)


class FlaggerMetrics(WorkerMetrics):
    def __init__(self) -> None:
        super().__init__("flagger")
        self.flags = Counter(
            "telemetry_flagger_flags_total", "flagged events by flag value", ("flag", "value"), registry=self.registry
        )
        self.red_flags = Counter(
            "telemetry_flagger_red_flags_total", "red-flag reasons raised", ("reason",), registry=self.registry
        )

    def count_flags(self, batch: Sequence[Flags]) -> None:
        """Count a batch's flags: events share few distinct flag sets, so those are counted first
        and each label set is updated once per batch."""
        values: collections.Counter[tuple[str, str]] = collections.Counter()
        reasons: collections.Counter[str] = collections.Counter()
        for flags, count in collections.Counter(batch).items():
            for name in FLAG_NAMES:
                values[(name, "1" if getattr(flags, name) else "0")] += count
            for reason in flags.red_flags:
                reasons[reason] += count
        for (name, value), count in values.items():
            self.flags.labels(name, value).inc(count)
        for reason, count in reasons.items():
            self.red_flags.labels(reason).inc(count)


class SinkMetrics(WorkerMetrics):
    def __init__(self) -> None:
        super().__init__("sink")
        registry = self.registry
        self.rows = Counter("telemetry_sink_rows_total", "rows inserted into ClickHouse", registry=registry)
        self.insert_seconds = Histogram(
            "telemetry_sink_insert_seconds", "ClickHouse insert latency", registry=registry, buckets=LATENCY_BUCKETS
        )
        self.event_age = Histogram(
            "telemetry_sink_event_age_seconds",
            "received by ingest -> insert accepted by ClickHouse, of each batch's oldest row",
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.duplicates = Counter(
            "telemetry_sink_duplicates_total",
            "rows dropped as already stored, by where the id was found",
            ("found_in",),
            registry=registry,
        )
        self.erased = Counter(
            "telemetry_sink_erased_total",
            "rows of erased subjects: dropped before insert, or swept (deleted after a late insert)",
            ("how",),
            registry=registry,
        )


def reason_label(reason: str) -> str:
    """The metric label of a dead-letter reason: its first word (undecodable, unstorable, ...)."""
    return reason.split(" ", 1)[0] or "unknown"


class MetricsSite:
    """An aiohttp site serving ``/metrics`` and ``/healthz``; ``problem()`` is None when healthy."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int, problem: Callable[[], str | None]) -> None:
        self.registry, self.host, self.port, self.problem = registry, host, port, problem
        self._runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._health)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self.application(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=render(self.registry), headers={"Content-Type": CONTENT_TYPE})

    async def _health(self, request: web.Request) -> web.Response:
        problem = self.problem()
        if problem is None:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=f"{problem}\n")
