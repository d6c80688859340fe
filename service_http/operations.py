"""Operational endpoints, the same in both services: liveness, readiness, metrics, OpenAPI
(the public keys: ``service_http.keys``).

``/healthz`` and ``/readyz`` answer signed envelopes like every API answer. Two answers
are not envelopes because their consumers expect a fixed format: Prometheus text for
``/metrics`` and the OpenAPI JSON (the PEM keys are not envelopes either).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from service_http.answers import RETRY_AFTER_S, Answers, plain
from telemetry_core import codes
from telemetry_core.codes import Code
from telemetry_core.metrics import CONTENT_TYPE, render

OPENAPI_PATH = "/api/openapi.json"

# What is not ready yet: component -> reason (``None`` when that component is ready).
Readiness = Callable[[], Awaitable[dict[str, str | None]]]


class OperationHandlers:
    def __init__(
        self,
        answers: Answers,
        registry: CollectorRegistry,
        readiness: Readiness,
        openapi: dict[str, Any],
        unavailable: Code,
    ) -> None:
        self._answers = answers
        self._registry = registry
        self._readiness = readiness
        self._unavailable = unavailable
        self._openapi = json.dumps(openapi, separators=(",", ":")).encode()

    def add_routes(self, app: web.Application) -> None:
        """The operations routes."""
        app.router.add_get(OPENAPI_PATH, self.openapi)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)

    async def healthz(self, request: web.Request) -> web.Response:
        """The process is alive and its event loop answers."""
        return self._answers.signed(codes.SUCCESS)

    async def readyz(self, request: web.Request) -> web.Response:
        """200 once every component is ready; 503 naming each one that is not."""
        missing = {name: [reason] for name, reason in (await self._readiness()).items() if reason}
        if missing:
            return self._answers.signed(self._unavailable, missing, {"Retry-After": str(RETRY_AFTER_S)})
        return self._answers.signed(codes.SUCCESS)

    async def metrics(self, request: web.Request) -> web.Response:
        return plain(render(self._registry), CONTENT_TYPE)

    async def openapi(self, request: web.Request) -> web.Response:
        return plain(self._openapi, "application/json")
