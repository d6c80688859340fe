"""The metrics site: ``/metrics`` in Prometheus text format, ``/healthz`` with the failure reason."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from processors.metrics import FlaggerMetrics, MetricsSite, SinkMetrics, reason_label
from telemetry_core.events import Flags


async def test_metrics_and_health() -> None:
    metrics = SinkMetrics()
    metrics.rows.inc(amount=5)
    metrics.lag.source = lambda: {("telemetry.flagged.v2", "3"): 12.0}
    problem: list[str] = []
    site = MetricsSite(metrics.registry, "127.0.0.1", 0, lambda: problem[0] if problem else None)
    async with TestClient(TestServer(site.application())) as client:
        response = await client.get("/metrics")
        text = await response.text()
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert "telemetry_sink_rows_total 5" in text
        assert 'telemetry_sink_consumer_lag{topic="telemetry.flagged.v2",partition="3"} 12' in text
        assert (await client.get("/healthz")).status == 200
        problem.append("dead-letter ratio 0.90 ...")
        response = await client.get("/healthz")
        assert response.status == 503 and "dead-letter ratio 0.90" in await response.text()


def test_flags_are_counted_per_batch() -> None:
    metrics = FlaggerMetrics()
    metrics.count_flags([Flags(True, True, True, True, False, ()), Flags(False, True, False, False, True, ("a", "b"))])
    assert metrics.flags.values[("is_correct_format", "1")] == 1
    assert metrics.flags.values[("has_red_flags", "1")] == 1
    assert metrics.red_flags.values == {("a",): 1, ("b",): 1}


def test_reason_labels_are_the_first_word() -> None:
    assert reason_label("undecodable raw event: not JSON") == "undecodable"
    assert reason_label("") == "unknown"
