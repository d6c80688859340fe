"""The application both services are built on: the middleware, the operations routes, the logs.

``application()`` returns an ``aiohttp`` app that already answers ``/healthz``, ``/readyz``,
``/metrics``, the public keys and the OpenAPI document, signs whatever its handlers raise,
and switches to a rotated signing key without a restart (``service_http.keys``).
A service (or any module of it) then adds its routes; ``add_api_route`` registers an
``/api/v1/...`` path together with its host-root alias ``/v1/...`` (the JS SDK drops the
base URL's ``/api``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry

from service_http import keys
from service_http.answers import Answers
from service_http.logs import AccessLog
from service_http.middleware import AnswerMiddleware, HttpMetrics, Profile
from service_http.operations import OperationHandlers, Readiness
from telemetry_core.settings import Settings

API_PREFIX, ROOT_PREFIX = "/api/v1/", "/v1/"
ACCESS_LOG = web.AppKey("access_log", AccessLog)


def root_alias(path: str) -> str:
    """``/api/v1/x`` -> ``/v1/x``; other paths have no alias (returned unchanged)."""
    return ROOT_PREFIX + path.removeprefix(API_PREFIX) if path.startswith(API_PREFIX) else path


def add_api_route(app: web.Application, method: str, path: str, handler: Handler, **options: Any) -> None:
    """``path`` and its host-root alias, both answered by ``handler`` (a GET gets no implicit HEAD)."""
    for served in dict.fromkeys((path, root_alias(path))):
        app.router.add_route(method, served, handler, **options)


def application(
    profile: Profile,
    settings: Settings,
    answers: Answers,
    *,
    registry: CollectorRegistry,
    readiness: Readiness,
    openapi: dict[str, Any],
    access_log: AccessLog | None = None,
    client_max_size: int = 1024**2,
) -> web.Application:
    """An app with the shared middleware and operations routes; the caller adds its own routes.

    ``access_log`` defaults to JSON lines on stderr when the service's access logger is
    enabled for INFO; ``/metrics`` renders ``registry``, where the HTTP layer adds its request
    counter and latency histogram.
    """
    access = access_log if access_log is not None else AccessLog(profile.name)
    middleware = AnswerMiddleware(
        profile, answers, HttpMetrics(registry, profile.name), access, trust_forwarded_for=settings.trust_forwarded_for
    )
    app = web.Application(client_max_size=client_max_size, middlewares=[middleware])
    app[ACCESS_LOG] = access
    operations = OperationHandlers(answers, registry, readiness, openapi, profile.unavailable)
    operations.add_routes(app)
    app[keys.KEY_WATCH] = watch = keys.key_watch(settings, answers)
    keys.KeyHandlers(watch, answers).add_routes(app, root_alias)
    app.cleanup_ctx.append(keys.watch_lifetime(settings.signing_key_check_s))
    app.on_cleanup.append(_flush_access_log)
    return app


async def _flush_access_log(app: web.Application) -> None:
    app[ACCESS_LOG].flush()
