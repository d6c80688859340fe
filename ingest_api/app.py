"""The ingest application factory: routes on the shared HTTP layer (``service_http``), and the
lifetimes of the Kafka producer and the reference feed (``cleanup_ctx``: started with the app,
stopped after the last request)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import hdrs, web

from ingest_api.event_ids import UuidV7
from ingest_api.handlers import SendHandlers
from ingest_api.metrics import IngestMetrics
from service_http import reference as reference_data
from service_http.answers import Answers
from service_http.application import add_api_route, application
from service_http.logs import AccessLog
from service_http.middleware import Profile
from service_http.reference import ReferenceSource
from telemetry_core import codes, openapi
from telemetry_core.envelope import EnvelopeSigner
from telemetry_core.kafka_publisher import Publisher
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer

SEND_PATH = "/api/v1/send-telemetry-data"
SDK_PATH = "/api/v1/send-telemetry"
BATCH_PATH = "/api/v1/send-telemetry-data/batch"

PROFILE = Profile("ingest", internal_error=codes.INTERNAL_ERROR, unavailable=codes.STORE_UNAVAILABLE)
PUBLISHER: web.AppKey[Publisher] = web.AppKey("publisher")
REFERENCE: web.AppKey[ReferenceSource] = web.AppKey("reference")


def create_app(
    settings: Settings,
    *,
    publisher: Publisher,
    reference: ReferenceSource,
    signer: Signer,
    access_log: AccessLog | None = None,
) -> web.Application:
    """The ingest app; ``publisher`` and ``reference`` are started and stopped with it.

    Every ``/api/v1/`` path is also served at ``/v1/`` (``add_api_route``).
    """
    envelopes = EnvelopeSigner(signer)

    def readiness() -> dict[str, str | None]:
        loaded = reference.ready.is_set()
        return {"kafka": publisher.readiness(), "reference": None if loaded else "reference data not loaded yet"}

    async def ready() -> dict[str, str | None]:
        return readiness()

    metrics = IngestMetrics(envelopes, readiness)
    answers = Answers(envelopes)
    app = application(
        PROFILE,
        settings,
        answers,
        registry=metrics.registry,
        readiness=ready,
        openapi=openapi.document("ingest"),
        access_log=access_log,
        client_max_size=settings.max_body_bytes,
    )
    app[PUBLISHER], app[REFERENCE] = publisher, reference

    send = SendHandlers(settings, publisher, reference, answers, metrics, UuidV7())
    add_api_route(app, hdrs.METH_POST, SEND_PATH, send.send)
    add_api_route(app, hdrs.METH_POST, SDK_PATH, send.send)
    add_api_route(app, hdrs.METH_POST, BATCH_PATH, send.send_batch)
    app.cleanup_ctx.append(_publisher_lifetime)
    app.cleanup_ctx.append(reference_data.lifetime(lambda app: app[REFERENCE]))
    return app


async def _publisher_lifetime(app: web.Application) -> AsyncIterator[None]:
    publisher = app[PUBLISHER]
    await publisher.start()
    yield
    await publisher.stop()
