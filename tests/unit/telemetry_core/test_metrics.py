from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from telemetry_core.metrics import CONTENT_TYPE, LATENCY_BUCKETS, LoopCounter, LoopHistogram, ScrapeCollector, render


def test_scrape_collectors_read_their_source_when_scraped() -> None:
    registry = CollectorRegistry()
    lag = {("0",): 5.0}
    registry.register(ScrapeCollector("lag", "Lag", ["partition"], lambda: lag))
    registry.register(ScrapeCollector("hits_total", "Hits", (), lambda: {(): 3.0}, kind="counter"))
    text = render(registry).decode()
    assert "# TYPE lag gauge" in text and 'lag{partition="0"} 5.0' in text
    assert "# TYPE hits_total counter" in text and "hits_total 3.0" in text
    lag[("1",)] = 2.0
    assert 'lag{partition="1"} 2.0' in render(registry).decode()


def test_registries_are_separate_and_the_text_format_is_0_0_4() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    Counter("requests_total", "Requests", ["code"], registry=first).labels("830").inc()
    Counter("requests_total", "Requests", ["code"], registry=second)  # same name, another app: no clash
    assert 'requests_total{code="830"} 1.0' in render(first).decode()
    assert "830" not in render(second).decode()
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


def test_label_values_are_escaped() -> None:
    registry = CollectorRegistry()
    Counter("c_total", "doc", ["path"], registry=registry).labels('a"b\\c').inc()
    assert 'c_total{path="a\\"b\\\\c"} 1.0' in render(registry).decode()


def _without_created_values(text: str) -> str:
    return re.sub(r"(_created(?:\{[^}]*\})?) \S+", r"\1 T", text)


def test_loop_metrics_render_as_prometheus_client_counters_and_histograms_do() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    mine = LoopHistogram("t_seconds", "Time", ["route"], ours).labels("/a")
    reference = Histogram("t_seconds", "Time", ["route"], registry=theirs, buckets=LATENCY_BUCKETS).labels("/a")
    for value in (0.0005, 0.001, 0.003, 0.7, 42.0):
        mine.observe(value)
        reference.observe(value)
    LoopCounter("r_total", "Requests", ["route", "code"], ours).labels("/a", "830").inc()
    LoopCounter("e_total", "Events", ["code"], ours).labels("831").inc(3)
    requests = Counter("r_total", "Requests", ["route", "code"], registry=theirs)
    requests.labels("/a", "830").inc()
    Counter("e_total", "Events", ["code"], registry=theirs).labels("831").inc(3)
    assert _without_created_values(render(ours).decode()) == _without_created_values(render(theirs).decode())
    assert 't_seconds_bucket{le="0.001",route="/a"} 2.0' in render(ours).decode()  # le is inclusive


def test_loop_metrics_refuse_the_wrong_number_of_labels() -> None:
    counter = LoopCounter("x_total", "X", ["code"], CollectorRegistry())
    with pytest.raises(ValueError, match="takes labels"):
        counter.labels("1", "2")
