"""The ingest service with another publisher, for bench/ingest.py's side-by-side runs (not a test):

    python bench/ingest_server.py send      # aiokafka's ``send`` per record, no flusher
    python bench/ingest_server.py keyed     # the flusher, every record partitioned by its key
    python bench/ingest_server.py flusher   # what ``python -m ingest_api`` runs
    python bench/ingest_server.py asyncio   # the same on the standard asyncio loop (TELEMETRY_EVENT_LOOP)
    python bench/ingest_server.py instant   # a publisher that acknowledges at once: the ingest without Kafka
    python bench/ingest_server.py floor     # the bare handler plus the ingest's publisher: no ingest logic

Same settings (environment), app, access log and shutdown as ``python -m ingest_api``; only the
publisher differs (except ``floor``, below). ``send`` is the question the flusher must answer:
does coalescing concurrent requests into one ``publish`` pay, against aiokafka's own accumulator (a ``send`` per record,
which appends to the open batch of its partition)? ``keyed`` measures ``ANY_PARTITION``: the
ingest as before it, every record placed by aiokafka's partitioner over its key.

``floor`` is the least any ingest must do here: the bare handler of bench/ingest_load.py
(read the body, answer a fixed JSON body as large as the 830 answer) that also publishes the
body it read through the ingest's publisher (flusher, acks=all) and answers only after
Kafka's acknowledgement. No parsing, authentication, validation, signing, metrics or access
line: its CPU per request against the bare handler's is the part of the ratio that Kafka
alone takes.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Sequence

from aiohttp import web
from aiokafka.errors import KafkaError

from ingest_api import __main__ as ingest_main
from ingest_api import flusher as flusher_module
from ingest_api.app import create_app
from ingest_api.flusher import RecordFlusher, ingest_publisher
from service_http import serving
from telemetry_core import kafka_publisher, topics
from telemetry_core.kafka_publisher import (
    ANY_PARTITION,
    KafkaPublisher,
    OutRecord,
    Publisher,
    PublishError,
    record_size,
)
from telemetry_core.reference import ReferenceStore
from telemetry_core.reference_feed import ReferenceFeed
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
import ingest_load  # bench/, beside this file
from publisher_fakes import AcknowledgingPublisher  # the test fakes


class SendPerRecord(KafkaPublisher):
    """``KafkaPublisher`` with aiokafka's ``send`` per record and an ``asyncio.timeout`` per call."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings,
            "telemetry-ingest",
            max_record_bytes=topics.MAX_RAW_RECORD_BYTES,
            max_batch_bytes=kafka_publisher.INGEST_BATCH_BYTES,
            background=True,
        )
        self._timeout_s = settings.publish_timeout_s

    async def publish(self, records: Sequence[OutRecord]) -> None:
        producer = self._producer
        if producer is None:
            raise PublishError("not_connected")
        if any(record_size(r) > self.max_record_bytes for r in records):
            raise PublishError("too_large")
        try:
            async with asyncio.timeout(self._timeout_s):
                futures = [await producer.send(r.topic, r.value, key=r.key) for r in records]
                await asyncio.gather(*futures)
        except TimeoutError:
            raise PublishError("timeout") from None
        except KafkaError as exc:
            raise PublishError("kafka_error", repr(exc)) from exc


class Keyed(RecordFlusher):
    """The ingest's flusher with every record key-partitioned (no ``ANY_PARTITION``)."""

    async def publish(self, records: Sequence[OutRecord]) -> None:
        await super().publish([r._replace(partition=None) if r.partition == ANY_PARTITION else r for r in records])


def floor_app(settings: Settings, signer: Signer) -> web.Application:
    """The ``floor`` variant (module docstring): the bare handler, publishing what it read."""
    publisher = ingest_publisher(settings)
    body = ingest_load.answer_body(int(os.environ.get("BENCH_ANSWER_SIZE", "962")))

    async def handle(request: web.Request) -> web.Response:
        value = await request.read()
        try:
            await publisher.publish([OutRecord(topics.RAW, None, value, partition=ANY_PARTITION)])
        except PublishError as exc:  # counted by the bench as a non-2xx status, never as a 500
            return web.Response(status=503, text=exc.reason)
        return web.Response(body=body, content_type="application/json")

    async def ready(request: web.Request) -> web.Response:
        return web.Response(status=200 if publisher.readiness() is None else 503)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        await publisher.start()
        yield
        await publisher.stop()

    app = web.Application()
    app.router.add_get("/readyz", ready)
    app.router.add_post("/{tail:.*}", handle)
    app.cleanup_ctx.append(lifetime)
    return app


def build(variant: str) -> serving.Factory:
    if variant == "floor":
        return floor_app

    def factory(settings: Settings, signer: Signer) -> web.Application:
        publisher: Publisher
        if variant == "instant":
            publisher = AcknowledgingPublisher()
        elif variant == "send":
            publisher = SendPerRecord(settings)
        elif variant == "keyed":
            kafka = ingest_publisher(settings)._publisher
            wait_s, max_bytes = settings.publish_timeout_s, flusher_module.MAX_BUFFERED_BYTES
            publisher = Keyed(kafka, wait_s=wait_s, max_bytes=max_bytes)
        else:
            publisher = ingest_publisher(settings)
        reference = ReferenceFeed(settings, ReferenceStore())
        return create_app(settings, publisher=publisher, reference=reference, signer=signer)

    return factory


def main() -> int:
    variant = sys.argv[1] if len(sys.argv) > 1 else "flusher"
    if variant not in ("send", "keyed", "flusher", "asyncio", "instant", "floor"):
        print("usage: ingest_server.py send|keyed|flusher|asyncio|instant|floor", file=sys.stderr)
        return 2
    if variant == "asyncio":
        os.environ["TELEMETRY_EVENT_LOOP"], variant = "asyncio", "flusher"
    return serving.run(
        f"bench-ingest-{variant}",
        build(variant),
        lambda s: (s.ingest_host, s.ingest_port),
        ingest_main.SHUTDOWN_TIMEOUT_S,
    )


if __name__ == "__main__":
    sys.exit(main())
