"""HTTP handlers: authenticate, validate, read, answer with a signed envelope.

Every answer except exports and the operations endpoints is the platform's signed envelope.
Authentication comes first (codes 100-103, HTTP 401), so an unauthenticated caller learns
nothing about parameters; then validation (422 with field errors); then the read, always for
the key's own tenant.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from query_api import export
from query_api.monitoring import ANSWER_CODE, API_KEY_ID, timed
from query_api.params import AggregateQuery, RecordQuery, encode_cursor, parse_aggregates, parse_records
from query_api.records import cursor_after, to_bucket, to_record
from query_api.service import SERVICE, Service
from telemetry_core import codes
from telemetry_core.auth import READ, authenticate
from telemetry_core.codes import Code
from telemetry_core.envelope import EnvelopeSigner
from telemetry_core.events import FieldErrors
from telemetry_core.reference import ApiKey
from telemetry_core.requests import client_ip, extract_api_key

JSON = "application/json"
NUMERIC_TYPES = ("numeric-single-value", "numeric-xy-axis")


def signed(signer: EnvelopeSigner, code: Code, headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    """The signed envelope of ``code`` (plus ``extra`` response fields) with its HTTP status."""
    body = signer.answer(code.code, code.message, **extra)
    response = web.Response(body=body, status=code.http_status, content_type=JSON, headers=headers)
    response[ANSWER_CODE] = code.code
    return response


def _authenticate(request: web.Request, service: Service) -> ApiKey | web.Response:
    secret = extract_api_key(request.headers, request.query, {})
    address = client_ip(request.remote, request.headers, service.settings.trust_forwarded_for)
    found = authenticate(secret, address, READ, service.reference)
    if isinstance(found, Code):
        return signed(service.signer, found)
    request[API_KEY_ID] = found.id
    return found


def _invalid(service: Service, errors: FieldErrors) -> web.Response:
    return signed(service.signer, codes.INVALID_PARAMETERS, errors=errors)


async def get_records(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/get-telemetry-data``: a page of records, or an export with ``format``."""
    service = request.app[SERVICE]
    key = _authenticate(request, service)
    if isinstance(key, web.Response):
        return key
    settings = service.settings
    query = parse_records(
        request.query.items(), default_limit=settings.query_default_limit, max_limit=settings.query_max_limit
    )
    if not isinstance(query, RecordQuery):
        return _invalid(service, query)
    if query.format != "json":
        return await export.stream(request, service, key.tenant, query)
    # One row more than asked tells whether another page exists.
    rows = await timed(service.metrics, "records", service.storage.records(key.tenant, query, query.limit + 1))
    page = rows[: query.limit]
    extra: dict[str, Any] = {"data": [to_record(row) for row in page]}
    if len(rows) > query.limit:
        extra["next_cursor"] = encode_cursor(cursor_after(page[-1]))
    return signed(service.page_signer, codes.SUCCESS, **extra)


async def get_aggregates(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/get-telemetry-aggregates``: counts and value statistics per time bucket."""
    service = request.app[SERVICE]
    key = _authenticate(request, service)
    if isinstance(key, web.Response):
        return key
    settings = service.settings
    query = parse_aggregates(
        request.query.items(), default_limit=settings.query_default_limit, max_limit=settings.query_max_limit
    )
    if not isinstance(query, AggregateQuery):
        return _invalid(service, query)
    rows = await timed(service.metrics, "aggregates", service.storage.aggregates(key.tenant, query))
    numeric = query.filters.data_type in NUMERIC_TYPES
    source = "events" if query.filters.needs_events else "events_hourly"
    data = [to_bucket(row, numeric) for row in rows]
    return signed(service.page_signer, codes.SUCCESS, interval=query.interval, source=source, data=data)


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process and its event loop answer (a signed 200, as in ingest)."""
    return signed(request.app[SERVICE].signer, codes.SUCCESS)


async def readyz(request: web.Request) -> web.Response:
    """Readiness: reference data loaded and ClickHouse answering with the tables in place.

    503 names what is missing in ``errors``, like ingest's readiness answer.
    """
    service = request.app[SERVICE]
    missing: FieldErrors = {}
    if not service.reference_ready():
        missing["reference_data"] = ["not loaded yet"]
    if not await timed(service.metrics, "readiness", service.storage.ready()):
        missing["clickhouse"] = ["not reachable, or the telemetry tables are missing"]
    if missing:
        return signed(service.signer, codes.STORAGE_UNAVAILABLE, {"Retry-After": "5"}, errors=missing)
    return signed(service.signer, codes.SUCCESS)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of the service's metrics."""
    body = request.app[SERVICE].metrics.registry.render().encode("utf-8")
    return _plain(body, "text/plain; version=0.0.4; charset=utf-8")


async def public_key(request: web.Request) -> web.Response:
    """The PEM public key that verifies every envelope (the same key as ingest's)."""
    return _plain(request.app[SERVICE].signer.public_key_pem, "application/x-pem-file")


async def openapi_document(request: web.Request) -> web.Response:
    """The OpenAPI 3 document of every public endpoint (``telemetry_core.openapi``)."""
    return _plain(request.app[SERVICE].openapi, "application/json")


def _plain(body: bytes, content_type: str) -> web.Response:
    response = web.Response(body=body, headers={"Content-Type": content_type})
    response[ANSWER_CODE] = codes.SUCCESS.code
    return response
