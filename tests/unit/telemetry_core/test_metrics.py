from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from telemetry_core.metrics import CONTENT_TYPE, ScrapeCollector, render


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
