"""The metrics site: ``/metrics`` in Prometheus text format, ``/healthz`` with the failure reason."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from metric_samples import samples, scraped

from processors.metrics import FlaggerMetrics, MetricsSite, SinkMetrics, reason_label
from telemetry_core.events import Flags


async def test_metrics_and_health() -> None:
    metrics = SinkMetrics()
    metrics.rows.inc(5)
    metrics.lag.source = lambda: {("telemetry.flagged.v2", "3"): 12.0}
    problem: list[str] = []
    site = MetricsSite(metrics.registry, "127.0.0.1", 0, lambda: problem[0] if problem else None)
    async with TestClient(TestServer(site.application())) as client:
        response = await client.get("/metrics")
        text = await response.text()
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert scraped(text, "telemetry_sink_rows_total") == 5
        assert scraped(text, "telemetry_sink_consumer_lag", topic="telemetry.flagged.v2", partition="3") == 12
        assert (await client.get("/healthz")).status == 200
        problem.append("dead-letter ratio 0.90 ...")
        response = await client.get("/healthz")
        assert response.status == 503 and "dead-letter ratio 0.90" in await response.text()


def test_flags_are_counted_per_batch() -> None:
    metrics = FlaggerMetrics()
    metrics.count_flags([Flags(True, True, True, True, False, ()), Flags(False, True, False, False, True, ("a", "b"))])
    assert samples(metrics.flags)[("is_correct_format", "1")] == 1
    assert samples(metrics.flags)[("has_red_flags", "1")] == 1
    assert samples(metrics.red_flags) == {("a",): 1, ("b",): 1}


def test_reason_labels_are_the_first_word() -> None:
    assert reason_label("undecodable raw event: not JSON") == "undecodable"
    assert reason_label("") == "unknown"
