"""The ingest application factory: routes, the answer middleware, and the lifetimes of the
Kafka producer and the reference feed (``cleanup_ctx``: started with the app, stopped after
the last request)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from ingest_api.answers import Answers
from ingest_api.event_ids import UuidV7
from ingest_api.handlers import SendHandlers
from ingest_api.logs import AccessLog
from ingest_api.metrics import IngestMetrics
from ingest_api.middleware import AnswerMiddleware
from ingest_api.operations import OperationHandlers
from ingest_api.publisher import Publisher
from ingest_api.reference_source import ReferenceSource, keep_loading
from telemetry_core.envelope import EnvelopeSigner
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer

SEND_PATH = "/api/v1/send-telemetry-data"
SDK_PATH = "/api/v1/send-telemetry"
BATCH_PATH = "/api/v1/send-telemetry-data/batch"
PUBLIC_KEY_PATH = "/api/v1/public-key"
# The JS SDK resolves "/v1/..." against the host root (dropping the base URL's /api): every
# /api/v1/ path is also served at /v1/.
ROOT_ALIAS = ("/api/v1/", "/v1/")
OPENAPI_PATH = "/api/openapi.json"

SETTINGS = web.AppKey("settings", Settings)
PUBLISHER: web.AppKey[Publisher] = web.AppKey("publisher")
REFERENCE: web.AppKey[ReferenceSource] = web.AppKey("reference")
ENVELOPES = web.AppKey("envelopes", EnvelopeSigner)
METRICS = web.AppKey("metrics", IngestMetrics)
ACCESS_LOG = web.AppKey("access_log", AccessLog)


def create_app(
    settings: Settings,
    *,
    publisher: Publisher,
    reference: ReferenceSource,
    signer: Signer,
    access_log: AccessLog | None = None,
) -> web.Application:
    """The ingest app; ``publisher`` and ``reference`` are started and stopped with it.

    ``access_log`` defaults to JSON lines on stderr when the access logger is enabled for INFO.
    """
    envelopes = EnvelopeSigner(signer)
    access = access_log if access_log is not None else AccessLog()

    def readiness() -> dict[str, str | None]:
        loaded = reference.ready.is_set()
        return {"kafka": publisher.readiness(), "reference": None if loaded else "reference data not loaded yet"}

    metrics = IngestMetrics(envelopes, readiness)
    answers = Answers(envelopes)
    app = web.Application(
        client_max_size=settings.max_body_bytes, middlewares=[AnswerMiddleware(settings, answers, metrics, access)]
    )
    app[SETTINGS], app[PUBLISHER], app[REFERENCE] = settings, publisher, reference
    app[ENVELOPES], app[METRICS] = envelopes, metrics

    send = SendHandlers(settings, publisher, reference, answers, metrics, UuidV7())
    ops = OperationHandlers(answers, metrics, readiness)
    for path in (SEND_PATH, SDK_PATH):
        app.router.add_post(path, send.send)
        app.router.add_post(path.replace(*ROOT_ALIAS), send.send)
    for path in (BATCH_PATH, BATCH_PATH.replace(*ROOT_ALIAS)):
        app.router.add_post(path, send.send_batch)
    for path in (PUBLIC_KEY_PATH, PUBLIC_KEY_PATH.replace(*ROOT_ALIAS)):
        app.router.add_get(path, ops.public_key)
    app.router.add_get(OPENAPI_PATH, ops.openapi)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", ops.metrics)
    app.cleanup_ctx.append(_publisher_lifetime)
    app.cleanup_ctx.append(_reference_lifetime)
    app[ACCESS_LOG] = access
    app.on_cleanup.append(_flush_access_log)
    return app


async def _flush_access_log(app: web.Application) -> None:
    app[ACCESS_LOG].flush()


async def _publisher_lifetime(app: web.Application) -> AsyncIterator[None]:
    publisher = app[PUBLISHER]
    await publisher.start()
    yield
    await publisher.stop()


async def _reference_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Loads in the background: the app serves /healthz and answers 503 until loaded."""
    source = app[REFERENCE]
    loading = asyncio.create_task(keep_loading(source), name="reference-load")
    yield
    loading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loading
    await source.stop()
