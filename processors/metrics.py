"""Each worker's Prometheus metrics and the small HTTP server that serves them.

``GET /metrics`` renders the registry (text format 0.0.4); ``GET /healthz`` answers 200 while
the worker runs and 503 once it is failing or stopping, with the reason. Metric names are
``telemetry_<worker>_...`` (worker = flagger or sink); see docs/processors.md.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence

from aiohttp import web

from telemetry_core.events import Flags
from telemetry_core.flags import FLAG_NAMES
from telemetry_core.metrics import Histogram, Registry

log = logging.getLogger(__name__)

SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000)


class WorkerMetrics:
    """What both workers report; ``lag`` reads the batch loop's committed offsets at scrape time."""

    def __init__(self, worker: str) -> None:
        self.registry = registry = Registry()
        p = f"telemetry_{worker}"
        self.messages = registry.counter(f"{p}_messages_total", "messages read from the source topic")
        self.batch_size = Histogram(f"{p}_batch_size", "messages per processed batch", buckets=SIZE_BUCKETS)
        registry.add(self.batch_size)
        self.batch_seconds = registry.histogram(
            f"{p}_batch_seconds", "seconds from batch start until its output was durable"
        )
        self.commits = registry.counter(f"{p}_commits_total", "offset commits after a durable batch")
        self.retries = registry.counter(f"{p}_retries_total", "failed write attempts that were retried", ("operation",))
        self.backpressure = registry.gauge(f"{p}_backpressure", "1 while a failing write is retried and intake waits")
        self.dead_letters = registry.counter(f"{p}_dead_letters_total", "messages sent to the DLQ", ("reason",))
        self.dead_letter_ratio = registry.gauge(f"{p}_dead_letter_ratio", "dead-letter share of the ratio window")
        self.lag = registry.gauge(f"{p}_consumer_lag", "high-water mark minus committed offset", ("topic", "partition"))


class FlaggerMetrics(WorkerMetrics):
    def __init__(self) -> None:
        super().__init__("flagger")
        self.flags = self.registry.counter(
            "telemetry_flagger_flags_total", "flagged events by flag value", ("flag", "value")
        )
        self.red_flags = self.registry.counter(
            "telemetry_flagger_red_flags_total", "red-flag reasons raised", ("reason",)
        )

    def count_flags(self, batch: Sequence[Flags]) -> None:
        """Count a batch's flags: events share few distinct flag sets, so those are counted first
        and each label set is updated once per batch."""
        values: Counter[tuple[str, str]] = Counter()
        reasons: Counter[str] = Counter()
        for flags, count in Counter(batch).items():
            for name in FLAG_NAMES:
                values[(name, "1" if getattr(flags, name) else "0")] += count
            for reason in flags.red_flags:
                reasons[reason] += count
        for (name, value), count in values.items():
            self.flags.inc(name, value, amount=count)
        for reason, count in reasons.items():
            self.red_flags.inc(reason, amount=count)


class SinkMetrics(WorkerMetrics):
    def __init__(self) -> None:
        super().__init__("sink")
        self.rows = self.registry.counter("telemetry_sink_rows_total", "rows inserted into ClickHouse")
        self.insert_seconds = self.registry.histogram("telemetry_sink_insert_seconds", "ClickHouse insert latency")
        self.event_age = self.registry.histogram(
            "telemetry_sink_event_age_seconds",
            "received by ingest -> insert accepted by ClickHouse, of each batch's oldest row",
        )
        self.duplicates = self.registry.counter(
            "telemetry_sink_duplicates_total",
            "rows dropped as already stored, by where the id was found",
            ("found_in",),
        )
        self.erased = self.registry.counter(
            "telemetry_sink_erased_total",
            "rows of erased subjects: dropped before insert, or swept (deleted after a late insert)",
            ("how",),
        )


def reason_label(reason: str) -> str:
    """The metric label of a dead-letter reason: its first word (undecodable, unstorable, ...)."""
    return reason.split(" ", 1)[0] or "unknown"


class MetricsSite:
    """An aiohttp site serving ``/metrics`` and ``/healthz``; ``problem()`` is None when healthy."""

    def __init__(self, registry: Registry, host: str, port: int, problem: Callable[[], str | None]) -> None:
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
        body = self.registry.render().encode("utf-8")
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def _health(self, request: web.Request) -> web.Response:
        problem = self.problem()
        if problem is None:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=f"{problem}\n")
