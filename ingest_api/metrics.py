"""The ingest service's Prometheus metrics (names are documented in docs/ingest.md)."""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram

from telemetry_core.envelope import EnvelopeSigner
from telemetry_core.metrics import LATENCY_BUCKETS, ScrapeCollector, Values

PREFIX = "telemetry_ingest_"


class IngestMetrics:
    """Counters and histograms the handlers update, on the app's own ``registry``.

    requests_total and request_seconds are added by the HTTP layer (service_http.middleware);
    the signature cache's counts and readiness are read when Prometheus scrapes.
    """

    def __init__(self, envelopes: EnvelopeSigner, readiness: Callable[[], dict[str, str | None]]) -> None:
        self._envelopes = envelopes
        self._readiness = readiness
        registry = self.registry = CollectorRegistry()
        self.events = Counter(
            PREFIX + "events_total",
            "Events acknowledged by Kafka, by answer code (830 correct, 831 incorrect)",
            ("code",),
            registry=registry,
        )
        self.publish_seconds = Histogram(
            PREFIX + "publish_seconds",
            "Time from handing records to the producer to Kafka's answer",
            ("outcome",),
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.publish_acked, self.publish_failed = (
            self.publish_seconds.labels("acked"),
            self.publish_seconds.labels("failed"),
        )
        self._events_by_code = {code: self.events.labels(str(code)) for code in (830, 831)}
        self.kafka_errors = Counter(
            PREFIX + "kafka_errors_total",
            "Publishes Kafka did not acknowledge, by reason",
            ("reason",),
            registry=registry,
        )
        for name, doc, count in (
            ("signature_cache_hits_total", "Envelopes served from the cache", lambda: self._envelopes.hits),
            ("signature_cache_misses_total", "Envelopes that were RSA-signed", lambda: self._envelopes.misses),
        ):
            registry.register(ScrapeCollector(PREFIX + name, doc, (), _single(count), kind="counter"))
        registry.register(
            ScrapeCollector(
                PREFIX + "ready", "1 when the component is ready, by component", ("component",), self._ready
            )
        )

    def count_events(self, answer_codes: Sequence[int]) -> None:
        """Count acknowledged events by answer code (one increment per code, not per event)."""
        if len(answer_codes) == 1:
            self._event_counter(answer_codes[0]).inc()
            return
        for code, count in collections.Counter(answer_codes).items():
            self._event_counter(code).inc(count)

    def _event_counter(self, code: int) -> Counter:
        child = self._events_by_code.get(code)
        if child is None:
            child = self._events_by_code[code] = self.events.labels(str(code))
        return child

    def _ready(self) -> Values:
        return {(name,): 0.0 if reason else 1.0 for name, reason in self._readiness().items()}


def _single(read: Callable[[], int]) -> Callable[[], Values]:
    return lambda: {(): float(read())}
