"""The application factory: routes, the answer middleware and the storage lifetime.

Every failure becomes a signed envelope at one place (``answers``): unknown paths 404,
wrong methods 405, storage errors 503 with ``Retry-After``, anything unexpected 500 (logged
with its traceback here, never sent).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from query_api import handlers
from query_api.dashboard import add_dashboard_routes
from query_api.handlers import signed
from query_api.monitoring import ANSWER_CODE
from query_api.service import SERVICE, Service
from query_api.storage import Storage, StorageUnavailable
from telemetry_core import codes, openapi
from telemetry_core.envelope import EnvelopeSigner
from telemetry_core.reference import ReferenceLookup
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer

log = logging.getLogger(__name__)

RECORDS_PATH = "/api/v1/get-telemetry-data"
AGGREGATES_PATH = "/api/v1/get-telemetry-aggregates"
PUBLIC_KEY_PATH = "/api/v1/public-key"
OPENAPI_PATH = "/api/openapi.json"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    settings: Settings,
    *,
    storage: Storage,
    reference: ReferenceLookup,
    signer: Signer,
    reference_ready: Callable[[], bool] | None = None,
) -> web.Application:
    """The query service; ``storage`` is started and closed with the application."""
    service = Service(
        settings=settings,
        storage=storage,
        reference=reference,
        signer=EnvelopeSigner(signer),
        page_signer=EnvelopeSigner(signer, cache_size=0),
    )
    if reference_ready is not None:
        service.reference_ready = reference_ready
    service.openapi = json.dumps(openapi.document(), separators=(",", ":")).encode()
    app = web.Application(middlewares=[answers])
    app[SERVICE] = service
    app.cleanup_ctx.append(_storage_lifetime)
    app.router.add_get(RECORDS_PATH, handlers.get_records, allow_head=False)
    app.router.add_get(AGGREGATES_PATH, handlers.get_aggregates, allow_head=False)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    app.router.add_get("/metrics", handlers.metrics)
    app.router.add_get(PUBLIC_KEY_PATH, handlers.public_key)
    app.router.add_get(OPENAPI_PATH, handlers.openapi_document)
    add_dashboard_routes(app)
    return app


async def _storage_lifetime(app: web.Application) -> AsyncIterator[None]:
    storage = app[SERVICE].storage
    await storage.start()
    yield
    await storage.close()


@web.middleware
async def answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into a signed answer and count every answer by endpoint and code."""
    service = request.app[SERVICE]
    resource = request.match_info.route.resource
    endpoint = resource.canonical if resource is not None else "unmatched"
    try:
        response = await handler(request)
    except web.HTTPNotFound:
        response = signed(service.signer, codes.NOT_FOUND)
    except web.HTTPMethodNotAllowed as exc:
        response = signed(service.signer, codes.METHOD_NOT_ALLOWED, headers={"Allow": ", ".join(exc.allowed_methods)})
    except StorageUnavailable as exc:
        service.metrics.storage_errors.inc(endpoint)
        log.warning("answered 503: %s", exc)
        response = signed(service.signer, codes.STORAGE_UNAVAILABLE, headers={"Retry-After": "1"})
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unexpected error answering %s %s", request.method, request.path)
        response = signed(service.signer, codes.INTERNAL_QUERY_ERROR)
    service.metrics.requests.inc(endpoint, str(response.get(ANSWER_CODE, response.status)))
    return response
