"""The one middleware: every answer signed, every request counted and logged.

Refusals become their signed code; aiohttp's own HTTP errors (unknown path, wrong method,
body over ``client_max_size``) become the matching signed code; any other exception is
logged with its trace here and answered with a signed 500 that carries no detail.
"""

from __future__ import annotations

import asyncio
import logging
from time import perf_counter

from aiohttp import web
from aiohttp.typedefs import Handler

from ingest_api.answers import ANSWER_CODE, CLIENT_IP, EVENT_ID, Answers, Refusal
from ingest_api.logs import AccessLog
from ingest_api.metrics import IngestMetrics
from telemetry_core import codes
from telemetry_core.codes import Code
from telemetry_core.requests import client_ip
from telemetry_core.settings import Settings

log = logging.getLogger(__name__)

_BY_STATUS = {c.http_status: c for c in reversed(codes.ALL) if c.code == c.http_status}
_KEPT_HEADERS = ("Allow",)


def http_error_code(status: int) -> Code:
    """The code answering an aiohttp HTTP error of ``status`` (404, 405, 413...)."""
    return _BY_STATUS.get(status) or Code(status, status, "Request refused")


class AnswerMiddleware:
    """``__call__`` is the aiohttp middleware."""

    __middleware_version__ = 1  # what ``@web.middleware`` marks: called as (request, handler)

    def __init__(self, settings: Settings, answers: Answers, metrics: IngestMetrics, access_log: AccessLog) -> None:
        self._trust_forwarded_for = settings.trust_forwarded_for
        self._answers = answers
        self._metrics = metrics
        self._access_log = access_log

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = perf_counter()
        request[CLIENT_IP] = ip = client_ip(request.remote, request.headers, self._trust_forwarded_for)
        try:
            response = await handler(request)
        except Refusal as refusal:
            response = self._answers.refusal(refusal)
        except web.HTTPException as exc:
            response = self._http_error(exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unexpected error answering %s %s", request.method, request.path)
            response = self._answers.signed(codes.INTERNAL_ERROR)
        self._record(request, response, ip, perf_counter() - started)
        return response

    def _http_error(self, exc: web.HTTPException) -> web.Response:
        code = http_error_code(exc.status)
        headers = {name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
        return self._answers.signed(code, None, headers)

    def _record(self, request: web.Request, response: web.StreamResponse, ip: str, seconds: float) -> None:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        code = response.get(ANSWER_CODE, 0)
        self._metrics.requests.inc(route, str(code))
        self._metrics.request_seconds.observe(seconds, route)
        self._access_log.record(
            {
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "code": code,
                "latency_ms": round(seconds * 1000, 3),
                "event_id": response.get(EVENT_ID),
                "client_ip": ip,
            },
        )
