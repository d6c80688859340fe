"""The application factory: the query routes on the shared HTTP layer (``service_http``), and
the lifetimes of the store and the reference feed.

Every failure becomes a signed envelope in the shared middleware: refusals (401, 422, 503
while reference data loads), unknown paths 404, wrong methods 405, storage errors 503 with
``Retry-After`` (``_storage_refusal``), anything unexpected 500 (logged with its traceback,
never sent). Another module adds its routes with a ``register(app)`` call below, using
``add_api_route`` and the ``SERVICE`` key like ``handlers`` does.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import hdrs, web

from query_api import erasure, handlers
from query_api.dashboard import add_dashboard_routes
from query_api.params import AGGREGATE_PARAMS, RECORD_PARAMS
from query_api.service import SERVICE, Eraser, Service
from query_api.storage import Storage, StorageUnavailable
from service_http import reference as reference_data
from service_http.answers import Answers, Refusal
from service_http.application import add_api_route, application
from service_http.logs import AccessLog
from service_http.middleware import Profile
from service_http.reference import ReferenceSource
from telemetry_core import codes, openapi
from telemetry_core.envelope import EnvelopeSigner
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer

log = logging.getLogger(__name__)

RECORDS_PATH = "/api/v1/get-telemetry-data"
AGGREGATES_PATH = "/api/v1/get-telemetry-aggregates"
STORAGE_RETRY_AFTER_S = 1


def _storage_refusal(request: web.Request, exc: Exception) -> Refusal | None:
    """A store that could not answer is a 503 (its reason is logged, never sent)."""
    if not isinstance(exc, StorageUnavailable):
        return None
    resource = request.match_info.route.resource
    request.app[SERVICE].metrics.storage_errors.labels(
        resource.canonical if resource is not None else "unmatched"
    ).inc()
    log.warning("answered 503: %s", exc)
    return Refusal(codes.STORAGE_UNAVAILABLE, None, {"Retry-After": str(STORAGE_RETRY_AFTER_S)})


# Only names the API defines are logged: an unknown name could be anything, a pasted key too.
PROFILE = Profile(
    "query",
    internal_error=codes.INTERNAL_QUERY_ERROR,
    unavailable=codes.STORAGE_UNAVAILABLE,
    logged_params=frozenset(RECORD_PARAMS + AGGREGATE_PARAMS) - {"api_key"},
    translate=_storage_refusal,
)


def create_app(
    settings: Settings,
    *,
    storage: Storage,
    reference: ReferenceSource,
    signer: Signer,
    access_log: AccessLog | None = None,
    eraser: Eraser | None = None,
) -> web.Application:
    """The query service; ``storage`` and ``reference`` are started and stopped with the app.

    It starts while Kafka or ClickHouse is unreachable: reference data loads in the
    background, the store connects on first use, and requests get 503 until they can be served.
    """
    answers = Answers(EnvelopeSigner(signer), pages=EnvelopeSigner(signer, cache_size=0))
    service = Service(
        settings=settings,
        storage=storage,
        reference=reference,
        answers=answers,
        eraser=eraser or erasure.ClickHouseEraser(settings),
    )

    async def ready() -> dict[str, str | None]:
        return await handlers.readiness(service)

    app = application(
        PROFILE,
        settings,
        answers,
        registry=service.metrics.registry,
        readiness=ready,
        openapi=openapi.document("query"),
        access_log=access_log,
    )
    app[SERVICE] = service
    app.cleanup_ctx.append(_storage_lifetime)
    app.cleanup_ctx.append(reference_data.lifetime(lambda app: app[SERVICE].reference))
    register(app)
    add_dashboard_routes(app)
    return app


def register(app: web.Application) -> None:
    """The query routes (each ``/api/v1/`` path also at ``/v1/``)."""
    add_api_route(app, hdrs.METH_GET, RECORDS_PATH, handlers.get_records)
    add_api_route(app, hdrs.METH_GET, AGGREGATES_PATH, handlers.get_aggregates)
    erasure.register(app)


async def _storage_lifetime(app: web.Application) -> AsyncIterator[None]:
    storage = app[SERVICE].storage
    await storage.start()
    yield
    await storage.close()
    await app[SERVICE].eraser.close()
