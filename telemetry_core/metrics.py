"""What every service and worker shares on top of ``prometheus_client``.

Each app or worker owns a ``CollectorRegistry`` (tests build several apps in one process, so
nothing registers in the global one). Values that already live elsewhere (readiness, the
signature cache's counts, consumer lag) are not copied into metrics on every change: a
``ScrapeCollector`` reads them when Prometheus scrapes.

The services' per-request metrics are ``LoopCounter`` and ``LoopHistogram``: the same counter
and histogram families (names, labels, buckets, ``_created``) as ``prometheus_client``'s
``Counter`` and ``Histogram``, kept in plain numbers without a lock per update (a lock per
update was most of the metrics' cost per request, bench/RESULTS.ingest.md). They are for
values updated and scraped on one thread (a service's event loop: its ``/metrics`` handler
renders the registry on that loop), which is why the workers keep ``prometheus_client``'s own.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

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


class CounterSeries:
    """One label set of a ``LoopCounter``."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value, self.created = 0.0, time.time()

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class HistogramSeries:
    """One label set of a ``LoopHistogram``: a count per bucket (the last one is ``+Inf``) and the sum."""

    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, bounds: list[float]) -> None:
        self.bounds, self.counts, self.sum, self.created = bounds, [0] * (len(bounds) + 1), 0.0, time.time()

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bucket whose bound >= value
        self.sum += value


class LoopCounter(Collector):
    """A labelled counter for one thread: ``labels(*values)`` gives the series to ``inc``."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str], registry: CollectorRegistry) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, list(labels)
        self._series: dict[LabelValues, CounterSeries] = {}
        registry.register(self)

    def labels(self, *values: str) -> CounterSeries:
        series = self._series.get(values)
        if series is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
            series = self._series[values] = CounterSeries()
        return series

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, series in list(self._series.items()):
            family.add_metric(list(values), series.value, created=series.created)
        yield family

    def describe(self) -> Iterable[Metric]:
        return [CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)]


class LoopHistogram(Collector):
    """A labelled histogram for one thread: ``labels(*values)`` gives the series to ``observe``."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str],
        registry: CollectorRegistry,
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, list(labels)
        self._bounds = sorted(float(b) for b in buckets)
        self._series: dict[LabelValues, HistogramSeries] = {}
        registry.register(self)

    def labels(self, *values: str) -> HistogramSeries:
        series = self._series.get(values)
        if series is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
            series = self._series[values] = HistogramSeries(self._bounds)
        return series

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        names = self.labelnames
        for values, series in list(self._series.items()):
            cumulative, buckets = 0, []
            for bound, count in zip([*series.bounds, float("inf")], series.counts, strict=True):
                cumulative += count
                buckets.append((_le(bound), float(cumulative)))
            family.add_metric(list(values), buckets, series.sum)
            family.samples.append(Sample(self.name + "_created", dict(zip(names, values, strict=True)), series.created))
        yield family

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)]


def _le(bound: float) -> str:
    """A bucket's ``le`` label as ``prometheus_client`` writes it (``0.005``, ``1.0``, ``+Inf``)."""
    return "+Inf" if bound == float("inf") else repr(bound)


def render(registry: CollectorRegistry) -> bytes:
    """The scrape body of ``registry`` in the text format ``CONTENT_TYPE`` names."""
    return generate_latest(registry)
