"""The ingest service's Prometheus metrics (names are documented in docs/ingest.md)."""

from __future__ import annotations

from collections.abc import Callable

from telemetry_core.envelope import EnvelopeSigner
from telemetry_core.metrics import LabelValues, Registry

PREFIX = "telemetry_ingest_"


class IngestMetrics:
    """Counters and histograms updated by the handlers; ``render()`` is the scrape body."""

    def __init__(self, envelopes: EnvelopeSigner, readiness: Callable[[], dict[str, str | None]]) -> None:
        self._envelopes = envelopes
        self._readiness = readiness
        # requests_total and request_seconds are added by the HTTP layer (service_http.middleware).
        registry = self.registry = Registry()
        self.events = registry.counter(
            PREFIX + "events_total",
            "Events acknowledged by Kafka, by answer code (830 correct, 831 incorrect)",
            ("code",),
        )
        self.publish_seconds = registry.histogram(
            PREFIX + "publish_seconds", "Time from handing records to the producer to Kafka's answer", ("outcome",)
        )
        self.kafka_errors = registry.counter(
            PREFIX + "kafka_errors_total", "Publishes Kafka did not acknowledge, by reason", ("reason",)
        )
        self.cache_hits = registry.counter(PREFIX + "signature_cache_hits_total", "Envelopes served from the cache")
        self.cache_misses = registry.counter(PREFIX + "signature_cache_misses_total", "Envelopes that were RSA-signed")
        registry.gauge(PREFIX + "ready", "1 when the component is ready, by component", ("component",), self._ready)

    def _ready(self) -> dict[LabelValues, float]:
        return {(name,): 0.0 if reason else 1.0 for name, reason in self._readiness().items()}

    def render(self) -> str:
        self.cache_hits.values[()] = float(self._envelopes.hits)
        self.cache_misses.values[()] = float(self._envelopes.misses)
        return self.registry.render()
