"""A minimal Prometheus text-format registry (counters, gauges, histograms with labels).

Single-threaded use from one event loop; rendering is cheap enough for a scrape per second.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence

LabelValues = tuple[str, ...]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(names: Sequence[str], values: LabelValues, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Counter:
    def __init__(self, name: str, doc: str, labels: Sequence[str] = ()) -> None:
        self.name, self.doc, self.label_names = name, doc, tuple(labels)
        self.values: dict[LabelValues, float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.doc}", f"# TYPE {self.name} counter"]
        lines += [f"{self.name}{_labels(self.label_names, k)} {v:g}" for k, v in sorted(self.values.items())]
        return lines


class Gauge(Counter):
    """A value read at scrape time from ``source`` (or set directly)."""

    def __init__(
        self,
        name: str,
        doc: str,
        labels: Sequence[str] = (),
        source: Callable[[], dict[LabelValues, float]] | None = None,
    ) -> None:
        super().__init__(name, doc, labels)
        self.source = source

    def set(self, value: float, *labels: str) -> None:
        self.values[labels] = value

    def render(self) -> list[str]:
        if self.source is not None:
            self.values = self.source()
        lines = super().render()
        lines[1] = f"# TYPE {self.name} gauge"
        return lines


class Histogram:
    def __init__(
        self, name: str, doc: str, labels: Sequence[str] = (), buckets: Sequence[float] = LATENCY_BUCKETS
    ) -> None:
        self.name, self.doc, self.label_names = name, doc, tuple(labels)
        self.buckets = tuple(buckets)
        self.counts: dict[LabelValues, list[int]] = {}
        self.sums: dict[LabelValues, float] = {}

    def observe(self, value: float, *labels: str) -> None:
        counts = self.counts.setdefault(labels, [0] * (len(self.buckets) + 1))
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sums[labels] = self.sums.get(labels, 0.0) + value

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.doc}", f"# TYPE {self.name} histogram"]
        for key, counts in sorted(self.counts.items()):
            running = 0
            for bound, count in zip((*self.buckets, float("inf")), counts, strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                bucket_label = 'le="' + le + '"'
                lines.append(f"{self.name}_bucket{_labels(self.label_names, key, bucket_label)} {running}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {self.sums[key]:g}")
            lines.append(f"{self.name}_count{_labels(self.label_names, key)} {running}")
        return lines


Metric = Counter | Histogram


class Registry:
    def __init__(self) -> None:
        self.metrics: list[Metric] = []

    def add(self, metric: Metric) -> Metric:
        self.metrics.append(metric)
        return metric

    def counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
        metric = Counter(name, doc, labels)
        self.metrics.append(metric)
        return metric

    def histogram(self, name: str, doc: str, labels: Sequence[str] = ()) -> Histogram:
        metric = Histogram(name, doc, labels)
        self.metrics.append(metric)
        return metric

    def gauge(
        self,
        name: str,
        doc: str,
        labels: Sequence[str] = (),
        source: Callable[[], dict[LabelValues, float]] | None = None,
    ) -> Gauge:
        metric = Gauge(name, doc, labels, source)
        self.metrics.append(metric)
        return metric

    def render(self) -> str:
        return "\n".join(line for metric in self.metrics for line in metric.render()) + "\n"
