"""Operational endpoints: liveness, readiness, metrics, the public key, the OpenAPI document.

``/healthz`` and ``/readyz`` answer signed envelopes like every API answer. Three answers
are not envelopes because their consumers expect a fixed format: Prometheus text for
``/metrics``, the PEM key itself (it is what verifies envelopes), and the OpenAPI JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web

from ingest_api.answers import ANSWER_CODE, Answers
from ingest_api.metrics import IngestMetrics
from telemetry_core import codes, openapi

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PEM_TYPE = "application/x-pem-file"

Readiness = Callable[[], dict[str, str | None]]


class OperationHandlers:
    def __init__(self, answers: Answers, metrics: IngestMetrics, readiness: Readiness) -> None:
        self._answers = answers
        self._metrics = metrics
        self._readiness = readiness
        self._openapi = json.dumps(openapi.document("ingest"), separators=(",", ":")).encode()

    async def healthz(self, request: web.Request) -> web.Response:
        """The process is alive and its event loop answers."""
        return self._answers.signed(codes.SUCCESS)

    async def readyz(self, request: web.Request) -> web.Response:
        """200 once Kafka answers and reference data is loaded; 503 naming what is missing."""
        missing = {name: [reason] for name, reason in self._readiness().items() if reason}
        if missing:
            return self._answers.signed(codes.STORE_UNAVAILABLE, missing, {"Retry-After": "5"})
        return self._answers.signed(codes.SUCCESS)

    async def metrics(self, request: web.Request) -> web.Response:
        return _plain(self._metrics.render().encode(), PROMETHEUS_TYPE)

    async def public_key(self, request: web.Request) -> web.Response:
        """The PEM (SubjectPublicKeyInfo) of the key that signs every envelope."""
        return _plain(self._answers.envelopes.public_key_pem, PEM_TYPE)

    async def openapi(self, request: web.Request) -> web.Response:
        return _plain(self._openapi, "application/json")


def _plain(body: bytes, content_type: str) -> web.Response:
    response = web.Response(body=body, headers={"Content-Type": content_type})
    response[ANSWER_CODE] = codes.SUCCESS.code
    return response
