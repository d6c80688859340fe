"""CPU cost of the metrics (prometheus_client) on the hot paths, in this process.

    .venv/bin/python bench/metrics.py [--rounds 7]

Prints CPU microseconds (``time.process_time``, so other processes on a loaded machine count
less than in wall time; the best of ``--rounds``) of:
- one HTTP request's metrics (the shared middleware: requests_total + request_seconds);
- the ingest's own per-request updates (publish_seconds + events_total for one event);
- one worker batch's updates (messages, batch size and seconds, commit, the flagger's flag
  counts for 1,000 events), also per event of that batch;
- one scrape of a worker's ``/metrics`` body.
A baseline of the same loop doing nothing is subtracted. Figures: bench/RESULTS.metrics.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry

from processors.metrics import FlaggerMetrics
from service_http.middleware import HttpMetrics
from telemetry_core.events import Flags
from telemetry_core.metrics import render

ROUTE = "/api/v1/send-telemetry-data"
BATCH = 1000


def cpu_us(work: Callable[[], object], calls: int, rounds: int) -> float:
    """Best CPU microseconds per call of ``work`` over ``rounds`` rounds of ``calls`` calls."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            work()
        best = min(best, (time.process_time() - started) / calls * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds

    http = HttpMetrics(CollectorRegistry(), "ingest")
    flagger = FlaggerMetrics()
    flagger.lag.source = lambda: {("telemetry.raw.v1", str(p)): 10.0 for p in range(12)}
    flags = [Flags(True, True, True, True, False, ())] * 900 + [Flags(False, True, False, True, True, ("a",))] * 100
    acked, events = flagger.batch_seconds, flagger.messages  # same types as the ingest's own

    def worker_batch() -> None:
        flagger.messages.inc(BATCH)
        flagger.count_flags(flags)
        flagger.batch_size.observe(BATCH)
        flagger.batch_seconds.observe(0.05)
        flagger.commits.inc()

    baseline = cpu_us(lambda: None, 200_000, rounds)
    figures = {
        "HTTP request metrics (per request)": cpu_us(lambda: http.record(ROUTE, 830, 0.003), 200_000, rounds),
        "ingest publish metrics (per request)": cpu_us(lambda: (acked.observe(0.002), events.inc()), 200_000, rounds),
        "worker batch metrics (per batch of 1,000)": cpu_us(worker_batch, 2_000, rounds),
        "worker /metrics scrape (per scrape)": cpu_us(lambda: render(flagger.registry), 500, rounds),
    }
    print(f"load average: {Path('/proc/loadavg').read_text().strip()}")
    print(f"empty call baseline: {baseline:.3f} µs (subtracted)")
    for name, value in figures.items():
        print(f"{name}: {value - baseline:.2f} µs CPU")
    per_event = (figures["worker batch metrics (per batch of 1,000)"] - baseline) / BATCH
    print(f"worker batch metrics per event: {per_event:.3f} µs CPU")


if __name__ == "__main__":
    main()
