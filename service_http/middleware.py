"""The one middleware: every answer signed, every request counted, timed and logged.

Refusals become their signed code; aiohttp's own HTTP errors (unknown path, wrong method,
body over ``client_max_size``) become the matching signed code; an exception the service
translates (``Profile.translate``: the query's storage errors) becomes its refusal; any other
exception is logged with its trace here and answered with the service's signed 500, which
carries no detail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Counter, Histogram

from service_http.answers import ANSWER_CODE, API_KEY_ID, CLIENT_IP, EVENT_ID, Answers, Refusal
from service_http.logs import AccessLog
from telemetry_core import codes
from telemetry_core.codes import Code
from telemetry_core.metrics import LATENCY_BUCKETS
from telemetry_core.requests import client_ip

log = logging.getLogger(__name__)

_BY_STATUS = {c.http_status: c for c in reversed(codes.ALL) if c.code == c.http_status}
_KEPT_HEADERS = ("Allow",)


def _untranslated(request: web.Request, exc: Exception) -> Refusal | None:
    return None


@dataclass(frozen=True)
class Profile:
    """What differs between services in how they answer (names and codes, not mechanisms).

    ``name`` prefixes the metrics (``telemetry_<name>_``) and names the access logger;
    ``logged_params`` are the query parameter names the access line may list (never values).
    """

    name: str
    internal_error: Code
    unavailable: Code
    logged_params: frozenset[str] = frozenset()
    translate: Callable[[web.Request, Exception], Refusal | None] = field(default=_untranslated)


class HttpMetrics:
    """``telemetry_<service>_requests_total{route,code}`` and ``..._request_seconds{route}``.

    ``record`` keeps each label set's children: ``labels()`` costs more than the increment.
    """

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        prefix = f"telemetry_{service}_"
        self.requests = Counter(
            prefix + "requests_total",
            "Requests answered, by route and answer code",
            ("route", "code"),
            registry=registry,
        )
        self.request_seconds = Histogram(
            prefix + "request_seconds",
            "Time from request to answer, by route",
            ("route",),
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}

    def record(self, route: str, code: int, seconds: float) -> None:
        children = self._children.get((route, code))
        if children is None:
            children = self.requests.labels(route, str(code)), self.request_seconds.labels(route)
            self._children[(route, code)] = children
        children[0].inc()
        children[1].observe(seconds)


def http_error_code(status: int) -> Code:
    """The code answering an aiohttp HTTP error of ``status`` (404, 405, 413...)."""
    return _BY_STATUS.get(status) or Code(status, status, "Request refused")


class AnswerMiddleware:
    """``__call__`` is the aiohttp middleware."""

    __middleware_version__ = 1  # what ``@web.middleware`` marks: called as (request, handler)

    def __init__(
        self,
        profile: Profile,
        answers: Answers,
        metrics: HttpMetrics,
        access_log: AccessLog,
        *,
        trust_forwarded_for: bool,
    ) -> None:
        self._profile = profile
        self._trust_forwarded_for = trust_forwarded_for
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
        except Exception as exc:
            response = self._unexpected(request, exc)
        self._record(request, response, ip, perf_counter() - started)
        return response

    def _unexpected(self, request: web.Request, exc: Exception) -> web.Response:
        translated = self._profile.translate(request, exc)
        if translated is not None:
            return self._answers.refusal(translated)
        log.error("unexpected error answering %s %s", request.method, request.path, exc_info=exc)
        return self._answers.signed(self._profile.internal_error)

    def _http_error(self, exc: web.HTTPException) -> web.Response:
        code = http_error_code(exc.status)
        if code.http_status == 500:
            code = self._profile.internal_error
        headers = {name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
        return self._answers.signed(code, None, headers)

    def _record(self, request: web.Request, response: web.StreamResponse, ip: str, seconds: float) -> None:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        code = response.get(ANSWER_CODE, 0)
        self._metrics.record(route, code, seconds)
        if not self._access_log.enabled:
            return
        logged = self._profile.logged_params
        self._access_log.record(
            request.method,
            request.path,
            sorted({name for name in request.query if name in logged}) if logged else [],
            response.status,
            code,
            round(seconds * 1000, 3),
            response.get(EVENT_ID),
            request.get(API_KEY_ID),
            ip,
        )
