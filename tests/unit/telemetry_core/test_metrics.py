from __future__ import annotations

from telemetry_core.metrics import Registry


def test_counter_gauge_histogram_render_prometheus_text() -> None:
    registry = Registry()
    requests = registry.counter("requests_total", "Requests by code", ["code"])
    requests.inc("830")
    requests.inc("830")
    registry.gauge("lag", "Lag", ["partition"], source=lambda: {("0",): 5.0})
    latency = registry.histogram("latency_seconds", "Latency")
    latency.observe(0.003)
    latency.observe(20.0)
    text = registry.render()
    assert 'requests_total{code="830"} 2' in text
    assert "# TYPE lag gauge" in text and 'lag{partition="0"} 5' in text
    assert 'latency_seconds_bucket{le="0.005"} 1' in text
    assert 'latency_seconds_bucket{le="+Inf"} 2' in text
    assert "latency_seconds_count 2" in text


def test_label_values_are_escaped() -> None:
    registry = Registry()
    registry.counter("c", "doc", ["path"]).inc('a"b\\c')
    assert 'c{path="a\\"b\\\\c"} 1' in registry.render()
