"""What tests read from a ``prometheus_client`` metric: its values by label values."""

from __future__ import annotations

from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families


def samples(metric: MetricWrapperBase) -> dict[tuple[str, ...], float]:
    """Label values -> value of a counter (its ``_total``) or gauge; labels with no update are absent."""
    out: dict[tuple[str, ...], float] = {}
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            out[tuple(sample.labels.values())] = sample.value
    return out


def scraped(text: str, name: str, **labels: str) -> float | None:
    """The value of sample ``name`` with exactly ``labels`` in a ``/metrics`` body (None when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None
