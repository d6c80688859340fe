"""What every service and worker shares on top of ``prometheus_client``.

Each app or worker owns a ``CollectorRegistry`` (tests build several apps in one process, so
nothing registers in the global one). Values that already live elsewhere (readiness, the
signature cache's counts, consumer lag) are not copied into metrics on every change: a
``ScrapeCollector`` reads them when Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

LabelValues = tuple[str, ...]
Values = Mapping[LabelValues, float]

# The text format every scraper reads (prometheus_client's newest default announces 1.0.0).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ScrapeCollector(Collector):
    """One gauge or counter whose samples ``source()`` returns at scrape time (label values -> value)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        source: Callable[[], Values] = dict,
        *,
        kind: str = "gauge",
    ) -> None:
        if kind not in ("gauge", "counter"):
            raise ValueError(f"kind must be gauge or counter, not {kind!r}")
        self.name, self.documentation, self.labels, self.source, self.kind = (
            name,
            documentation,
            list(labels),
            source,
            kind,
        )

    def collect(self) -> Iterable[Metric]:
        family: GaugeMetricFamily | CounterMetricFamily
        if self.kind == "counter":
            family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        else:
            family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, value in sorted(self.source().items()):
            family.add_metric(list(values), value)
        yield family

    def describe(self) -> Iterable[Metric]:
        """Registered without calling ``source`` (it may not be ready before the app starts)."""
        return []


def render(registry: CollectorRegistry) -> bytes:
    """The scrape body of ``registry`` in the text format ``CONTENT_TYPE`` names."""
    return generate_latest(registry)
